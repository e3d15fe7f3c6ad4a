"""Station effects as OCPP 2.0.1 TransactionEvents and MeterValues: the only place that knows
their field names.

A transaction's events are numbered by ``seq_no`` and carry the station's own transactionId;
``evse`` and the idToken go only in the Started event (the Ended event names the token that
ended the transaction, when one did). A meter value's numbers travel as numbers, with their
unit of measure.

The requests are built in the wire's own terms (camelCase keys, an optional field left out
rather than None), as 1.6's MeterValues are: a fleet's stations send a TransactionEvent per
sample by the thousand a second, and building it as the ``ocpp`` package's dataclasses only to
walk them into this shape cost more than the rest of the event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pievse.core.effects import (
    EVConnectionChanged,
    MeterSample,
    StatusChanged,
    TransactionAuthorized,
    TransactionDeauthorized,
    TransactionStarted,
    TransactionStopped,
)
from pievse.core.authorization import IdToken
from pievse.core.connector_status import ENERGY_LIMIT_INFO
from pievse.core.tx_points import StartCause
from pievse.core.vocabulary import ReadingContext, StopReason
from pievse.protocol.common.datetimes import format_datetime
from pievse.protocol.common.measurands import measurements
from pievse.protocol.common.payloads import WireRequest
from pievse.protocol.v201.codec.words import (
    charging_state,
    encode_id_token,
    stop_trigger_reason,
    stopped_reason,
)

__all__ = ["authorized", "charging_state_changed", "deauthorized", "ended", "ev_connection",
           "meter_value",
           "meter_values", "started", "started_charging_state", "updated"]

ENERGY = "Energy.Active.Import.Register"

_TRIGGERS = {ReadingContext.SAMPLE_CLOCK: "MeterValueClock",
             ReadingContext.SAMPLE_PERIODIC: "MeterValuePeriodic",
             ReadingContext.TRIGGER: "Trigger"}


def _sampled_values(sample: MeterSample, measurands: Sequence[str]) -> list[dict[str, Any]]:
    sampled = []
    context = sample.context.value
    for measurand, number, unit, phase in measurements(sample, measurands):
        value: dict[str, Any] = {"value": round(number, 3), "context": context,
                                 "measurand": measurand, "location": "Outlet",
                                 "unitOfMeasure": {"unit": unit}}
        if phase is not None:
            value["phase"] = phase
        sampled.append(value)
    return sampled


def meter_value(sample: MeterSample, measurands: Sequence[str]) -> dict[str, Any] | None:
    """MeterValueType of ``sample`` with ``measurands`` (None: none of them was measured)."""
    sampled = _sampled_values(sample, measurands)
    if not sampled:
        return None
    return {"timestamp": format_datetime(sample.timestamp), "sampledValue": sampled}


def _energy(wh: float, context: ReadingContext, at: str) -> dict[str, Any]:
    return {"timestamp": at, "sampledValue": [{
        "value": round(wh, 3), "context": context.value, "measurand": ENERGY,
        "location": "Outlet", "unitOfMeasure": {"unit": "Wh"}}]}


def _token(token: IdToken | None) -> dict[str, str] | None:
    return None if token is None else encode_id_token(token)


def _event(event_type: str, at: str, trigger_reason: str, seq_no: int,
           transaction_info: dict[str, Any], offline: bool,
           meter_value: list[dict[str, Any]], *, evse: dict[str, int] | None = None,
           id_token: dict[str, str] | None = None,
           reservation_id: int | None = None) -> WireRequest:
    """A TransactionEventRequest at ``at`` (formatted once: its meter value of the same
    instant carries the same text), its fields in the order the ``ocpp`` package writes them."""
    payload = dict(eventType=event_type, timestamp=at,
                   triggerReason=trigger_reason, seqNo=seq_no,
                   transactionInfo=transaction_info)
    if meter_value:
        payload["meterValue"] = meter_value
    if offline:
        payload["offline"] = True
    if reservation_id is not None:
        payload["reservationId"] = reservation_id
    if evse is not None:
        payload["evse"] = evse
    if id_token is not None:
        payload["idToken"] = id_token
    return WireRequest("TransactionEvent", payload)


def started_charging_state(effect: TransactionStarted) -> str:
    """What the car does as the transaction begins."""
    if effect.cause is StartCause.ENERGY_TRANSFER:
        return "Charging"
    return "EVConnected" if effect.ev_connected else "Idle"


def _authorized_trigger(remote_start_id: int | None) -> str:
    return "RemoteStart" if remote_start_id is not None else "Authorized"


_START_TRIGGERS = {StartCause.CABLE_PLUGGED_IN: "CablePluggedIn",
                   StartCause.ENERGY_TRANSFER: "ChargingStateChanged"}


def started(effect: TransactionStarted, transaction_id: str, seq_no: int, *, offline: bool,
            started_measurands: Sequence[str]) -> WireRequest:
    """The Started event, with what made the transaction begin (its triggerReason) and what
    the car does then; what it does next follows as ChargingStateChanged events."""
    info: dict[str, Any] = {"transactionId": transaction_id,
                            "chargingState": started_charging_state(effect)}
    if effect.remote_start_id is not None:
        info["remoteStartId"] = effect.remote_start_id
    at = format_datetime(effect.timestamp)
    values = ([_energy(effect.meter_start_wh, ReadingContext.TRANSACTION_BEGIN, at)]
              if ENERGY in started_measurands else [])
    trigger = _START_TRIGGERS.get(effect.cause) or _authorized_trigger(effect.remote_start_id)
    return _event("Started", at, trigger, seq_no, info, offline, values,
                  evse={"id": effect.connector_id, "connectorId": 1},
                  reservation_id=effect.reservation_id, id_token=_token(effect.id_token))


def authorized(effect: TransactionAuthorized, transaction_id: str, seq_no: int, *,
               offline: bool) -> WireRequest:
    """The Updated event of a transaction begun with the cable plugged in, now authorised."""
    info: dict[str, Any] = {"transactionId": transaction_id}
    if effect.remote_start_id is not None:
        info["remoteStartId"] = effect.remote_start_id
    return _event("Updated", format_datetime(effect.timestamp),
                  _authorized_trigger(effect.remote_start_id), seq_no, info, offline, [],
                  id_token=encode_id_token(effect.id_token))


def ev_connection(effect: EVConnectionChanged, transaction_id: str, seq_no: int, *,
                  offline: bool) -> WireRequest:
    """The Updated event of the car unplugged from a transaction that goes on (E10), or
    plugged in (again)."""
    trigger, state = (("CablePluggedIn", "EVConnected") if effect.connected
                      else ("EVCommunicationLost", "Idle"))
    return _event("Updated", format_datetime(effect.timestamp), trigger, seq_no,
                  {"transactionId": transaction_id, "chargingState": state}, offline, [])


def deauthorized(effect: TransactionDeauthorized, transaction_id: str, seq_no: int, *,
                 offline: bool) -> WireRequest:
    """The Updated event of an authorisation ended while the transaction waits for the cable
    to be unplugged (TxStopPoint EVConnected)."""
    return _event("Updated", format_datetime(effect.timestamp),
                  stop_trigger_reason(effect.reason), seq_no,
                  {"transactionId": transaction_id, "chargingState": "EVConnected"}, offline,
                  [], id_token=_token(effect.id_token))


def updated(sample: MeterSample, transaction_id: str, seq_no: int, *, offline: bool,
            measurands: Sequence[str], charging_state: str | None = None) -> WireRequest | None:
    """The Updated event of a periodic, clock-aligned or triggered sample (None: nothing to
    report); a triggered one says what the car does (``charging_state``) too."""
    sampled = _sampled_values(sample, measurands)
    if not sampled:
        return None
    info: dict[str, Any] = {"transactionId": transaction_id}
    if sample.context is ReadingContext.TRIGGER and charging_state is not None:
        info["chargingState"] = charging_state
    at = format_datetime(sample.timestamp)
    return _event("Updated", at, _TRIGGERS.get(sample.context, "MeterValuePeriodic"), seq_no,
                  info, offline, [{"timestamp": at, "sampledValue": sampled}])


def charging_state_changed(effect: StatusChanged, transaction_id: str, seq_no: int, *,
                           offline: bool) -> WireRequest | None:
    """The Updated event of a change of what the car does (None: not a state of a transaction);
    EnergyLimitReached when the station suspended it for MaxEnergyOnInvalidId (E05)."""
    state = charging_state(effect.status)
    if state is None:
        return None
    trigger = ("EnergyLimitReached" if effect.info == ENERGY_LIMIT_INFO
               else "ChargingStateChanged")
    return _event("Updated", format_datetime(effect.timestamp), trigger, seq_no,
                  {"transactionId": transaction_id, "chargingState": state}, offline, [])


def ended(effect: TransactionStopped, transaction_id: str, seq_no: int, *, offline: bool,
          sampled_measurands: Sequence[str], aligned_measurands: Sequence[str]) -> WireRequest:
    at = format_datetime(effect.timestamp)
    values = []
    for sample in effect.transaction_data:
        clock = sample.context is ReadingContext.SAMPLE_CLOCK
        value = meter_value(sample, aligned_measurands if clock else sampled_measurands)
        if value is not None:
            values.append(value)
    if not any(sample.context is ReadingContext.TRANSACTION_END
               for sample in effect.transaction_data):
        values.append(_energy(effect.meter_stop_wh, ReadingContext.TRANSACTION_END, at))
    info: dict[str, Any] = {"transactionId": transaction_id,
                            "stoppedReason": stopped_reason(effect.reason)}
    # Unplugged (or never plugged in), nothing is connected; else the car is still there.
    info["chargingState"] = ("Idle" if effect.reason in (StopReason.EV_DISCONNECTED,
                                                          StopReason.TIMEOUT)
                             else "EVConnected")
    return _event("Ended", at, stop_trigger_reason(effect.reason), seq_no, info,
                  offline, values, id_token=_token(effect.id_token))


def meter_values(sample: MeterSample, measurands: Sequence[str]) -> WireRequest | None:
    """MeterValues of a sample outside a transaction or triggered (None: nothing measured)."""
    value = meter_value(sample, measurands)
    if value is None:
        return None
    return WireRequest("MeterValues", {"evseId": sample.connector_id, "meterValue": [value]})
