"""Reservations (OCPP 1.6 Reservation profile, OCPP 2.0.1 H: ReserveNow, CancelReservation).

A driver books a connector from an app; the CSMS sends ReserveNow with an id token, an expiry
and maybe a group. Until the reservation ends, that connector shows ``Reserved`` and refuses
every card except the reserved one, or one of the same group: a card whose id token or group
equals the reservation's id token or group (OCPP 1.6 5.13). A reservation ends when the
reserved card starts a transaction there (the transaction names the reservation it used), when
it expires (the connector shows Available again), when the CSMS cancels it, or when its
connector becomes Faulted or Unavailable.

Connector 0, where ``ReserveConnectorZeroSupported`` is true, reserves *some* connector rather
than a given one: no connector shows Reserved while more are free than such reservations hold,
but a walk-in card may not take the last free connector one of them needs, and the connectors
left free then show Reserved.

The station tells this module what state each connector is in as a mapping from connector id to
the connector's :class:`ConnectorStatus` (Available and Reserved are both "free" here; Preparing,
Charging, SuspendedEV/EVSE and Finishing "occupied"), so it stays apart from ``Connector``.
Pure: no I/O, time passed in as epoch seconds.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pievse.core.authorization import IdToken
from pievse.core.vocabulary import ConnectorStatus

__all__ = [
    "CancelReservationStatus",
    "Reservation",
    "ReservationStatus",
    "Reservations",
]

_FREE = frozenset({ConnectorStatus.AVAILABLE, ConnectorStatus.RESERVED})
_OUT_OF_SERVICE = frozenset({ConnectorStatus.FAULTED, ConnectorStatus.UNAVAILABLE})


class ReservationStatus(enum.Enum):
    """The ReserveNow answer."""

    ACCEPTED = "accepted"
    FAULTED = "faulted"
    OCCUPIED = "occupied"
    REJECTED = "rejected"
    UNAVAILABLE = "unavailable"


class ReservationEnd(enum.Enum):
    """Why the station ended a reservation itself (the CSMS is told: 2.0.1's
    ReservationStatusUpdate)."""

    EXPIRED = "Expired"  # its expiry date came
    REMOVED = "Removed"  # its connector went out of service (Faulted, Unavailable)


class CancelReservationStatus(enum.Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Reservation:
    reservation_id: int
    #: The reserved connector; 0 = any connector of the charge point.
    connector_id: int
    id_token: IdToken
    #: Epoch seconds at which the reservation lapses.
    expires_at: float
    #: The group the reservation is made for, if any: its cards may use it too.
    group: IdToken | None = None

    def admits(self, id_token: IdToken, group: IdToken | None) -> bool:
        """May this card use the reservation? Yes when its id token or its group equals the
        reservation's id token or group (OCPP 1.6 5.13): the reserved card, a card of the same
        group, the group's own token, or any card of a group the reservation was made for."""
        theirs = {t.key for t in (self.id_token, self.group) if t is not None}
        ours = {t.key for t in (id_token, group) if t is not None}
        return not theirs.isdisjoint(ours)

    def lapsed(self, now: float) -> bool:
        return now >= self.expires_at


class Reservations:
    """The reservations of one charge point.

    ``enabled`` says whether the charge point takes reservations at all (the Reservation
    feature profile); ``reserve_connector_zero_supported`` is the ReserveConnectorZeroSupported
    key.
    """

    def __init__(self, *, enabled: bool = True,
                 reserve_connector_zero_supported: bool = False) -> None:
        self.enabled = enabled
        self.reserve_connector_zero_supported = reserve_connector_zero_supported
        self._by_id: dict[int, Reservation] = {}

    # --- the CSMS's commands ---------------------------------------------------------------------

    def reserve(self, reservation: Reservation, now: float,
                statuses: Mapping[int, ConnectorStatus]) -> tuple[ReservationStatus, str]:
        """ReserveNow: (status, why). ``statuses`` holds every connector's current status.

        A reservation with the id of one already held replaces it; refused, the old one stays."""
        if not self.enabled:
            return ReservationStatus.REJECTED, "this charge point takes no reservations"
        if reservation.lapsed(now):
            return ReservationStatus.REJECTED, "its expiry has passed already"
        others = {rid: r for rid, r in self._by_id.items() if rid != reservation.reservation_id}
        if reservation.connector_id == 0:
            status, why = self._check_any_connector(others, statuses)
        else:
            status, why = self._check_connector(reservation.connector_id, others, statuses)
        if status is ReservationStatus.ACCEPTED:
            self._by_id = others
            self._by_id[reservation.reservation_id] = reservation
        return status, why

    def _check_connector(self, connector_id: int, others: Mapping[int, Reservation],
                         statuses: Mapping[int, ConnectorStatus]) -> tuple[ReservationStatus, str]:
        status = statuses.get(connector_id)
        if status is None:
            return ReservationStatus.REJECTED, f"no connector {connector_id}"
        if status is ConnectorStatus.FAULTED:
            return ReservationStatus.FAULTED, f"connector {connector_id} is faulted"
        if status is ConnectorStatus.UNAVAILABLE:
            return ReservationStatus.UNAVAILABLE, f"connector {connector_id} is unavailable"
        if status not in _FREE:
            return ReservationStatus.OCCUPIED, f"connector {connector_id} is {status.value}"
        if any(r.connector_id == connector_id for r in others.values()):
            return ReservationStatus.OCCUPIED, f"connector {connector_id} is reserved already"
        held_for_any = sum(1 for r in others.values() if r.connector_id == 0)
        if self._free_unreserved(others, statuses) <= held_for_any:
            return (ReservationStatus.OCCUPIED,
                    f"connector {connector_id} is the last one free for a reservation of any "
                    "connector")
        return ReservationStatus.ACCEPTED, f"connector {connector_id} reserved"

    def _check_any_connector(self, others: Mapping[int, Reservation],
                             statuses: Mapping[int, ConnectorStatus]
                             ) -> tuple[ReservationStatus, str]:
        if not self.reserve_connector_zero_supported:
            return ReservationStatus.REJECTED, "ReserveConnectorZeroSupported is false"
        held_for_any = sum(1 for r in others.values() if r.connector_id == 0)
        if self._free_unreserved(others, statuses) > held_for_any:
            return ReservationStatus.ACCEPTED, "a connector is held for this id token"
        if statuses and all(s is ConnectorStatus.FAULTED for s in statuses.values()):
            return ReservationStatus.FAULTED, "every connector is faulted"
        if statuses and all(s in _OUT_OF_SERVICE for s in statuses.values()):
            return ReservationStatus.UNAVAILABLE, "no connector is in service"
        return ReservationStatus.OCCUPIED, "no connector is free to hold"

    def cancel(self, reservation_id: int) -> CancelReservationStatus:
        """CancelReservation: Accepted when a reservation with that id was held."""
        if self._by_id.pop(reservation_id, None) is None:
            return CancelReservationStatus.REJECTED
        return CancelReservationStatus.ACCEPTED

    # --- what a card may do ----------------------------------------------------------------------

    def admits(self, connector_id: int, id_token: IdToken, group: IdToken | None,
               statuses: Mapping[int, ConnectorStatus]) -> bool:
        """May this card start a session on ``connector_id``, as far as reservations go?

        A connector reserved for someone else refuses it. A card that holds no reservation of
        any connector may not take a connector that a connector-0 reservation needs: after it
        starts, at least as many free connectors must remain as such reservations are held.
        (``group`` as the list, the cache or the CSMS gave it; when a reservation has a group
        and the card's group is unknown, ask the CSMS for it first.)"""
        own = self.on_connector(connector_id)
        if own is not None:
            return own.admits(id_token, group)
        any_connector = [r for r in self._by_id.values() if r.connector_id == 0]
        if not any_connector or any(r.admits(id_token, group) for r in any_connector):
            return True
        left_free = sum(
            1 for cid, status in statuses.items()
            if cid != connector_id and status in _FREE and self.on_connector(cid) is None
        )
        return left_free >= len(any_connector)

    def claim(self, connector_id: int, id_token: IdToken,
              group: IdToken | None) -> Reservation | None:
        """A transaction starts on ``connector_id`` for this card: end and return the
        reservation it uses (the CSMS learns its id with the start), or None. The connector's
        own reservation first, else a connector-0 reservation of the card (the one made first)."""
        own = self.on_connector(connector_id)
        if own is not None and own.admits(id_token, group):
            return self._by_id.pop(own.reservation_id)
        for reservation in self._by_id.values():
            if reservation.connector_id == 0 and reservation.admits(id_token, group):
                return self._by_id.pop(reservation.reservation_id)
        return None

    # --- what the connectors show ----------------------------------------------------------------

    def held(self, connector_id: int, statuses: Mapping[int, ConnectorStatus]) -> bool:
        """Should ``connector_id``, free otherwise, show Reserved? Yes when it is reserved, or
        when connector-0 reservations need every free connector that is left."""
        if self.on_connector(connector_id) is not None:
            return True
        if statuses.get(connector_id) not in _FREE:
            return False
        held_for_any = sum(1 for r in self._by_id.values() if r.connector_id == 0)
        return held_for_any > 0 and self._free_unreserved(self._by_id, statuses) <= held_for_any

    def on_connector(self, connector_id: int) -> Reservation | None:
        """The reservation of this very connector (not counting connector-0 reservations)."""
        for reservation in self._by_id.values():
            if reservation.connector_id == connector_id:
                return reservation
        return None

    def get(self, reservation_id: int) -> Reservation | None:
        return self._by_id.get(reservation_id)

    @property
    def all(self) -> list[Reservation]:
        return sorted(self._by_id.values(), key=lambda r: (r.expires_at, r.reservation_id))

    # --- ends that come by themselves ------------------------------------------------------------

    def next_expiry(self) -> float | None:
        """When the next reservation lapses: the daemon wakes then and calls ``expire``."""
        return min((r.expires_at for r in self._by_id.values()), default=None)

    def expire(self, now: float) -> list[Reservation]:
        """End and return the reservations whose expiry date has come."""
        return self._end([r for r in self._by_id.values() if r.lapsed(now)])

    def end_where_out_of_service(
            self, statuses: Mapping[int, ConnectorStatus]) -> list[Reservation]:
        """End and return the reservations whose connector is Faulted or Unavailable (or gone),
        and the connector-0 reservations once no connector at all is in service."""
        none_in_service = all(s in _OUT_OF_SERVICE for s in statuses.values())
        ended = [
            r for r in self._by_id.values()
            if (none_in_service if r.connector_id == 0
                else statuses.get(r.connector_id, ConnectorStatus.UNAVAILABLE) in _OUT_OF_SERVICE)
        ]
        return self._end(ended)

    def _end(self, ended: list[Reservation]) -> list[Reservation]:
        for reservation in ended:
            del self._by_id[reservation.reservation_id]
        return ended

    def _free_unreserved(self, held: Mapping[int, Reservation],
                         statuses: Mapping[int, ConnectorStatus]) -> int:
        reserved = {r.connector_id for r in held.values()}
        return sum(1 for cid, s in statuses.items() if s in _FREE and cid not in reserved)

    # --- persistence -----------------------------------------------------------------------------

    def restore(self, reservations: Iterable[Reservation], now: float) -> list[Reservation]:
        """Take back the reservations ``all`` listed before a restart. Returns those that lapsed
        while the daemon was down, which are dropped (for the log: the connectors report their
        status afresh at start-up anyway)."""
        restored = list(reservations)
        self._by_id = {r.reservation_id: r for r in restored if not r.lapsed(now)}
        return [r for r in restored if r.lapsed(now)]
