"""The composition root: config -> drivers -> station -> protocol -> local API, and the tasks.

This is the only module that knows every other one. It moves hardware events into the station,
carries out the station's effects (board commands synchronously, before anything is awaited, so
that a fault or a car leaving state C opens the contactor within the same event-loop step), wakes
the station at its next deadline instead of polling, and makes sure the contactor is open whenever
the daemon stops: normal exit, SIGTERM, a failed task or an unhandled error.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
from collections.abc import Callable
from typing import Any

from pievse.aio import AsyncClock, SystemClock
from pievse.local_api.server import ApiServer, Simulation, SimulationUnavailable
from pievse.app.config import Config
from pievse.drivers.contracts import (
    FaultKind,
)
from pievse.app.cable_locks import CableLocks
from pievse.app.driver_factory import Hardware, SimulatedHardware, build_hardware
from pievse.app.hardware_inputs import HardwareInputs
from pievse.app.home import Home
from pievse.app.page_parts import page_parts
from pievse.app.supervision import Supervisor
from pievse.board_commands import drive_board
from pievse.persistence.recorder import TransactionRecorder
from pievse.app.standalone import StandaloneCards, tariff
from pievse.app.system_time import system_clock_synchronised
from pievse.app.systemd import Notifier, ServiceReporter
from pievse.core.effects import (
    BOARD_COMMANDS,
    Effect,
    LockCable,
    ResetNow,
    SetContactor,
    SetPhases,
    SetPilot,
    StatusChanged,
    TokenAnswered,
)
from pievse.core.settings import StationSettings
from pievse.core.access import AccessLimits
from pievse.core.station import Station
from pievse.local_api.status_page import RecentErrors
from pievse.persistence.store import Store, StoredOutboxJournal

log = logging.getLogger("pievse")

# How long an exit waits for the StopTransaction of an interrupted session: well inside
# systemd's TimeoutStopSec, and the contactor is already open while it waits.
SHUTDOWN_DELIVERY_S = 5.0
#: The longest a lock stroke under way at exit may take: several travel times.
LOCK_SETTLE_S = 5.0
#: A difference from the CSMS's time below this is the message's precision and transit.
CLOCK_NOISE_S = 2.0
#: A correction this large is worth a warning (once: a station whose clock was days off).
CLOCK_JUMP_S = 60.0


def _span(seconds: float) -> str:
    """How far ahead (+) or behind (-) the CSMS's time is, readably: "3.0 days behind"."""
    way = "behind" if seconds > 0 else "ahead"
    value = abs(seconds)
    for unit, size in (("days", 86_400), ("hours", 3_600), ("minutes", 60)):
        if value >= size:
            return f"{value / size:.1f} {unit} {way}"
    return f"{value:.0f} s {way}"


class ExitReason(enum.Enum):
    STOPPED = "stopped"  # asked to stop (SIGTERM, Ctrl-C, stop())
    SOFT_RESET = "soft reset"  # the CSMS asked for a Reset: the caller restarts the daemon
    HARD_RESET = "hard reset"
    FAILED = "failed"  # an unhandled error; the contactors were opened first


def station_settings(config: Config, protocol_settings: dict[str, Any]) -> StationSettings:
    cp = config.charge_point
    return StationSettings(max_current_a=cp.max_current, nominal_voltage_v=cp.voltage,
                           phases=cp.phases,
                           resume_interrupted_transactions=cp.resume_interrupted_sessions,
                           **protocol_settings)


class Daemon:
    """One charge point: its drivers, its station core, its OCPP link and its local API."""

    def __init__(
        self,
        config: Config,
        *,
        clock: AsyncClock | None = None,
        hardware: Hardware | None = None,
        configuration_overrides: dict[str, Any] | None = None,
        notifier: Notifier | None = None,
        store: Store | None = None,
        clock_synchronised: Callable[[], bool] = system_clock_synchronised,
    ) -> None:
        from pievse.app.link_security import LinkSecurity
        from pievse.app.maintenance import log_uploader, updater_and_uploader
        from pievse.app.network_selection import NetworkSelection
        from pievse.app.protocols import DaemonParts, build_adapter, offered_subprotocols
        from pievse.app.state_folders import following_store
        from pievse.protocol.common.link import OcppLink
        from pievse.protocol.common.outbox import Outbox

        # The one clock of the charge point: the station reads it, everything that waits
        # (link, RPC, heartbeat, outbox, services, the timers below) waits on it.
        self.clock = clock or SystemClock()
        self._clock_synchronised = clock_synchronised
        self._clock_jump_logged = False
        # The store first: the transactions and messages a crash left behind shape everything
        # else (the simulated meters start from the energy they had reached).
        self.store = store or Store(config.storage.path).open()
        # Every state folder follows the store in use, not the file's [storage] path.
        config = self.config = following_store(config, self.store.path)
        cp = config.charge_point
        self.hardware = hardware or build_hardware(config, initial_energy_wh={
            n: TransactionRecorder.last_meter_energy(self.store, n)
            for n in range(1, cp.connectors + 1)})
        auth = config.authorization
        self.standalone = StandaloneCards.for_config(config, self.store)  # None with a CSMS
        self.station = Station(
            cp.connectors,
            clock=self.clock,
            access_limits=AccessLimits(
                list_max_length=auth.local_list_max_length,
                send_list_max_length=min(auth.send_local_list_max_length,
                                         auth.local_list_max_length),
                cache_max_entries=auth.cache_max_entries),
            board_max_current_a={
                n: board.capabilities.max_current_a for n, board in self.hardware.boards.items()
            },
            cable_lock={n: board.capabilities.has_lock
                        for n, board in self.hardware.boards.items()},
            standalone=self.standalone.decision if self.standalone else None,
        )
        self.home = Home(config, self.station, self.dispatch, self.clock, self.hardware.site_meter,
                         store=self.store)
        self.cable_locks = CableLocks(
            lambda n: getattr(self.hardware.boards[n], "cable_lock", None),
            lambda n, locked, failed: self.dispatch(
                self.station.cable_lock_changed(n, locked, failed)))
        self.security = LinkSecurity(config)
        self.firmware, self.diagnostics = updater_and_uploader(config, self.store, self.security,
                                                              self.clock)
        self.logs = log_uploader(config, self.diagnostics, self.security, clock=self.clock)
        # The adapter of the OCPP version configured ([ocpp] version).
        self.protocol = build_adapter(DaemonParts(
            config=config,
            station=self.station,
            dispatch=self.dispatch,
            clock=self.clock,
            outbox=Outbox(StoredOutboxJournal(self.store), clock=self.clock),
            security=self.security,
            firmware=self.firmware,
            diagnostics=self.diagnostics,
            logs=self.logs,
            on_security_change=self._security_changed,
            on_ping_interval=self._ping_interval_changed,
            on_connection_change=self._connection_changed,
            on_csms_time=self._csms_time,
            # A Reset the CSMS asked for leaves its mark in the store until this start.
            boot_reason="PowerUp" if self.store.state("reset_pending") is None
            else "RemoteReset",
            store=self.store,
            message_timeout=lambda: self.network.message_timeout(),
        ))
        self.security.protocol = self.protocol
        self.recorder = TransactionRecorder(self.store, self.station, tariff(config))
        keys = self.protocol.configuration
        # What the CSMS changed survives a restart, except for a key that has become read-only
        # since (its value is the station's to say now); the caller's overrides (tests) come last.
        changed = {name: value for name, value in self.store.configuration().items()
                   if name in keys and not keys.definition(name).readonly}
        for name, value in {**changed, **(configuration_overrides or {})}.items():
            if name in keys:
                keys.set_initial(name, value)
        keys.on_change(self.store.configuration_changed)
        self.station.settings = station_settings(config, keys.station_settings())
        # The connection in use: [ocpp] url, or a slot the CSMS set (2.0.1 SetNetworkProfile).
        self.network = NetworkSelection(config.ocpp.url, keys, self.security, cp.id,
                                        configured_timeout=config.ocpp.response_timeout)
        self.link = None if self.standalone else OcppLink(
            self.network.url(),
            cp.id,
            subprotocol=self.protocol.subprotocol,
            subprotocols=offered_subprotocols(self.protocol),
            session_factory=self.protocol.run_session,
            ping_interval=config.ocpp.ping_interval,
            logger=logging.getLogger("pievse.ocpp.link"),
            transport=self.security.transport,
            describe_failure=self.security.describe_failure,
            on_attempt=self.network.attempt,
            clock=self.clock,
            max_message_size=self.protocol.max_message_size,
        )
        self.network.link = self.link
        self.api: ApiServer | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.exit_reason = ExitReason.STOPPED
        self.supervisor = Supervisor(self.clock)
        self.inputs = HardwareInputs(self.station, self.hardware, self.dispatch, self.clock,
                                     meter_interval_s=config.meter.interval,
                                     reading_taken=self.recorder.reading_taken,
                                     before_card=self.standalone.refresh if self.standalone
                                     else None)
        self._tasks: list[asyncio.Task] = []
        self.started = asyncio.Event()
        #: The last errors logged, for the status page.
        self.recent_errors = RecentErrors()
        self.service = ServiceReporter(notifier or Notifier(), self.describe)
        self.watchers: list[Callable[[], None]] = []  # told of each change, must not block
        self.mqtt: Any = None  # the MQTT bridge, when [mqtt] host is set

    # --- the time ----------------------------------------------------------------------------

    def _csms_time(self, csms_time: float) -> None:
        """The CSMS's time, from its answer to a BootNotification: adopted when the system clock
        is not synchronised (a Pi without RTC or network time at boot), so that the timestamps
        sent are right. The system time itself is left to the time daemon."""
        if not isinstance(self.clock, SystemClock):
            return  # a test's clock: its time is the test's to set
        offset = csms_time - self.clock.now()
        # Within the message's own precision and transit, there is nothing to correct.
        if abs(offset) < CLOCK_NOISE_S or self._clock_synchronised():
            return
        self.clock.resync(csms_time)
        if abs(offset) >= CLOCK_JUMP_S and not self._clock_jump_logged:
            self._clock_jump_logged = True
            log.warning("the system clock is not synchronised and %s off: taking the CSMS's "
                        "time from BootNotification", _span(offset))
        else:
            log.info("the system clock is not synchronised: taking the CSMS's time from "
                     "BootNotification (%+.1f s)", offset)

    # --- effects -------------------------------------------------------------------------------

    def dispatch(self, effects: list[Effect]) -> None:
        """Carry out the station's effects in order. Board commands run first, here and now,
        so that nothing (not even a failing disk) stands between a decision to open a contactor
        and the pin; what the rest changes in the store is committed in one write."""
        for effect in effects:
            if isinstance(effect, BOARD_COMMANDS):
                self._command_board(effect)
        with self.store.batch():
            for effect in effects:
                if isinstance(effect, LockCable):
                    self.cable_locks.drive(effect)
                elif not isinstance(effect, BOARD_COMMANDS):
                    self._carry_out(effect)
            self.recorder.settled()
        self._wake.set()
        for watcher in self.watchers:
            watcher()

    def _command_board(self, effect: SetContactor | SetPilot | SetPhases) -> None:
        try:
            self._drive_board(effect)
        except Exception as error:  # noqa: BLE001 - a board that cannot be driven is a fault
            # Reported once the effects in hand are carried out: the station is mid-dispatch.
            log.critical("connector %s: the board refused %s", effect.connector_id, effect,
                         exc_info=True, extra={"CONNECTOR_ID": effect.connector_id})
            asyncio.get_running_loop().call_soon(
                functools.partial(self.inputs.board_failed, effect.connector_id,
                                  f"{type(error).__name__}: {error}", until_unplugged=True))

    def _drive_board(self, effect: SetContactor | SetPilot | SetPhases) -> None:
        drive_board(self.station, self.hardware.boards[effect.connector_id], effect)
        if isinstance(effect, SetContactor):
            log.info("connector %s: contactor %s", effect.connector_id,
                     "closed" if effect.closed else "open",
                     extra={"CONNECTOR_ID": effect.connector_id})

    def _carry_out(self, effect: Effect) -> None:
        match effect:
            case TokenAnswered():
                log.info("id tag %s: %s", effect.id_token.value, effect.info)
            case ResetNow(hard=hard):
                asyncio.get_running_loop().create_task(self._reset(hard))
            case StatusChanged():
                self.service.changed()
                if not self.standalone:
                    self.protocol.handle(effect)
            case _:
                self.recorder.record(effect)
                if not self.standalone:  # without a CSMS, the store is the only record
                    self.protocol.handle(effect)

    async def _reset(self, hard: bool) -> None:
        # Give the StopTransaction messages a chance to reach the CSMS before going down.
        if self.protocol.registered:
            await self.protocol.outbox.wait_empty(timeout=10.0)
        self.exit_reason = ExitReason.HARD_RESET if hard else ExitReason.SOFT_RESET
        self._stopping.set()

    def _ping_interval_changed(self, seconds: int) -> None:
        if self.link is not None:
            self.link.set_ping_interval(seconds)

    def _security_changed(self, what: str) -> None:
        reason = self.security.changed(what)
        if self.link is None:
            return
        log.warning("security settings changed (%s): reconnecting", reason)
        asyncio.get_running_loop().create_task(self.link.reconnect(reason))

    def _connection_changed(self) -> None:
        self.service.changed()
        for watcher in self.watchers:
            watcher()

    def describe(self) -> str:
        """One line for ``systemctl status``: the CSMS link and what each connector does."""
        if self.standalone:
            link = "standalone (no CSMS)"
        elif self.protocol.registered:
            link = "online"
        elif self.protocol.connected:
            link = "connected, not yet accepted by the CSMS"
        else:
            link = "offline"
        parts = [f"{self.config.charge_point.id} {link}"]
        for n, c in self.station.connectors.items():
            status = c.status[0].value if c.status else "?"
            power = c.last_reading.power_w if c.last_reading else None
            if c.transaction is not None and power:
                status += f" {power / 1000:.1f} kW"
            parts.append(f"connector {n} {status}")
        return ", ".join(parts)

    # --- running -------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> ExitReason:
        """Run until stopped, reset or failed; the contactors are open when this returns."""
        logging.getLogger("pievse").addHandler(self.recent_errors)
        try:
            self.protocol.report_security_event("StartupOfTheDevice")
            self.dispatch(self.recorder.recover())
            await self._start_drivers()
            self.dispatch(self.station.start())
            self._tasks = await self.home.start(self.supervisor)
            await self._start_api()
            # The core's timer is not supervised: see pievse.app.supervision.
            self._tasks += [asyncio.create_task(self._timer(), name="station-timer"),
                           *self.inputs.start(self.supervisor),
                           *([self.supervisor.start("OCPP link", self.link.run)]
                             if self.link is not None else [])]
            if self.config.mqtt.enabled:
                from pievse.app.mqtt_bridge import start_mqtt
                self._tasks.append(start_mqtt(self))
            if self.service.notifier.enabled:
                self._tasks.append(self.supervisor.start("systemd notifier", self.service.run))
            stopping = asyncio.create_task(self._stopping.wait())
            self.started.set()
            if self.firmware is not None:
                # How the last update ended, or one scheduled before the restart.
                self.firmware.resume()
            self.service.ready()
            done, _ = await asyncio.wait(
                [stopping, *self._tasks], return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                if task is not stopping and not task.cancelled() and task.exception():
                    raise task.exception()  # type: ignore[misc]
            stopping.cancel()
        except asyncio.CancelledError:
            self.exit_reason = ExitReason.STOPPED
            raise
        except Exception:
            log.critical("unhandled error: opening the contactors and stopping", exc_info=True)
            self.exit_reason = ExitReason.FAILED
        finally:
            await self._shutdown()
        return self.exit_reason

    async def _start_drivers(self) -> None:
        for board in self.hardware.boards.values():
            await board.start()
        for meter in self.hardware.meters.values():
            await meter.start()
        if self.hardware.reader is not None:
            await self.hardware.reader.start()
        # A first reading before anything can start, so meterStart is a real value.
        await self.inputs.first_readings()

    async def _start_api(self) -> None:
        if not self.config.api.listen:
            return
        controls, power = page_parts(self)
        self.api = ApiServer(self, self.config.api.host, self.config.api.port,
                             token=self.config.api.token or None,
                             simulations=self.simulations(), history=self.store.sessions,
                             controls=controls, power=power)
        await self.api.start()
        log.info("local API on http://%s:%s/api/status", self.config.api.host, self.api.port)

    async def _shutdown(self) -> None:
        self.service.stopping(f"stopping ({self.exit_reason.value})")
        # Safety first: open every contactor and stop every PWM before anything else.
        for n, board in self.hardware.boards.items():
            try:
                board.set_contactor(False)
                board.pilot_standby()
            except Exception:
                log.critical("connector %s: could not open the contactor", n, exc_info=True)
        await self._end_transactions()
        await self.cable_locks.settle(timeout=LOCK_SETTLE_S)
        for job in (self.firmware, self.diagnostics, self.logs):
            if job is not None:
                job.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.link is not None:
            with contextlib.suppress(Exception):
                await self.link.close()
        if self.api is not None:
            with contextlib.suppress(Exception):
                await self.api.stop()
        for closable in [
            *self.hardware.boards.values(),
            *self.hardware.meters.values(),
            *filter(None, [self.hardware.reader, self.hardware.site_meter]),
        ]:
            with contextlib.suppress(Exception):
                await closable.close()
        self.store.close()
        logging.getLogger("pievse").removeHandler(self.recent_errors)

    async def _end_transactions(self) -> None:
        """End the transactions the exit interrupts (reason Reboot) and give their
        StopTransaction a few seconds to reach the CSMS, so the session is not left open there."""
        try:
            self.dispatch(self.station.shut_down())
        except Exception:
            log.critical("could not end the transactions in progress", exc_info=True)
            return
        if self.protocol.outbox and self.protocol.registered:
            if not await self.protocol.outbox.wait_empty(timeout=SHUTDOWN_DELIVERY_S):
                log.error("exiting with %d transaction message(s) not delivered to the CSMS",
                          len(self.protocol.outbox))
        elif self.protocol.outbox:
            log.error("exiting offline: %d transaction message(s) not delivered to the CSMS",
                      len(self.protocol.outbox))

    async def _timer(self) -> None:
        """Wake the station at its next deadline; any other input re-arms the timer."""
        while True:
            self._wake.clear()
            deadline = self.station.next_deadline()
            if deadline is not None and self.clock.now() >= deadline:
                self.dispatch(self.station.tick())
                continue
            timeout = None if deadline is None else deadline - self.clock.now()
            await self.clock.wait(self._wake, timeout)

    # --- the local API's backend ---------------------------------------------------------------

    def status(self, show_id_tags: bool = True) -> dict[str, Any]:
        """What the station is doing; the id tags of its sessions unless ``show_id_tags`` is
        false (a client of the local API that is not trusted with them)."""
        connectors = []
        for n, c in self.station.connectors.items():
            reading = c.last_reading
            tx = c.transaction
            status = c.status[0].value if c.status else None
            connectors.append(
                {
                    "id": n,
                    "status": status,
                    "error_code": c.status[1].value if c.status else None,
                    "error_info": c.status[2] if c.status else None,
                    "pilot_state": c.pilot.value,
                    "contactor_closed": c.contactor_closed,
                    "offered_current": round(c.offered_a, 2),
                    "offered_current_reason": c.current_limit_reason,
                    "meter": {
                        "energy_wh": reading.energy_import_wh if reading else None,
                        "power_w": reading.power_w if reading else None,
                        "current_a": list(reading.current_a) if reading else [],
                        "online": self.inputs.meter_online.get(n, reading is not None),
                        "problem": c.meter_problem or c.meter_check.problem,
                    },
                    "transaction": None
                    if tx is None
                    else {
                        "id": tx.transaction_id,
                        **({"id_tag": getattr(tx.id_token, "value", None)} if show_id_tags else {}),
                        "meter_start_wh": tx.meter_start_wh,
                        "energy_wh": round(tx.energy_wh, 3),
                    },
                }
            )
        return {
            "charge_point_id": self.config.charge_point.id,
            "ocpp": {
                "connected": self.protocol.connected,
                "registered": self.protocol.registered,
                "version": self.protocol.version,
                "security_profile": int(self.security.state.profile),
                "queued_transaction_messages": len(self.protocol.outbox),
                "standalone": bool(self.standalone),
            },
            "connectors": connectors,
            **self.home.status(),
            "recent_errors": self.recent_errors.as_json(),
        }

    def set_local_limit(self, connector: int | None, amps: float | None) -> None:
        self.home.set_local_limit("api", connector, amps)

    def set_mode(self, mode: str) -> None:
        self.home.set_mode(mode)

    def simulations(self) -> set[Simulation]:
        """The simulated parts the local API may drive: a car needs its simulated board."""
        sim = self.hardware.simulated
        if sim is None:
            return set()
        parts = set()
        if any(n in sim.boards for n in sim.evs):
            parts.add(Simulation.EV)
        if sim.boards:
            parts.add(Simulation.FAULT)
        if sim.reader is not None:
            parts.add(Simulation.TOKEN)
        return parts

    def _simulated(self) -> SimulatedHardware:
        if self.hardware.simulated is None:
            raise SimulationUnavailable("this station runs real hardware drivers")
        return self.hardware.simulated

    def sim_ev(self, connector: int, state: str, max_current: float | None) -> None:
        sim = self._simulated()
        ev = sim.evs.get(connector)
        if ev is None:
            raise ValueError(f"no simulated car on connector {connector}")
        if max_current is not None:
            ev.max_current_a = max_current
        ev.set_state(state)

    def sim_token(self, id_token: str) -> None:
        sim = self._simulated()
        if sim.reader is None:
            raise SimulationUnavailable("the card reader is not simulated")
        sim.reader.present(id_token)

    def sim_fault(self, connector: int, fault: str, active: bool) -> None:
        sim = self._simulated()
        board = sim.boards.get(connector)
        if board is None:
            raise ValueError(f"no simulated board on connector {connector}")
        board.inject_fault(FaultKind(fault), active)
