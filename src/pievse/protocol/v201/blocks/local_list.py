"""D Local authorization list: SendLocalList and GetLocalListVersion, translated to the station
core, which keeps the list (the same list and rules as under 1.6), and the variables of
LocalAuthListCtrlr.

An AuthorizationData with an idTokenInfo adds or replaces the token; one without removes it (the
core refuses that in a Full update). An update that cannot be read is applied not at all.
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from pievse.core.authorization import (
    AuthorizationEntry,
    IdToken,
    LocalListUpdate,
    UpdateStatus,
    UpdateType,
)
from pievse.protocol.v201.codec.words import decode_id_token, decode_id_token_info
from pievse.protocol.v201.context import Context
from pievse.protocol.v201.device_model import DataType, Mutability, Variable

__all__ = ["LocalListBlock"]

RO = Mutability.READ_ONLY

# 2.0.1 has no word for a list the station does not keep: the update failed.
_STATUS = {UpdateStatus.ACCEPTED: "Accepted", UpdateStatus.FAILED: "Failed",
           UpdateStatus.NOT_SUPPORTED: "Failed", UpdateStatus.VERSION_MISMATCH: "VersionMismatch"}


class LocalListBlock:
    def __init__(self, context: Context, *, bytes_per_message: int) -> None:
        self.context = context
        self._bytes_per_message = bytes_per_message

    def variables(self) -> list[Variable]:
        """The sizes are what the station's stores were built with: read-only."""
        authorization = self.context.station.access.authorization
        local = "LocalAuthListCtrlr"
        return [
            Variable(local, "Entries", DataType.INTEGER, 0, RO, persistent=False,
                     read=LocalListBlock.entries),
            Variable(local, "ItemsPerMessage", DataType.INTEGER,
                     authorization.send_list_max_length, RO),
            Variable(local, "BytesPerMessage", DataType.INTEGER, self._bytes_per_message, RO),
        ]

    def entries(self) -> int:
        return self.context.station.access.authorization.list_size

    @on(Action.send_local_list)
    def on_send_local_list(self, version_number: int, update_type: str,
                           local_authorization_list: list[dict[str, Any]] | None = None,
                           **_: Any) -> call_result.SendLocalList:
        log = self.context.log
        entries = local_authorization_list or []
        try:
            update = _update(version_number, update_type, entries)
        except (KeyError, TypeError, ValueError) as error:
            log.info("SendLocalList %s version %s: %s", update_type, version_number, error)
            return call_result.SendLocalList(status="Failed")
        status = _STATUS[self.context.answer(self.context.station.send_local_list(update))]
        log.info("SendLocalList %s version %s with %d entries: %s", update_type, version_number,
                 len(entries), status)
        return call_result.SendLocalList(status=status)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> call_result.GetLocalListVersion:
        return call_result.GetLocalListVersion(
            version_number=self.context.station.local_list_version())


def _update(version: int, update_type: str, items: list[dict[str, Any]]) -> LocalListUpdate:
    entries: list[AuthorizationEntry] = []
    removals: list[IdToken] = []
    for item in items:
        token = decode_id_token(item["id_token"])
        info = item.get("id_token_info")
        if info is None:
            removals.append(token)
        else:
            entries.append(AuthorizationEntry(token, decode_id_token_info(info)))
    kind = UpdateType.FULL if update_type == "Full" else UpdateType.DIFFERENTIAL
    return LocalListUpdate(version, kind, tuple(entries), tuple(removals))
