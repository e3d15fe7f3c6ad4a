"""What a charging station keeps of its customers beyond the station core, as an adapter asks
it: the session history, kept by the store. An adapter knows it only by this contract (the
protocol layer does not import the store); the composition root hands the store in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

__all__ = ["CustomerSession", "SessionHistory"]


class CustomerSession(Protocol):
    """One session of the history."""

    @property
    def connector_id(self) -> int: ...

    @property
    def started_at(self) -> float: ...

    @property
    def ended_at(self) -> float | None:
        """None while it goes on."""
        ...

    @property
    def energy_wh(self) -> float: ...

    @property
    def stop_reason(self) -> str | None: ...


class SessionHistory(Protocol):
    def sessions_of(self, id_token: str) -> Sequence[CustomerSession]:
        """The sessions of ``id_token``, newest first, those going on included."""
        ...

    def forget_id_token(self, id_token: str) -> int:
        """Clear ``id_token`` from the ended sessions (those going on and the messages not yet
        delivered keep it); how many were cleared."""
        ...
