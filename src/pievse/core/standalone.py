"""Who may charge at a station that has no CSMS: the owner's cards, or everyone (free charging).

A station on its own has nobody to ask, so it decides as a station cut off from its CSMS does,
with the rules fixed: the card list plays the part of the Local Authorization List (every card
on it Accepted), a card on it starts (LocalAuthorizeOffline), any other is refused
(AllowOfflineTxForUnknownId false). The decision is :meth:`LocalAuthorization.decide_offline`
itself, on a list of its own: the CSMS's list, its cache and its version are left as they are
for the day a CSMS is configured.

With free charging (``FREE``) every card is welcome, and a car plugged in without one starts a
session of its own under ``FREE_ID_TOKEN``, so that the history still says who charged: nobody
in particular. Only plugging in starts it: a session stopped while the car stays plugged in does
not start again by itself.

Pure: no I/O. The card list comes from the configuration and the store; the app hands it over
(``set_cards``) whenever it may have changed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from pievse.core.authorization import (
    AuthorizationEntry,
    AuthorizationResult,
    AuthorizationSnapshot,
    AuthorizationStatus,
    IdToken,
    IdTokenType,
    LocalAuthorization,
)
from pievse.core.hardware import PilotState

__all__ = ["FREE_ID_TOKEN", "PluggedConnector", "Standalone", "StandaloneAuthorization"]

#: The id token a session started by plugging in alone is recorded with.
FREE_ID_TOKEN = IdToken("FREE", IdTokenType.NO_AUTHORIZATION)

class PluggedConnector(Protocol):
    """What free charging needs of a connector: its car, and the means to start a session."""

    @property
    def id(self) -> int: ...

    @property
    def pilot(self) -> PilotState: ...

    @property
    def transaction(self) -> object | None: ...

    @property
    def pending(self) -> object | None: ...

    def authorize(self, id_token: IdToken, group: IdToken | None = None) -> None: ...


_ACCEPTED = AuthorizationResult(AuthorizationStatus.ACCEPTED)
_REFUSED = AuthorizationResult(AuthorizationStatus.INVALID)


class StandaloneAuthorization(enum.Enum):
    CARDS = "cards"  # the cards on the list, and no others
    FREE = "free"  # anyone: plug in and charge


@dataclass(frozen=True, slots=True)
class _CardListRules:
    """The offline rules a station on its own always applies (``AuthorizationRules``)."""

    local_authorize_offline: bool = True
    local_pre_authorize: bool = False
    allow_offline_tx_for_unknown_id: bool = False


class Standalone:
    def __init__(self, authorization: StandaloneAuthorization,
                 cards: Iterable[IdToken] = ()) -> None:
        self.authorization = authorization
        # No cache: nobody gives verdicts to remember. Room for every card the store holds.
        self._cards = LocalAuthorization(list_max_length=1_000_000,
                                         send_list_max_length=1_000_000, cache_enabled=False)
        self._rules = _CardListRules()
        #: connector id -> was a car plugged in at its last pilot report
        self._plugged: dict[int, bool] = {}
        self.set_cards(cards)

    def set_cards(self, cards: Iterable[IdToken]) -> None:
        """The cards allowed from now on (those of the configuration and of the store)."""
        entries = {card.key: AuthorizationEntry(card, _ACCEPTED) for card in cards}
        self._cards.restore(AuthorizationSnapshot(1, tuple(entries.values()), ()))

    @property
    def card_count(self) -> int:
        return self._cards.list_size

    def decide(self, id_token: IdToken, now: float) -> AuthorizationResult:
        """The verdict on a card presented at the station: Accepted, or Invalid."""
        if self.authorization is StandaloneAuthorization.FREE:
            return _ACCEPTED
        return self._cards.decide_offline(id_token, now, self._rules) or _REFUSED

    def pilot_reported(self, connector: PluggedConnector) -> None:
        """A connector reported its pilot state. With free charging, a car just plugged into an
        idle connector (no session, no card waiting for a car) starts a session."""
        plugged_in = connector.pilot.vehicle_connected
        was_plugged_in = self._plugged.get(connector.id, False)
        self._plugged[connector.id] = plugged_in
        if (self.authorization is StandaloneAuthorization.FREE and plugged_in
                and not was_plugged_in and connector.transaction is None
                and connector.pending is None):
            connector.authorize(FREE_ID_TOKEN)
