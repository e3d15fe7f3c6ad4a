"""The workbench the station core is tested on (no tests of its own live here).

A ``Bench`` is a real ``Station`` with the things around it that a charge point has: a clock that
only moves when told (a ten-hour session runs in milliseconds), an energy meter turned by hand, and
a logbook of every effect the station returned, so a test can ask what the board was told last or
which statuses the CSMS has seen so far. Nothing of the station is mocked: the bench only feeds it
inputs and reads what comes back.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pievse.drivers.contracts import FaultKind, MeterReading, PilotState
from pievse.core.authorization import (
    AuthorizationResult,
    AuthorizationStatus,
    IdToken,
    IdTokenType,
)
from pievse.core.clock import ManualClock
from pievse.core.effects import (
    AuthorizeRequest,
    Effect,
    MeterSample,
    SetContactor,
    SetPilot,
    StatusChanged,
    TransactionStarted,
    TransactionStopped,
)
from pievse.core.settings import StationSettings
from pievse.core.standalone import Standalone
from pievse.core.station import Answer, Station
from pievse.core.vocabulary import ConnectorStatus

E = TypeVar("E")

TAG = "04A1B2C3"
OTHER_TAG = "04FFEE01"

#: 2026-01-01T00:00:00Z, the ManualClock's default start.
NEW_YEAR = 1_767_225_600.0


def card(value: str) -> IdToken:
    """The id token of a card as the reader presents it."""
    return IdToken(value, IdTokenType.ISO14443)


def kinds(effects: list[Effect]) -> list[str]:
    """The effect types in order, by name: a readable way to compare sequences."""
    return [type(e).__name__ for e in effects]


def only(effects: list[Any], cls: type[E]) -> list[E]:
    return [e for e in effects if isinstance(e, cls)]


class Bench:
    """A station with a manual clock, a hand-turned meter per connector and an effect logbook."""

    def __init__(
        self,
        connectors: int = 1,
        *,
        board_max_current_a: dict[int, float] | None = None,
        cable_lock: dict[int, bool] | None = None,
        start_at: float = NEW_YEAR,
        meter_wh: float = 1000.0,
        standalone: Standalone | None = None,
        **settings: Any,
    ) -> None:
        self.clock = ManualClock(start_at)
        self.station = Station(
            connectors,
            settings=StationSettings(**settings),
            clock=self.clock,
            board_max_current_a=board_max_current_a or {n: 32.0 for n in range(1, connectors + 1)},
            cable_lock=cable_lock,
            standalone=standalone,
        )
        self.log: list[Effect] = []
        self.energy_wh = {n: meter_wh for n in range(1, connectors + 1)}
        for n in self.energy_wh:
            self.record(self.station.meter_reading(n, self._reading(n)))
        self.record(self.station.start())

    # --- inputs, each returning the effects it caused --------------------------------------------

    def record(self, effects: list[Effect]) -> list[Effect]:
        self.log.extend(effects)
        return effects

    def pilot(self, state: PilotState | str, connector: int = 1) -> list[Effect]:
        return self.record(self.station.pilot_changed(connector, PilotState(state)))

    def fault(self, kind: FaultKind, active: bool = True, connector: int = 1) -> list[Effect]:
        return self.record(self.station.fault_changed(connector, kind, active))

    def tap(self, id_tag: str = TAG) -> list[Effect]:
        return self.record(self.station.token_presented(card(id_tag)))

    def answer(
        self, id_tag: str = TAG,
        verdict: AuthorizationResult | AuthorizationStatus | None = AuthorizationStatus.ACCEPTED,
    ) -> list[Effect]:
        return self.record(self.station.authorization_result(card(id_tag), verdict))

    def command(self, answer: Answer) -> Answer:
        """Log the effects of a CSMS command and hand back its answer."""
        self.record(answer.effects)
        return answer

    def limit(
        self, amps: float | None, connector: int = 1, source: str = "profile"
    ) -> list[Effect]:
        return self.record(self.station.set_current_limit(connector, source, amps))

    def _reading(self, connector: int) -> MeterReading:
        return MeterReading(
            energy_import_wh=self.energy_wh[connector],
            timestamp=self.clock.now(),
            power_w=None,
        )

    def deliver(self, wh: float, connector: int = 1, seconds: float = 0.0) -> list[Effect]:
        """The meter counts ``wh`` more in ``seconds`` and reports its new register value. The
        station takes no more energy than the connection could deliver in the time that passed."""
        self.clock.advance(seconds)
        self.energy_wh[connector] += wh
        return self.record(self.station.meter_reading(connector, self._reading(connector)))

    def tick(self) -> list[Effect]:
        return self.record(self.station.tick())

    def run_for(self, seconds: float) -> list[Effect]:
        """Let time pass as the daemon would: wake at every deadline on the way, then at the end."""
        target = self.clock.now() + seconds
        effects: list[Effect] = []
        while (deadline := self.station.next_deadline()) is not None and deadline <= target:
            self.clock.set(max(deadline, self.clock.now()))
            effects += self.tick()
            after = self.station.next_deadline()
            # A deadline that a tick does not move would spin the daemon's timer forever.
            assert after is None or after > self.clock.now(), f"tick did not serve {deadline}"
        self.clock.set(target)
        effects += self.tick()
        return effects

    # --- composite moves -------------------------------------------------------------------------

    def start_charging(self, id_tag: str = TAG, connector: int = 1) -> TransactionStarted:
        """Plug in, present an accepted card, and let the car ask for power."""
        self.pilot("B", connector)
        self.tap(id_tag)
        started = only(self.answer(id_tag), TransactionStarted)
        assert len(started) == 1, "an accepted card and a waiting car start a transaction"
        self.pilot("C", connector)
        assert self.contactor_closed(connector)
        return started[0]

    # --- what the world has seen -----------------------------------------------------------------

    def statuses(self, connector: int = 1) -> list[ConnectorStatus]:
        """The statuses of ``connector`` in the order the CSMS was told them."""
        return [e.status for e in only(self.log, StatusChanged) if e.connector_id == connector]

    def status(self, connector: int = 1) -> ConnectorStatus:
        return self.statuses(connector)[-1]

    def contactor_closed(self, connector: int = 1) -> bool:
        """The contactor as the board was last commanded (open until told otherwise)."""
        commands = [e for e in only(self.log, SetContactor) if e.connector_id == connector]
        return commands[-1].closed if commands else False

    def offered_a(self, connector: int = 1) -> float:
        """What the pilot offers, as the board was last commanded (0 = steady +12 V)."""
        commands = [e for e in only(self.log, SetPilot) if e.connector_id == connector]
        return commands[-1].amps if commands else 0.0

    def started(self) -> list[TransactionStarted]:
        return only(self.log, TransactionStarted)

    def stopped(self) -> list[TransactionStopped]:
        return only(self.log, TransactionStopped)

    def samples(self) -> list[MeterSample]:
        return only(self.log, MeterSample)

    def questions(self) -> list[AuthorizeRequest]:
        return only(self.log, AuthorizeRequest)
