"""What a connector asks of the rest of the charge point, and what it tells it.

A connector decides its own state machine; reservations, profiles, transaction numbers and a
reset under way belong to the station. It reaches them only through this seam, so a connector
can be built and tested alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from pievse.core.authorization import IdToken

if TYPE_CHECKING:
    from pievse.core.connector import Connector

__all__ = ["ConnectorHost"]


class ConnectorHost(Protocol):
    """What a connector asks of the rest of the charge point, and what it tells it."""

    def may_start_transaction(self) -> bool:
        """False while a reset or a shutdown is under way: no new session anywhere."""
        ...

    def shutting_down(self) -> bool:
        """The daemon is going down: every contactor opens now."""
        ...

    def held_for_update(self) -> bool:
        """A firmware update waits to install: a connector not in use shows Unavailable."""
        ...

    def shows_reserved(self, connector_id: int) -> bool:
        """Should this connector, free otherwise, show Reserved?"""
        ...

    def profile_limit_reason(self, connector_id: int) -> str:
        """Why the charging profiles limit this connector as they do, in words."""
        ...

    def new_transaction_ref(self) -> int:
        """The station's own number for a transaction that starts now."""
        ...

    def claim_reservation(self, connector_id: int, id_token: IdToken,
                          group: IdToken | None) -> int | None:
        """A transaction starts: end the reservation it uses, and say which (or None)."""
        ...

    def pilot_reported(self, connector: Connector) -> None:
        """The board told the pilot state: what waited to know whether a car is there may go
        on."""
        ...

    def transaction_started(self, connector: Connector) -> None:
        """A transaction started (or resumed) here. Runs inside the connector's reconcile(),
        which goes on to offer the current: it must not reconcile again."""
        ...

    def transaction_ended(self, connector: Connector) -> None:
        """The transaction here ended (its TransactionStopped is emitted already)."""
        ...
