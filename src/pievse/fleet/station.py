"""One charge point of a fleet: the real station core, simulated hardware, the real OCPP adapter
of its version (:mod:`pievse.fleet.versions`) and its own websocket link, composed lighter than
the daemon composes one.

What a fleet station leaves out, and why: no store (its outbox is kept in memory: a fleet that is
killed has no sessions to resume), no local API, no systemd, no firmware, diagnostics or
certificate services (the adapter refuses those commands, as a station without them does), and no
task per input. Many thousand stations share one event loop, so each one costs only what it must:

* the station's next deadline is one timer handle (``loop.call_at``), re-armed after each batch
  of effects, instead of a task waiting on an event;
* the simulated meter answers without waiting, so it is read in the timer's step, just before the
  station samples it, and when a car arrives or leaves, instead of being polled by a task;
* the card "reader" is the driver presenting the card to the station, as the daemon's reader
  task does with what a reader reports;
* the board's events are drained by one task per connector, as in the daemon, because a board
  reports pilot changes in its own time (the car's reaction delay).

Board commands run first in each batch of effects, before anything else is carried out, as in
the daemon: the safety rules of the core are the same in a fleet.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import ssl
from collections.abc import Callable
from typing import Any

from pievse.aio import AsyncClock
from pievse.board_commands import drive_board
from pievse.core.authorization import IdToken, IdTokenType
from pievse.core.effects import (
    Effect,
    LockCable,
    ResetNow,
    SetContactor,
    SetPhases,
    SetPilot,
    TransactionStarted,
    TransactionStopped,
)
from pievse.core.settings import StationSettings
from pievse.core.station import Station
from pievse.drivers.contracts import BoardCapabilities, DriverError, FaultChanged, PilotStateChanged
from pievse.drivers.simulated.devices import SimulatedBoard, SimulatedEv, SimulatedMeter
from pievse.fleet.metrics import FleetMetrics, ObservedConnection
from pievse.fleet.scenario import Scenario
from pievse.fleet.timers import Deadline, Deadlines
from pievse.fleet.versions import build_adapter, register_as_sent
from pievse.protocol.common.charge_point_parts import ChargePointParts
from pievse.protocol.common.link import OcppLink
from pievse.protocol.common.outbox import Outbox

__all__ = ["FleetStation"]

log = logging.getLogger("pievse.fleet")
_LINK_LOG = logging.getLogger("pievse.fleet.link")

#: A board keeps this many of its last commands (the daemon's keep more, for the local API).
_BOARD_HISTORY = 8
_BOARD = (SetContactor, SetPilot, SetPhases)
_COUNTED = (TransactionStarted, TransactionStopped)
NOMINAL_VOLTAGE_V = 230.0


class FleetStation:
    """Charge point number ``index`` of ``scenario``, connecting to ``csms_url``."""

    def __init__(self, index: int, scenario: Scenario, csms_url: str, *, clock: AsyncClock,
                 metrics: FleetMetrics, rng: random.Random,
                 validate_outbound: bool = False,
                 ssl_context: ssl.SSLContext | None = None,
                 timers: Deadlines | None = None) -> None:
        self.index = index
        self.id = scenario.station_id(index)
        self.clock = clock
        self.metrics = metrics
        connectors = range(1, scenario.connectors + 1)
        capabilities = BoardCapabilities(max_current_a=scenario.station_max_current,
                                         phases=scenario.station_phases)
        self.cars: dict[int, SimulatedEv] = {}
        self.boards: dict[int, SimulatedBoard] = {}
        self.meters: dict[int, SimulatedMeter] = {}
        for n in connectors:
            car = SimulatedEv(voltage_v=NOMINAL_VOLTAGE_V,
                              reaction_delay_s=scenario.reaction_delay, clock=clock.monotonic)
            board = SimulatedBoard(car, capabilities=capabilities, history_size=_BOARD_HISTORY)
            self.cars[n], self.boards[n] = car, board
            self.meters[n] = SimulatedMeter(car, board, wall_clock=clock.now)
        self.station = Station(
            scenario.connectors, clock=clock,
            board_max_current_a={n: capabilities.max_current_a for n in connectors})
        #: The OCPP version it speaks, and how its meter registers travel in that version.
        self.version = scenario.version(index)
        self._as_sent = register_as_sent(self.version)
        self.adapter = build_adapter(self.version, self.station, self.dispatch, ChargePointParts(
            vendor=scenario.vendor, model=scenario.model, serial_number=self.id[-25:],
            outbox=Outbox(clock=clock), clock=clock, charge_point_id=self.id),
            phases=scenario.station_phases, max_current_a=scenario.station_max_current,
            voltage_v=NOMINAL_VOLTAGE_V, meter_interval=scenario.meter_interval)
        # Every frame the CSMS sends is validated; our own are checked by the tests.
        self.adapter.validate_outbound = validate_outbound
        keys = self.adapter.configuration
        self.station.settings = StationSettings(
            max_current_a=scenario.station_max_current, nominal_voltage_v=NOMINAL_VOLTAGE_V,
            phases=scenario.station_phases, **keys.station_settings())
        password = scenario.password(index)
        headers = {} if password is None else {"Authorization": "Basic " + base64.b64encode(
            f"{self.id}:{password}".encode()).decode("ascii")}
        self.link = OcppLink(
            csms_url, self.id, subprotocol=self.adapter.subprotocol,
            session_factory=self._session, ping_interval=0, extra_headers=headers,
            ssl=ssl_context,
            logger=_LINK_LOG, clock=clock, rng=rng,
            max_message_size=self.adapter.max_message_size, compression=None)
        #: The open websocket (None while offline), for a simulated link drop.
        self.connection: Any = None
        self.sessions = 0  # websocket sessions run so far
        #: Transactions: meterStart (Wh, as sent) by the station's reference, while they run.
        self._meter_starts: dict[int, float] = {}
        self.transactions_started = 0
        self.transactions_stopped = 0
        self.energy_wh: float = 0
        #: Hears each transaction as it ends: (station id, meterStart, meterStop).
        self.on_transaction_stopped: Callable[[FleetStation, float, float], None] | None = None
        #: The fleet's timers (a station alone keeps its own).
        self._timers = timers if timers is not None else Deadlines()
        self._timer: Deadline | None = None
        self._timer_at: float | None = None
        self._tasks: list[asyncio.Task] = []

    # --- state ---------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.adapter.connected

    @property
    def booted(self) -> bool:
        return self.adapter.registered

    @property
    def charging(self) -> int:
        return sum(1 for board in self.boards.values() if board.contactor_closed)

    @property
    def queued(self) -> int:
        """Transaction messages not yet answered by the CSMS."""
        return len(self.adapter.outbox)

    # --- running -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Power on: the boards report, a first reading, the station starts, the link connects."""
        for n, board in self.boards.items():
            await board.start()
            self._tasks.append(asyncio.create_task(self._board_events(n, board)))
        self.read_meters()
        self.dispatch(self.station.start())
        self._tasks.append(asyncio.create_task(self.link.run(), name=f"link {self.id}"))

    async def wait_delivered(self, timeout: float) -> bool:
        """Wait until every transaction message has been answered by the CSMS."""
        return await self.adapter.outbox.wait_empty(timeout=timeout)

    async def stop(self) -> None:
        if self._timer is not None:
            self._timers.cancel(self._timer)
            self._timer = None
        await self.link.close()
        for board in self.boards.values():
            await board.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def drop_link(self) -> bool:
        """Lose the connection without a closing handshake, as a dead mobile link does."""
        connection = self.connection
        if connection is None:
            return False
        connection.transport.abort()
        return True

    # --- inputs --------------------------------------------------------------------------------

    def read_meters(self, *, rearm: bool = True) -> None:
        # The simulated meter answers at once (its physics is computed, not polled): it is read
        # here, in this step, rather than in a task of its own.
        for n, meter in self.meters.items():
            try:
                reading = meter.read_now()
            except DriverError:
                continue
            self.dispatch(self.station.meter_reading(n, reading), rearm=rearm)

    def present_card(self, id_tag: str) -> None:
        self.dispatch(self.station.token_presented(IdToken(id_tag, IdTokenType.ISO14443)))

    async def _board_events(self, n: int, board: SimulatedBoard) -> None:
        async for event in board.events():
            if isinstance(event, PilotStateChanged):
                self.dispatch(self.station.pilot_changed(n, event.state))
            elif isinstance(event, FaultChanged):
                self.dispatch(self.station.fault_changed(n, event.kind, event.active))

    async def _session(self, connection: Any) -> None:
        if self.sessions:
            self.metrics.reconnects += 1
        self.sessions += 1
        self.metrics.connections += 1
        self.connection = connection
        try:
            await self.adapter.run_session(ObservedConnection(connection, self.metrics))
        finally:
            self.connection = None

    # --- effects -------------------------------------------------------------------------------

    def dispatch(self, effects: list[Effect], *, rearm: bool = True) -> None:
        """Carry out the station's effects: the board's first, then the messages; then the
        timer follows the station's next deadline (``rearm=False``: the caller does that)."""
        messages = []
        for effect in effects:
            if isinstance(effect, _BOARD):
                drive_board(self.station, self.boards[effect.connector_id], effect)
            elif not isinstance(effect, LockCable):
                messages.append(effect)
        for effect in messages:
            if isinstance(effect, ResetNow):
                # A fleet station "reboots" by reconnecting; its sessions have been ended.
                asyncio.get_running_loop().create_task(self.link.reconnect("reset"))
                continue
            if isinstance(effect, _COUNTED):
                self._count(effect)
            self.adapter.handle(effect)
        if rearm:
            self._arm_timer()

    def _count(self, effect: Effect) -> None:
        if isinstance(effect, TransactionStarted):
            self._meter_starts[effect.transaction_ref] = self._as_sent(effect.meter_start_wh)
            self.transactions_started += 1
        elif isinstance(effect, TransactionStopped):
            start = self._meter_starts.pop(effect.transaction_ref, None)
            stop = self._as_sent(effect.meter_stop_wh)
            self.transactions_stopped += 1
            if start is not None:
                self.energy_wh += stop - start
                if self.on_transaction_stopped is not None:
                    self.on_transaction_stopped(self, start, stop)

    def _arm_timer(self) -> None:
        deadline = self.station.next_deadline()
        if deadline == self._timer_at and self._timer is not None:
            return
        if self._timer is not None:
            self._timers.cancel(self._timer)
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self._timers.call_later(
                max(0.0, deadline - self.clock.now()), self._tick)

    def _tick(self) -> None:
        self._timer = self._timer_at = None
        # A sample due now is taken from a fresh reading. The timer is armed once, after the
        # tick: armed after the reading, it would be due at once and be moved again.
        self.read_meters(rearm=False)
        self.dispatch(self.station.tick())
