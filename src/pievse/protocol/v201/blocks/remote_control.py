"""F Remote control: RequestStartTransaction, RequestStopTransaction and TriggerMessage.

The station decides whether a remote start or stop is taken (the same decision as under 1.6);
this block only says it in 2.0.1's words. The remoteStartId the CSMS gave goes to the core with
the request and comes back with the transaction it starts (on disk with its Started event).
TriggerMessage asks the triggers the blocks registered; a message no block sends when triggered
is NotImplemented.
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import after, on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from pievse.core.charging_profiles import ChargingProfilePurpose
from pievse.protocol.common.payloads import snake_to_camel_case
from pievse.protocol.common.profile_fields import ProfileFormatError
from pievse.protocol.v201.codec import charging_profiles
from pievse.protocol.v201.codec.words import decode_id_token, encode_remote_status
from pievse.protocol.v201.context import Context
from pievse.protocol.v201.device_model import Variable

__all__ = ["RemoteControlBlock"]


class RemoteControlBlock:
    def __init__(self, context: Context) -> None:
        self.context = context

    def variables(self) -> list[Variable]:
        return []

    @on(Action.request_start_transaction)
    def on_request_start_transaction(
            self, id_token: dict[str, Any], remote_start_id: int, evse_id: int | None = None,
            charging_profile: dict[str, Any] | None = None,
            **_: Any) -> call_result.RequestStartTransaction:
        context = self.context
        profile = None
        if charging_profile is not None:
            # A TxProfile for the transaction to come (no transactionId yet): the core keeps it
            # until the start, as under 1.6 (F01.FR.08; K05).
            try:
                profile = charging_profiles.decode_charging_profile(
                    snake_to_camel_case(charging_profile))
            except (ProfileFormatError, charging_profiles.ProfileUnsupported) as error:
                context.log.info("RequestStartTransaction with a charging profile: %s", error)
                return call_result.RequestStartTransaction(
                    status="Rejected",
                    status_info=charging_profiles.status_info("InvalidProfile", str(error)))
            if profile.purpose is not ChargingProfilePurpose.TX_PROFILE:
                return call_result.RequestStartTransaction(
                    status="Rejected", status_info=charging_profiles.status_info(
                        "InvalidProfile", "the profile of a remote start must be a TxProfile"))
        token = decode_id_token(id_token)
        running = next((tx for tx in context.station.transactions()
                        if evse_id is not None and tx.connector_id == evse_id), None)
        status = context.answer(context.station.remote_start(token, evse_id, profile,
                                                             remote_start_id))
        return call_result.RequestStartTransaction(
            status=encode_remote_status(status),
            transaction_id=str(running.transaction_id) if running is not None
            and running.transaction_id is not None else None)

    @on(Action.request_stop_transaction)
    def on_request_stop_transaction(self, transaction_id: str,
                                    **_: Any) -> call_result.RequestStopTransaction:
        status = self.context.answer(self.context.station.remote_stop(transaction_id))
        return call_result.RequestStopTransaction(status=encode_remote_status(status))

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, evse: dict[str, Any] | None = None,
                           **_: Any) -> call_result.TriggerMessage:
        evse_id = (evse or {}).get("id")
        if evse_id is not None and evse_id not in self.context.station.connectors:
            return call_result.TriggerMessage(status="Rejected")
        status = self.context.triggers.status(requested_message)
        return call_result.TriggerMessage(status=status)

    @after(Action.trigger_message)
    async def after_trigger_message(self, requested_message: str,
                                    evse: dict[str, Any] | None = None, **_: Any) -> None:
        evse_id = (evse or {}).get("id")
        if evse_id is None or evse_id in self.context.station.connectors:
            await self.context.triggers.send(requested_message, evse_id)
