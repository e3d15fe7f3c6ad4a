"""One connector: the IEC 61851 state machine, the contactor decision and the OCPP status.

The connector keeps the facts (pilot state, active faults, availability, the authorisation waiting
for a car, the transaction) and derives everything else from them in ``reconcile()``: what the
pilot offers, whether the contactor is closed, which status the CSMS sees and whether a
transaction that is being stopped can now be closed. Every input updates a fact and reconciles, so
there is one place where the contactor can close, and it checks every condition each time.

What it needs of the rest of the charge point (reservations, profiles, transaction numbers, a
reset under way) it asks through ``ConnectorHost``, so a connector can be built and tested alone.

Safety rules enforced here (see shared/reference/control-pilot.md):

* the contactor closes only when the car asks for power (state C, or D with ventilation), a
  transaction is running and authorised, energy is offered and no fault is active;
* it opens at once on any fault and when the car stops asking (C -> B, unplug);
* a station-side stop or pause switches the PWM off first and opens the contactor once the car
  has left state C, or after ``stop_grace_s`` if it does not, so the contactor never breaks the
  load unless it has to;
* on a socket with a cable lock, the contactor closes only once the lock's feedback reads locked
  for the running transaction, and the lock is released only after the contactor opened.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from pievse.core.authorization import IdToken
from pievse.core.clock import Clock
from pievse.core.hardware import FaultKind, MeterReading, PilotState
from pievse.core.iec61851 import MIN_CURRENT_A
from pievse.core.meter_plausibility import MeterPlausibility, Ratings
from pievse.core.effects import (
    CableLockSettled,
    EVConnectionChanged,
    Effect,
    FaultsChanged,
    LockCable,
    MeterSample,
    SetContactor,
    SetPilot,
    StatusChanged,
    TransactionAuthorized,
    TransactionDeauthorized,
    TransactionStarted,
    TransactionStopped,
)
from pievse.core.connector_host import ConnectorHost
from pievse.core.connector_status import status_of
from pievse.core.fault_reports import FAULT_REPORT
from pievse.core.settings import StationSettings
from pievse.core.transactions import StopRequest, Transaction
from pievse.core.tx_points import StartCause, TxPoint, car_moved, cause_of_start
from pievse.core.tx_points import ev_connection_deadline
from pievse.core.vocabulary import ConnectorStatus, ErrorCode, ReadingContext, StopReason

#: The stop reasons that end the driver's authorisation rather than the car's connection.
_DEAUTHORIZATIONS = frozenset({StopReason.LOCAL, StopReason.REMOTE, StopReason.DE_AUTHORIZED,
                               StopReason.MASTER_PASS})


@dataclass(slots=True)
class PendingAuthorization:
    """An id token accepted for this connector, waiting for the car (ConnectionTimeOut runs)."""

    id_token: IdToken
    since: float
    #: The card's group, as the CSMS or the local stores gave it: a reservation made for the
    #: group is used by the transaction this starts.
    group: IdToken | None = None
    #: The number the CSMS gave the remote start this is for (2.0.1's remoteStartId).
    remote_start_id: int | None = None


class Connector:
    def __init__(
        self,
        connector_id: int,
        host: ConnectorHost,
        *,
        settings: Callable[[], StationSettings],
        clock: Clock,
        emit: Callable[[Effect], None],
        board_max_current_a: float = float("inf"),
        has_lock: bool = False,
    ) -> None:
        self.id = connector_id
        self._host = host
        self._settings = settings
        self._clock = clock
        self._emit = emit
        #: What the board can offer at most (its relay, its cable).
        self.board_max_current_a = board_max_current_a
        self.pilot = PilotState.A
        #: False until the board has told the pilot state for the first time.
        self.pilot_known = False
        #: Active faults: the fault inputs of the board, plus PILOT while the pilot reads E/F.
        self.faults: set[FaultKind] = set()
        self._fault_inputs: set[FaultKind] = set()
        self.operative = True
        #: ChangeAvailability that waits for the running transaction to end (True = operative).
        self.scheduled_availability: bool | None = None
        self.pending: PendingAuthorization | None = None
        self.transaction: Transaction | None = None
        #: The transaction ended while the car stayed plugged: Finishing until it leaves.
        self.finishing = False
        self.contactor_closed = False
        self.offered_a = 0.0  # what the board really offers (after its quantisation)
        self._commanded_offer_a = 0.0
        #: Limits on the offered current by source (e.g. a charging profile); None = no limit.
        self.limits: dict[str, float] = {}
        #: When the PWM stopped while the contactor was closed: open it by then regardless.
        self.open_deadline: float | None = None
        #: The last reading, as far as it is plausible (see ``meter_check``).
        self.last_reading: MeterReading | None = None
        #: The register's energy as the last run left it: the energy until a reading is accepted.
        self.remembered_energy_wh = 0.0
        #: Why the meter gives no readings now; None while it does.
        self.meter_problem: str | None = None
        self.meter_check = MeterPlausibility(self._ratings, clock)
        self.status: tuple[ConnectorStatus, ErrorCode, str | None] | None = None
        self._faults_told: frozenset[FaultKind] = frozenset()
        #: A socket whose plug a lock holds (False: a fixed cable, nothing to lock).
        self.has_lock = has_lock
        #: Where the lock was last driven to, and where its feedback reads it.
        self.lock_wanted = False
        self.locked = False
        self._lock_failed = False
        #: The last of the facts a transaction may begin at: the car plugged in, or a driver
        #: authorised (what the CSMS hears the transaction began with).
        self._last_fact = StartCause.AUTHORIZED

    # --- facts in ------------------------------------------------------------------------------

    def set_pilot(self, state: PilotState) -> None:
        was_connected = self.pilot.vehicle_connected
        self.pilot = state
        self.pilot_known = True
        self._refresh_faults()
        self._host.pilot_reported(self)
        tx = self.transaction
        if state.vehicle_connected and not was_connected:
            self._last_fact = StartCause.CABLE_PLUGGED_IN
        if state is PilotState.A:
            self.finishing = False
        if tx is not None and (reason := car_moved(
                tx, self._settings(), unplugged=state is PilotState.A,
                connected=state.vehicle_connected, was_connected=was_connected,
                asks_for_power=self._car_asks_for_power(), now=self._clock.now())):
            self.begin_stop(reason, None)
        told = None
        if tx is not None and tx.stop is None and state.vehicle_connected != was_connected:
            told = EVConnectionChanged(tx.ref, self.id, state.vehicle_connected,
                                       self._clock.now())
        if told is not None and told.connected:
            self._emit(told)  # before what the car then does
        self.reconcile()
        if told is not None and not told.connected:
            self._emit(told)  # after the contactor has opened

    def set_fault(self, kind: FaultKind, active: bool) -> None:
        if active:
            self._fault_inputs.add(kind)
        else:
            self._fault_inputs.discard(kind)
        self._refresh_faults()
        self.reconcile()

    def _refresh_faults(self) -> None:
        # Kept apart so that a pilot leaving E/F cannot clear a fault input the board still
        # reports (a failed diode check, say), and the input clearing cannot hide a pilot in E/F.
        self.faults = set(self._fault_inputs)
        if self.pilot.is_error:
            self.faults.add(FaultKind.PILOT)
        if self._lock_failed:
            self.faults.add(FaultKind.CABLE_LOCK)

    def meter_reading(self, reading: MeterReading) -> None:
        check = self.meter_check
        failed_before = check.failed
        judged = check.judge(reading).reading
        tx = self.transaction
        if judged is not None:
            self.last_reading = judged
            if tx is not None:
                # Never below what was billed already: a transaction resumed after a restart
                # carries its last energy from the store, whatever the meter reads first.
                tx.last_energy_wh = max(tx.last_energy_wh, judged.energy_import_wh)
        if check.failed != failed_before or (
                judged is not None and tx is not None and tx.deauthorized
                and self._commanded_offer_a > 0):
            # The status tells of the failure; or the transaction is still drawing on the
            # MaxEnergyOnInvalidId allowance, and this reading may be the one that uses it up.
            self.reconcile()

    def lock_changed(self, locked: bool, failed: bool) -> None:
        """The lock's feedback after it was driven: ``failed`` when it missed its position."""
        self.locked = locked
        self._lock_failed = failed
        self._refresh_faults()
        self._emit(CableLockSettled(self.id, locked, failed))
        self.reconcile()

    def _drive_lock(self, locked: bool) -> None:
        if self.has_lock and self.lock_wanted != locked:
            self.lock_wanted = locked
            self._emit(LockCable(self.id, locked))

    def unlock(self) -> None:
        """UnlockConnector: stop the transaction here (the lock opens once the contactor has),
        or release the plug now."""
        tx = self.transaction
        if tx is not None:
            self.begin_stop(StopReason.UNLOCK_COMMAND, None)
            return
        # Driven even when thought open already: the person asks because the plug is stuck.
        self.lock_wanted = True
        self._drive_lock(False)

    def _ratings(self) -> Ratings:
        settings = self._settings()
        board = self.board_max_current_a
        return Ratings(board if math.isfinite(board) else settings.max_current_a,
                       settings.phases, settings.nominal_voltage_v)

    def set_meter_problem(self, problem: str | None) -> None:
        self.meter_problem = problem
        self.reconcile()

    @property
    def energy_wh(self) -> float:
        # A session that starts while the meter is silent starts from where the register was,
        # not from 0 Wh: a meterStart of 0 would bill the whole register at the first reading.
        return (self.last_reading.energy_import_wh if self.last_reading
                else self.remembered_energy_wh)

    # --- questions -----------------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        """Can a new session be started here now?"""
        return (
            self.operative
            and not self.faults
            and not self.ventilation_fault
            and (self.transaction is None or self.awaits_authorization)
            and self._host.may_start_transaction()
        )

    @property
    def awaits_authorization(self) -> bool:
        """A transaction begun with the cable plugged in runs here, waiting for a driver."""
        tx = self.transaction
        return tx is not None and tx.id_token is None and tx.stop is None

    @property
    def current_limit_a(self) -> float:
        """The most this connector may offer now, from every limit that applies."""
        limit = min(self._settings().max_current_a, self.board_max_current_a)
        for value in self.limits.values():
            limit = min(limit, value)
        return limit

    @property
    def current_limit_reason(self) -> str:
        """What caps the offered current now, in words, for the person at the station."""
        candidates = [
            (self._settings().max_current_a, "installation maximum"),
            (self.board_max_current_a, "board capability"),
            *((amps, source) for source, amps in self.limits.items()),
        ]
        amps, why = min(candidates, key=lambda c: c[0])
        if why == "charging_profile":
            why = self._host.profile_limit_reason(self.id)
        if amps < MIN_CURRENT_A:
            return f"paused: {why} allows {amps:g} A, under the 6 A minimum"
        return f"{why}: {amps:g} A"

    def _car_asks_for_power(self) -> bool:
        if self.pilot is PilotState.D:
            return self._settings().ventilation_available
        return self.pilot is PilotState.C

    @property
    def ventilation_fault(self) -> bool:
        """The car asks for ventilation (state D) that this station does not provide."""
        return self.pilot is PilotState.D and not self._settings().ventilation_available

    # --- transactions --------------------------------------------------------------------------

    def authorize(self, id_token: IdToken, group: IdToken | None = None,
                  remote_start_id: int | None = None) -> None:
        """A card was accepted for this connector: the transaction begun with the cable plugged
        in is now its own; else start at the start point (the car here, by default) or wait."""
        self._last_fact = StartCause.AUTHORIZED
        tx = self.transaction
        if tx is not None and self.awaits_authorization:
            tx.id_token = id_token
            self._emit(TransactionAuthorized(tx.ref, self.id, id_token, self._clock.now(),
                                             remote_start_id))
            self._host.transaction_started(self)  # now its driver's: a remote start's profile
        else:
            self.pending = PendingAuthorization(id_token, self._clock.now(), group,
                                                remote_start_id)
        self.reconcile()

    def _start_transaction(self) -> None:
        host = self._host
        now = self._clock.now()
        pending = self.pending
        connected = self.pilot.vehicle_connected
        token = pending.id_token if pending is not None else None
        tx = Transaction(
            ref=host.new_transaction_ref(),
            connector_id=self.id,
            id_token=token,
            meter_start_wh=self.energy_wh,
            started_at=now,
            # The reservation this card holds here (or on connector 0) ends with this start,
            # and the CSMS learns which one with it.
            reservation_id=(host.claim_reservation(self.id, pending.id_token, pending.group)
                            if pending is not None else None),
        )
        tx.ev_seen = connected
        interval = self._settings().meter_value_sample_interval_s
        tx.next_sample_at = now + interval if interval > 0 else None
        self.pending = None
        self.finishing = False
        self.transaction = tx
        self._drive_lock(True)
        cause = cause_of_start(self._settings().tx_points, self._last_fact,
                               authorized=token is not None, connected=connected)
        self._emit(
            TransactionStarted(tx.ref, self.id, tx.id_token, tx.meter_start_wh, now,
                               tx.reservation_id, cause,
                               pending.remote_start_id if pending is not None else None,
                               connected)
        )
        self.sample(ReadingContext.TRANSACTION_BEGIN)
        host.transaction_started(self)

    def resume(self, tx: Transaction) -> None:
        """Go on with a transaction from before a restart (its car is still plugged in): no new
        StartTransaction; the contactor closes again only when the car asks, as always."""
        interval = self._settings().meter_value_sample_interval_s
        now = self._clock.now()
        tx.next_sample_at = now + interval if interval > 0 else None
        self.pending = None
        self.transaction = tx
        self._drive_lock(True)
        self._host.transaction_started(self)

    def begin_stop(self, reason: StopReason, id_token: IdToken | None) -> None:
        tx = self.transaction
        if tx is None or tx.stop is not None:
            return
        if (reason in _DEAUTHORIZATIONS and tx.id_token is not None
                and not self._settings().tx_points.ends_with_authorization):
            # The stop point is the cable: the energy stops, the transaction waits for it.
            if not tx.authorization_ended:
                tx.authorization_ended = True
                self._emit(TransactionDeauthorized(tx.ref, self.id, reason, id_token,
                                                   self._clock.now()))
                self.reconcile()
            return
        tx.stop = StopRequest(reason, id_token, self._clock.now())
        self.reconcile()

    def _finish_transaction(self) -> None:
        tx = self.transaction
        assert tx is not None and tx.stop is not None
        self.sample(ReadingContext.TRANSACTION_END)
        self.transaction = None
        self.finishing = self.pilot.vehicle_connected
        self._emit(
            TransactionStopped(
                transaction_ref=tx.ref,
                transaction_id=tx.transaction_id,
                connector_id=self.id,
                id_token=tx.stop.id_token,
                meter_stop_wh=tx.last_energy_wh,
                timestamp=self._clock.now(),
                reason=tx.stop.reason,
                transaction_data=tuple(tx.samples),
            )
        )
        self._drive_lock(False)  # the contactor is open: no plug is pulled under load
        if self.scheduled_availability is not None:
            self.operative = self.scheduled_availability
            self.scheduled_availability = None
        self._host.transaction_ended(self)

    def sample(self, context: ReadingContext, at: float | None = None) -> MeterSample | None:
        """Emit a meter sample of this connector (kept in the transaction's data if one runs).

        ``at`` stamps a clock-aligned sample with the aligned instant it stands for."""
        if self.last_reading is None:
            return None
        tx = self.transaction
        sample = MeterSample(
            connector_id=self.id,
            transaction_ref=tx.ref if tx else None,
            context=context,
            reading=self.last_reading,
            offered_current_a=self.offered_a,
            timestamp=self._clock.now() if at is None else at,
        )
        if tx is not None:
            tx.keep_sample(sample, self._settings().max_transaction_samples)
        self._emit(sample)
        return sample

    # --- the decisions -------------------------------------------------------------------------

    @property
    def energy_allowance_used_up(self) -> bool:
        """A transaction whose id tag the CSMS refused after the start (with
        StopTransactionOnInvalidId false) may take MaxEnergyOnInvalidId Wh in all, then no more."""
        tx = self.transaction
        return tx is not None and tx.deauthorized and (
            tx.energy_wh >= self._settings().max_energy_on_invalid_id_wh)

    def _target_offer(self) -> float:
        tx = self.transaction
        # Authorised, and the transaction begins when the car takes energy (TxStartPoint
        # EnergyTransfer): the PWM runs before it, or the car never asks (the contactor still
        # waits for the transaction).
        waits_for_energy = (tx is None and self.pending is not None and self.usable
                            and self.pilot.vehicle_connected
                            and TxPoint.ENERGY_TRANSFER in self._settings().tx_start_points)
        if not waits_for_energy and (
            tx is None
            or tx.stop is not None
            or tx.id_token is None
            or tx.authorization_ended
            or self.energy_allowance_used_up
            or self.faults
            or self.ventilation_fault
            or not self.pilot.vehicle_connected
        ):
            return 0.0
        limit = self.current_limit_a
        return limit if limit >= MIN_CURRENT_A else 0.0

    def reconcile(self) -> None:
        now = self._clock.now()

        # 1. Hard opening first: a fault or a car that stopped asking opens the contactor now.
        must_open = (
            bool(self.faults)
            or self.ventilation_fault
            or not self._car_asks_for_power()
            or self.transaction is None
            or self._host.shutting_down()
            or not self._lock_holds()
        )
        if must_open and self.contactor_closed:
            self._command_contactor(False)

        # Faults end the transaction (the reason names the fault).
        tx = self.transaction
        if tx is not None and tx.stop is None:
            if self.faults:
                kind = sorted(self.faults, key=lambda k: k.value)[0]
                tx.stop = StopRequest(FAULT_REPORT[kind][1], None, now)
            elif self.ventilation_fault:
                tx.stop = StopRequest(StopReason.OTHER, None, now)

        # 2. The pilot offer.
        offer = self._target_offer()
        if offer != self._commanded_offer_a:
            self._commanded_offer_a = offer
            self.offered_a = offer
            self._emit(SetPilot(self.id, offer))

        # 3. Closing, and soft opening after the PWM stopped under load.
        if not must_open:
            if offer > 0:
                self.open_deadline = None
                if not self.contactor_closed:
                    self._command_contactor(True)
            elif self.contactor_closed:
                if self.open_deadline is None:
                    self.open_deadline = now + self._settings().stop_grace_s
                elif now >= self.open_deadline:
                    self._command_contactor(False)
        if not self.contactor_closed:
            self.open_deadline = None

        # 4. A stopping transaction ends once no current can flow.
        tx = self.transaction
        if tx is not None and tx.stop is not None and not self.contactor_closed:
            self._finish_transaction()

        # 5. The start point reached (by default an authorisation that found its car) starts
        # the transaction.
        if self.transaction is None and self.usable and self._settings().tx_points.start_reached(
                authorized=self.pending is not None, connected=self.pilot.vehicle_connected,
                asks_for_power=self._car_asks_for_power(), plugged_anew=not self.finishing):
            self._start_transaction()
            self.reconcile()
            return
        if self.pending is not None and not self.usable and self.transaction is None:
            self.pending = None

        self.report_status(now)

    def _lock_holds(self) -> bool:
        """A fixed cable, or a plug the lock holds for this transaction as its feedback says."""
        return not self.has_lock or (self.lock_wanted and self.locked)

    def _command_contactor(self, closed: bool) -> None:
        self.contactor_closed = closed
        if closed and self.transaction is not None:
            self.transaction.energy_flowed = True
        self._emit(SetContactor(self.id, closed))

    def confirm_offer(self, amps: float) -> None:
        """The board reports what it really offers after quantisation."""
        if self._commanded_offer_a > 0:
            self.offered_a = amps

    # --- status --------------------------------------------------------------------------------

    def compute_status(self, reserved: bool = True
                       ) -> tuple[ConnectorStatus, ErrorCode, str | None]:
        """The status, error code and info the CSMS sees. ``reserved=False``: as it would be
        without any reservation (what reservations are themselves checked against)."""
        return status_of(self, lambda: reserved and self._host.shows_reserved(self.id))

    @property
    def offering(self) -> bool:
        """Energy is offered on the pilot now."""
        return self._commanded_offer_a > 0

    @property
    def held_for_update(self) -> bool:
        """A firmware update waits to install: not in use, the connector shows Unavailable."""
        return self._host.held_for_update()

    def report_status(self, now: float | None = None) -> None:
        """Tell the CSMS the status if it changed since it was last told."""
        if now is None:
            now = self._clock.now()
        faults = frozenset(self.faults)
        if faults != self._faults_told:
            self._faults_told = faults
            self._emit(FaultsChanged(self.id, faults, now))
        status = self.compute_status()
        if status != self.status:
            self.status = status
            self._emit(StatusChanged(self.id, status[0], status[1], status[2], now))

    # --- time ----------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        candidates = []
        if self.open_deadline is not None:
            candidates.append(self.open_deadline)
        if self.pending is not None and not self.pilot.vehicle_connected:
            candidates.append(self.pending.since + self._settings().connection_timeout_s)
        timeout = ev_connection_deadline(self.transaction, self.pilot.vehicle_connected,
                                         self._settings().connection_timeout_s,
                                         self._settings().tx_points)
        if timeout is not None:
            candidates.append(timeout)
        tx = self.transaction
        if tx is not None and tx.stop is None and tx.next_sample_at is not None:
            candidates.append(tx.next_sample_at)
        return min(candidates) if candidates else None

    def tick(self, now: float) -> None:
        pending = self.pending
        if (
            pending is not None
            and not self.pilot.vehicle_connected
            and now >= pending.since + self._settings().connection_timeout_s
        ):
            # ConnectionTimeOut: the driver never plugged in; the incipient session is cancelled.
            self.pending = None
        timeout = ev_connection_deadline(self.transaction, self.pilot.vehicle_connected,
                                         self._settings().connection_timeout_s,
                                         self._settings().tx_points)
        if timeout is not None and now >= timeout:
            # The same, for a transaction begun at the authorisation: it ends.
            self.begin_stop(StopReason.TIMEOUT, None)
        tx = self.transaction
        if tx is not None and tx.stop is None and tx.next_sample_at is not None:
            if now >= tx.next_sample_at:
                self.sample(ReadingContext.SAMPLE_PERIODIC)
                interval = self._settings().meter_value_sample_interval_s
                if interval > 0:
                    missed = (now - tx.next_sample_at) // interval
                    tx.next_sample_at += (missed + 1) * interval
                else:
                    tx.next_sample_at = None
        self.reconcile()
