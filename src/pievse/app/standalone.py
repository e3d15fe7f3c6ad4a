"""A station without CSMS (``[ocpp] url = ""``), as the daemon runs it, and the price of a kWh.

Without a CSMS there is no OCPP link to run and nobody to send a transaction to: the daemon
starts no link and hands the station's effects to the store only, so nothing piles up in the
outbox for a CSMS that will never come. A CSMS configured later hears nothing of the sessions of
the standalone time; the session history keeps them.

The card list is the configuration's ``[standalone] cards`` and the cards ``pievse cards add``
put in the store. The command may run while the daemon does (another process writing the
same SQLite file), so the list is read again before each card is decided: one small query per
card presented, nothing while nobody taps.
"""

from __future__ import annotations

from pievse.app.config import Config
from pievse.core.authorization import IdToken, IdTokenType
from pievse.core.standalone import Standalone, StandaloneAuthorization
from pievse.persistence.history import Tariff
from pievse.persistence.store import Store

__all__ = ["StandaloneCards", "is_standalone", "tariff"]


def is_standalone(config: Config) -> bool:
    return config.ocpp.url == ""


def tariff(config: Config) -> Tariff | None:
    """``[tariff]``, or None when no price is set (a price of 0 shows no cost)."""
    price = config.tariff.price_per_kwh
    return Tariff(price, config.tariff.currency) if price > 0 else None


class StandaloneCards:
    """The core's standalone decision, kept in step with the configuration's and the store's
    cards. ``for_config`` gives None for a station with a CSMS."""

    def __init__(self, authorization: StandaloneAuthorization, config_cards: list[str],
                 store: Store) -> None:
        self.decision = Standalone(authorization)
        self._config_cards = tuple(config_cards)
        self._store = store
        self._cards: tuple[str, ...] | None = None
        self.refresh()

    @classmethod
    def for_config(cls, config: Config, store: Store) -> StandaloneCards | None:
        if not is_standalone(config):
            return None
        return cls(StandaloneAuthorization(config.standalone.authorization),
                   config.standalone.cards, store)

    def refresh(self) -> None:
        """Read the store's cards again; the core hears of them only when they changed."""
        cards = self._config_cards + tuple(card for card, _ in self._store.cards())
        if cards != self._cards:
            self._cards = cards
            # The reader's card type is not known here; the list matches by value alone.
            self.decision.set_cards(IdToken(card, IdTokenType.ISO14443) for card in cards)
