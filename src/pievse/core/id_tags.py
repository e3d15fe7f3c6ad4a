"""Cards presented at the station and the verdicts on them: who may charge, and where.

A tap is decided here: the card that started a session ends it (OCPP 1.6 3.5), a card waiting
for a car is withdrawn, a card held locally as Accepted starts at once (LocalPreAuthorize), and
any other is put to the CSMS (``AuthorizeRequest``), or to the local stores when the CSMS cannot
be asked, or to the card list of a station without CSMS. The CSMS's verdict then picks the
connector (reservations, the card's group) and authorises it; a master pass (its group is
MasterPassGroupId) stops every running transaction instead and starts none. A remote start
asks the CSMS the same way when AuthorizeRemoteTxRequests says so. One question per card at a time.

It sees the connectors, the local stores (``Access``) and whether the CSMS can be asked; what it
decides goes out as effects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pievse.core.access import Access
from pievse.core.authorization import AuthorizationResult, AuthorizationStatus, IdToken
from pievse.core.connector import Connector
from pievse.core.effects import AuthorizeRequest, Effect, TokenAnswered
from pievse.core.placement import connector_for, free_connector
from pievse.core.vocabulary import StopReason


@dataclass(slots=True)
class AuthorizationInFlight:
    connector_id: int | None  # bound to a connector (remote start with connectorId), else chosen
    remote: bool
    remote_start_id: int | None = None


class IdTags:
    def __init__(
        self,
        connectors: Mapping[int, Connector],
        access: Access,
        *,
        csms_online: Callable[[], bool],
        emit: Callable[[Effect], None],
    ) -> None:
        self._connectors = connectors
        self._access = access
        self._csms_online = csms_online
        self._emit = emit
        #: The cards the CSMS (or the local stores) is deciding on now, by id.
        self.deciding: dict[str, AuthorizationInFlight] = {}

    def presented(self, id_token: IdToken) -> None:
        """A card was presented at the station."""
        key = id_token.key
        for c in self._connectors.values():
            tx = c.transaction
            if (tx is not None and tx.id_token is not None and tx.id_token.key == key
                    and tx.stop is None and not tx.authorization_ended):
                # The same card ends its own session; no need to ask the CSMS (OCPP 1.6 3.5).
                c.begin_stop(StopReason.LOCAL, id_token)
                self._emit(TokenAnswered(id_token, True, None, c.id, "session stopped"))
                return
        for c in self._connectors.values():
            if c.pending is not None and c.pending.id_token.key == key:
                c.pending = None
                c.reconcile()
                self._emit(TokenAnswered(id_token, True, None, c.id, "authorisation cancelled"))
                return
        if id_token.value in self.deciding:
            return  # a second tap while the CSMS is deciding: one question only
        if free_connector(self._connectors) is None and not (
                self._access.has_master_pass and self._running()):
            # A master pass may still stop the sessions: only its verdict tells it is one.
            self._emit(
                TokenAnswered(id_token, False, None, None, "no connector free for a new session")
            )
            return
        if self._csms_online():
            known = self._access.pre_authorized(id_token)
            # A card held locally as Accepted starts at once (LocalPreAuthorize); the CSMS
            # still hears of it when the transaction starts and may refuse it there. Where a
            # reservation refuses it on what is known locally, the CSMS is asked after all:
            # its answer may name the card's group (OCPP 1.6 5.13).
            connector = (self.connector_for(id_token, known.group, None)
                         if known is not None else None)
            if known is not None and self._access.is_master_pass(known):
                self._master_pass(id_token, known.status, remote=False)
                return
            if known is not None and connector is not None:
                self._emit(TokenAnswered(id_token, True, known.status, connector.id,
                                        "authorised locally"))
                connector.authorize(id_token, known.group)
                return
        self.deciding[id_token.value] = AuthorizationInFlight(None, remote=False)
        if self._access.standalone is not None:
            self.verdict(id_token, None)  # no CSMS: the card list decides
            return
        self._emit(AuthorizeRequest(id_token))

    def verdict(
        self, id_token: IdToken, verdict: AuthorizationResult | AuthorizationStatus | None
    ) -> None:
        """The CSMS's verdict on ``id_token`` (its result, or only the status); ``None`` when
        it could not be asked (offline), and the local stores decide."""
        result = (AuthorizationResult(verdict) if isinstance(verdict, AuthorizationStatus)
                  else verdict)
        if result is not None:
            self._access.remember(id_token, result)
        request = self.deciding.pop(id_token.value, None)
        if request is None:
            return
        how = "authorised"
        if result is None:
            result = self._access.decide_offline(id_token)
            if result is None:
                self._emit(TokenAnswered(id_token, False, None, None, "CSMS unreachable"))
                return
            how = "authorised offline" if self._access.standalone is None else "on the card list"
        if result.status is not AuthorizationStatus.ACCEPTED:
            self._emit(TokenAnswered(id_token, False, result.status, None,
                                    f"id tag {result.status.word}"))
            return
        if self._access.is_master_pass(result):
            self._master_pass(id_token, result.status, request.remote)
            return
        connector = self.connector_for(id_token, result.group, request.connector_id)
        if connector is None:
            why = ("connector reserved for another id tag"
                   if free_connector(self._connectors, request.connector_id) is not None
                   else "no connector free")
            self._emit(TokenAnswered(id_token, False, result.status, None, why))
            return
        self._emit(TokenAnswered(id_token, True, result.status, connector.id, how))
        connector.authorize(id_token, result.group, request.remote_start_id)

    def _running(self) -> list[Connector]:
        return [c for c in self._connectors.values() if c.transaction is not None
                and c.transaction.stop is None and not c.transaction.authorization_ended]

    def _master_pass(self, id_token: IdToken, status: AuthorizationStatus, remote: bool) -> None:
        """A master pass presented (C16): it stops every running transaction (a station
        without a screen cannot ask which) and starts none (C16.FR.01); asked for from afar,
        it only starts none."""
        running = [] if remote else self._running()
        for c in running:
            c.begin_stop(StopReason.MASTER_PASS, id_token)
        info = "master pass: sessions stopped" if running else "a master pass starts no session"
        self._emit(TokenAnswered(id_token, bool(running), status, None, info))

    def ask_for_remote_start(self, id_token: IdToken, connector: Connector,
                             remote_start_id: int | None = None) -> None:
        """AuthorizeRemoteTxRequests: the CSMS decides on the card before ``connector`` starts."""
        self.deciding[id_token.value] = AuthorizationInFlight(connector.id, remote=True,
                                                              remote_start_id=remote_start_id)
        self._emit(AuthorizeRequest(id_token))

    def connector_for(self, id_token: IdToken, group: IdToken | None,
                      bound: int | None) -> Connector | None:
        return connector_for(self._connectors, self._access, id_token, group, bound)
