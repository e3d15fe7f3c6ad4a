"""Local Auth List Management: SendLocalList and GetLocalListVersion, translated to the station
core, which keeps the list, and the profile's keys.

The ``ocpp`` package hands payloads over in snake_case, nested objects included; the codec reads
1.6's own camelCase, so they are turned back here, once, at the edge.
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from pievse.core.authorization import UpdateStatus
from pievse.protocol.common.payloads import snake_to_camel_case
from pievse.protocol.v16.codec.authorization import (
    CodecError,
    decode_send_local_list,
    encode_update_status,
)
from pievse.protocol.v16.configuration import KeyDefinition, KeyType
from pievse.protocol.v16.context import Context

__all__ = ["LocalListBlock"]


class LocalListBlock:
    def __init__(self, context: Context) -> None:
        self.context = context

    def keys(self) -> list[KeyDefinition]:
        """The Local Auth List Management keys (OCPP 1.6 section 9.2). The sizes are what the
        station's stores were built with, so they are read-only."""
        authorization = self.context.station.access.authorization
        return [
            KeyDefinition("LocalAuthListEnabled", KeyType.BOOL, True,
                          setting="local_auth_list_enabled"),
            KeyDefinition("LocalAuthListMaxLength", KeyType.INT, authorization.list_max_length,
                          readonly=True),
            KeyDefinition("SendLocalListMaxLength", KeyType.INT,
                          authorization.send_list_max_length, readonly=True),
        ]

    @on(Action.send_local_list)
    def on_send_local_list(self, list_version: int, update_type: str,
                           local_authorization_list: list | None = None,
                           **_: Any) -> call_result.SendLocalList:
        log = self.context.log
        entries = local_authorization_list or []
        try:
            update = decode_send_local_list(snake_to_camel_case({
                "list_version": list_version, "update_type": update_type,
                "local_authorization_list": entries}))
        except CodecError as error:
            # Applied whole or not at all: an entry that cannot be read fails the update.
            log.info("SendLocalList %s version %s: %s", update_type, list_version, error)
            return call_result.SendLocalList(status=encode_update_status(UpdateStatus.FAILED))
        status = encode_update_status(
            self.context.answer(self.context.station.send_local_list(update)))
        log.info("SendLocalList %s version %s with %d entries: %s", update_type, list_version,
                 len(entries), status)
        return call_result.SendLocalList(status=status)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> call_result.GetLocalListVersion:
        return call_result.GetLocalListVersion(
            list_version=self.context.station.local_list_version())
