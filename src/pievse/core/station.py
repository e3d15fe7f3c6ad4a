"""The charge point as a whole: its connectors, who may charge, and the commands of the CSMS.

``Station`` is the one object the daemon and the protocol adapters talk to. It has no I/O: every
input method takes an event, updates the connectors and returns the effects to carry out (see
``effects.py``), in order. Time is read from the injected clock; when the station needs to act
without an input (a timeout, a meter sample), ``next_deadline()`` says when to call ``tick()``.

Commands of the CSMS return a typed answer (the core's own words, see ``answers.py``) together
with their effects, so one implementation serves OCPP 1.6 and 2.0.1 alike.

Each part of the charge point is its own object (``connectors``, ``charging``: the CSMS's
profiles, ``local``: the house's limits, ``access``: list, cache and reservations,
``interrupted``: sessions a power cut left open), given only the settings, the clock, an emit
function and the few questions it asks of the others, so that each is built and tested alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from pievse.core import availability
from pievse.core.hardware import FaultKind, MeterReading, PilotState
from pievse.core.access import Access, AccessLimits
from pievse.core.answers import (
    Answer, AvailabilityStatus, EvseResetStatus, RemoteStartStopStatus, ResetStatus, UnlockStatus)
from pievse.core.authorization import (
    AuthorizationResult, AuthorizationStatus, IdToken, LocalListUpdate)
from pievse.core.charging_limits import ChargingLimits
from pievse.core.charging_profiles import (
    ChargingProfile,
    ChargingProfilePurpose,
    ChargingRateUnit,
    CompositeSchedule,
    InstalledProfile,
)
from pievse.core.clock import Clock, SystemClock
from pievse.core.effects import AvailabilityChanged, Effect, ResetNow, StatusChanged
from pievse.core.connector import Connector
from pievse.core.evse_reset import EvseResets
from pievse.core.id_tags import IdTags
from pievse.core.interrupted import InterruptedTransactions
from pievse.core.local_limits import LocalLimits
from pievse.core.reservations import Reservation, ReservationStatus
from pievse.core.settings import StationSettings
from pievse.core.standalone import Standalone
from pievse.core.transactions import InterruptedTransaction, Transaction
from pievse.core.vocabulary import ConnectorStatus, ErrorCode, ReadingContext, StopReason


class Station:
    def __init__(
        self,
        connector_count: int = 1,
        settings: StationSettings | None = None,
        clock: Clock | None = None,
        board_max_current_a: Mapping[int, float] | None = None,
        access_limits: AccessLimits | None = None,
        cable_lock: Mapping[int, bool] | None = None,
        standalone: Standalone | None = None,
    ) -> None:
        if connector_count < 1:
            raise ValueError("a charge point has at least one connector")
        self._settings = settings or StationSettings()
        self.clock: Clock = clock or SystemClock()
        board_max = board_max_current_a or {}
        has_lock = cable_lock or {}
        self._effects: list[Effect] = []
        self._next_ref = 1
        self.reset_pending: bool | None = None  # None, or True for hard / False for soft
        self.shutting_down = False
        #: A firmware update waits to install (see ``hold_for_update``).
        self.held_for_update = False
        self.operative = True
        self._status0: tuple[ConnectorStatus, ErrorCode, str | None] | None = None
        #: Why the card reader cannot read cards, reported on connector 0; None if it can.
        self.reader_problem: str | None = None
        self._next_aligned_at: float | None = None
        #: Whether the CSMS can be asked now (connected and registered): LocalPreAuthorize
        #: applies only then. The protocol adapter says so (``csms_connection_changed``).
        self.csms_online = False
        # Each part gets what it needs, never the station itself.
        seams = {"settings": self._current_settings, "clock": self.clock, "emit": self._emit}
        host = _ConnectorSeam(self)
        self.connectors: dict[int, Connector] = {
            n: Connector(n, host, board_max_current_a=board_max.get(n, float("inf")),
                         has_lock=has_lock.get(n, False), **seams)
            for n in range(1, connector_count + 1)
        }
        self.charging = ChargingLimits(self.connectors, **seams)
        self.local = LocalLimits(self.connectors, settings=self._current_settings, emit=self._emit)
        self.interrupted = InterruptedTransactions(self.connector, self.restore_transaction_refs,
                                                   clock=self.clock, emit=self._emit)
        self.evse_resets = EvseResets(self.connectors)
        self.access = Access(self.connectors, limits=access_limits, standalone=standalone, **seams)
        self.id_tags = IdTags(self.connectors, self.access, csms_online=lambda: self.csms_online,
                              emit=self._emit)

    @property
    def settings(self) -> StationSettings:
        return self._settings

    @settings.setter
    def settings(self, settings: StationSettings) -> None:
        # The daemon sets the settings from the configuration keys before it starts; the
        # authorisation stores and the reservations follow them at once.
        self._settings = settings
        self.access.settings_changed()

    def _current_settings(self) -> StationSettings:
        return self._settings

    # --- plumbing used by the parts ------------------------------------------------------------

    def _emit(self, effect: Effect) -> None:
        self._effects.append(effect)

    def _take(self) -> list[Effect]:
        # Every input ends here: the station-wide local limits follow the sessions running now,
        # and the Reserved statuses (one connector's state can decide another's, connector 0).
        self.local.settle()
        self.access.settle()
        effects, self._effects = self._effects, []
        return effects

    def _new_transaction_ref(self) -> int:
        ref = self._next_ref
        self._next_ref += 1
        return ref

    def _transaction_ended(self, connector: Connector) -> None:
        self.charging.transaction_ended(connector)
        self.local.moved(connector.id)
        self.evse_resets.transaction_ended(connector)
        self._report_station_status()
        if self.reset_pending is not None and not self.transactions():
            self._emit(ResetNow(hard=self.reset_pending))

    def end_interrupted(
        self, interrupted: InterruptedTransaction, reason: StopReason = StopReason.POWER_LOSS
    ) -> list[Effect]:
        """End a transaction that a crash or power cut interrupted (PowerLoss; Reboot when a
        Reset was under way). The contactor has been open since the daemon died, so the last
        energy the store saw is what was delivered, and its time is when the session ended."""
        self.interrupted.end(interrupted, reason)
        return self._take()

    def hold_interrupted(
        self, interrupted: InterruptedTransaction, reason: StopReason = StopReason.POWER_LOSS
    ) -> list[Effect]:
        """Resume an interrupted transaction if its car is still plugged in (known from the
        first pilot state), else end it as ``end_interrupted`` does."""
        self.interrupted.hold(interrupted, reason)
        return self._take()

    def restore_transaction_refs(self, next_ref: int) -> None:
        """Continue numbering after the refs already used (persisted across restarts)."""
        self._next_ref = max(self._next_ref, next_ref)

    # --- queries -------------------------------------------------------------------------------

    def connector(self, connector_id: int) -> Connector:
        try:
            return self.connectors[connector_id]
        except KeyError:
            raise ValueError(f"no connector {connector_id}") from None

    def transactions(self) -> list[Transaction]:
        return [c.transaction for c in self.connectors.values() if c.transaction is not None]

    def find_transaction(self, transaction_id: int | str) -> Transaction | None:
        for tx in self.transactions():
            if tx.transaction_id == transaction_id:
                return tx
        return None

    def statuses(self) -> list[StatusChanged]:
        """The current status of connector 0 and of every connector (for a reconnect or a
        TriggerMessage), without changing anything."""
        now = self.clock.now()
        result = [StatusChanged(0, *self._station_status(), now)]
        for c in self.connectors.values():
            status, code, info = c.compute_status()
            result.append(StatusChanged(c.id, status, code, info, now))
        return result

    # --- start-up ------------------------------------------------------------------------------

    def start(self) -> list[Effect]:
        """Report the initial status of the charge point and of every connector."""
        self._report_station_status()
        for c in self.connectors.values():
            c.reconcile()
        self._schedule_aligned(self.clock.now())
        return self._take()

    # --- hardware events -----------------------------------------------------------------------

    def pilot_changed(self, connector_id: int, state: PilotState) -> list[Effect]:
        self.connector(connector_id).set_pilot(state)
        return self._take()

    def fault_changed(self, connector_id: int, kind: FaultKind, active: bool) -> list[Effect]:
        self.connector(connector_id).set_fault(kind, active)
        return self._take()

    def meter_reading(self, connector_id: int, reading: MeterReading) -> list[Effect]:
        self.connector(connector_id).meter_reading(reading)
        return self._take()

    def meter_failed(self, connector_id: int, problem: str | None) -> list[Effect]:
        """The connector's meter stopped giving readings (``problem`` says why), or gives them
        again (None). Charging goes on with the last good energy value: a meter that fell silent
        is no danger to anyone, and the CSMS learns of it from the PowerMeterFailure error code."""
        self.connector(connector_id).set_meter_problem(problem)
        return self._take()

    def reader_failed(self, problem: str | None) -> list[Effect]:
        """The card reader cannot read cards (``problem`` says why), or can again (None)."""
        self.reader_problem = problem
        self._report_station_status()
        return self._take()

    def cable_lock_changed(self, connector_id: int, locked: bool, failed: bool) -> list[Effect]:
        """The cable lock was driven (``LockCable``): where its feedback reads it now, and
        whether that misses the position it was driven to (ConnectorLockFailure)."""
        self.connector(connector_id).lock_changed(locked, failed)
        return self._take()

    def offered_current_confirmed(self, connector_id: int, amps: float) -> None:
        self.connector(connector_id).confirm_offer(amps)

    # --- id tags -------------------------------------------------------------------------------

    def csms_connection_changed(self, online: bool) -> list[Effect]:
        """The CSMS can be asked from now on (registered), or no longer (connection lost)."""
        self.csms_online = online
        return self._take()

    def token_presented(self, id_token: IdToken) -> list[Effect]:
        """A card was presented at the station."""
        self.id_tags.presented(id_token)
        return self._take()

    def authorization_result(
        self, id_token: IdToken, verdict: AuthorizationResult | AuthorizationStatus | None
    ) -> list[Effect]:
        """The CSMS's verdict on ``id_token`` (its result, or only the status); ``None`` when
        it could not be asked (offline), and the local stores decide."""
        self.id_tags.verdict(id_token, verdict)
        return self._take()

    def verdict_received(self, id_token: IdToken, result: AuthorizationResult) -> list[Effect]:
        """The CSMS's verdict on ``id_token`` came with its answer to a transaction's start or
        stop: the cache keeps it (OCPP 1.6 3.5.1)."""
        self.access.remember(id_token, result)
        return self._take()

    # --- transactions and the CSMS -------------------------------------------------------------

    def transaction_accepted(
        self, ref: int, transaction_id: int | str, status: AuthorizationStatus
    ) -> list[Effect]:
        """The CSMS answered StartTransaction: its transactionId, and its verdict on the id tag.

        A refused id tag ends the transaction (StopTransactionOnInvalidId), or else leaves it
        running on what is left of MaxEnergyOnInvalidId, then suspended."""
        for c in self.connectors.values():
            tx = c.transaction
            if tx is None or tx.ref != ref:
                continue
            tx.transaction_id = transaction_id
            if status is not AuthorizationStatus.ACCEPTED and tx.stop is None:
                if self.settings.stop_transaction_on_invalid_id:
                    c.begin_stop(StopReason.DE_AUTHORIZED, None)
                else:
                    tx.deauthorized = True  # keep the transaction, deliver no more energy
                    c.reconcile()
        return self._take()

    def remote_start(self, id_token: IdToken, connector_id: int | None = None,
                     charging_profile: ChargingProfile | None = None,
                     remote_start_id: int | None = None) -> Answer:
        """RemoteStartTransaction; ``charging_profile`` (a TxProfile) is installed when the
        transaction starts; ``remote_start_id`` (2.0.1's) goes with the transaction it starts.
        Rejected on a connector the station lacks."""
        if self.reset_pending is not None or (
                connector_id is not None and connector_id not in self.connectors):
            return Answer(RemoteStartStopStatus.REJECTED, self._take())
        if charging_profile is not None and not self.charging.remote_start_profile(
                id_token, charging_profile):
            return Answer(RemoteStartStopStatus.REJECTED, self._take())
        # A reservation is checked with the card's group as the local stores know it; with
        # AuthorizeRemoteTxRequests the CSMS's answer, which may name the group, decides again.
        group = self.access.known_group(id_token)
        connector = self.id_tags.connector_for(id_token, group, connector_id)
        if connector is None:
            return Answer(RemoteStartStopStatus.REJECTED, self._take())
        if self.settings.authorize_remote_tx_requests:
            self.id_tags.ask_for_remote_start(id_token, connector, remote_start_id)
        else:
            connector.authorize(id_token, group, remote_start_id)
        return Answer(RemoteStartStopStatus.ACCEPTED, self._take())

    def remote_stop(self, transaction_id: int | str) -> Answer:
        tx = self.find_transaction(transaction_id)
        return self.stop_session(tx.connector_id if tx else 0, StopReason.REMOTE)

    def stop_session(self, connector_id: int, reason: StopReason) -> Answer:
        """Stop the session on a connector, known to the CSMS by its transaction id or not yet."""
        c = self.connectors.get(connector_id)
        if c is None or c.transaction is None or c.transaction.stop is not None:
            return Answer(RemoteStartStopStatus.REJECTED, self._take())
        c.begin_stop(reason, None)
        return Answer(RemoteStartStopStatus.ACCEPTED, self._take())

    def unlock_connector(self, connector_id: int) -> Answer:
        """A socket with a lock: the transaction there stops (UnlockCommand) and the lock opens
        once the contactor has; the outcome follows as ``CableLockSettled``. A tethered cable
        has nothing to unlock: NotSupported, and no session is touched."""
        connector = self.connectors.get(connector_id)
        if connector is None:
            return Answer(UnlockStatus.UNKNOWN_CONNECTOR, self._take())
        if not connector.has_lock:
            return Answer(UnlockStatus.NOT_SUPPORTED, self._take())
        connector.unlock()
        return Answer(UnlockStatus.UNLOCKING, self._take())

    def change_availability(self, connector_id: int, operative: bool) -> Answer:
        """Connector 0 is the whole charge point; a connector the station lacks is Rejected."""
        if connector_id != 0 and connector_id not in self.connectors:
            return Answer(AvailabilityStatus.REJECTED, self._take())
        targets = (
            list(self.connectors.values())
            if connector_id == 0
            else [self.connector(connector_id)]
        )
        scheduled = availability.change(targets, operative)
        if connector_id == 0:
            self.operative = operative
            self._report_station_status()
        self._emit(AvailabilityChanged(availability.wanted(self.connectors, self.operative)))
        status = AvailabilityStatus.SCHEDULED if scheduled else AvailabilityStatus.ACCEPTED
        return Answer(status, self._take())

    def restore_availability(self, operative: Mapping[int, bool]) -> list[Effect]:
        """The availability the last run left (``AvailabilityChanged``): a connector still in a
        transaction (resumed after the restart) changes once it has ended, as Scheduled."""
        for n, c in self.connectors.items():
            availability.change([c], operative.get(n, True))
        self.operative = operative.get(0, True)
        self._report_station_status()
        return self._take()

    def reset(self, hard: bool) -> Answer:
        """Stop every transaction (reason HardReset/SoftReset), then ask the daemon to restart."""
        self.reset_pending = hard
        self.id_tags.deciding.clear()
        reason = StopReason.HARD_RESET if hard else StopReason.SOFT_RESET
        running = self.transactions()
        for tx in running:
            self.connector(tx.connector_id).begin_stop(reason, None)
        for c in self.connectors.values():
            if c.pending is not None:
                c.pending = None
                c.reconcile()
        if not self.transactions():
            self._emit(ResetNow(hard=hard))
        return Answer(ResetStatus.ACCEPTED, self._take())

    def reset_evse(self, connector_id: int, immediate: bool) -> Answer:
        """Reset one EVSE only (see evse_reset.py); the daemon goes on."""
        status: EvseResetStatus = self.evse_resets.request(connector_id, immediate)
        return Answer(status, self._take())

    def hold_for_update(self, held: bool) -> list[Effect]:
        """A firmware update waits for the transactions to end before it installs (OCPP 2.0.1
        L01.FR.07): while held no new session starts, and every connector not in use shows
        Unavailable, until the update is installed or gives up. The running sessions go on, and
        the CSMS's own availability (ChangeAvailability) is left as it is."""
        if held != self.held_for_update:
            self.held_for_update = held
            for c in self.connectors.values():
                c.reconcile()
        return self._take()

    def shut_down(self, reason: StopReason = StopReason.REBOOT) -> list[Effect]:
        """The daemon is going down: open every contactor now and end every transaction. No
        grace for the car: a contactor left closed without a controller is the unsafe outcome."""
        self.shutting_down = True
        self.id_tags.deciding.clear()
        for c in self.connectors.values():
            c.pending = None
            c.begin_stop(reason, None)
            c.reconcile()
        return self._take()

    def set_current_limit(self, connector_id: int, source: str, amps: float | None) -> list[Effect]:
        """Limit what a connector offers (e.g. a charging profile); ``None`` lifts the limit.
        Under 6 A the connector pauses (SuspendedEVSE) without ending the transaction."""
        c = self.connector(connector_id)
        if amps is None:
            c.limits.pop(source, None)
        else:
            c.limits[source] = amps
        c.reconcile()
        return self._take()

    def set_local_limit(self, source: str, connector_id: int | None,
                        amps: float | None) -> list[Effect]:
        """A local limit of ``source`` ("api", "mqtt", "site") on a connector, or (None) on the
        whole station, shared by its sessions; ``amps`` None lifts it. ValueError if wrong."""
        self.local.set(source, connector_id, amps)
        return self._take()

    # --- smart charging --------------------------------------------------------------------------

    def set_charging_profile(self, connector_id: int, profile: ChargingProfile) -> Answer:
        """SetChargingProfile: a ChargingProfileStatus."""
        result = self.charging.set_profile(connector_id, profile)
        return Answer(result.status, self._take(), result.reason)

    def clear_charging_profile(self, profile_id: int | None = None,
                               connector_id: int | None = None,
                               purpose: ChargingProfilePurpose | None = None,
                               stack_level: int | None = None) -> Answer:
        """ClearChargingProfile: a ClearChargingProfileStatus."""
        return Answer(self.charging.clear(profile_id, connector_id, purpose, stack_level),
                      self._take())

    def composite_schedule(self, connector_id: int, duration_s: int,
                           unit: ChargingRateUnit | None = None,
                           local_limits: bool = False) -> CompositeSchedule:
        """GetCompositeSchedule, from now on for ``duration_s`` seconds; ``local_limits``: with
        the local limits in force now (2.0.1's external constraints; 1.6 knows none)."""
        cap = self.local.lowest(connector_id) if local_limits else None
        return self.charging.composite_schedule(connector_id, duration_s, unit, cap)

    def restore_charging_profiles(self, installed: Iterable[InstalledProfile]) -> list[Effect]:
        self.charging.restore(installed)
        return self._take()

    # --- local authorisation and reservations -----------------------------------------------------

    def send_local_list(self, update: LocalListUpdate) -> Answer:
        """SendLocalList: Accepted, Failed, NotSupported or VersionMismatch."""
        status, _ = self.access.send_local_list(update)
        return Answer(status, self._take())

    def local_list_version(self) -> int:
        """GetLocalListVersion: -1 while the list is disabled, 0 while it is empty."""
        return self.access.authorization.list_version

    def clear_cache(self) -> Answer:
        return Answer(self.access.clear_cache(), self._take())

    def forget_cached_token(self, id_token: IdToken) -> Answer:
        """A customer's data cleared: the cache's verdict on ``id_token`` goes (True if there
        was one). A running transaction keeps its token, and the local list is the CSMS's."""
        return Answer(self.access.forget_cached(id_token), self._take())

    def reserve_now(self, reservation: Reservation) -> Answer:
        """ReserveNow: Accepted, Faulted, Occupied, Rejected or Unavailable. Rejected while a
        reset or a shutdown is under way: the connectors are about to go away."""
        if self.reset_pending is not None or self.shutting_down:
            return Answer(ReservationStatus.REJECTED, self._take())
        status, _ = self.access.reserve(reservation)
        return Answer(status, self._take())

    def cancel_reservation(self, reservation_id: int) -> Answer:
        return Answer(self.access.cancel(reservation_id), self._take())

    def update_settings(self, **changes: Any) -> list[Effect]:
        self.settings = dataclasses.replace(self.settings, **changes)
        if "clock_aligned_data_interval_s" in changes:
            self._schedule_aligned(self.clock.now())
        for c in self.connectors.values():
            c.reconcile()
        return self._take()

    # --- reporting on demand -------------------------------------------------------------------

    def sample_now(self, connector_id: int | None = None) -> list[Effect]:
        """Meter samples with context Trigger (TriggerMessage MeterValues)."""
        targets = (
            list(self.connectors.values())
            if connector_id in (None, 0)
            else [self.connector(connector_id)]
        )
        for c in targets:
            c.sample(ReadingContext.TRIGGER)
        return self._take()

    # --- time ----------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        deadlines = [d for c in self.connectors.values() if (d := c.next_deadline()) is not None]
        if self._next_aligned_at is not None:
            deadlines.append(self._next_aligned_at)
        if self.charging.next_change_at is not None:
            deadlines.append(self.charging.next_change_at)
        if (expiry := self.access.next_deadline()) is not None:
            deadlines.append(expiry)
        if (decide := self.interrupted.next_deadline()) is not None:
            deadlines.append(decide)
        return min(deadlines) if deadlines else None

    def tick(self) -> list[Effect]:
        now = self.clock.now()
        if self.charging.due(now):
            self.charging.apply()
        self.access.tick(now)
        self.interrupted.tick(now)
        for c in self.connectors.values():
            c.tick(now)
        if self._next_aligned_at is not None and now >= self._next_aligned_at:
            for c in self.connectors.values():
                c.sample(ReadingContext.SAMPLE_CLOCK, at=self._next_aligned_at)
            self._schedule_aligned(now)
        return self._take()

    def _schedule_aligned(self, now: float) -> None:
        interval = self.settings.clock_aligned_data_interval_s
        if interval <= 0:
            self._next_aligned_at = None
            return
        # Aligned to midnight UTC: with 900 s the samples fall on :00, :15, :30 and :45.
        self._next_aligned_at = (now // interval + 1) * interval

    # --- connector 0 ---------------------------------------------------------------------------

    def _station_status(self) -> tuple[ConnectorStatus, ErrorCode, str | None]:
        status = (ConnectorStatus.UNAVAILABLE if not self.operative and not self.transactions()
                  else ConnectorStatus.AVAILABLE)
        if self.reader_problem is not None:
            # Not Unavailable: a session can still start remotely or from the local API.
            return status, ErrorCode.READER_FAILURE, self.reader_problem[:50]
        return status, ErrorCode.NO_ERROR, None

    def _report_station_status(self) -> None:
        status = self._station_status()
        if status != self._status0:
            self._status0 = status
            self._emit(StatusChanged(0, *status, self.clock.now()))


class _ConnectorSeam:
    """The rest of the charge point as its connectors see it (``ConnectorHost``)."""

    def __init__(self, station: Station) -> None:
        self._station = station

    def may_start_transaction(self) -> bool:
        station = self._station
        # None when no reset is under way; False (soft) must block new sessions as well.
        return (station.reset_pending is None and not station.shutting_down
                and not station.held_for_update)

    def shutting_down(self) -> bool:
        return self._station.shutting_down

    def held_for_update(self) -> bool:
        return self._station.held_for_update

    def shows_reserved(self, connector_id: int) -> bool:
        return self._station.access.shows_reserved(connector_id)

    def profile_limit_reason(self, connector_id: int) -> str:
        return self._station.charging.reasons.get(connector_id, "charging profile")

    def new_transaction_ref(self) -> int:
        return self._station._new_transaction_ref()

    def claim_reservation(self, connector_id: int, id_token: IdToken,
                          group: IdToken | None) -> int | None:
        return self._station.access.claim(connector_id, id_token, group)

    def pilot_reported(self, connector: Connector) -> None:
        self._station.interrupted.pilot_known(connector)
        if (standalone := self._station.access.standalone) is not None:
            standalone.pilot_reported(connector)  # free charging starts on plugging in

    def transaction_started(self, connector: Connector) -> None:
        self._station.charging.transaction_started(connector)
        self._station.local.moved(connector.id)

    def transaction_ended(self, connector: Connector) -> None:
        self._station._transaction_ended(connector)

