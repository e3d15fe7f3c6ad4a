"""The people and the network around a fleet station, as the scenario says they behave.

At each connector a stream of drivers arrives (a Poisson process, or one whose rate follows the
hour of the day), each with a car of the scenario's currents and phases and a session of its
length and energy (the car's battery is full after that energy). A driver starts with a card
from the pool (a share of them invalid or blocked) or waits for the CSMS to start the session
remotely; a driver whose session does not start within ``remote_wait`` leaves. Faults and link
drops hit the station at their own rates. Nothing here is a task: each next event is one timer
handle on the shared loop, and every draw comes from the station's own seeded generator, so a
station's story depends only on the seed and on what the CSMS answers.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass

from pievse.core.hardware import FaultKind
from pievse.fleet.scenario import Scenario
from pievse.fleet.station import FleetStation

__all__ = ["DriverCounts", "StationDrivers"]

#: A card is presented this long after the car is plugged in.
CARD_AFTER_PLUG_S = 1.0
_FAULTS = {kind.value: kind for kind in FaultKind}


@dataclass
class DriverCounts:
    """What the drivers did, fleet-wide."""

    arrivals: int = 0
    cards_presented: int = 0
    bad_cards_presented: int = 0
    remote_waits: int = 0
    not_started: int = 0  # drivers who left because their session did not start
    faults: int = 0
    link_drops: int = 0


class StationDrivers:
    """The scenario's events at one station."""

    def __init__(self, station: FleetStation, scenario: Scenario, rng: random.Random,
                 counts: DriverCounts, now: Callable[[], float]) -> None:
        self.station = station
        self.scenario = scenario
        self.rng = rng
        self.counts = counts
        self._now = now  # wall time, for the hour of a daily profile
        self._handles: dict[object, asyncio.TimerHandle] = {}
        self._stopping = False

    def start(self) -> None:
        for n in self.station.cars:
            self._next_arrival(n)
        if self.scenario.faults_per_hour > 0:
            self._later("fault", _exponential(self.rng, self.scenario.faults_per_hour),
                        self._fault)
        if self.scenario.link_drops_per_hour > 0:
            self._later("drop", _exponential(self.rng, self.scenario.link_drops_per_hour),
                        self._drop)

    def stop(self) -> None:
        """No more arrivals or disturbances; every driver still there unplugs now."""
        self._stopping = True
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
        for n, car in self.station.cars.items():
            if car.plugged:
                self._leave(n)
        for board in self.station.boards.values():
            for kind in board.faults:
                board.inject_fault(kind, False)

    # --- arrivals and sessions -----------------------------------------------------------------

    def _later(self, what: object, delay: float | None, callback: Callable[[], None]) -> None:
        if delay is None or self._stopping:
            return
        self._handles[what] = asyncio.get_running_loop().call_later(delay, self._fire, what,
                                                                    callback)

    def _fire(self, what: object, callback: Callable[[], None]) -> None:
        self._handles.pop(what, None)
        callback()

    def _next_arrival(self, n: int) -> None:
        scenario = self.scenario
        if scenario.arrivals == "poisson":
            delay = _exponential(self.rng, scenario.arrivals_per_hour)
        else:
            delay = self._profile_arrival()
        self._later(("arrive", n), delay, lambda: self._arrive(n))

    def _profile_arrival(self) -> float | None:
        """The next arrival of a process whose rate follows the hour of the day (thinning: draw
        at the highest rate, keep each draw with the share of that hour's rate)."""
        highest = max(self.scenario.arrivals_profile)
        if highest <= 0:
            return None
        waited = 0.0
        for _ in range(10_000):
            waited += _exponential(self.rng, highest) or 0.0
            hour = int((self._now() + waited) // 3600) % 24
            if self.rng.random() * highest < self.scenario.arrival_rate(hour):
                return waited
        return None

    def _arrive(self, n: int) -> None:
        scenario, rng, car = self.scenario, self.rng, self.station.cars[n]
        if car.plugged or self.station.boards[n].faults:
            self._next_arrival(n)  # the connector is taken or out of order: this driver leaves
            return
        self.counts.arrivals += 1
        car.max_current_a = rng.choice(scenario.car_max_current)
        car.phases = rng.choice(scenario.car_phases)
        car.battery_capacity_wh = rng.uniform(scenario.min_energy, scenario.max_energy)
        stay = rng.uniform(scenario.min_duration, scenario.max_duration)
        remote = rng.random() < scenario.remote_share
        self.station.read_meters()
        car.set_state("C")
        if remote:
            self.counts.remote_waits += 1
        else:
            self._later(("card", n), CARD_AFTER_PLUG_S, lambda: self._present_card())
        self._later(("started?", n), min(stay, scenario.remote_wait + CARD_AFTER_PLUG_S),
                    lambda: self._started_or_leave(n))
        self._later(("leave", n), stay, lambda: self._leave(n))

    def _present_card(self) -> None:
        scenario, rng = self.scenario, self.rng
        bad = [*scenario.invalid_cards, *scenario.blocked_cards]
        if bad and rng.random() < scenario.bad_card_share:
            card = rng.choice(bad)
            self.counts.bad_cards_presented += 1
        else:
            card = rng.choice(scenario.valid_cards)
        self.counts.cards_presented += 1
        self.station.present_card(card)

    def _started_or_leave(self, n: int) -> None:
        if self.station.station.connector(n).transaction is None:
            self.counts.not_started += 1
            self._leave(n)

    def _leave(self, n: int) -> None:
        for what in (("card", n), ("started?", n), ("leave", n)):
            handle = self._handles.pop(what, None)
            if handle is not None:
                handle.cancel()
        self.station.read_meters()
        self.station.cars[n].set_state("A")
        self._next_arrival(n)

    # --- disturbances --------------------------------------------------------------------------

    def _fault(self) -> None:
        n = self.rng.choice(list(self.station.boards))
        kind = _FAULTS[self.rng.choice(self.scenario.fault_kinds)]
        board = self.station.boards[n]
        self.counts.faults += 1
        board.inject_fault(kind, True)
        self._later(("clear", n, kind), self.scenario.fault_duration,
                    lambda: board.inject_fault(kind, False))
        self._later("fault", _exponential(self.rng, self.scenario.faults_per_hour), self._fault)

    def _drop(self) -> None:
        if self.station.drop_link():
            self.counts.link_drops += 1
        self._later("drop", _exponential(self.rng, self.scenario.link_drops_per_hour), self._drop)


def _exponential(rng: random.Random, per_hour: float) -> float | None:
    """Seconds to the next event of a Poisson process of ``per_hour`` events (None: never)."""
    if per_hour <= 0:
        return None
    return rng.expovariate(per_hour / 3600.0)
