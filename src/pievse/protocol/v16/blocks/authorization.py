"""Authorization: Authorize for a card the station cannot decide on alone, ClearCache, and the
Core profile's keys about who may charge.

The station asks (an AuthorizeRequest effect); the CSMS's idTagInfo goes back to the station,
which decides. Without a registered CSMS, or without an answer, the station hears "CSMS not
reachable" and applies its offline rules.
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from pievse.core.effects import AuthorizeRequest
from pievse.protocol.v16 import messages
from pievse.protocol.v16.codec.authorization import encode_clear_cache_status
from pievse.protocol.v16.configuration import KeyDefinition, KeyType
from pievse.protocol.v16.context import Context

__all__ = ["AuthorizationBlock"]


class AuthorizationBlock:
    def __init__(self, context: Context) -> None:
        self.context = context
        context.on_effect(AuthorizeRequest, self._authorize)

    def keys(self) -> list[KeyDefinition]:
        """The Core profile's keys about authorization (OCPP 1.6 section 9.1)."""
        return [
            KeyDefinition("AllowOfflineTxForUnknownId", KeyType.BOOL, False,
                          setting="allow_offline_tx_for_unknown_id"),
            KeyDefinition("AuthorizationCacheEnabled", KeyType.BOOL, True,
                          setting="authorization_cache_enabled"),
            KeyDefinition("LocalAuthorizeOffline", KeyType.BOOL, True,
                          setting="local_authorize_offline"),
            KeyDefinition("LocalPreAuthorize", KeyType.BOOL, False,
                          setting="local_pre_authorize"),
        ]

    def _authorize(self, request: AuthorizeRequest) -> None:
        self.context.ask_authorization(
            request.id_token, call.Authorize(id_tag=request.id_token.value),
            lambda response: messages.id_tag_info(response.id_tag_info))

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> call_result.ClearCache:
        status = self.context.answer(self.context.station.clear_cache())
        return call_result.ClearCache(status=encode_clear_cache_status(status))
