"""A store migration: the Local Authorization List, the Authorization Cache and the reservations
from the form pievse kept them in up to schema 1 (OCPP 1.6's AuthorizationData and ReserveNow
requests, camelCase, ISO 8601 date-times) to the core's own form (``access_codec``).

The old form is frozen: it is read here and nowhere else. Its idTags become id tokens as the 1.6
codec reads them (a card, ISO14443; a parentIdTag a group, Central). A record that cannot be read
is dropped with an error in the log: the daemon started with empty stores for it already, and
the CSMS, seeing list version 0, sends its list again.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from typing import Any

from pievse.core.authorization import (
    AuthorizationEntry,
    AuthorizationResult,
    AuthorizationStatus,
    IdToken,
    IdTokenType,
)
from pievse.protocol.common.datetimes import parse_datetime
from pievse.core.reservations import Reservation
from pievse.persistence.access_codec import (
    encode_entries,
    encode_local_list,
    encode_reservations,
)
from pievse.persistence.token_codec import untyped_id_tag

__all__ = ["access_in_core_form"]

log = logging.getLogger(__name__)

#: The old form spelled statuses as OCPP 1.6 does, which is each status's ``word``.
_STATUSES = {status.word: status for status in AuthorizationStatus}


def access_in_core_form(db: sqlite3.Connection) -> None:
    """Rewrite the three records, where the store has them, in the core's form."""
    converters: dict[str, Callable[[Any], Any]] = {
        "local_auth_list": _local_list,
        "authorization_cache": lambda old: encode_entries(_entries(old)),
        "reservations": lambda old: encode_reservations(_reservation(r) for r in old),
    }
    for name, convert in converters.items():
        row = db.execute("SELECT value FROM state WHERE name = ?", (name,)).fetchone()
        if row is None:
            continue
        try:
            value = convert(json.loads(row[0]))
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            log.error("the stored %s cannot be read (%s): dropped", name, error)
            db.execute("DELETE FROM state WHERE name = ?", (name,))
            continue
        db.execute("UPDATE state SET value = ? WHERE name = ?", (json.dumps(value), name))


def _local_list(old: dict[str, Any]) -> dict[str, Any]:
    version = old.get("listVersion", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(f"listVersion {version!r} is not a version number")
    return encode_local_list(version, _entries(old.get("localAuthorizationList") or []))


def _entries(old: list[dict[str, Any]]) -> list[AuthorizationEntry]:
    return [AuthorizationEntry(untyped_id_tag(item["idTag"]), _result(item["idTagInfo"]))
            for item in old]


def _result(old: dict[str, Any]) -> AuthorizationResult:
    expiry = old.get("expiryDate")
    return AuthorizationResult(_STATUSES[old["status"]],
                               None if expiry is None else parse_datetime(expiry),
                               _group(old.get("parentIdTag")))


def _reservation(old: dict[str, Any]) -> Reservation:
    return Reservation(int(old["reservationId"]), int(old["connectorId"]),
                       untyped_id_tag(old["idTag"]), parse_datetime(old["expiryDate"]),
                       _group(old.get("parentIdTag")))


def _group(id_tag: str | None) -> IdToken | None:
    return None if id_tag is None else IdToken(id_tag, IdTokenType.CENTRAL)
