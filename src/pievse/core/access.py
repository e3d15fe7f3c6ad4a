"""Who may start a session, and where: local authorisation and reservations, wired into the station.

Two pure models decide the rules: :class:`~pievse.core.authorization.LocalAuthorization` (the
Local Authorization List the CSMS sends, the Authorization Cache the station fills from the
CSMS's answers, the offline and pre-authorisation decisions) and
:class:`~pievse.core.reservations.Reservations` (ReserveNow, CancelReservation, connector 0).
``Access`` is the station's side of them, owned by ``Station`` as ``station.access`` the way
``ChargingLimits`` is ``station.charging``. It adds what the models cannot know alone:

* the connectors' states, which a reservation is checked against. A connector's status as the
  CSMS sees it depends on the reservations (a free connector that is held shows ``Reserved``),
  so the models are given the status each connector would have *without* reservations. It sees
  the connectors only as ``ShownConnector``: their statuses, with and without reservations;
* the settings: LocalAuthorizeOffline, LocalPreAuthorize, AllowOfflineTxForUnknownId,
  AuthorizationCacheEnabled, LocalAuthListEnabled and ReserveConnectorZeroSupported follow
  the station's settings whenever they change;
* what makes them survive a power cut. The list and the cache are persisted apart: the list
  can hold thousands of cards and changes only with SendLocalList (a ``LocalAuthListChanged``
  effect), while the cache changes with every new card the CSMS answers for. The cache is a
  by-product of those answers rather than a decision, so it is no effect: ``cache_revision``
  moves when a verdict in it changed, and the recorder, which looks after every batch of
  effects, writes ``cache_entries()`` then (several changes in one batch: one write). A card
  merely used again moves nothing: the order of use is not worth a disk write (after a restart
  it only decides which entry is evicted first). Reservations change with ``ReservationsChanged``.

Pure: no I/O; the time comes from the station's clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from pievse.core.authorization import (
    AuthorizationEntry,
    AuthorizationResult,
    AuthorizationSnapshot,
    AuthorizationStatus,
    ClearCacheStatus,
    IdToken,
    LocalAuthorization,
    LocalListUpdate,
    UpdateStatus,
)
from pievse.core.clock import Clock
from pievse.core.effects import (
    Effect,
    LocalAuthListChanged,
    ReservationEnded,
    ReservationsChanged,
)
from pievse.core.reservations import (
    CancelReservationStatus,
    Reservation,
    ReservationEnd,
    Reservations,
    ReservationStatus,
)
from pievse.core.settings import StationSettings
from pievse.core.standalone import Standalone
from pievse.core.vocabulary import ConnectorStatus, ErrorCode

__all__ = ["Access", "AccessLimits", "ShownConnector"]

#: A connector's status as the CSMS sees it: the status, the error code and the info.
ShownStatus = tuple[ConnectorStatus, ErrorCode, str | None]


class ShownConnector(Protocol):
    """What the reservations need of a connector: the status it shows, and shows again."""

    @property
    def status(self) -> ShownStatus | None:
        """The status the CSMS was last told (None before the station has started)."""
        ...

    def compute_status(self, reserved: bool = True) -> ShownStatus:
        """The status now; with ``reserved=False``, as it would be without any reservation."""
        ...

    def report_status(self) -> None:
        """Tell the CSMS the status if it changed since it was last told."""
        ...


@dataclass(frozen=True, slots=True)
class AccessLimits:
    """How many cards the stores hold. A Pi has room for far more, but every entry is kept in
    memory and the list is written whole with each SendLocalList, so they stay bounded; the
    CSMS reads them as the read-only keys LocalAuthListMaxLength and SendLocalListMaxLength."""

    #: LocalAuthListMaxLength: the most id tokens the Local Authorization List holds.
    list_max_length: int = 10_000
    #: SendLocalListMaxLength: the most id tokens one SendLocalList may carry.
    send_list_max_length: int = 1_000
    #: The most verdicts the Authorization Cache keeps (no OCPP key).
    cache_max_entries: int = 1_000


class Access:
    """The local authorisation stores and the reservations of one charge point."""

    def __init__(
        self,
        connectors: Mapping[int, ShownConnector],
        *,
        settings: Callable[[], StationSettings],
        clock: Clock,
        emit: Callable[[Effect], None],
        limits: AccessLimits | None = None,
        standalone: Standalone | None = None,
    ) -> None:
        self._connectors = connectors
        #: A station without CSMS: its own card list (or free charging) decides every card.
        self.standalone = standalone
        self._settings = settings
        self._clock = clock
        self._emit = emit
        settings_now = settings()
        limits = limits or AccessLimits()
        self.authorization = LocalAuthorization(
            list_max_length=limits.list_max_length,
            send_list_max_length=limits.send_list_max_length,
            cache_max_entries=limits.cache_max_entries,
            list_enabled=settings_now.local_auth_list_enabled,
            cache_enabled=settings_now.authorization_cache_enabled,
        )
        self.reservations = Reservations(
            reserve_connector_zero_supported=settings_now.reserve_connector_zero_supported)
        #: Moves whenever a verdict in the cache changed (learnt, replaced, dropped, cleared).
        self.cache_revision = 0

    # --- settings ---------------------------------------------------------------------------------

    def settings_changed(self) -> None:
        """Follow the station's settings. A cache switched off forgets what it held (it must not
        answer with verdicts the CSMS may revoke meanwhile), and the store forgets it too."""
        settings = self._settings()
        authorization = self.authorization
        authorization.list_enabled = settings.local_auth_list_enabled
        forgetting = authorization.cache_size > 0 and not settings.authorization_cache_enabled
        authorization.cache_enabled = settings.authorization_cache_enabled
        if forgetting:
            self._cache_changed()
        self.reservations.reserve_connector_zero_supported = (
            settings.reserve_connector_zero_supported)

    # --- verdicts on id tokens --------------------------------------------------------------------

    def remember(self, id_token: IdToken, result: AuthorizationResult) -> None:
        """The CSMS said ``result`` about ``id_token`` (answering an authorization request, or a
        transaction's start or stop): keep it in the cache, unless the list has the card."""
        authorization = self.authorization
        before = authorization.cached(id_token)
        authorization.remember(id_token, result, self._now())
        after = authorization.cached(id_token)
        if after is not None and after != before:
            self._cache_changed()

    def pre_authorized(self, id_token: IdToken) -> AuthorizationResult | None:
        """LocalPreAuthorize while online: the Accepted entry that starts ``id_token`` at once."""
        return self.authorization.decide_pre_authorize(id_token, self._now(), self._settings())

    def is_master_pass(self, result: AuthorizationResult) -> bool:
        """Is the card a master pass (its group is MasterPassGroupId, OCPP 2.0.1 C16)? It may
        stop every running transaction, and may start none."""
        master = self._settings().master_pass_group_id
        return (master is not None and result.group is not None
                and result.status is AuthorizationStatus.ACCEPTED
                and result.group.value == master)

    @property
    def has_master_pass(self) -> bool:
        return self._settings().master_pass_group_id is not None

    def decide_offline(self, id_token: IdToken) -> AuthorizationResult | None:
        """The CSMS cannot be asked: Accepted to start, a stored refusal, or None to refuse.
        A station without CSMS never asks one: its card list decides."""
        if self.standalone is not None:
            return self.standalone.decide(id_token, self._now())
        return self.authorization.decide_offline(id_token, self._now(), self._settings())

    def known_group(self, id_token: IdToken) -> IdToken | None:
        """The card's group as the list or the cache know it, without counting it as a use of
        the card."""
        authorization = self.authorization
        known = authorization.list_entry(id_token) if authorization.list_enabled else None
        if known is None and authorization.cache_enabled:
            known = authorization.cached(id_token)
        return known.group if known is not None else None

    # --- SendLocalList, GetLocalListVersion, ClearCache -------------------------------------------

    def send_local_list(self, update: LocalListUpdate) -> tuple[UpdateStatus, str]:
        authorization = self.authorization
        cached_before = authorization.cache_size
        status, why = authorization.send_local_list(update)
        if status is UpdateStatus.ACCEPTED:
            snapshot = authorization.snapshot()
            self._emit(LocalAuthListChanged(snapshot.list_version, snapshot.local_list))
            if authorization.cache_size != cached_before:
                # Cards now on the list left the cache: the list speaks for them from now on.
                self._cache_changed()
        return status, why

    def clear_cache(self) -> ClearCacheStatus:
        had_entries = self.authorization.cache_size > 0
        status = self.authorization.clear_cache()
        if had_entries:
            self._cache_changed()
        return status

    def forget_cached(self, id_token: IdToken) -> bool:
        """Drop the cache's entry for ``id_token``; True if there was one (the store forgets it
        too)."""
        if self.authorization.forget(id_token) is None:
            return False
        self._cache_changed()
        return True

    def cache_entries(self) -> tuple[AuthorizationEntry, ...]:
        """The cache as the store keeps it, least recently used first."""
        return self.authorization.cache_entries()

    def _cache_changed(self) -> None:
        self.cache_revision += 1

    # --- reservations -----------------------------------------------------------------------------

    def unreserved_statuses(self) -> dict[int, ConnectorStatus]:
        """Each connector's status as it would be without any reservation: what ReserveNow
        and the connector-0 arithmetic are checked against."""
        return {cid: c.compute_status(reserved=False)[0]
                for cid, c in self._connectors.items()}

    def reserve(self, reservation: Reservation) -> tuple[ReservationStatus, str]:
        """ReserveNow."""
        status, why = self.reservations.reserve(reservation, self._now(),
                                                self.unreserved_statuses())
        if status is ReservationStatus.ACCEPTED:
            self._reservations_changed()
        return status, why

    def cancel(self, reservation_id: int) -> CancelReservationStatus:
        status = self.reservations.cancel(reservation_id)
        if status is CancelReservationStatus.ACCEPTED:
            self._reservations_changed()
        return status

    def admits(self, connector_id: int, id_token: IdToken, group: IdToken | None) -> bool:
        """May this card start on ``connector_id`` as far as the reservations go?"""
        if not self.reservations.all:
            return True
        return self.reservations.admits(connector_id, id_token, group,
                                        self.unreserved_statuses())

    def holds_for(self, connector_id: int, id_token: IdToken, group: IdToken | None) -> bool:
        """Is ``connector_id`` itself reserved for this card (or its group)?"""
        reservation = self.reservations.on_connector(connector_id)
        return reservation is not None and reservation.admits(id_token, group)

    def claim(self, connector_id: int, id_token: IdToken, group: IdToken | None) -> int | None:
        """A transaction starts: end the reservation it uses and return its id (the CSMS
        learns it with the start), or None."""
        reservation = self.reservations.claim(connector_id, id_token, group)
        if reservation is None:
            return None
        self._reservations_changed()
        return reservation.reservation_id

    def shows_reserved(self, connector_id: int) -> bool:
        """Should this connector, free otherwise, show Reserved to the CSMS?"""
        if not self.reservations.all:
            return False
        return self.reservations.held(connector_id, self.unreserved_statuses())

    def next_deadline(self) -> float | None:
        return self.reservations.next_expiry()

    def tick(self, now: float) -> None:
        """Reservations whose expiry date has come end; their connectors show Available."""
        expired = self.reservations.expire(now)
        if expired:
            self._reservations_changed()
            for reservation in expired:
                self._emit(ReservationEnded(reservation, ReservationEnd.EXPIRED))

    def settle(self) -> None:
        """After every input: a reservation whose connector went out of service ends, and every
        connector shows Reserved, or no longer does, as the reservations now say. A connector-0
        reservation makes one connector's status depend on the others', so all are looked at."""
        connectors = self._connectors.values()
        if not self.reservations.all and not any(
                c.status is not None and c.status[0] is ConnectorStatus.RESERVED
                for c in connectors):
            return
        removed = (self.reservations.end_where_out_of_service(self.unreserved_statuses())
                   if self.reservations.all else [])
        if removed:
            self._reservations_changed()
            for reservation in removed:
                self._emit(ReservationEnded(reservation, ReservationEnd.REMOVED))
        for connector in connectors:
            if connector.status is not None:  # not before the station has started
                connector.report_status()

    def _reservations_changed(self) -> None:
        self._emit(ReservationsChanged(tuple(self.reservations.all)))

    # --- after a restart --------------------------------------------------------------------------

    def restore_authorization(self, snapshot: AuthorizationSnapshot) -> None:
        """Take back the list, its version and the cache the store kept (ValueError, and
        nothing taken, if the version is no version number)."""
        self.authorization.restore(snapshot)

    def restore_reservations(self, stored: Iterable[Reservation]) -> list[Reservation]:
        """Take back the reservations the store kept; returns those that lapsed while the
        daemon was down (dropped)."""
        return self.reservations.restore(stored, self._now())

    def _now(self) -> float:
        return self._clock.now()
