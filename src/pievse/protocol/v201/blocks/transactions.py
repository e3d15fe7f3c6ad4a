"""E Transactions and J Meter values: TransactionEvent through the outbox, GetTransactionStatus,
MeterValues outside a transaction, and the variables of TxCtrlr, SampledDataCtrlr and
AlignedDataCtrlr.

A transaction's events wait in the same persistent outbox as 1.6's messages and are delivered
by the same rules (:mod:`pievse.protocol.common.outbox_delivery`, MessageAttempts and
MessageAttemptInterval of TransactionEvent): nothing is lost through kill -9 or a power cut.
The station names each transaction itself when it starts (a UUID: 36 characters, unique across
reboots) and numbers its events by seqNo from 0 with no gap, counted from the events the CSMS
answered (so a repeated event keeps its number). An event made while the CSMS was not there
carries ``offline`` (the outbox keeps that on disk with the event).

The transaction starts and ends where the core decides, at the points TxStartPoint and
TxStopPoint choose (EVConnected, Authorized, PowerPathClosed, EnergyTransfer: they feed the
station's settings; see :mod:`pievse.core.tx_points`). A station here has no parking bay
sensor: ParkingBayOccupancy is not among the values it takes. What made the transaction begin is
the Started event's triggerReason; an authorisation that comes after the start (the cable
plugged in first) or ends before the end (TxStopPoint EVConnected) is an Updated event, queued
with the others as a change of the transaction's state.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from pievse.core.authorization import AuthorizationStatus
from pievse.core.effects import (
    EVConnectionChanged,
    MeterSample,
    StatusChanged,
    TransactionAuthorized,
    TransactionDeauthorized,
    TransactionStarted,
    TransactionStopped,
)
from pievse.core.tx_points import TxPoint
from pievse.core.vocabulary import ReadingContext
from pievse.protocol.common.measurands import SUPPORTED_MEASURANDS
from pievse.protocol.common.outbox import OutboxEntry
from pievse.protocol.common.outbox_delivery import OutboxDelivery
from pievse.protocol.v201.codec import transactions as events
from pievse.protocol.v201.codec.words import charging_state, decode_id_token_info
from pievse.protocol.v201.context import Context
from pievse.protocol.v201.device_model import DataType, Mutability, Variable, member_list

__all__ = ["TransactionsBlock"]

RO = Mutability.READ_ONLY
INTEGER, BOOLEAN, MEMBERS = DataType.INTEGER, DataType.BOOLEAN, DataType.MEMBER_LIST


#: The start and stop points a station here can do (it has no parking bay sensor).
TX_POINTS = tuple(point.value for point in TxPoint)


def _tx_points(value: str) -> frozenset[TxPoint]:
    """A MemberList of points; an empty one is taken as the default, PowerPathClosed (a
    transaction that could never begin, or never end, is no setting)."""
    points = frozenset(TxPoint(item) for item in value.split(",") if item)
    return points or frozenset({TxPoint.POWER_PATH_CLOSED})


def _measurands(component: str, name: str, default: str, key: str | None = None) -> Variable:
    return Variable(component, name, MEMBERS, default, values_list=SUPPORTED_MEASURANDS,
                    key=key)


@functools.lru_cache(maxsize=64)
def _members(value: str) -> tuple[str, ...]:
    """The items of a MemberList. (Cached by its text: a fleet's stations read their measurands
    for every sample, and they change only when the CSMS sets them.)"""
    return tuple(item for item in value.split(",") if item)


class TransactionsBlock:
    def __init__(self, context: Context) -> None:
        self.context = context
        self.log = context.log
        #: The charging state last queued for each transaction.
        self._charging_states: dict[int, str] = {}
        #: EVSEs whose next triggered sample is a TransactionEvent (TriggerMessage), not a
        #: MeterValues.
        self._event_triggered: set[int] = set()
        context.on_effect(TransactionStarted, self._started)
        context.on_effect(StatusChanged, self._status_changed)
        context.on_effect(TransactionStopped, lambda stopped: self._put("stop", stopped))
        context.on_effect(TransactionAuthorized, lambda effect: self._put("state", effect))
        context.on_effect(TransactionDeauthorized, lambda effect: self._put("state", effect))
        context.on_effect(EVConnectionChanged, self._ev_connection)
        context.on_effect(MeterSample, self._sample)
        context.triggers.register("MeterValues", self._sample_now)
        context.triggers.register("TransactionEvent", self._event_now)
        model = context.device_model
        self.delivery = OutboxDelivery(
            context, build=self._request, delivered=self._delivered,
            attempts=lambda: model["TransactionMessageAttempts"],
            retry_interval=lambda: model["TransactionMessageRetryInterval"],
            name=lambda entry: "TransactionEvent")

    def variables(self) -> list[Variable]:
        tx, sampled, aligned = "TxCtrlr", "SampledDataCtrlr", "AlignedDataCtrlr"
        energy = "Energy.Active.Import.Register"
        return [
            Variable(tx, "EVConnectionTimeOut", INTEGER, 60, unit="s", minimum=1,
                     maximum=3600, key="ConnectionTimeOut", setting="connection_timeout_s",
                     to_setting=float),
            Variable(tx, "StopTxOnEVSideDisconnect", BOOLEAN, True,
                     key="StopTransactionOnEVSideDisconnect",
                     setting="stop_transaction_on_ev_side_disconnect"),
            Variable(tx, "StopTxOnInvalidId", BOOLEAN, True, key="StopTransactionOnInvalidId",
                     setting="stop_transaction_on_invalid_id"),
            Variable(tx, "MaxEnergyOnInvalidId", INTEGER, 0, unit="Wh", minimum=0,
                     maximum=1_000_000, key="MaxEnergyOnInvalidId",
                     setting="max_energy_on_invalid_id_wh", to_setting=float),
            Variable(tx, "TxStartPoint", MEMBERS, "PowerPathClosed", values_list=TX_POINTS,
                     setting="tx_start_points", to_setting=_tx_points),
            Variable(tx, "TxStopPoint", MEMBERS, "PowerPathClosed", values_list=TX_POINTS,
                     setting="tx_stop_points", to_setting=_tx_points),
            _measurands(sampled, "TxStartedMeasurands", energy),
            _measurands(sampled, "TxUpdatedMeasurands",
                        member_list(SUPPORTED_MEASURANDS[:5]), key="MeterValuesSampledData"),
            Variable(sampled, "TxUpdatedInterval", INTEGER, 60, unit="s", minimum=0,
                     maximum=86400, key="MeterValueSampleInterval",
                     setting="meter_value_sample_interval_s", to_setting=float),
            _measurands(sampled, "TxEndedMeasurands", energy, key="StopTxnSampledData"),
            # The Ended event carries the samples taken at TxUpdatedInterval.
            Variable(sampled, "TxEndedInterval", INTEGER, 0, RO, unit="s"),
            Variable(aligned, "Interval", INTEGER, 0, unit="s", minimum=0, maximum=86400,
                     key="ClockAlignedDataInterval", setting="clock_aligned_data_interval_s",
                     to_setting=float),
            _measurands(aligned, "Measurands", energy, key="MeterValuesAlignedData"),
            _measurands(aligned, "TxEndedMeasurands", "", key="StopTxnAlignedData"),
            Variable(aligned, "TxEndedInterval", INTEGER, 0, RO, unit="s"),
        ]

    def _list(self, name: str) -> tuple[str, ...]:
        value = self.context.device_model[name]
        return _members(value) if value else ()

    # --- into the outbox -------------------------------------------------------------------------

    def _started(self, started: TransactionStarted) -> None:
        context = self.context
        transaction_id = str(uuid.uuid4())
        # Named before its first event is queued: a restart never finds the one without the
        # other.
        context.outbox.remember_transaction_id(started.transaction_ref, transaction_id)
        self._put("start", started)
        self._charging_states[started.transaction_ref] = events.started_charging_state(started)
        status, code, info = context.station.connector(started.connector_id).compute_status()
        self._status_changed(StatusChanged(started.connector_id, status, code, info,
                                           started.timestamp))
        context.later(lambda: context.station.transaction_accepted(
            started.transaction_ref, transaction_id, AuthorizationStatus.ACCEPTED))

    def _ev_connection(self, effect: EVConnectionChanged) -> None:
        self._charging_states[effect.transaction_ref] = ("EVConnected" if effect.connected
                                                         else "Idle")
        self._put("state", effect)

    def _status_changed(self, effect: StatusChanged) -> None:
        """What the car does changed during a transaction: a ChargingStateChanged event, once
        the transaction's Started event is queued. (Without a car it is Idle, told with the
        car's leaving.)"""
        station, outbox = self.context.station, self.context.outbox
        connector = station.connectors.get(effect.connector_id)
        tx = connector.transaction if connector is not None else None
        state = charging_state(effect.status)
        if (tx is None or state is None or outbox.transaction_id(tx.ref) is None
                or not connector.pilot.vehicle_connected):
            return
        if self._charging_states.get(tx.ref) != state:
            self._charging_states[tx.ref] = state
            self._put("state", effect, tx.ref)

    def _put(self, kind: Any, effect: Any, transaction_ref: int | None = None) -> None:
        ref = transaction_ref if transaction_ref is not None else effect.transaction_ref
        assert ref is not None
        self.context.outbox.put(kind, ref, effect, offline=not self.context.registered)
        if kind == "stop":
            self._charging_states.pop(ref, None)

    def _sample(self, sample: MeterSample) -> None:
        context = self.context
        reading = sample.context
        if reading in (ReadingContext.TRANSACTION_BEGIN, ReadingContext.TRANSACTION_END):
            return  # they travel in the Started and Ended events
        triggered_event = (reading is ReadingContext.TRIGGER
                           and sample.connector_id in self._event_triggered)
        self._event_triggered.discard(sample.connector_id)
        if sample.transaction_ref is not None and (
                reading is not ReadingContext.TRIGGER or triggered_event):
            self._put("meter", sample)
        elif context.registered and reading is not ReadingContext.SAMPLE_PERIODIC:
            # Outside a transaction only clock-aligned values are reported (and what a
            # TriggerMessage asks for).
            name = ("MeterValuesAlignedData" if reading is ReadingContext.SAMPLE_CLOCK
                    else "MeterValuesSampledData")
            request = events.meter_values(sample, self._list(name))
            if request is not None:
                context.send(request)

    @on(Action.get_transaction_status)
    def on_get_transaction_status(self, transaction_id: str | None = None,
                                  **_: Any) -> call_result.GetTransactionStatus:
        """The queue as it stands when the request arrives (nothing is flushed first)."""
        outbox, station = self.context.outbox, self.context.station
        if transaction_id is None:
            return call_result.GetTransactionStatus(messages_in_queue=len(outbox) > 0)
        queued = any(str(outbox.transaction_id(entry.transaction_ref)) == transaction_id
                     for entry in outbox.entries())
        ongoing = station.find_transaction(transaction_id) is not None
        return call_result.GetTransactionStatus(messages_in_queue=queued,
                                                ongoing_indicator=ongoing)

    def _event_now(self, evse_id: int | None) -> None:
        """TriggerMessage(TransactionEvent): an Updated event, now, of each transaction (on
        ``evse_id``, or on every EVSE)."""
        station = self.context.station
        self._event_triggered = {tx.connector_id for tx in station.transactions()
                                 if evse_id in (None, 0, tx.connector_id)}
        if self._event_triggered:
            self.context.dispatch(station.sample_now(evse_id))

    def _sample_now(self, evse_id: int | None) -> None:
        self.context.dispatch(self.context.station.sample_now(evse_id))

    # --- out of the outbox -----------------------------------------------------------------------

    def _request(self, entry: OutboxEntry) -> Any:
        outbox = self.context.outbox
        transaction_id = outbox.transaction_id(entry.transaction_ref)
        if transaction_id is None and entry.kind == "start":
            # Queued under 1.6, whose CSMS would have named it: the station names it now, and
            # the core hears the name (the CSMS will use it to stop the transaction).
            transaction_id = str(uuid.uuid4())
            outbox.remember_transaction_id(entry.transaction_ref, transaction_id)
            ref, named = entry.transaction_ref, transaction_id
            self.context.later(lambda: self.context.station.transaction_accepted(
                ref, named, AuthorizationStatus.ACCEPTED))
        if transaction_id is None:
            self.log.error("no transactionId for transaction %s; dropping its %s",
                           entry.transaction_ref, entry.kind)
            return None
        seq_no = outbox.events_sent(entry.transaction_ref)
        offline = entry.offline
        tid = str(transaction_id)
        if entry.kind == "meter":  # the most of them by far
            clock = entry.data.context is ReadingContext.SAMPLE_CLOCK
            return events.updated(
                entry.data, tid, seq_no, offline=offline,
                measurands=self._list("MeterValuesAlignedData" if clock
                                      else "MeterValuesSampledData"),
                charging_state=self._charging_states.get(entry.transaction_ref))
        if entry.kind == "start":
            return events.started(
                entry.data, tid, seq_no, offline=offline,
                started_measurands=self._list("SampledDataCtrlr.TxStartedMeasurands"))
        if isinstance(entry.data, TransactionAuthorized):
            return events.authorized(entry.data, tid, seq_no, offline=offline)
        if isinstance(entry.data, TransactionDeauthorized):
            return events.deauthorized(entry.data, tid, seq_no, offline=offline)
        if isinstance(entry.data, EVConnectionChanged):
            return events.ev_connection(entry.data, tid, seq_no, offline=offline)
        if entry.kind == "state":
            return events.charging_state_changed(entry.data, tid, seq_no, offline=offline)
        # The one kind left: "stop".
        return events.ended(entry.data, tid, seq_no, offline=offline,
                            sampled_measurands=self._list("StopTxnSampledData"),
                            aligned_measurands=self._list("StopTxnAlignedData"))

    def _delivered(self, entry: OutboxEntry, response: Any) -> None:
        context = self.context
        station = context.station
        info = getattr(response, "id_token_info", None)
        token = (entry.data.id_token if entry.kind in ("start", "stop") else None)
        if info and token is not None:
            # The CSMS's verdict on the token that started (or ended) the transaction: the
            # cache keeps it, and a refusal at the start is the station's to act on.
            result = decode_id_token_info(info)
            context.dispatch(station.verdict_received(token, result))
            if entry.kind == "start" and result.status is not AuthorizationStatus.ACCEPTED:
                context.dispatch(station.transaction_accepted(
                    entry.transaction_ref, str(context.outbox.transaction_id(
                        entry.transaction_ref)), result.status))
        context.outbox.event_delivered(entry)
