"""A reset of one EVSE (OCPP 2.0.1 B11/B12, a Reset with an evseId).

An EVSE here is one connector driven by the same daemon as the others: resetting it restarts
nothing but that connector's session. Its transaction ends (reason SoftReset, which 2.0.1 words
ImmediateReset), the contactor opens, a card presented there and not yet used is forgotten, and
the connector shows again what the pilot says. The other EVSEs go on untouched.
"""

from __future__ import annotations

from collections.abc import Mapping

from pievse.core.answers import EvseResetStatus
from pievse.core.connector import Connector
from pievse.core.vocabulary import StopReason

__all__ = ["EvseResets"]


class EvseResets:
    """The EVSE resets asked for, and those waiting for their EVSE's transaction to end."""

    def __init__(self, connectors: Mapping[int, Connector]) -> None:
        self._connectors = connectors
        #: OnIdle resets waiting for the transaction on their EVSE to end.
        self.waiting: set[int] = set()

    def request(self, evse_id: int, immediate: bool) -> EvseResetStatus:
        connector = self._connectors.get(evse_id)
        if connector is None:
            return EvseResetStatus.REJECTED
        tx = connector.transaction
        if tx is not None and not immediate:
            self.waiting.add(evse_id)
            return EvseResetStatus.SCHEDULED
        self.waiting.discard(evse_id)
        if tx is not None:
            connector.begin_stop(StopReason.SOFT_RESET, None)
        self._reset(connector)
        return EvseResetStatus.ACCEPTED

    def transaction_ended(self, connector: Connector) -> None:
        """The transaction on a connector ended: an OnIdle reset waiting for it happens now."""
        if connector.id in self.waiting:
            self.waiting.discard(connector.id)
            self._reset(connector)

    @staticmethod
    def _reset(connector: Connector) -> None:
        connector.pending = None
        connector.reconcile()
