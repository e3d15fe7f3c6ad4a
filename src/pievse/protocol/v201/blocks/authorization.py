"""C Authorization: Authorize for a token the station cannot decide on alone, ClearCache, and
the variables of the authorization and cache controllers.

The station asks (an AuthorizeRequest effect); the CSMS's idTokenInfo goes back to the station,
which decides, with the list, the cache and the offline rules it applies under every version.
Without a registered CSMS, or without an answer, the station hears "CSMS not reachable".
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from pievse.core.effects import AuthorizeRequest
from pievse.protocol.v201.codec.words import decode_id_token_info, encode_id_token
from pievse.protocol.v201.context import Context
from pievse.protocol.v201.device_model import DataType, Mutability, Variable

__all__ = ["AuthorizationBlock"]

BOOLEAN = DataType.BOOLEAN


class AuthorizationBlock:
    def __init__(self, context: Context) -> None:
        self.context = context
        context.on_effect(AuthorizeRequest, self._authorize)

    def variables(self) -> list[Variable]:
        auth = "AuthCtrlr"
        return [
            Variable(auth, "Enabled", BOOLEAN, True, Mutability.READ_ONLY),
            Variable(auth, "AuthorizeRemoteStart", BOOLEAN, True,
                     key="AuthorizeRemoteTxRequests", setting="authorize_remote_tx_requests"),
            Variable(auth, "LocalAuthorizeOffline", BOOLEAN, True, key="LocalAuthorizeOffline",
                     setting="local_authorize_offline"),
            Variable(auth, "LocalPreAuthorize", BOOLEAN, False, key="LocalPreAuthorize",
                     setting="local_pre_authorize"),
            Variable(auth, "OfflineTxForUnknownIdEnabled", BOOLEAN, False,
                     key="AllowOfflineTxForUnknownId",
                     setting="allow_offline_tx_for_unknown_id"),
            # C16: empty, no master pass (the station's setting is None then).
            Variable(auth, "MasterPassGroupId", DataType.STRING, "",
                     setting="master_pass_group_id", to_setting=_group_or_none,
                     check=_check_group_id),
            Variable("AuthCacheCtrlr", "Enabled", BOOLEAN, True,
                     key="AuthorizationCacheEnabled", setting="authorization_cache_enabled"),
            Variable("LocalAuthListCtrlr", "Enabled", BOOLEAN, True, key="LocalAuthListEnabled",
                     setting="local_auth_list_enabled"),
        ]

    def _authorize(self, request: AuthorizeRequest) -> None:
        self.context.ask_authorization(
            request.id_token, call.Authorize(id_token=encode_id_token(request.id_token)),
            lambda response: decode_id_token_info(response.id_token_info))

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> call_result.ClearCache:
        self.context.answer(self.context.station.clear_cache())
        return call_result.ClearCache(status="Accepted")


#: An IdToken's value is at most 36 characters: a longer group could match no card.
_ID_TOKEN_MAX = 36


def _group_or_none(value: str) -> str | None:
    return value or None


def _check_group_id(_block: Any, value: str) -> str | None:
    return (f"longer than {_ID_TOKEN_MAX} characters, an idToken's most"
            if len(value) > _ID_TOKEN_MAX else None)
