"""The Local Authorization List, the Authorization Cache and the reservations as JSON, in the
core's own model: every field spelled out in snake_case, enums by the core's values, times in
epoch seconds. No OCPP version's words, so a store written under one version is read under
another. An optional field without a value (no expiry, no group) is left out: the list can hold
thousands of cards, and it is written whole.

Reading is all or nothing per record: anything that is not shaped as written here raises
``UnreadableRecord`` (the recorder then starts with empty stores, as it would without them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pievse.core.authorization import (
    AuthorizationEntry,
    AuthorizationResult,
    AuthorizationStatus,
)
from pievse.core.reservations import Reservation
from pievse.persistence.token_codec import decode_id_token, encode_id_token

__all__ = [
    "UnreadableRecord",
    "decode_entries",
    "decode_local_list",
    "decode_reservations",
    "encode_entries",
    "encode_local_list",
    "encode_reservations",
]

T = TypeVar("T")


class UnreadableRecord(ValueError):
    """A stored record that is not shaped as this module writes it."""


def encode_local_list(version: int, entries: Iterable[AuthorizationEntry]) -> dict[str, Any]:
    return {"version": version, "entries": encode_entries(entries)}


def decode_local_list(data: Any) -> tuple[int, list[AuthorizationEntry]]:
    """The list's version and entries."""
    version, entries = _read(lambda: (data["version"], data["entries"]), data)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise UnreadableRecord(f"list version {version!r} is not a version number")
    return version, decode_entries(entries)


def encode_entries(entries: Iterable[AuthorizationEntry]) -> list[dict[str, Any]]:
    return [{"id_token": encode_id_token(e.id_token), "result": _encode_result(e.result)}
            for e in entries]


def decode_entries(data: Any) -> list[AuthorizationEntry]:
    # One pass without checks per field: the list can hold thousands of cards, and a record
    # that is not shaped as written fails as a whole anyway.
    return _read(lambda: [
        AuthorizationEntry(decode_id_token(item["id_token"]), _decode_result(item["result"]))
        for item in _listed(data)], data)


def encode_reservations(reservations: Iterable[Reservation]) -> list[dict[str, Any]]:
    def reservation(r: Reservation) -> dict[str, Any]:
        data = {"reservation_id": r.reservation_id, "connector_id": r.connector_id,
                "id_token": encode_id_token(r.id_token), "expires_at": r.expires_at}
        if r.group is not None:
            data["group"] = encode_id_token(r.group)
        return data

    return [reservation(r) for r in reservations]


def decode_reservations(data: Any) -> list[Reservation]:
    def reservation(item: dict[str, Any]) -> Reservation:
        numbers = [item["reservation_id"], item["connector_id"]]
        if any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in numbers):
            raise ValueError(f"reservation and connector ids {numbers} are not numbers")
        group = item.get("group")
        return Reservation(numbers[0], numbers[1], decode_id_token(item["id_token"]),
                           _time(item["expires_at"]),
                           decode_id_token(group) if group is not None else None)

    return _read(lambda: [reservation(item) for item in _listed(data)], data)


_STATUSES = {s.value: s for s in AuthorizationStatus}


def _encode_result(result: AuthorizationResult) -> dict[str, Any]:
    data: dict[str, Any] = {"status": result.status.value}
    if result.expires_at is not None:
        data["expires_at"] = result.expires_at
    if result.group is not None:
        data["group"] = encode_id_token(result.group)
    return data


def _decode_result(data: dict[str, Any]) -> AuthorizationResult:
    expires_at, group = data.get("expires_at"), data.get("group")
    return AuthorizationResult(_STATUSES[data["status"]],
                               None if expires_at is None else _time(expires_at),
                               decode_id_token(group) if group is not None else None)


def _time(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{value!r} is not a time")
    return float(value)


def _listed(data: Any) -> list[Any]:
    if not isinstance(data, list):
        raise ValueError("not a list")
    return data


def _read(decode: Callable[[], T], data: Any) -> T:
    """``decode()``, or UnreadableRecord naming what in ``data`` could not be read."""
    try:
        return decode()
    except (KeyError, TypeError, ValueError) as error:
        raise UnreadableRecord(f"{_shortened(data)}: {error!r}") from None


def _shortened(data: Any) -> str:
    text = repr(data)
    return text if len(text) <= 120 else text[:117] + "..."
