"""Reservations of OCPP 1.6 (ReserveNow, CancelReservation, section 5.13): a connector booked for
one card, or for a group of cards through the parent id tag, until the card starts charging there,
the booking lapses or the CSMS cancels it; and reservations of connector 0, which hold *some*
connector free. Connector states are given as the statuses the CSMS sees.
"""

from __future__ import annotations

import json

import pytest

from pievse.core.authorization import (
    AuthorizationEntry,
    AuthorizationResult,
    AuthorizationStatus,
    IdToken,
    IdTokenType,
    LocalAuthorization,
    LocalListUpdate,
    UpdateType,
)
from pievse.core.reservations import (
    CancelReservationStatus,
    Reservation,
    Reservations,
    ReservationStatus,
)
from pievse.core.vocabulary import ConnectorStatus
from pievse.persistence.access_codec import decode_reservations, encode_reservations

S = ConnectorStatus
R = ReservationStatus
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
HOUR = 3600.0


def card(value: str) -> IdToken:
    return IdToken(value, IdTokenType.ISO14443)


def group(value: str) -> IdToken:
    return IdToken(value, IdTokenType.CENTRAL)


ALICE, BOB, CAROL = card("04A1B2C3"), card("04B0B0B0"), card("04CA201E")
FLEET = group("FLEET7")

TWO_FREE = {1: S.AVAILABLE, 2: S.AVAILABLE}


def booking(reservation_id: int = 1, connector: int = 1, id_tag: IdToken = ALICE,
            parent: IdToken | None = None, lasts: float = HOUR) -> Reservation:
    return Reservation(reservation_id, connector, id_tag, NOW + lasts, parent)


def reserved(reservations: Reservations, statuses: dict[int, ConnectorStatus]
             ) -> dict[int, ConnectorStatus]:
    """The statuses the CSMS would see: a free connector that is held shows Reserved."""
    return {cid: S.RESERVED if s in (S.AVAILABLE, S.RESERVED)
            and reservations.held(cid, statuses) else s for cid, s in statuses.items()}


# --- ReserveNow ----------------------------------------------------------------------------------


def test_reserve_now_on_a_free_connector_is_accepted_and_the_connector_shows_reserved() -> None:
    reservations = Reservations()
    status, _ = reservations.reserve(booking(), NOW, TWO_FREE)
    assert status is R.ACCEPTED
    assert reserved(reservations, TWO_FREE) == {1: S.RESERVED, 2: S.AVAILABLE}
    assert reservations.next_expiry() == NOW + HOUR


@pytest.mark.parametrize("status, answer", [
    (S.PREPARING, R.OCCUPIED),
    (S.CHARGING, R.OCCUPIED),
    (S.SUSPENDED_EV, R.OCCUPIED),
    (S.FINISHING, R.OCCUPIED),
    (S.FAULTED, R.FAULTED),
    (S.UNAVAILABLE, R.UNAVAILABLE),
])
def test_reserve_now_answers_after_the_connector_state(status: ConnectorStatus,
                                                      answer: ReservationStatus) -> None:
    reservations = Reservations()
    assert reservations.reserve(booking(), NOW, {1: status})[0] is answer
    assert reservations.all == []


def test_reserve_now_on_a_connector_reserved_already_is_occupied() -> None:
    reservations = Reservations()
    reservations.reserve(booking(1, id_tag=ALICE), NOW, TWO_FREE)
    statuses = reserved(reservations, TWO_FREE)
    assert reservations.reserve(booking(2, id_tag=BOB), NOW, statuses)[0] is R.OCCUPIED
    assert reservations.reserve(booking(3, id_tag=ALICE), NOW, statuses)[0] is R.OCCUPIED, \
        "the same id tag too"


def test_reserve_now_with_a_known_reservation_id_replaces_that_reservation() -> None:
    reservations = Reservations()
    reservations.reserve(booking(7, connector=1), NOW, TWO_FREE)
    status, _ = reservations.reserve(booking(7, connector=2, lasts=2 * HOUR), NOW, TWO_FREE)
    assert status is R.ACCEPTED
    assert reservations.on_connector(1) is None
    assert reservations.get(7) == booking(7, connector=2, lasts=2 * HOUR)


def test_a_refused_replacement_keeps_the_reservation_it_would_replace() -> None:
    reservations = Reservations()
    reservations.reserve(booking(7, connector=1), NOW, TWO_FREE)
    statuses = {1: S.AVAILABLE, 2: S.FAULTED}
    assert reservations.reserve(booking(7, connector=2), NOW, statuses)[0] is R.FAULTED
    assert reservations.get(7) == booking(7, connector=1)


@pytest.mark.parametrize("why, reservations, request_", [
    ("no such connector", Reservations(), booking(connector=3)),
    ("reservations disabled", Reservations(enabled=False), booking()),
    ("expiry date already passed", Reservations(), booking(lasts=0)),
    ("connector 0 without ReserveConnectorZeroSupported", Reservations(), booking(connector=0)),
])
def test_reserve_now_is_rejected(why: str, reservations: Reservations,
                                 request_: Reservation) -> None:
    assert reservations.reserve(request_, NOW, TWO_FREE)[0] is R.REJECTED, why


# --- who may use it ------------------------------------------------------------------------------


def test_the_reserved_card_uses_the_reservation_and_ends_it_with_its_start() -> None:
    reservations = Reservations()
    reservations.reserve(booking(5), NOW, TWO_FREE)
    assert reservations.admits(1, ALICE, None, TWO_FREE)
    used = reservations.claim(1, ALICE, None)
    assert used is not None and used.reservation_id == 5, "StartTransaction carries its id"
    assert reservations.all == []
    assert reserved(reservations, TWO_FREE) == TWO_FREE, "the connector is free again"


def test_a_card_with_the_same_parent_id_tag_uses_the_reservation() -> None:
    # Alice's company booked the connector for its fleet; Carol's card belongs to the fleet,
    # which the station learns from the local list (or the CSMS's Authorize answer).
    reservations = Reservations()
    reservations.reserve(booking(5, id_tag=ALICE, parent=FLEET), NOW, TWO_FREE)
    auth = LocalAuthorization()
    auth.send_local_list(LocalListUpdate(1, UpdateType.FULL, (AuthorizationEntry(
        CAROL, AuthorizationResult(AuthorizationStatus.ACCEPTED, group=FLEET)),)))
    carol = auth.lookup(CAROL, NOW)
    assert carol == AuthorizationResult(AuthorizationStatus.ACCEPTED, None, FLEET)

    assert not reservations.admits(1, CAROL, None, TWO_FREE), "without her parent: no"
    assert reservations.admits(1, CAROL, carol.group, TWO_FREE)
    assert reservations.claim(1, CAROL, carol.group).reservation_id == 5


def test_a_reservation_made_for_a_group_tag_admits_every_card_of_the_group() -> None:
    reservations = Reservations()
    reservations.reserve(booking(5, id_tag=FLEET), NOW, TWO_FREE)
    assert reservations.admits(1, CAROL, FLEET, TWO_FREE)
    assert not reservations.admits(1, CAROL, group("OTHERFLEET"), TWO_FREE)


def test_another_card_is_refused_on_the_reserved_connector_but_not_on_the_free_one() -> None:
    reservations = Reservations()
    reservations.reserve(booking(5, id_tag=ALICE, parent=FLEET), NOW, TWO_FREE)
    assert not reservations.admits(1, BOB, None, TWO_FREE)
    assert not reservations.admits(1, BOB, group("OTHERFLEET"), TWO_FREE)
    assert reservations.admits(2, BOB, None, TWO_FREE)
    assert reservations.claim(2, BOB, None) is None, "nothing to carry in StartTransaction"
    assert reservations.get(5) is not None


def test_id_tags_match_reservations_without_regard_to_case() -> None:
    reservations = Reservations()
    reservations.reserve(booking(5, id_tag=card("04a1b2c3")), NOW, TWO_FREE)
    assert reservations.admits(1, card("04A1B2C3"), None, TWO_FREE)


# --- how it ends otherwise -----------------------------------------------------------------------


def test_a_reservation_expires_at_its_expiry_date_and_the_connector_is_free_again() -> None:
    reservations = Reservations()
    reservations.reserve(booking(5, lasts=HOUR), NOW, TWO_FREE)
    reservations.reserve(booking(6, connector=2, id_tag=BOB, lasts=2 * HOUR), NOW, TWO_FREE)
    assert reservations.expire(NOW + HOUR - 1) == []
    assert [r.reservation_id for r in reservations.expire(NOW + HOUR)] == [5]
    assert reservations.next_expiry() == NOW + 2 * HOUR, "the daemon wakes then"
    assert reservations.admits(1, CAROL, None, TWO_FREE)
    assert reserved(reservations, TWO_FREE) == {1: S.AVAILABLE, 2: S.RESERVED}


def test_cancel_reservation_ends_it_and_an_unknown_id_is_rejected() -> None:
    reservations = Reservations()
    reservations.reserve(booking(5), NOW, TWO_FREE)
    assert reservations.cancel(5) is CancelReservationStatus.ACCEPTED
    assert reservations.admits(1, BOB, None, TWO_FREE)
    assert reservations.cancel(5) is CancelReservationStatus.REJECTED
    assert reservations.next_expiry() is None


@pytest.mark.parametrize("trouble", [S.FAULTED, S.UNAVAILABLE])
def test_a_reservation_ends_when_its_connector_goes_out_of_service(trouble: S) -> None:
    reservations = Reservations()
    reservations.reserve(booking(5, connector=1), NOW, TWO_FREE)
    reservations.reserve(booking(6, connector=2, id_tag=BOB), NOW, TWO_FREE)
    ended = reservations.end_where_out_of_service({1: trouble, 2: S.RESERVED})
    assert [r.reservation_id for r in ended] == [5]
    assert reservations.get(6) is not None


# --- connector 0 ---------------------------------------------------------------------------------


def test_connector_0_reservation_holds_the_last_free_connector_for_the_reserved_card() -> None:
    reservations = Reservations(reserve_connector_zero_supported=True)
    assert reservations.reserve(booking(9, connector=0), NOW, TWO_FREE)[0] is R.ACCEPTED
    assert reserved(reservations, TWO_FREE) == TWO_FREE, "two free, one held: none is marked"

    assert reservations.admits(1, BOB, None, TWO_FREE), "a walk-in may take one of two"
    one_left = {1: S.CHARGING, 2: S.AVAILABLE}
    assert reserved(reservations, one_left) == {1: S.CHARGING, 2: S.RESERVED}
    assert not reservations.admits(2, CAROL, None, one_left), "but not the last one"
    assert reservations.admits(2, ALICE, None, one_left)
    assert reservations.claim(2, ALICE, None).reservation_id == 9
    assert reserved(reservations, one_left) == one_left


def test_connector_0_reservation_needs_a_connector_to_hold() -> None:
    reservations = Reservations(reserve_connector_zero_supported=True)
    busy = {1: S.CHARGING, 2: S.PREPARING}
    assert reservations.reserve(booking(9, connector=0), NOW, busy)[0] is R.OCCUPIED
    assert reservations.reserve(booking(9, connector=0), NOW,
                                {1: S.FAULTED, 2: S.FAULTED})[0] is R.FAULTED
    assert reservations.reserve(booking(9, connector=0), NOW,
                                {1: S.FAULTED, 2: S.UNAVAILABLE})[0] is R.UNAVAILABLE
    one_free = {1: S.CHARGING, 2: S.AVAILABLE}
    assert reservations.reserve(booking(9, connector=0), NOW, one_free)[0] is R.ACCEPTED
    assert reservations.reserve(booking(10, connector=0, id_tag=BOB), NOW,
                                one_free)[0] is R.OCCUPIED, "the one free connector is held"
    assert reservations.reserve(booking(11, connector=2, id_tag=BOB), NOW,
                                one_free)[0] is R.OCCUPIED, "and may not be reserved apart"


def test_connector_0_reservations_end_when_no_connector_is_in_service() -> None:
    reservations = Reservations(reserve_connector_zero_supported=True)
    reservations.reserve(booking(9, connector=0), NOW, TWO_FREE)
    assert reservations.end_where_out_of_service({1: S.FAULTED, 2: S.AVAILABLE}) == []
    ended = reservations.end_where_out_of_service({1: S.FAULTED, 2: S.UNAVAILABLE})
    assert [r.reservation_id for r in ended] == [9]


# --- persistence ---------------------------------------------------------------------------------


def test_reservations_survive_a_restart_and_those_that_lapsed_meanwhile_are_dropped() -> None:
    reservations = Reservations(reserve_connector_zero_supported=True)
    reservations.reserve(booking(5, connector=1, lasts=HOUR, parent=FLEET), NOW, TWO_FREE)
    reservations.reserve(booking(6, connector=0, id_tag=BOB, lasts=3 * HOUR), NOW, TWO_FREE)
    saved = decode_reservations(json.loads(json.dumps(encode_reservations(reservations.all))))

    again = Reservations(reserve_connector_zero_supported=True)
    lapsed = again.restore(saved, NOW + 2 * HOUR)
    assert [r.reservation_id for r in lapsed] == [5]
    assert again.all == [booking(6, connector=0, id_tag=BOB, lasts=3 * HOUR)]

    fresh = Reservations()
    fresh.restore(saved, NOW)
    assert fresh.all == reservations.all
