"""Station effects as JSON, for the outbox on disk.

The outbox keeps the station's own effects (TransactionStarted, TransactionStopped, MeterSample,
and for 2.0.1's charging-state events StatusChanged), not OCPP frames: a StopTransaction's
transactionId is only known once the CSMS has answered the StartTransaction, and the frame is
built then, in whichever OCPP version is spoken. What is written here must read back equal after
any restart, so every field is spelled out and enums are stored by their OCPP value.

The id token goes whole, value and type (``id_token``); an entry written before the type was
kept has an ``id_tag`` string instead, and reads back as a card (see ``token_codec``).
"""

from __future__ import annotations

from typing import Any

from pievse.core.authorization import IdToken
from pievse.core.hardware import MeterReading
from pievse.core.effects import (
    MeterSample,
    EVConnectionChanged,
    StatusChanged,
    TransactionAuthorized,
    TransactionDeauthorized,
    TransactionStarted,
    TransactionStopped,
)
from pievse.core.tx_points import StartCause
from pievse.core.vocabulary import ConnectorStatus, ErrorCode, ReadingContext, StopReason
from pievse.persistence.token_codec import decode_id_token, encode_id_token, untyped_id_tag

__all__ = ["decode_effect", "encode_effect"]

TransactionEffect = (TransactionStarted | TransactionStopped | MeterSample | StatusChanged
                     | TransactionAuthorized | TransactionDeauthorized | EVConnectionChanged)


def _token(token: IdToken | None) -> dict[str, str] | None:
    return None if token is None else encode_id_token(token)


def encode_effect(effect: TransactionEffect) -> dict[str, Any]:
    match effect:
        case TransactionStarted():
            return {
                "type": "started",
                "ref": effect.transaction_ref,
                "connector": effect.connector_id,
                "id_token": None if effect.id_token is None else encode_id_token(effect.id_token),
                "meter_start_wh": effect.meter_start_wh,
                "at": effect.timestamp,
                "reservation_id": effect.reservation_id,
                "cause": effect.cause.value,
                "remote_start_id": effect.remote_start_id,
                "ev_connected": effect.ev_connected,
            }
        case TransactionStopped():
            return {
                "type": "stopped",
                "ref": effect.transaction_ref,
                "transaction_id": effect.transaction_id,
                "connector": effect.connector_id,
                "id_token": None if effect.id_token is None else encode_id_token(effect.id_token),
                "meter_stop_wh": effect.meter_stop_wh,
                "at": effect.timestamp,
                "reason": effect.reason.value,
                "data": [encode_effect(sample) for sample in effect.transaction_data],
            }
        case MeterSample():
            reading = effect.reading
            return {
                "type": "sample",
                "ref": effect.transaction_ref,
                "connector": effect.connector_id,
                "context": effect.context.value,
                "offered_a": effect.offered_current_a,
                "at": effect.timestamp,
                "reading": {
                    "energy_wh": reading.energy_import_wh,
                    "at": reading.timestamp,
                    "power_w": reading.power_w,
                    "current_a": list(reading.current_a),
                    "voltage_v": list(reading.voltage_v),
                    "frequency_hz": reading.frequency_hz,
                },
            }
        case TransactionAuthorized():
            return {"type": "authorized", "ref": effect.transaction_ref,
                    "connector": effect.connector_id, "id_token": _token(effect.id_token),
                    "at": effect.timestamp, "remote_start_id": effect.remote_start_id}
        case TransactionDeauthorized():
            return {"type": "deauthorized", "ref": effect.transaction_ref,
                    "connector": effect.connector_id, "id_token": _token(effect.id_token),
                    "at": effect.timestamp, "reason": effect.reason.value}
        case EVConnectionChanged():
            return {"type": "ev_connection", "ref": effect.transaction_ref,
                    "connector": effect.connector_id, "connected": effect.connected,
                    "at": effect.timestamp}
        case StatusChanged():
            return {
                "type": "status",
                "connector": effect.connector_id,
                "status": effect.status.value,
                "error_code": effect.error_code.value,
                "info": effect.info,
                "at": effect.timestamp,
            }
    raise TypeError(f"not a transaction effect: {effect!r}")


def decode_effect(data: dict[str, Any]) -> TransactionEffect:
    kind = data["type"]
    if kind == "started":
        return TransactionStarted(
            transaction_ref=data["ref"],
            connector_id=data["connector"],
            id_token=_id_token(data),
            meter_start_wh=data["meter_start_wh"],
            timestamp=data["at"],
            reservation_id=data["reservation_id"],
            # Written before the start points could be chosen: begun at the authorisation,
            # the car there.
            cause=StartCause(data.get("cause", StartCause.AUTHORIZED.value)),
            remote_start_id=data.get("remote_start_id"),
            ev_connected=data.get("ev_connected", True),
        )
    if kind == "stopped":
        samples = tuple(decode_effect(sample) for sample in data["data"])
        return TransactionStopped(
            transaction_ref=data["ref"],
            transaction_id=data["transaction_id"],
            connector_id=data["connector"],
            id_token=_id_token(data),
            meter_stop_wh=data["meter_stop_wh"],
            timestamp=data["at"],
            reason=StopReason(data["reason"]),
            transaction_data=samples,  # type: ignore[arg-type]
        )
    if kind == "sample":
        r = data["reading"]
        reading = MeterReading(
            energy_import_wh=r["energy_wh"],
            timestamp=r["at"],
            power_w=r["power_w"],
            current_a=tuple(r["current_a"]),
            voltage_v=tuple(r["voltage_v"]),
            frequency_hz=r["frequency_hz"],
        )
        return MeterSample(
            connector_id=data["connector"],
            transaction_ref=data["ref"],
            context=ReadingContext(data["context"]),
            reading=reading,
            offered_current_a=data["offered_a"],
            timestamp=data["at"],
        )
    if kind == "authorized":
        token = _id_token(data)
        if token is None:
            raise ValueError("an authorisation without its id token")
        return TransactionAuthorized(data["ref"], data["connector"], token, data["at"],
                                     data["remote_start_id"])
    if kind == "deauthorized":
        return TransactionDeauthorized(data["ref"], data["connector"],
                                       StopReason(data["reason"]), _id_token(data), data["at"])
    if kind == "ev_connection":
        return EVConnectionChanged(data["ref"], data["connector"], bool(data["connected"]),
                                   data["at"])
    if kind == "status":
        return StatusChanged(
            connector_id=data["connector"],
            status=ConnectorStatus(data["status"]),
            error_code=ErrorCode(data["error_code"]),
            info=data["info"],
            timestamp=data["at"],
        )
    raise ValueError(f"unknown effect type {kind!r}")


def _id_token(data: dict[str, Any]) -> IdToken | None:
    if "id_token" in data:
        token = data["id_token"]
        return None if token is None else decode_id_token(token)
    id_tag = data["id_tag"]  # written before the type was kept
    return None if id_tag is None else untyped_id_tag(id_tag)
