"""Remote control: RemoteStartTransaction, RemoteStopTransaction, TriggerMessage and the
security extension's ExtendedTriggerMessage.

What a trigger sends is not known here: each block registers the messages it can send when
triggered (:class:`~pievse.protocol.v16.context.Triggers`), one registry per command, since the
two commands differ on a message or two (ExtendedTriggerMessage(FirmwareStatusNotification) asks
for the signed update's status). A trigger is answered at once; the message follows once the
answer is on the wire.
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from pievse.protocol.common.payloads import snake_to_camel_case
from pievse.protocol.v16.codec import charging_profiles
from pievse.protocol.v16.codec.answers import encode_remote_start_stop_status
from pievse.protocol.v16.codec.authorization import CodecError, decode_id_tag
from pievse.protocol.v16.configuration import KeyDefinition, KeyType
from pievse.protocol.v16.context import Context, Triggers

__all__ = ["RemoteControlBlock"]


class RemoteControlBlock:
    def __init__(self, context: Context) -> None:
        self.context = context

    def keys(self) -> list[KeyDefinition]:
        return [
            KeyDefinition("AuthorizeRemoteTxRequests", KeyType.BOOL, True,
                          setting="authorize_remote_tx_requests"),
        ]

    # --- RemoteStartTransaction, RemoteStopTransaction -----------------------------------------

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(self, id_tag: str, connector_id: int | None = None,
                                    charging_profile: dict | None = None,
                                    **_: Any) -> call_result.RemoteStartTransaction:
        context = self.context
        if not context.registered:
            return call_result.RemoteStartTransaction(status="Rejected")
        try:
            token = decode_id_tag(id_tag)
            profile = (charging_profiles.decode_charging_profile(
                snake_to_camel_case(charging_profile)) if charging_profile else None)
        except (CodecError, charging_profiles.ProfileFormatError) as error:
            context.log.info("RemoteStartTransaction: %s", error)
            return call_result.RemoteStartTransaction(status="Rejected")
        answer = context.station.remote_start(token, connector_id, profile)
        return call_result.RemoteStartTransaction(
            status=encode_remote_start_stop_status(context.answer(answer)))

    @on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(self, transaction_id: int,
                                   **_: Any) -> call_result.RemoteStopTransaction:
        answer = self.context.station.remote_stop(transaction_id)
        return call_result.RemoteStopTransaction(
            status=encode_remote_start_stop_status(self.context.answer(answer)))

    # --- TriggerMessage, ExtendedTriggerMessage ------------------------------------------------

    def _status(self, triggers: Triggers, requested_message: str,
                connector_id: int | None) -> str:
        if self._no_such_connector(connector_id):
            return "Rejected"
        return triggers.status(requested_message)

    async def _send(self, triggers: Triggers, requested_message: str,
                    connector_id: int | None) -> None:
        if not self._no_such_connector(connector_id):
            await triggers.send(requested_message, connector_id)

    def _no_such_connector(self, connector_id: int | None) -> bool:
        return connector_id not in (None, 0) and connector_id not in self.context.station.connectors

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, connector_id: int | None = None,
                           **_: Any) -> call_result.TriggerMessage:
        return call_result.TriggerMessage(
            status=self._status(self.context.triggers, requested_message, connector_id))

    @after(Action.trigger_message)
    async def after_trigger_message(self, requested_message: str,
                                    connector_id: int | None = None, **_: Any) -> None:
        await self._send(self.context.triggers, requested_message, connector_id)

    @on(Action.extended_trigger_message)
    def on_extended_trigger_message(self, requested_message: str,
                                    connector_id: int | None = None,
                                    **_: Any) -> call_result.ExtendedTriggerMessage:
        return call_result.ExtendedTriggerMessage(
            status=self._status(self.context.extended_triggers, requested_message, connector_id))

    @after(Action.extended_trigger_message)
    async def after_extended_trigger_message(self, requested_message: str,
                                             connector_id: int | None = None,
                                             **_: Any) -> None:
        await self._send(self.context.extended_triggers, requested_message, connector_id)
