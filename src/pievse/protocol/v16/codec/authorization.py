"""OCPP 1.6's words for who may charge, to the core's model and back: idTag and idTagInfo,
SendLocalList's AuthorizationData, ReserveNow, and the answers of the Local Auth List Management
and Reservation profiles.

1.6 names an id token by its idTag alone, so its type is this codec's to decide: an idTag is a
card (ISO14443, what 1.6 deployments hand out and what a reader reports), a parentIdTag a group
the CSMS made up (Central). The core matches tokens by value, so under 1.6 the type decides
nothing; it is there for what a 2.0.1 adapter reads from the same store.

The bounds are 1.6's: an idTag is a CiString20Type, non-empty; date-times are ISO 8601 (UTC when
the offset is left out). A payload outside them raises ``CodecError``; the handlers answer as
1.6 says for a request the charge point cannot take.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pievse.core.authorization import (
    AuthorizationEntry,
    AuthorizationResult,
    AuthorizationStatus,
    ClearCacheStatus,
    IdToken,
    IdTokenType,
    LocalListUpdate,
    UpdateStatus,
    UpdateType,
)
from pievse.protocol.common.datetimes import format_datetime, parse_datetime
from pievse.core.reservations import CancelReservationStatus, Reservation, ReservationStatus

__all__ = [
    "ID_TAG_MAX_LENGTH",
    "ID_TAG_TYPE",
    "PARENT_ID_TAG_TYPE",
    "CodecError",
    "decode_authorization_status",
    "decode_id_tag",
    "decode_id_tag_info",
    "decode_reserve_now",
    "decode_send_local_list",
    "send_local_list_frame_size",
    "encode_authorization_status",
    "encode_cancel_reservation_status",
    "encode_clear_cache_status",
    "encode_id_tag_info",
    "encode_reservation_status",
    "encode_reserve_now",
    "encode_send_local_list",
    "encode_update_status",
    "id_tag_token",
]

#: An idTag is a CiString20Type.
ID_TAG_MAX_LENGTH = 20
#: The type of an idTag, and of a parentIdTag (see the module's docstring).
ID_TAG_TYPE = IdTokenType.ISO14443
PARENT_ID_TAG_TYPE = IdTokenType.CENTRAL


class CodecError(ValueError):
    """A 1.6 payload that is not shaped as OCPP 1.6 says; the message names the field."""


# --- idTag ---------------------------------------------------------------------------------------


def id_tag_token(id_tag: str) -> IdToken:
    """The id token an idTag the station holds already names (a transaction's): unchecked."""
    return IdToken(id_tag, ID_TAG_TYPE)


def decode_id_tag(value: Any, name: str = "idTag",
                  token_type: IdTokenType = ID_TAG_TYPE) -> IdToken:
    """A non-empty string of at most 20 characters, as an id token of ``token_type``."""
    if not isinstance(value, str) or not value:
        raise CodecError(f"{name} must be a non-empty string")
    if len(value) > ID_TAG_MAX_LENGTH:
        raise CodecError(f"{name} {value!r} is longer than {ID_TAG_MAX_LENGTH} characters")
    return IdToken(value, token_type)


def _decode_parent(value: Any, name: str) -> IdToken | None:
    return None if value is None else decode_id_tag(value, name, PARENT_ID_TAG_TYPE)


# --- idTagInfo -----------------------------------------------------------------------------------

_STATUS_WORDS = {
    AuthorizationStatus.ACCEPTED: "Accepted",
    AuthorizationStatus.BLOCKED: "Blocked",
    AuthorizationStatus.EXPIRED: "Expired",
    AuthorizationStatus.INVALID: "Invalid",
    AuthorizationStatus.CONCURRENT_TX: "ConcurrentTx",
}
_STATUS_BY_WORD = {word: status for status, word in _STATUS_WORDS.items()}


def decode_authorization_status(word: Any) -> AuthorizationStatus:
    try:
        return _STATUS_BY_WORD[word]
    except (KeyError, TypeError):
        raise CodecError(f"idTagInfo.status {word!r} is not one of "
                         f"{list(_STATUS_BY_WORD)}") from None


def encode_authorization_status(status: AuthorizationStatus) -> str:
    return _STATUS_WORDS[status]


def decode_id_tag_info(obj: Any) -> AuthorizationResult:
    """An idTagInfo (``{"status": ..., "expiryDate": ..., "parentIdTag": ...}``)."""
    if not isinstance(obj, Mapping):
        raise CodecError("idTagInfo must be an object")
    status = decode_authorization_status(obj.get("status"))
    expiry = obj.get("expiryDate")
    if expiry is not None:
        expiry = _decode_datetime(expiry, "idTagInfo.expiryDate")
    return AuthorizationResult(status, expiry,
                               _decode_parent(obj.get("parentIdTag"), "idTagInfo.parentIdTag"))


def encode_id_tag_info(result: AuthorizationResult) -> dict[str, Any]:
    obj: dict[str, Any] = {"status": encode_authorization_status(result.status)}
    if result.expires_at is not None:
        obj["expiryDate"] = format_datetime(result.expires_at)
    if result.group is not None:
        obj["parentIdTag"] = result.group.value
    return obj


def _decode_datetime(value: Any, name: str) -> float:
    if not isinstance(value, str):
        raise CodecError(f"{name} must be an ISO 8601 string")
    try:
        return parse_datetime(value)
    except ValueError as error:
        raise CodecError(f"{name}: {error}") from None


# --- SendLocalList -------------------------------------------------------------------------------

_UPDATE_TYPES = {UpdateType.FULL: "Full", UpdateType.DIFFERENTIAL: "Differential"}
_UPDATE_TYPE_BY_WORD = {word: kind for kind, word in _UPDATE_TYPES.items()}


def decode_send_local_list(payload: Mapping[str, Any]) -> LocalListUpdate:
    """A SendLocalList request. An AuthorizationData with an idTagInfo adds or replaces the
    card; one without removes it (which the core refuses in a Full update)."""
    version = payload.get("listVersion")
    if isinstance(version, bool) or not isinstance(version, int):
        raise CodecError(f"listVersion {version!r} is not an integer")
    kind = _UPDATE_TYPE_BY_WORD.get(payload.get("updateType"))
    if kind is None:
        raise CodecError(f"updateType {payload.get('updateType')!r} is neither Full nor "
                         "Differential")
    entries: list[AuthorizationEntry] = []
    removals: list[IdToken] = []
    for item in payload.get("localAuthorizationList") or ():
        if not isinstance(item, Mapping):
            raise CodecError("an AuthorizationData must be an object")
        token = decode_id_tag(item.get("idTag"))
        info = item.get("idTagInfo")
        if info is None:
            removals.append(token)
        else:
            entries.append(AuthorizationEntry(token, decode_id_tag_info(info)))
    return LocalListUpdate(version, kind, tuple(entries), tuple(removals))


# The largest AuthorizationData the schema lets through, as a CSMS may write it: idTags of 20
# characters outside the BMP, each escaped as a surrogate pair (12 bytes), the longest status,
# an expiryDate with nanoseconds and an offset.
_WIDEST_ENTRY = {"idTag": "\U0001F50C" * ID_TAG_MAX_LENGTH, "idTagInfo": {
    "expiryDate": "2025-01-01T00:00:00.000000000+00:00",
    "parentIdTag": "\U0001F50C" * ID_TAG_MAX_LENGTH, "status": "ConcurrentTx"}}
# The rest of the frame: the unique id (36 characters), the action, listVersion, updateType.
_FRAME_OVERHEAD = 1024


def send_local_list_frame_size(entries: int) -> int:
    """The bytes a SendLocalList CALL with ``entries`` entries may take on the wire (the most
    the station advertises as SendLocalListMaxLength must fit in one websocket message)."""
    widest = len(json.dumps(_WIDEST_ENTRY)) + 2  # and ", " between entries
    return _FRAME_OVERHEAD + entries * widest


def encode_send_local_list(update: LocalListUpdate) -> dict[str, Any]:
    listed = [{"idTag": e.id_token.value, "idTagInfo": encode_id_tag_info(e.result)}
              for e in update.entries]
    listed += [{"idTag": token.value} for token in update.removals]
    return {"listVersion": update.version, "updateType": _UPDATE_TYPES[update.update_type],
            "localAuthorizationList": listed}


_UPDATE_STATUS_WORDS = {
    UpdateStatus.ACCEPTED: "Accepted",
    UpdateStatus.FAILED: "Failed",
    UpdateStatus.NOT_SUPPORTED: "NotSupported",
    UpdateStatus.VERSION_MISMATCH: "VersionMismatch",
}


def encode_update_status(status: UpdateStatus) -> str:
    return _UPDATE_STATUS_WORDS[status]


def encode_clear_cache_status(status: ClearCacheStatus) -> str:
    return {ClearCacheStatus.ACCEPTED: "Accepted"}[status]


# --- ReserveNow, CancelReservation ---------------------------------------------------------------


def decode_reserve_now(payload: Mapping[str, Any]) -> Reservation:
    """A ReserveNow request."""
    numbers = {}
    for name in ("reservationId", "connectorId"):
        value = payload.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CodecError(f"{name} {value!r} is not a non-negative integer")
        numbers[name] = value
    return Reservation(
        numbers["reservationId"],
        numbers["connectorId"],
        decode_id_tag(payload.get("idTag")),
        _decode_datetime(payload.get("expiryDate"), "expiryDate"),
        _decode_parent(payload.get("parentIdTag"), "parentIdTag"),
    )


def encode_reserve_now(reservation: Reservation) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "reservationId": reservation.reservation_id,
        "connectorId": reservation.connector_id,
        "idTag": reservation.id_token.value,
        "expiryDate": format_datetime(reservation.expires_at),
    }
    if reservation.group is not None:
        obj["parentIdTag"] = reservation.group.value
    return obj


_RESERVATION_STATUS_WORDS = {
    ReservationStatus.ACCEPTED: "Accepted",
    ReservationStatus.FAULTED: "Faulted",
    ReservationStatus.OCCUPIED: "Occupied",
    ReservationStatus.REJECTED: "Rejected",
    ReservationStatus.UNAVAILABLE: "Unavailable",
}


def encode_reservation_status(status: ReservationStatus) -> str:
    return _RESERVATION_STATUS_WORDS[status]


def encode_cancel_reservation_status(status: CancelReservationStatus) -> str:
    return {CancelReservationStatus.ACCEPTED: "Accepted",
            CancelReservationStatus.REJECTED: "Rejected"}[status]
