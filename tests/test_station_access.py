"""Who may charge, and where, as the station core decides it: the Local Authorization List and
the Authorization Cache at work in sessions (offline starts, LocalPreAuthorize, ClearCache,
MaxEnergyOnInvalidId), and reservations (ReserveNow, CancelReservation, expiry, connector 0).

Everything runs on the Bench: a real ``Station`` with a manual clock; the CSMS's answers are fed
in by hand, ``None`` standing for "the CSMS could not be asked".
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from pievse.drivers.contracts import FaultKind
from pievse.persistence.recorder import TransactionRecorder
from pievse.core.access import AccessLimits
from pievse.core.answers import RemoteStartStopStatus
from pievse.core.authorization import (
    AuthorizationEntry,
    AuthorizationResult,
    AuthorizationSnapshot,
    AuthorizationStatus,
    ClearCacheStatus,
    IdToken,
    IdTokenType,
    LocalListUpdate,
    UpdateStatus,
    UpdateType,
)
from pievse.core.clock import ManualClock
from pievse.core.effects import (
    StatusChanged,
    AuthorizeRequest,
    LocalAuthListChanged,
    ReservationEnded,
    ReservationsChanged,
    TokenAnswered,
    TransactionStarted,
)
from pievse.core.reservations import (
    CancelReservationStatus,
    Reservation,
    ReservationEnd,
    ReservationStatus,
)
from pievse.core.connector_status import ENERGY_LIMIT_INFO
from pievse.core.station import Station
from pievse.core.vocabulary import ConnectorStatus
from pievse.persistence.store import MIGRATIONS, Store
from tests.test_station_rig import NEW_YEAR, OTHER_TAG, TAG, Bench, card, only

S = ConnectorStatus
A = AuthorizationStatus
R = ReservationStatus
HOUR = 3600.0
FLEET = IdToken("FLEET7", IdTokenType.CENTRAL)
THIRD_TAG = "04C0FFEE"


def entry(id_tag: str, status: AuthorizationStatus = A.ACCEPTED, expires_at: float | None = None,
          group: IdToken | None = None) -> AuthorizationEntry:
    return AuthorizationEntry(card(id_tag), AuthorizationResult(status, expires_at, group))


def local_list(version: int, *changes: AuthorizationEntry | str,
               update: UpdateType = UpdateType.FULL) -> LocalListUpdate:
    """A SendLocalList: entries to add, and id tags (strings) to remove."""
    return LocalListUpdate(version, update,
                           tuple(c for c in changes if isinstance(c, AuthorizationEntry)),
                           tuple(card(c) for c in changes if isinstance(c, str)))


def send_list(bench: Bench, version: int, *changes: AuthorizationEntry | str,
              update: UpdateType = UpdateType.FULL) -> UpdateStatus:
    return bench.command(bench.station.send_local_list(
        local_list(version, *changes, update=update))).status


def reserve(bench: Bench, reservation_id: int = 1, connector: int = 1, id_tag: str = TAG,
            lasts: float = HOUR, parent: IdToken | None = None) -> ReservationStatus:
    return bench.command(bench.station.reserve_now(Reservation(
        reservation_id, connector, card(id_tag), bench.clock.now() + lasts, parent))).status


def answered(bench: Bench) -> TokenAnswered:
    return only(bench.log, TokenAnswered)[-1]


def offline_tap(bench: Bench, id_tag: str) -> TokenAnswered:
    """Present a card while the CSMS cannot be asked: the adapter answers None at once."""
    bench.tap(id_tag)
    bench.answer(id_tag, None)
    return answered(bench)


# --- offline: the list and the cache decide -------------------------------------------------------


def test_offline_a_card_on_the_local_list_starts_a_session() -> None:
    bench = Bench(allow_offline_tx_for_unknown_id=False)
    assert send_list(bench, 1, entry(TAG)) is UpdateStatus.ACCEPTED
    bench.pilot("B")
    verdict = offline_tap(bench, TAG)
    assert verdict.accepted and verdict.info == "authorised offline"
    assert [s.id_token for s in bench.started()] == [card(TAG)]


@pytest.mark.parametrize("listed", [entry(TAG, A.BLOCKED),
                                    entry(TAG, expires_at=NEW_YEAR - HOUR)],
                         ids=["blocked", "past its expiry date"])
def test_offline_a_card_the_list_refuses_stays_out_even_if_unknown_cards_may_charge(
        listed: dict[str, Any]) -> None:
    bench = Bench(allow_offline_tx_for_unknown_id=True)
    send_list(bench, 1, listed)
    bench.pilot("B")
    verdict = offline_tap(bench, TAG)
    assert not verdict.accepted and verdict.status in (A.BLOCKED, A.EXPIRED)
    assert bench.started() == []
    assert offline_tap(bench, OTHER_TAG).accepted, "an unknown card may, by the same rule"


def test_id_tags_on_the_list_match_without_regard_to_case() -> None:
    bench = Bench()
    send_list(bench, 1, entry("04A1B2C3"))
    bench.pilot("B")
    assert offline_tap(bench, "04a1b2c3").accepted
    bench.pilot("C")
    bench.tap("04A1B2C3")  # the same card as the reader of another make reports it
    assert bench.status() is S.FINISHING, "the same card ends its own session"


def test_a_card_cached_from_an_authorize_answer_is_accepted_offline_later() -> None:
    bench = Bench(allow_offline_tx_for_unknown_id=False)
    bench.tap(TAG)
    bench.answer(TAG, AuthorizationResult(A.ACCEPTED, NEW_YEAR + 24 * HOUR))
    bench.tap(TAG)  # changed their mind before plugging in
    assert bench.station.access.authorization.cached(card(TAG)).status is A.ACCEPTED

    bench.clock.advance(HOUR)
    bench.pilot("B")
    assert offline_tap(bench, TAG).accepted
    assert len(bench.started()) == 1


def test_a_cached_card_whose_validity_ran_out_is_refused_offline() -> None:
    bench = Bench()
    bench.answer(TAG, AuthorizationResult(A.ACCEPTED, NEW_YEAR + HOUR))
    bench.clock.advance(2 * HOUR)
    bench.pilot("B")
    verdict = offline_tap(bench, TAG)
    assert not verdict.accepted and verdict.status is A.EXPIRED


def test_the_verdicts_of_start_and_stop_transaction_answers_are_cached_too() -> None:
    bench = Bench(allow_offline_tx_for_unknown_id=True)
    bench.record(bench.station.verdict_received(card(TAG), AuthorizationResult(A.BLOCKED)))
    bench.pilot("B")
    assert not offline_tap(bench, TAG).accepted, "blocked by the CSMS's last word on it"


def test_clear_cache_empties_the_cache_and_a_cached_card_is_refused_offline_after() -> None:
    bench = Bench(allow_offline_tx_for_unknown_id=False)
    access = bench.station.access
    bench.answer(TAG, A.ACCEPTED)
    revision = access.cache_revision
    assert bench.command(bench.station.clear_cache()).status is ClearCacheStatus.ACCEPTED
    assert access.authorization.cache_size == 0
    assert access.cache_revision > revision, "the store must forget it too"
    bench.pilot("B")
    verdict = offline_tap(bench, TAG)
    assert not verdict.accepted and verdict.info == "CSMS unreachable"


def test_a_customers_cache_entry_is_forgotten_alone_and_the_list_is_left_to_the_csms() -> None:
    bench = Bench(allow_offline_tx_for_unknown_id=False)
    access = bench.station.access
    bench.answer(TAG, A.ACCEPTED)
    bench.answer(OTHER_TAG, A.ACCEPTED)
    send_list(bench, 3, entry(THIRD_TAG, A.ACCEPTED))
    revision = access.cache_revision
    assert bench.command(bench.station.forget_cached_token(card(TAG.lower()))).status is True
    assert access.cache_revision > revision, "the store must forget it too"
    assert access.cache_entries() == (entry(OTHER_TAG, A.ACCEPTED),)
    revision = access.cache_revision
    assert bench.command(bench.station.forget_cached_token(card(TAG))).status is False
    assert bench.command(bench.station.forget_cached_token(card(THIRD_TAG))).status is False
    assert access.cache_revision == revision, "nothing changed: nothing to write"
    assert access.authorization.list_entry(card(THIRD_TAG)) is not None
    bench.pilot("B")
    assert not offline_tap(bench, TAG).accepted, "forgotten: unknown offline"


def test_the_cache_is_written_only_when_a_verdict_changes() -> None:
    bench = Bench()
    access = bench.station.access
    bench.answer(TAG, A.ACCEPTED)
    revision = access.cache_revision
    bench.answer(TAG, A.ACCEPTED)
    assert access.cache_revision == revision, "the same verdict again is nothing new"
    bench.answer(TAG, A.BLOCKED)
    assert access.cache_revision == revision + 1
    assert access.cache_entries() == (entry(TAG, A.BLOCKED),)


def test_authorization_cache_disabled_forgets_and_learns_nothing() -> None:
    bench = Bench()
    access = bench.station.access
    bench.answer(TAG, A.ACCEPTED)
    revision = access.cache_revision
    bench.record(bench.station.update_settings(authorization_cache_enabled=False))
    assert access.authorization.cache_size == 0 and access.cache_revision > revision
    bench.answer(OTHER_TAG, A.ACCEPTED)
    assert access.authorization.cache_size == 0


def test_a_card_sent_in_the_local_list_leaves_the_cache() -> None:
    bench = Bench()
    access = bench.station.access
    bench.answer(TAG, A.ACCEPTED)
    revision = access.cache_revision
    send_list(bench, 3, entry(TAG, A.BLOCKED))
    (changed,) = only(bench.log, LocalAuthListChanged)
    assert changed == LocalAuthListChanged(3, (entry(TAG, A.BLOCKED),))
    assert access.authorization.cache_size == 0 and access.cache_revision > revision


def test_send_local_list_full_then_differential_then_a_stale_differential() -> None:
    bench = Bench()
    assert send_list(bench, 1, entry(TAG), entry(OTHER_TAG)) is UpdateStatus.ACCEPTED
    assert send_list(bench, 2, OTHER_TAG, entry(THIRD_TAG),
                     update=UpdateType.DIFFERENTIAL) is UpdateStatus.ACCEPTED
    assert bench.station.local_list_version() == 2
    assert send_list(bench, 2, entry(OTHER_TAG), update=UpdateType.DIFFERENTIAL) is \
        UpdateStatus.VERSION_MISMATCH
    assert [e.id_token.value for e in only(bench.log, LocalAuthListChanged)[-1].entries] == [
        TAG, THIRD_TAG]


def test_local_auth_list_disabled_reports_version_minus_1_and_its_cards_are_unknown() -> None:
    bench = Bench(allow_offline_tx_for_unknown_id=False)
    send_list(bench, 4, entry(TAG))
    bench.record(bench.station.update_settings(local_auth_list_enabled=False))
    assert bench.station.local_list_version() == -1
    assert send_list(bench, 5, entry(OTHER_TAG)) is UpdateStatus.NOT_SUPPORTED
    bench.pilot("B")
    assert not offline_tap(bench, TAG).accepted


def test_the_stores_are_sized_as_the_station_was_built() -> None:
    station = Station(1, clock=ManualClock(NEW_YEAR), access_limits=AccessLimits(
        list_max_length=2, send_list_max_length=3, cache_max_entries=1))
    three = [entry(TAG), entry(OTHER_TAG), entry(THIRD_TAG)]
    assert station.send_local_list(local_list(1, *three)).status is UpdateStatus.FAILED, \
        "more than the list holds"
    assert station.send_local_list(local_list(1, *three, entry("04000004"))).status is \
        UpdateStatus.FAILED
    station.authorization_result(card(TAG), A.ACCEPTED)
    station.authorization_result(card(OTHER_TAG), A.ACCEPTED)
    assert station.access.authorization.cached(card(TAG)) is None, "the oldest verdict made room"


# --- LocalPreAuthorize ----------------------------------------------------------------------------


def test_local_pre_authorize_starts_a_listed_card_without_asking_the_csms() -> None:
    bench = Bench(local_pre_authorize=True)
    bench.record(bench.station.csms_connection_changed(True))
    send_list(bench, 1, entry(TAG))
    bench.pilot("B")
    effects = bench.tap(TAG)
    assert bench.questions() == []
    (started,) = only(effects, TransactionStarted)
    assert started.id_token == card(TAG)
    assert answered(bench).info == "authorised locally"


def test_local_pre_authorize_asks_the_csms_about_a_card_held_as_blocked() -> None:
    bench = Bench(local_pre_authorize=True)
    bench.record(bench.station.csms_connection_changed(True))
    send_list(bench, 1, entry(TAG, A.BLOCKED))
    assert bench.tap(TAG) == [AuthorizeRequest(card(TAG))], "the CSMS may have changed its mind"


def test_local_pre_authorize_does_not_apply_while_the_csms_is_unreachable() -> None:
    """Offline, LocalAuthorizeOffline decides; here it is false, so the listed card is refused."""
    bench = Bench(local_pre_authorize=True, local_authorize_offline=False)
    send_list(bench, 1, entry(TAG))
    bench.pilot("B")
    assert bench.tap(TAG) == [AuthorizeRequest(card(TAG))]
    bench.answer(TAG, None)
    assert bench.started() == []


# --- MaxEnergyOnInvalidId -------------------------------------------------------------------------


def test_a_refused_transaction_takes_max_energy_on_invalid_id_then_suspends() -> None:
    bench = Bench(stop_transaction_on_invalid_id=False, max_energy_on_invalid_id_wh=500.0)
    started = bench.start_charging(TAG)
    bench.deliver(200, seconds=120)
    bench.record(bench.station.transaction_accepted(started.transaction_ref, 7, A.INVALID))
    assert bench.offered_a() == 32.0 and bench.status() is S.CHARGING, "300 Wh left"

    bench.deliver(250, seconds=120)
    assert bench.offered_a() == 32.0
    bench.deliver(60, seconds=120)  # 510 Wh since the start: the allowance is used up
    assert bench.offered_a() == 0.0 and bench.status() is S.SUSPENDED_EVSE
    # Said as the status's info (1.6), and as 2.0.1's EnergyLimitReached.
    assert only(bench.log, StatusChanged)[-1].info == ENERGY_LIMIT_INFO
    bench.pilot("B")
    assert not bench.contactor_closed()
    assert bench.stopped() == [], "suspended, not stopped: the driver ends it"


def test_max_energy_on_invalid_id_already_used_up_suspends_at_the_answer() -> None:
    bench = Bench(stop_transaction_on_invalid_id=False, max_energy_on_invalid_id_wh=100.0)
    started = bench.start_charging(TAG)
    bench.deliver(150)
    bench.record(bench.station.transaction_accepted(started.transaction_ref, 7, A.BLOCKED))
    assert bench.offered_a() == 0.0 and bench.status() is S.SUSPENDED_EVSE


# --- reservations ---------------------------------------------------------------------------------


def test_reserve_now_shows_reserved_and_only_the_reserved_card_starts_there() -> None:
    bench = Bench()
    assert reserve(bench, reservation_id=42) is R.ACCEPTED
    assert bench.status() is S.RESERVED
    assert only(bench.log, ReservationsChanged)[-1].reservations[0].reservation_id == 42

    bench.pilot("B")
    assert bench.status() is S.PREPARING
    bench.tap(OTHER_TAG)
    bench.answer(OTHER_TAG, A.ACCEPTED)
    verdict = answered(bench)
    assert not verdict.accepted and verdict.info == "connector reserved for another id tag"
    assert bench.started() == []

    bench.tap(TAG)
    (started,) = only(bench.answer(TAG, A.ACCEPTED), TransactionStarted)
    assert started.reservation_id == 42
    assert only(bench.log, ReservationsChanged)[-1].reservations == ()
    bench.pilot("C")
    assert bench.status() is S.CHARGING


def test_a_reservation_for_a_group_admits_any_card_of_that_group() -> None:
    bench = Bench()
    reserve(bench, reservation_id=5, id_tag=THIRD_TAG, parent=FLEET)
    bench.pilot("B")
    bench.tap(OTHER_TAG)
    (started,) = only(bench.answer(OTHER_TAG, AuthorizationResult(A.ACCEPTED, group=FLEET)),
                      TransactionStarted)
    assert started.reservation_id == 5


def test_a_pre_authorized_card_whose_group_is_unknown_is_shown_to_the_csms() -> None:
    """The cache knows the card but not its group, and the connector is reserved for a group:
    only the CSMS's answer can tell (OCPP 1.6 5.13)."""
    bench = Bench(local_pre_authorize=True)
    bench.record(bench.station.csms_connection_changed(True))
    bench.answer(OTHER_TAG, A.ACCEPTED)  # cached, without a parent id tag
    reserve(bench, id_tag=THIRD_TAG, parent=FLEET)
    bench.pilot("B")
    assert bench.tap(OTHER_TAG) == [AuthorizeRequest(card(OTHER_TAG))]
    started = only(bench.answer(OTHER_TAG, AuthorizationResult(A.ACCEPTED, group=FLEET)),
                   TransactionStarted)
    assert [s.reservation_id for s in started] == [1]


def test_a_reservation_lapses_at_its_expiry_date_and_the_connector_is_available_again() -> None:
    bench = Bench()
    reserve(bench, lasts=600)
    assert bench.station.next_deadline() == NEW_YEAR + 600
    bench.run_for(599)
    assert bench.status() is S.RESERVED
    bench.run_for(2)
    assert bench.status() is S.AVAILABLE
    assert only(bench.log, ReservationsChanged)[-1].reservations == ()
    bench.pilot("B")
    bench.tap(OTHER_TAG)
    assert len(only(bench.answer(OTHER_TAG), TransactionStarted)) == 1


def test_cancel_reservation_frees_the_connector_and_an_unknown_one_is_rejected() -> None:
    bench = Bench()
    reserve(bench, reservation_id=3)
    cancel = CancelReservationStatus
    assert bench.command(bench.station.cancel_reservation(3)).status is cancel.ACCEPTED
    assert bench.status() is S.AVAILABLE
    assert bench.command(bench.station.cancel_reservation(3)).status is cancel.REJECTED


@pytest.mark.parametrize(("prepare", "expected"), [
    (lambda b: b.start_charging(OTHER_TAG), R.OCCUPIED),
    (lambda b: b.fault(FaultKind.RCD), R.FAULTED),
    (lambda b: b.command(b.station.change_availability(1, operative=False)), R.UNAVAILABLE),
    (lambda b: b.command(b.station.reset(hard=False)), R.REJECTED),
], ids=["charging", "faulted", "unavailable", "resetting"])
def test_reserve_now_answers_why_a_connector_cannot_be_reserved(prepare, expected) -> None:
    bench = Bench()
    prepare(bench)
    assert reserve(bench) == expected


def test_a_reservation_ends_when_its_connector_faults() -> None:
    bench = Bench()
    reserve(bench)
    bench.fault(FaultKind.EMERGENCY_STOP)
    assert bench.status() is S.FAULTED
    assert only(bench.log, ReservationsChanged)[-1].reservations == ()
    bench.fault(FaultKind.EMERGENCY_STOP, active=False)
    assert bench.status() is S.AVAILABLE


def test_a_connector_0_reservation_holds_the_last_free_connector() -> None:
    bench = Bench(connectors=2)
    assert reserve(bench, reservation_id=9, connector=0) is R.ACCEPTED
    assert [bench.status(n) for n in (1, 2)] == [S.AVAILABLE, S.AVAILABLE], "two free, one held"

    bench.start_charging(OTHER_TAG, connector=1)
    assert bench.status(2) is S.RESERVED, "the one left is the one the reservation needs"
    bench.pilot("B", connector=2)
    bench.tap(THIRD_TAG)
    bench.answer(THIRD_TAG)
    assert answered(bench).info == "connector reserved for another id tag"
    assert len(bench.started()) == 1

    bench.tap(TAG)
    (started,) = only(bench.answer(TAG), TransactionStarted)
    assert (started.connector_id, started.reservation_id) == (2, 9)


def test_connector_0_reservations_are_rejected_when_not_supported() -> None:
    bench = Bench(reserve_connector_zero_supported=False)
    assert reserve(bench, connector=0) is R.REJECTED


def test_remote_start_respects_the_reservation_of_the_connector() -> None:
    bench = Bench(authorize_remote_tx_requests=False)
    reserve(bench, reservation_id=8)
    assert bench.command(bench.station.remote_start(card(OTHER_TAG), 1)).status is \
        RemoteStartStopStatus.REJECTED
    assert bench.command(bench.station.remote_start(card(TAG), 1)).status is \
        RemoteStartStopStatus.ACCEPTED
    bench.pilot("B")
    assert [s.reservation_id for s in bench.started()] == [8]


# --- after a restart ------------------------------------------------------------------------------


def test_the_list_the_cache_and_the_reservations_come_back_after_a_restart() -> None:
    before = Bench(connectors=2)
    send_list(before, 6, entry(TAG, group=FLEET))
    before.answer(OTHER_TAG, AuthorizationResult(A.BLOCKED))
    reserve(before, reservation_id=11, id_tag=THIRD_TAG, lasts=2 * HOUR)
    assert reserve(before, reservation_id=12, connector=0, id_tag=THIRD_TAG,
                   lasts=HOUR / 2) is R.ACCEPTED
    listed = only(before.log, LocalAuthListChanged)[-1]
    reservations = only(before.log, ReservationsChanged)[-1].reservations

    # Down for an hour: reservation 12 lapsed meanwhile.
    after = Bench(connectors=2, start_at=NEW_YEAR + HOUR)
    access = after.station.access
    access.restore_authorization(AuthorizationSnapshot(
        listed.list_version, listed.entries, before.station.access.cache_entries()))
    lapsed = access.restore_reservations(reservations)
    after.record(after.station.start())
    assert [r.reservation_id for r in lapsed] == [12]
    assert after.station.local_list_version() == 6
    assert access.authorization.cached(card(OTHER_TAG)) == AuthorizationResult(A.BLOCKED)
    assert [after.status(n) for n in (1, 2)] == [S.RESERVED, S.AVAILABLE]


# --- through the recorder and a real SQLite file --------------------------------------------------


class Recorded:
    """A Bench whose effects go to the store as the daemon sends them: each batch through
    ``TransactionRecorder.record`` and then ``settled``, in one store batch."""

    def __init__(self, path: str, start_at: float = NEW_YEAR, **settings: Any) -> None:
        self.store = Store(path).open()
        self.bench = Bench(start_at=start_at, **settings)
        self.recorder = TransactionRecorder(self.store, self.bench.station)

    def recover(self) -> None:
        self.save(self.bench.record(self.recorder.recover()))
        self.save(self.bench.record(self.bench.station.start()))

    def save(self, effects: list[Any]) -> None:
        with self.store.batch():
            for effect in effects:
                self.recorder.record(effect)
            self.recorder.settled()


def test_the_recorder_keeps_the_list_the_cache_and_the_reservations_across_a_restart(
        tmp_path) -> None:
    path = str(tmp_path / "pievse.sqlite3")
    first = Recorded(path)
    station = first.bench.station
    first.save(station.send_local_list(local_list(9, entry(TAG))).effects)
    first.save(station.authorization_result(card(OTHER_TAG), AuthorizationResult(A.BLOCKED)))
    first.save(station.reserve_now(
        Reservation(4, 1, card(THIRD_TAG), NEW_YEAR + 2 * HOUR)).effects)
    first.store.close()

    second = Recorded(path, start_at=NEW_YEAR + HOUR, allow_offline_tx_for_unknown_id=True)
    second.recover()
    bench = second.bench
    assert bench.station.local_list_version() == 9
    assert bench.status() is S.RESERVED
    since = len(bench.log)
    bench.pilot("B")
    verdict = offline_tap(bench, OTHER_TAG)
    assert not verdict.accepted and verdict.status is A.BLOCKED, "still blocked, from the cache"
    assert offline_tap(bench, THIRD_TAG).accepted
    assert [s.reservation_id for s in bench.started()] == [4]
    second.save(bench.log[since:])
    second.store.close()

    third = Recorded(path, start_at=NEW_YEAR + HOUR)
    third.recover()
    assert third.bench.status() is S.AVAILABLE, "the reservation was used up, and the store knows"


def test_a_clear_cache_reaches_the_store(tmp_path) -> None:
    path = str(tmp_path / "pievse.sqlite3")
    first = Recorded(path)
    first.save(first.bench.station.authorization_result(card(TAG), A.ACCEPTED))
    first.save(first.bench.station.clear_cache().effects)
    first.store.close()
    second = Recorded(path)
    second.recover()
    assert second.bench.station.access.authorization.cache_size == 0


def old_store(path: str, records: dict[str, Any]) -> None:
    """A store as pievse wrote it at schema 1, with ``records`` in its state table."""
    db = sqlite3.connect(path)
    MIGRATIONS[0](db)
    for name, value in records.items():
        db.execute("INSERT INTO state VALUES (?, ?)", (name, json.dumps(value)))
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()


def test_a_store_written_in_ocpp_16s_form_gives_back_the_same_list_cache_and_reservations(
        tmp_path) -> None:
    """Up to schema 1 the store kept these as OCPP 1.6's camelCase (AuthorizationData, the
    ReserveNow request); opening it migrates them to the core's form, whatever they held."""
    path = str(tmp_path / "pievse.sqlite3")
    old_store(path, {
        "local_auth_list": {"listVersion": 6, "localAuthorizationList": [
            {"idTag": TAG, "idTagInfo": {"status": "Accepted",
                                         "expiryDate": "2026-01-02T00:00:00Z",
                                         "parentIdTag": "FLEET7"}},
            {"idTag": "04B10C4D", "idTagInfo": {"status": "Blocked"}}]},
        "authorization_cache": [
            {"idTag": OTHER_TAG, "idTagInfo": {"status": "ConcurrentTx"}},
            {"idTag": "04CAC4E0", "idTagInfo": {"status": "Expired",
                                                "expiryDate": "2026-01-01T00:30:00.250Z"}}],
        "reservations": [{"reservationId": 4, "connectorId": 1, "idTag": THIRD_TAG,
                          "expiryDate": "2026-01-01T02:00:00Z", "parentIdTag": "FLEET7"}],
    })

    restored = Recorded(path, start_at=NEW_YEAR + HOUR)
    restored.recover()
    access = restored.bench.station.access
    assert access.authorization.snapshot() == AuthorizationSnapshot(
        6,
        (entry(TAG, expires_at=NEW_YEAR + 24 * HOUR, group=FLEET), entry("04B10C4D", A.BLOCKED)),
        (entry(OTHER_TAG, A.CONCURRENT_TX), entry("04CAC4E0", A.EXPIRED, NEW_YEAR + 1800.25)))
    assert access.reservations.all == [
        Reservation(4, 1, card(THIRD_TAG), NEW_YEAR + 2 * HOUR, FLEET)]
    assert restored.bench.status() is S.RESERVED
    stored = json.dumps([restored.store.state(name) for name in
                         ("local_auth_list", "authorization_cache", "reservations")])
    assert "idTag" not in stored and "reservationId" not in stored, "in the core's form now"
    restored.store.close()


def test_an_unreadable_record_of_ocpp_16s_form_is_dropped_and_the_others_migrate(
        tmp_path) -> None:
    path = str(tmp_path / "pievse.sqlite3")
    old_store(path, {
        "local_auth_list": {"listVersion": 2, "localAuthorizationList": [
            {"idTag": TAG, "idTagInfo": {"status": "Accepted"}}]},
        "reservations": [{"reservationId": 4, "connectorId": 1, "idTag": THIRD_TAG,
                          "expiryDate": "soon"}],
    })
    restored = Recorded(path)
    restored.recover()
    assert restored.bench.station.local_list_version() == 2
    assert restored.bench.station.access.reservations.all == []
    assert restored.store.state("reservations") is None
    restored.store.close()


def test_the_station_says_why_it_ended_a_reservation_itself() -> None:
    bench = Bench(connectors=2)
    reserve(bench, 1, connector=1)
    reserve(bench, 2, connector=2)
    bench.fault(FaultKind.RCD, connector=2)
    assert [(e.reservation.reservation_id, e.why) for e in only(bench.log, ReservationEnded)] \
        == [(2, ReservationEnd.REMOVED)]
    bench.run_for(2 * HOUR)
    assert [(e.reservation.reservation_id, e.why) for e in only(bench.log, ReservationEnded)] \
        == [(2, ReservationEnd.REMOVED), (1, ReservationEnd.EXPIRED)]
    bench.command(bench.station.cancel_reservation(1))
    assert len(only(bench.log, ReservationEnded)) == 2, "a cancellation is the CSMS's own"
