"""Where a new session goes: the connector a card's session starts on.

A connector where a car already waits comes first (the driver plugged in, then presented the
card), then one reserved for this card or its group, then any free one that no reservation keeps
for someone else. A session bound to a connector (a remote start naming it) goes there or
nowhere.
"""

from __future__ import annotations

from collections.abc import Mapping

from pievse.core.access import Access
from pievse.core.authorization import IdToken
from pievse.core.connector import Connector

__all__ = ["connector_for", "free_connector"]


def free_connector(connectors: Mapping[int, Connector],
                   bound: int | None = None) -> Connector | None:
    """Where a new session goes, reservations aside: a connector with a car waiting, else
    any free one (or ``bound``, if usable)."""
    if bound is not None:
        connector = connectors.get(bound)
        return connector if connector is not None and connector.usable else None
    free = [c for c in connectors.values() if c.usable and c.pending is None]
    for c in free:
        if c.pilot.vehicle_connected:
            return c
    return free[0] if free else None


def connector_for(connectors: Mapping[int, Connector], access: Access, id_token: IdToken,
                  group: IdToken | None, bound: int | None) -> Connector | None:
    """Where this card's session goes, reservations included: a connector where a car
    waits, else one reserved for this card, else any free one that no reservation keeps."""
    if bound is not None:
        connector = free_connector(connectors, bound)
        if connector is None or not access.admits(bound, id_token, group):
            return None
        return connector
    free = [c for c in connectors.values() if c.usable and c.pending is None
            and access.admits(c.id, id_token, group)]
    for c in free:
        if c.pilot.vehicle_connected:
            return c
    for c in free:
        if access.holds_for(c.id, id_token, group):
            return c
    return free[0] if free else None
