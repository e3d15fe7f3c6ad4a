"""What is in service: ChangeAvailability of the whole station or of a connector, Scheduled
where a transaction runs (it changes once that has ended), and what is wanted once every
transaction has ended, which is what survives a restart (``AvailabilityChanged``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pievse.core.connector import Connector

__all__ = ["change", "wanted"]


def change(connectors: Iterable[Connector], operative: bool) -> bool:
    """Put each connector in or out of service, or schedule it where a transaction runs.
    True if any was scheduled."""
    scheduled = False
    for c in connectors:
        if c.transaction is not None and c.operative != operative:
            c.scheduled_availability = operative
            scheduled = True
        else:
            c.operative = operative
            c.scheduled_availability = None
            c.reconcile()
    return scheduled


def wanted(connectors: Mapping[int, Connector],
           station_operative: bool) -> tuple[tuple[int, bool], ...]:
    """Each connector's availability once what is scheduled has applied (0: the station)."""
    return ((0, station_operative), *(
        (n, c.operative if c.scheduled_availability is None else c.scheduled_availability)
        for n, c in connectors.items()))
