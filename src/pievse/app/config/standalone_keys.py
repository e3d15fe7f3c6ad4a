"""The keys of a station without CSMS (``[standalone]``) and of the price of its energy
(``[tariff]``), which gives each session of the history its cost.

A station runs without CSMS when ``[ocpp] url = ""``: that one value says it, and ``[standalone]``
says who may charge then. With a CSMS configured, ``[standalone]`` is not used.
"""

from __future__ import annotations

import re
from typing import Any

from pievse.app.config.key import Key, _show

__all__ = ["CARD_ID_PATTERN", "STANDALONE_KEYS", "card_id_problem"]

#: A card's id as the list takes it: OCPP's IdToken (CiString20), printable, no spaces.
CARD_ID_PATTERN = re.compile(r"[!-~]{1,20}")
#: Room enough for a household and its friends; a fleet belongs in a CSMS.
MOST_CARDS_IN_CONFIG = 1000


def card_id_problem(value: object) -> str | None:
    if not isinstance(value, str) or not CARD_ID_PATTERN.fullmatch(value):
        return (f"{_show(value)} is no card id: 1 to 20 printable ASCII characters without "
                'spaces, e.g. "04A1B2C3"')
    return None


def _check_cards(cards: list[Any]) -> str | None:
    if len(cards) > MOST_CARDS_IN_CONFIG:
        return (f"at most {MOST_CARDS_IN_CONFIG} cards (it has {len(cards):,}); more belong in "
                "the store (pievse cards add)")
    seen: set[str] = set()
    for card in cards:
        if problem := card_id_problem(card):
            return f"must be a list of card ids; {problem}"
        if card.casefold() in seen:
            return f"{_show(card)} is listed twice (card ids are compared without regard to case)"
        seen.add(card.casefold())
    return None


def _check_currency(value: str) -> str | None:
    if not re.fullmatch(r"[A-Z]{3}", value):
        return 'must be an ISO 4217 currency code, three capital letters, e.g. "EUR" or "CHF"'
    return None


STANDALONE_KEYS: tuple[Key, ...] = (
    Key("standalone", "authorization", str, "cards",
        'without CSMS ([ocpp] url = ""), who may charge: "cards" (those of the list below and '
        'of `pievse cards add`) or "free" (plug in and charge)', choices=("cards", "free")),
    Key("standalone", "cards", list, [],
        'without CSMS, the cards that may charge (ids as the reader reports them, "04A1B2C3")',
        check=_check_cards),
    Key("tariff", "price_per_kwh", float, 0.0,
        "the price of a kWh, which gives each session its cost (0 = no cost shown)",
        minimum=0, maximum=100),
    Key("tariff", "currency", str, "EUR", "the currency of the price (ISO 4217)",
        check=_check_currency),
)
