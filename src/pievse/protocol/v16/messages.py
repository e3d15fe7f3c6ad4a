"""Station effects as OCPP 1.6 requests, and the idTagInfo of the CSMS's answers as the core's
authorization results: the only place that knows the field names of 1.6's requests."""

from __future__ import annotations

import logging
from typing import Any

from ocpp.v16 import call

from pievse.core.authorization import AuthorizationResult
from pievse.protocol.common.datetimes import format_datetime, parse_datetime
from pievse.protocol.common.measurands import format_value, measurements
from pievse.protocol.common.payloads import WirePayload, WireRequest, snake_to_camel_case
from pievse.protocol.v16.codec.authorization import (
    CodecError,
    decode_authorization_status,
    decode_id_tag_info,
)
from pievse.core.effects import (
    MeterSample,
    StatusChanged,
    TransactionStarted,
    TransactionStopped,
)

log = logging.getLogger("pievse.ocpp")

# SampledValue.unit in 1.6 has no unit for frequency: leave it out there.
_UNITS_16 = {"Wh", "kWh", "W", "kW", "A", "V", "VA", "kVA", "var", "kvar", "varh", "kvarh"}


# The names the 1.6 blocks know OCPP date-times by (epoch seconds <-> text).
timestamp = format_datetime
parse_timestamp = parse_datetime


def meter_value(sample: MeterSample, measurands: list[str]) -> WirePayload:
    sampled = []
    context = sample.context.value
    for measurand, number, unit, phase in measurements(sample, measurands):
        # Plain dicts: the WirePayload around them is taken as it is, with what it holds.
        value = {"value": format_value(number), "context": context, "measurand": measurand,
                 "location": "Outlet"}
        if unit in _UNITS_16:
            value["unit"] = unit
        if phase is not None:
            value["phase"] = phase
        sampled.append(value)
    # The sample's own instant, not the meter read's: a clock-aligned value belongs to :15, not
    # to whenever the meter happened to be polled just before it.
    return WirePayload(timestamp=timestamp(sample.timestamp), sampledValue=sampled)


def status_notification(effect: StatusChanged) -> call.StatusNotification:
    return call.StatusNotification(
        connector_id=effect.connector_id,
        error_code=effect.error_code.value,
        status=effect.status.value,
        info=effect.info[:50] if effect.info else None,
        timestamp=timestamp(effect.timestamp),
    )


def start_transaction(effect: TransactionStarted) -> call.StartTransaction:
    return call.StartTransaction(
        connector_id=effect.connector_id,
        id_tag=effect.id_token.value,
        meter_start=round(effect.meter_start_wh),
        timestamp=timestamp(effect.timestamp),
        reservation_id=effect.reservation_id,
    )


def stop_transaction(
    effect: TransactionStopped,
    transaction_id: int,
    sampled_measurands: list[str],
    aligned_measurands: list[str],
) -> call.StopTransaction:
    data = []
    for sample in effect.transaction_data:
        clock_aligned = sample.context.value == "Sample.Clock"
        chosen = aligned_measurands if clock_aligned else sampled_measurands
        value = meter_value(sample, chosen)
        if value["sampledValue"]:
            data.append(value)
    return call.StopTransaction(
        meter_stop=round(effect.meter_stop_wh),
        timestamp=timestamp(effect.timestamp),
        transaction_id=transaction_id,
        reason=effect.reason.value,
        id_tag=effect.id_token.value if effect.id_token is not None else None,
        transaction_data=data or None,
    )


def meter_values(
    sample: MeterSample, measurands: list[str], transaction_id: int | None
) -> WireRequest | None:
    value = meter_value(sample, measurands)
    if not value["sampledValue"]:
        return None
    payload = WirePayload(connectorId=sample.connector_id, meterValue=[value])
    if transaction_id is not None:
        payload["transactionId"] = transaction_id
    return WireRequest("MeterValues", payload)


def id_tag_info(obj: Any) -> AuthorizationResult:
    """An idTagInfo from the ``ocpp`` package (snake_case) as the core's authorization result.
    The schema has checked its shape already; an expiryDate the codec cannot read costs only
    the expiry (the status still counts), and is logged."""
    camel = snake_to_camel_case(obj)
    try:
        return decode_id_tag_info(camel)
    except CodecError as error:
        log.warning("idTagInfo %s: %s; keeping its status only", camel, error)
        return AuthorizationResult(decode_authorization_status(camel["status"]))
