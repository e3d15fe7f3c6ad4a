"""A fleet: N charge points of a scenario in one event loop, started as a storm or a ramp, run for
the scenario's duration, then wound down so that every session ends and is delivered.

One loop, no thread per station: the stations' links, timers and the drivers' events all share the
loop that runs :meth:`Fleet.run`. Winding down unplugs every car (each running session stops with
EVDisconnected) and waits, for a bounded time, until the CSMS has answered every queued
transaction message; what is still queued then is reported, not hidden.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pievse.aio import AsyncClock
from pievse.fleet.drivers import DriverCounts, StationDrivers
from pievse.fleet.metrics import FleetMetrics
from pievse.fleet.scenario import Scenario
from pievse.fleet.station import FleetStation
from pievse.fleet.timers import Deadlines, SlotClock

__all__ = ["Fleet", "FleetProgress", "StoppedTransaction"]

log = logging.getLogger("pievse.fleet")

#: How long winding down waits for the CSMS to answer the last transaction messages.
DELIVERY_TIMEOUT_S = 90.0


@dataclass(frozen=True, slots=True)
class StoppedTransaction:
    """A session as the fleet sent it: its station, meterStart and meterStop (Wh)."""

    station_id: str
    meter_start: float
    meter_stop: float


@dataclass(frozen=True, slots=True)
class FleetProgress:
    elapsed_s: float
    stations: int
    started: int
    connected: int
    booted: int
    charging: int
    frames_per_s: float
    call_errors: int


@dataclass
class _Window:
    """Frames counted at the last progress report, for a rate."""

    at: float = field(default_factory=time.monotonic)
    frames: int = 0


class Fleet:
    """The stations of ``scenario`` (``count`` overrides its station count) against
    ``csms_url``. ``validate_outbound``: check the stations' own CALLs against the schemas too
    (the tests do; a load test need not pay for it on every send)."""

    def __init__(self, scenario: Scenario, csms_url: str, *, count: int | None = None,
                 clock: AsyncClock | None = None, metrics: FleetMetrics | None = None,
                 validate_outbound: bool = False,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.scenario = scenario if count is None else scenario.with_count(count)
        self.csms_url = csms_url
        #: Every station's timer, in one heap under one timer of the loop.
        self.timers = Deadlines()
        self.clock = clock or SlotClock(self.timers)
        self.metrics = metrics or FleetMetrics()
        self.counts = DriverCounts()
        self.stations: list[FleetStation] = []
        self.drivers: list[StationDrivers] = []
        #: Every session the fleet stopped, in order.
        self.stopped: list[StoppedTransaction] = []
        self.started_at: float | None = None
        self.booted_in_s: float | None = None  # until the last station was first accepted
        self.ran_s: float | None = None  # from the start to the last message delivered
        self.undelivered = 0
        self.validate_outbound = validate_outbound
        #: For wss://: the CAs the CSMS's certificate is checked against (None: the system's).
        self.ssl_context = ssl_context
        self._window = _Window()
        self._built = False

    def build(self) -> None:
        """Make every station (nothing connects yet)."""
        if self._built:
            return
        self._built = True
        for index in range(self.scenario.count):
            self.add(index)

    def add(self, index: int) -> tuple[FleetStation, StationDrivers]:
        """Make station number ``index`` of the scenario (not started)."""
        scenario = self.scenario
        # Each station draws from its own generator: its story does not depend on the others.
        rng = random.Random(scenario.seed * 1_000_003 + index)
        station = FleetStation(index, scenario, self.csms_url, clock=self.clock,
                               metrics=self.metrics, rng=rng,
                               validate_outbound=self.validate_outbound,
                               ssl_context=self.ssl_context, timers=self.timers)
        station.on_transaction_stopped = self._stopped
        drivers = StationDrivers(station, scenario, rng, self.counts, self.clock.now)
        self.stations.append(station)
        self.drivers.append(drivers)
        return station, drivers

    async def retire(self, station: FleetStation, drivers: StationDrivers,
                     timeout: float = DELIVERY_TIMEOUT_S) -> None:
        """Wind one station down (its driver leaves, its messages are delivered) and stop it."""
        drivers.stop()
        deadline = time.monotonic() + timeout
        while any(c.transaction is not None for c in station.station.connectors.values()) \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await station.wait_delivered(max(0.0, deadline - time.monotonic()))
        await station.stop()
        self.stations.remove(station)
        self.drivers.remove(drivers)

    def _stopped(self, station: FleetStation, start: float, stop: float) -> None:
        self.stopped.append(StoppedTransaction(station.id, start, stop))

    async def run(self, *, on_progress: Callable[[FleetProgress], None] | None = None,
                  progress_every_s: float = 1.0, stop: asyncio.Event | None = None) -> None:
        """Start the stations, play the scenario for its duration (or until ``stop`` is set),
        then wind down. The stations are stopped when this returns, however it ends."""
        self.build()
        self.started_at = time.monotonic()
        stop = stop or asyncio.Event()
        starting = asyncio.create_task(self._start_stations())
        reporter = asyncio.create_task(self._report(on_progress, progress_every_s)) \
            if on_progress is not None else None
        try:
            try:
                await asyncio.wait_for(stop.wait(), self.scenario.duration)
            except TimeoutError:
                pass
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            await self.wind_down()
            self.ran_s = time.monotonic() - self.started_at
        finally:
            if reporter is not None:
                reporter.cancel()
            await self.close()

    async def _start_stations(self) -> None:
        scenario = self.scenario
        started = time.monotonic()
        interval = 0.0 if scenario.boot_mode == "storm" else 1.0 / scenario.boot_rate
        for index, (station, drivers) in enumerate(zip(self.stations, self.drivers, strict=True)):
            if interval:
                delay = started + index * interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await station.start()
            drivers.start()
        while not all(s.booted or s.sessions > 1 for s in self.stations):
            await asyncio.sleep(0.1)
        self.booted_in_s = time.monotonic() - started
        # The stations live as long as the run: the cyclic collector need not walk them again
        # and again (with thousands of stations, those walks were most of a run's CPU).
        gc.collect()
        gc.freeze()

    async def wind_down(self, timeout: float = DELIVERY_TIMEOUT_S) -> None:
        """Every driver leaves; wait until the CSMS has every transaction message."""
        for drivers in self.drivers:
            drivers.stop()
        deadline = time.monotonic() + timeout
        # The stations see the cars leave through their boards' events: the sessions end there.
        while any(c.transaction is not None for s in self.stations
                  for c in s.station.connectors.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for station in self.stations:
            await station.wait_delivered(max(0.0, deadline - time.monotonic()))
        self.undelivered = sum(station.queued for station in self.stations)
        if self.undelivered:
            log.error("%d transaction message(s) not answered by the CSMS when the fleet stopped",
                      self.undelivered)

    async def close(self) -> None:
        await asyncio.gather(*(station.stop() for station in self.stations),
                             return_exceptions=True)

    # --- progress ------------------------------------------------------------------------------

    def progress(self) -> FleetProgress:
        now = time.monotonic()
        frames = self.metrics.frames_sent + self.metrics.frames_received
        window = self._window
        rate = (frames - window.frames) / (now - window.at) if now > window.at else 0.0
        self._window = _Window(now, frames)
        stations = self.stations
        return FleetProgress(
            elapsed_s=now - (self.started_at or now), stations=len(stations),
            started=sum(1 for s in stations if s.sessions or s.link.connected),
            connected=sum(1 for s in stations if s.connected),
            booted=sum(1 for s in stations if s.booted),
            charging=sum(s.charging for s in stations), frames_per_s=rate,
            call_errors=self.metrics.call_errors)

    async def _report(self, on_progress: Callable[[FleetProgress], None], every: float) -> None:
        while True:
            await asyncio.sleep(every)
            on_progress(self.progress())
