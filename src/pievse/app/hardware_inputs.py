"""What the drivers report, moved into the station: pilot and fault events, meter readings, cards.

Each source runs as a supervised part (:mod:`pievse.app.supervision`), and what its failure means
for the station is decided here:

* a **board** that fails is a fault of its connector (``FaultKind.BOARD_DRIVER``: Faulted,
  InternalError), and the contactor is opened at the pins at once and through the station. A
  board whose event stream broke is trusted again when the restarted stream is heard (its next
  event carries the state it is in then); a board that refused a command is trusted again only
  when the car has been unplugged (state A), because trying again with the car waiting would
  fail the same way, over and over;
* a **meter** whose driver fails is treated as a meter that stopped answering (PowerMeterFailure;
  charging goes on with the last good energy) until the next good reading;
* a **card reader** that cannot read cards (its driver failed, or says why: pcscd gone, no
  reader plugged in) is reported on connector 0 as ReaderFailure, and its driver is started
  again; a session can still be started remotely meanwhile. A failed driver is trusted again at
  the next card it reads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from pievse.aio import AsyncClock
from pievse.app.driver_factory import Hardware
from pievse.app.supervision import Supervisor
from pievse.core.authorization import IdToken, IdTokenType
from pievse.core.effects import Effect
from pievse.core.station import Station
from pievse.drivers.contracts import (
    DriverError,
    EnergyMeter,
    EvseBoard,
    FaultChanged,
    FaultKind,
    MeterReading,
    PilotState,
    PilotStateChanged,
    TokenReader,
)

log = logging.getLogger("pievse")

#: How often the card reader's own state (pcscd reachable, a reader plugged in) is looked at.
READER_CHECK_S = 5.0


class HardwareInputs:
    """The station's inputs from its boards, meters and card reader."""

    def __init__(
        self,
        station: Station,
        hardware: Hardware,
        dispatch: Callable[[list[Effect]], None],
        clock: AsyncClock,
        *,
        meter_interval_s: float,
        reading_taken: Callable[[int], None],
        before_card: Callable[[], None] | None = None,
    ) -> None:
        self._station = station
        self._hardware = hardware
        self._dispatch = dispatch
        self._clock = clock
        self._meter_interval_s = meter_interval_s
        self._reading_taken = reading_taken
        #: Called before a card is decided: a station without CSMS reads its card list again.
        self._before_card = before_card
        #: Per connector: did the last attempt to read the meter give a reading.
        self.meter_online: dict[int, bool] = {}
        #: Per connector: was the last reading implausible, and were the readings a failure.
        self._meter_implausible: dict[int, tuple[bool, bool]] = {}
        #: Why the card reader's driver failed, until it reads a card again.
        self._reader_failure: str | None = None
        self._reader_problem: str | None = None
        #: Connectors whose board failed, and whether only unplugging the car clears it.
        self._board_failed: dict[int, bool] = {}

    async def first_readings(self) -> None:
        """A first reading before anything can start, so meterStart is a real value."""
        for n, meter in self._hardware.meters.items():
            await self._read_meter(n, meter)

    def start(self, supervisor: Supervisor) -> list[asyncio.Task[None]]:
        tasks = []
        for n, board in self._hardware.boards.items():
            tasks.append(supervisor.start(
                f"board of connector {n}", lambda n=n, board=board: self._board_events(n, board),
                failed=lambda why, n=n: self.board_failed(n, why)))
        for n, meter in self._hardware.meters.items():
            tasks.append(supervisor.start(
                f"meter of connector {n}", lambda n=n, meter=meter: self._poll_meter(n, meter),
                failed=lambda why, n=n: self._meter_driver_failed(n, why)))
        reader = self._hardware.reader
        if reader is not None:
            tasks.append(supervisor.start("card reader", lambda: self._tokens(reader),
                                          failed=self._reader_driver_failed))
            tasks.append(supervisor.start("card reader watch", lambda: self._watch_reader(reader)))
        return tasks

    # --- boards --------------------------------------------------------------------------------

    def board_failed(self, n: int, why: str, *, until_unplugged: bool = False) -> None:
        """The board of connector ``n`` failed: open its contactor now, and fault the connector
        until the board is heard again (``until_unplugged``: until it reports state A)."""
        board = self._hardware.boards[n]
        try:
            board.set_contactor(False)
            board.pilot_standby()
        except Exception:  # noqa: BLE001 - the station's fault below is the next line of defence
            log.critical("connector %s: could not open the contactor of a failed board", n,
                         exc_info=True, extra={"CONNECTOR_ID": n})
        if n not in self._board_failed or until_unplugged:
            until = "the car is unplugged" if until_unplugged else "the board is heard again"
            log.error("connector %s: board driver failed (%s): connector Faulted until %s",
                      n, why, until, extra={"CONNECTOR_ID": n})
            self._board_failed[n] = until_unplugged
            self._dispatch(self._station.fault_changed(n, FaultKind.BOARD_DRIVER, True))

    async def _board_events(self, n: int, board: EvseBoard) -> None:
        async for event in board.events():
            if n in self._board_failed and (not self._board_failed[n] or (
                    isinstance(event, PilotStateChanged) and event.state is PilotState.A)):
                del self._board_failed[n]
                log.info("connector %s: board trusted again", n, extra={"CONNECTOR_ID": n})
                self._dispatch(self._station.fault_changed(n, FaultKind.BOARD_DRIVER, False))
            match event:
                case PilotStateChanged(state=state):
                    self._dispatch(self._station.pilot_changed(n, state))
                    log.info("connector %s: pilot state %s", n, state.value,
                             extra={"CONNECTOR_ID": n})
                case FaultChanged(kind=kind, active=active):
                    self._dispatch(self._station.fault_changed(n, kind, active))
                    log.log(logging.ERROR if active else logging.INFO, "connector %s: fault %s %s",
                            n, kind.value, "active" if active else "cleared",
                            extra={"CONNECTOR_ID": n})

    # --- meters --------------------------------------------------------------------------------

    async def _poll_meter(self, n: int, meter: EnergyMeter) -> None:
        while True:
            await self._read_meter(n, meter)
            await self._clock.sleep(self._meter_interval_s)

    def _meter_driver_failed(self, n: int, why: str) -> None:
        self.meter_online[n] = False
        self._dispatch(self._station.meter_failed(n, f"meter driver failed: {why}"))

    async def _read_meter(self, n: int, meter: EnergyMeter) -> None:
        try:
            reading = await meter.read()
        except DriverError as error:
            if self.meter_online.get(n, True):
                # Once per outage; the CSMS hears PowerMeterFailure through the connector's
                # status, and charging goes on with the last good energy value.
                log.error("connector %s: meter offline, reported as PowerMeterFailure: %s", n,
                          error, extra={"CONNECTOR_ID": n})
                problem = getattr(meter, "problem", None) or str(error)
                self._dispatch(self._station.meter_failed(n, problem))
            self.meter_online[n] = False
        else:
            if not self.meter_online.get(n, True):
                log.info("connector %s: meter back online", n, extra={"CONNECTOR_ID": n})
                self._dispatch(self._station.meter_failed(n, None))
            self.meter_online[n] = True
            self._dispatch(self._station.meter_reading(n, reading))
            self._reading_judged(n, meter, reading)
            self._reading_taken(n)

    def _reading_judged(self, n: int, meter: EnergyMeter, reading: MeterReading) -> None:
        """Say what the station made of a reading, once per change: implausible (a warning),
        implausible often enough to be a meter failure (an error; the CSMS hears PowerMeterFailure
        through the connector's status), plausible again."""
        check = self._station.connector(n).meter_check
        judgement = check.last
        if judgement is None:
            return
        if not judgement.energy_accepted:
            # A driver that compares each energy with its last one must not compare with this.
            discard = getattr(meter, "discard", None)
            if discard is not None:
                discard(reading)
        implausible, failed = judgement.problem is not None, check.failed
        was_implausible, was_failed = self._meter_implausible.get(n, (False, False))
        self._meter_implausible[n] = (implausible, failed)
        extra = {"CONNECTOR_ID": n}
        if failed and not was_failed:
            log.error("connector %s: meter readings implausible %d times in a row, reported "
                      "as PowerMeterFailure: %s", n, check.rejected_in_a_row,
                      "; ".join(judgement.problems), extra=extra)
        elif implausible and not was_implausible:
            log.warning("connector %s: %s", n, judgement.problem, extra=extra)
        elif was_implausible and not implausible:
            log.info("connector %s: meter readings plausible again", n, extra=extra)

    # --- the card reader -----------------------------------------------------------------------

    def _reader_driver_failed(self, why: str) -> None:
        self._reader_failure = f"card reader driver failed: {why}"
        self._reader_changed(self._hardware.reader)

    def _reader_changed(self, reader: TokenReader | None) -> None:
        problem = self._reader_failure or getattr(reader, "problem", None)
        if problem == self._reader_problem:
            return
        if problem is None:
            log.info("card reader reads cards again")
        else:
            log.error("card reader cannot read cards (%s): reported as ReaderFailure", problem)
        self._reader_problem = problem
        self._dispatch(self._station.reader_failed(problem))

    async def _watch_reader(self, reader: TokenReader) -> None:
        # Drivers keep their own state (pcscd reachable, a reader plugged in); a look every few
        # seconds costs nothing and needs no callback into the event loop from their threads.
        while True:
            self._reader_changed(reader)
            await self._clock.sleep(READER_CHECK_S)

    async def _tokens(self, reader: TokenReader) -> None:
        async for token in reader.tokens():
            if self._reader_failure is not None:
                self._reader_failure = None
                self._reader_changed(reader)
            log.info("card presented: %s", token.id_token)
            try:
                kind = IdTokenType.named(token.kind)
            except ValueError:
                log.warning("card %s: the reader names its type %r, which is none known; taken "
                            "for an ISO 14443 card", token.id_token, token.kind)
                kind = IdTokenType.ISO14443
            if self._before_card is not None:
                self._before_card()
            self._dispatch(self._station.token_presented(IdToken(token.id_token, kind)))
