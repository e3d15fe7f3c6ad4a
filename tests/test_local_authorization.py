"""Local authorization of OCPP 1.6 (section 3.5): the Local Authorization List the CSMS keeps in
the charge point (SendLocalList, GetLocalListVersion), the Authorization Cache the charge point
fills from the CSMS's answers (ClearCache), and the decisions taken from them offline and with
LocalPreAuthorize. Time is passed in, so a card's validity runs out by moving a number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from pievse.core.authorization import (
    AuthorizationEntry,
    AuthorizationResult,
    AuthorizationSnapshot,
    AuthorizationStatus,
    ClearCacheStatus,
    IdToken,
    IdTokenType,
    LocalAuthorization,
    LocalListUpdate,
    UpdateStatus,
    UpdateType,
)
from pievse.persistence.access_codec import (
    UnreadableRecord,
    decode_entries,
    decode_local_list,
    encode_entries,
    encode_local_list,
)

A = AuthorizationStatus
R = AuthorizationResult
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DAY = 86_400.0


def card(value: str) -> IdToken:
    return IdToken(value, IdTokenType.ISO14443)


ALICE, BOB, CAROL, VISITOR = (card(v) for v in ("04A1B2C3", "04B0B0B0", "04CA201E", "04EEEEEE"))
FLEET7 = IdToken("FLEET7", IdTokenType.CENTRAL)


@dataclass(frozen=True)
class Rules:
    """The three configuration keys the decisions read, as StationSettings carries them."""

    local_authorize_offline: bool = True
    local_pre_authorize: bool = False
    allow_offline_tx_for_unknown_id: bool = False


def entry(id_token: IdToken, status: A = A.ACCEPTED, expires_at: float | None = None,
          group: IdToken | None = None) -> AuthorizationEntry:
    return AuthorizationEntry(id_token, R(status, expires_at, group))


def update(kind: UpdateType, version: int,
           *changes: AuthorizationEntry | IdToken) -> LocalListUpdate:
    """An update of entries to add and id tokens to remove, in any order."""
    return LocalListUpdate(version, kind,
                           tuple(c for c in changes if isinstance(c, AuthorizationEntry)),
                           tuple(c for c in changes if isinstance(c, IdToken)))


def full(auth: LocalAuthorization, version: int,
         *changes: AuthorizationEntry | IdToken) -> UpdateStatus:
    return auth.send_local_list(update(UpdateType.FULL, version, *changes))[0]


def differential(auth: LocalAuthorization, version: int,
                 *changes: AuthorizationEntry | IdToken) -> UpdateStatus:
    return auth.send_local_list(update(UpdateType.DIFFERENTIAL, version, *changes))[0]


# --- the authorization result --------------------------------------------------------------------


def test_a_valid_card_past_its_expiry_date_reads_expired() -> None:
    info = R(A.ACCEPTED, expires_at=NOW + DAY)
    assert info.at(NOW).status is A.ACCEPTED
    assert info.at(NOW + DAY).status is A.EXPIRED
    assert R(A.BLOCKED, NOW).at(NOW + DAY).status is A.BLOCKED, "a refusal stays itself"


def test_token_types_are_read_as_token_readers_name_them() -> None:
    assert IdTokenType.named("ISO14443") is IdTokenType.ISO14443
    assert IdTokenType.named("KeyCode") is IdTokenType.KEY_CODE
    assert IdTokenType.named("eMAID") is IdTokenType.EMAID
    assert IdTokenType.named("NoAuthorization") is IdTokenType.NO_AUTHORIZATION
    with pytest.raises(ValueError):
        IdTokenType.named("Barcode")


# --- SendLocalList / GetLocalListVersion ---------------------------------------------------------


def test_a_new_charge_point_reports_list_version_0_for_its_empty_list() -> None:
    assert LocalAuthorization().list_version == 0


def test_send_local_list_full_replaces_the_list_and_sets_its_version() -> None:
    auth = LocalAuthorization()
    assert full(auth, 3, entry(ALICE), entry(BOB, A.BLOCKED)) is UpdateStatus.ACCEPTED
    assert auth.list_version == 3
    assert full(auth, 4, entry(CAROL)) is UpdateStatus.ACCEPTED
    assert auth.list_version == 4 and auth.list_size == 1
    assert auth.lookup(ALICE, NOW) is None, "a Full update forgets what it does not name"
    assert auth.lookup(CAROL, NOW) == R(A.ACCEPTED)


def test_send_local_list_full_with_an_empty_list_clears_it_and_reports_version_0() -> None:
    auth = LocalAuthorization()
    full(auth, 5, entry(ALICE))
    assert full(auth, 6) is UpdateStatus.ACCEPTED
    assert auth.list_size == 0 and auth.list_version == 0


def test_send_local_list_full_may_go_back_to_a_lower_version() -> None:
    auth = LocalAuthorization()
    full(auth, 9, entry(ALICE))
    assert full(auth, 2, entry(BOB)) is UpdateStatus.ACCEPTED, "a Full list is the truth"
    assert auth.list_version == 2


def test_send_local_list_differential_adds_updates_and_removes() -> None:
    auth = LocalAuthorization()
    full(auth, 1, entry(ALICE), entry(BOB))
    status = differential(auth, 2, entry(CAROL), entry(BOB, A.BLOCKED), ALICE)
    assert status is UpdateStatus.ACCEPTED
    assert auth.list_version == 2
    assert auth.lookup(ALICE, NOW) is None
    assert auth.lookup(BOB, NOW).status is A.BLOCKED
    assert auth.lookup(CAROL, NOW).status is A.ACCEPTED


def test_send_local_list_differential_removing_an_unknown_id_is_no_error() -> None:
    auth = LocalAuthorization()
    full(auth, 1, entry(ALICE))
    assert differential(auth, 2, VISITOR) is UpdateStatus.ACCEPTED
    assert auth.list_size == 1


@pytest.mark.parametrize("version", [1, 2])
def test_send_local_list_differential_not_newer_than_the_list_is_a_version_mismatch(
        version: int) -> None:
    auth = LocalAuthorization()
    full(auth, 2, entry(ALICE))
    assert differential(auth, version, entry(BOB)) is UpdateStatus.VERSION_MISMATCH
    assert auth.list_version == 2 and auth.lookup(BOB, NOW) is None, "nothing applied"


def test_send_local_list_longer_than_send_local_list_max_length_fails() -> None:
    auth = LocalAuthorization(send_list_max_length=2)
    full(auth, 1, entry(ALICE))
    status = full(auth, 2, entry(BOB), entry(CAROL), entry(VISITOR))
    assert status is UpdateStatus.FAILED
    assert auth.list_version == 1 and auth.lookup(ALICE, NOW) is not None, "the old list stays"


def test_send_local_list_that_would_exceed_local_auth_list_max_length_fails() -> None:
    auth = LocalAuthorization(list_max_length=2)
    full(auth, 1, entry(ALICE), entry(BOB))
    assert differential(auth, 2, entry(CAROL)) is UpdateStatus.FAILED
    assert auth.list_size == 2 and auth.list_version == 1
    assert differential(auth, 2, ALICE, entry(CAROL)) is UpdateStatus.ACCEPTED, \
        "a removal in the same update makes room"


@pytest.mark.parametrize("changes", [
    [ALICE],                                     # a Full entry needs its result
    [entry(ALICE), entry(card("04a1b2c3"))],     # the same id twice (ids ignore case)
], ids=["a removal", "an id twice"])
def test_send_local_list_full_with_a_malformed_entry_fails_and_changes_nothing(
        changes: list[AuthorizationEntry | IdToken]) -> None:
    """(Entries 1.6 cannot carry, such as an unknown status or an idTag of 21 characters, are
    refused the same way by the 1.6 codec: see test_ocpp16_codec_authorization.py.)"""
    auth = LocalAuthorization()
    full(auth, 1, entry(BOB))
    assert full(auth, 2, *changes) is UpdateStatus.FAILED
    assert auth.list_version == 1 and auth.lookup(BOB, NOW) is not None


def test_send_local_list_with_entries_under_version_0_fails() -> None:
    auth = LocalAuthorization()
    assert full(auth, 0, entry(ALICE)) is UpdateStatus.FAILED, "0 means an empty list"
    assert full(auth, 0) is UpdateStatus.ACCEPTED


def test_local_auth_list_disabled_reports_version_minus_1_and_refuses_updates() -> None:
    auth = LocalAuthorization()
    full(auth, 4, entry(ALICE))
    auth.list_enabled = False
    assert auth.list_version == -1
    assert full(auth, 5, entry(BOB)) is UpdateStatus.NOT_SUPPORTED
    assert auth.lookup(ALICE, NOW) is None, "a disabled list is not consulted"
    auth.list_enabled = True
    assert auth.list_version == 4 and auth.lookup(ALICE, NOW) is not None


def test_id_tags_are_compared_without_regard_to_case() -> None:
    auth = LocalAuthorization()
    full(auth, 1, entry(card("04a1b2c3")))
    assert auth.lookup(card("04A1B2C3"), NOW) == R(A.ACCEPTED)


# --- the Authorization Cache ---------------------------------------------------------------------


def test_the_cache_keeps_every_answer_valid_or_not() -> None:
    auth = LocalAuthorization()
    auth.remember(ALICE, R(A.ACCEPTED), NOW)
    auth.remember(BOB, R(A.INVALID), NOW)
    assert auth.lookup(ALICE, NOW).status is A.ACCEPTED
    assert auth.lookup(BOB, NOW).status is A.INVALID
    auth.remember(ALICE, R(A.BLOCKED), NOW + 60)
    assert auth.lookup(ALICE, NOW + 60).status is A.BLOCKED, "a newer answer replaces the old"


def test_the_local_list_has_priority_and_its_ids_are_never_cached() -> None:
    auth = LocalAuthorization()
    auth.remember(ALICE, R(A.ACCEPTED), NOW)
    full(auth, 1, entry(ALICE, A.BLOCKED))
    assert auth.cached(ALICE) is None, "the list took the id over"
    auth.remember(ALICE, R(A.ACCEPTED), NOW)
    assert auth.cached(ALICE) is None
    assert auth.lookup(ALICE, NOW).status is A.BLOCKED


def test_a_cache_entry_whose_validity_ran_out_is_changed_to_expired() -> None:
    auth = LocalAuthorization()
    auth.remember(ALICE, R(A.ACCEPTED, expires_at=NOW + DAY), NOW)
    assert auth.lookup(ALICE, NOW + DAY - 1).status is A.ACCEPTED
    assert auth.lookup(ALICE, NOW + DAY).status is A.EXPIRED
    assert auth.cached(ALICE).status is A.EXPIRED, "changed in the cache itself"


def test_a_full_cache_drops_invalid_entries_first_then_the_least_recently_used() -> None:
    auth = LocalAuthorization(cache_max_entries=3)
    auth.remember(ALICE, R(A.ACCEPTED), NOW)
    auth.remember(BOB, R(A.ACCEPTED), NOW)
    auth.remember(CAROL, R(A.BLOCKED), NOW)
    auth.remember(VISITOR, R(A.ACCEPTED), NOW)
    assert auth.cached(CAROL) is None, "the invalid entry went first"
    assert [auth.cached(t) is not None for t in (ALICE, BOB, VISITOR)] == [True] * 3

    auth.lookup(ALICE, NOW)  # Alice charges again: Bob is now the least recently used
    auth.remember(card("04NEW001"), R(A.ACCEPTED), NOW)
    assert auth.cached(BOB) is None
    assert auth.cached(ALICE) is not None and auth.cache_size == 3


def test_a_full_cache_drops_entries_that_expired_before_valid_ones() -> None:
    auth = LocalAuthorization(cache_max_entries=2)
    auth.remember(ALICE, R(A.ACCEPTED), NOW)
    auth.remember(BOB, R(A.ACCEPTED, expires_at=NOW + 60), NOW)
    auth.remember(CAROL, R(A.ACCEPTED), NOW + 120)
    assert auth.cached(BOB) is None and auth.cached(ALICE) is not None


def test_clear_cache_empties_the_cache_but_not_the_local_list() -> None:
    auth = LocalAuthorization()
    full(auth, 1, entry(ALICE))
    auth.remember(BOB, R(A.ACCEPTED), NOW)
    assert auth.clear_cache() is ClearCacheStatus.ACCEPTED
    assert auth.lookup(BOB, NOW) is None
    assert auth.lookup(ALICE, NOW) is not None and auth.list_version == 1


def test_authorization_cache_disabled_learns_nothing_and_forgets_what_it_had() -> None:
    auth = LocalAuthorization()
    auth.remember(ALICE, R(A.ACCEPTED), NOW)
    auth.cache_enabled = False
    assert auth.cache_size == 0
    auth.remember(BOB, R(A.ACCEPTED), NOW)
    auth.cache_enabled = True
    assert auth.lookup(ALICE, NOW) is None and auth.lookup(BOB, NOW) is None


# --- offline -------------------------------------------------------------------------------------


def test_offline_start_with_a_card_the_cache_holds_as_accepted() -> None:
    auth = LocalAuthorization()
    auth.remember(ALICE, R(A.ACCEPTED, group=FLEET7), NOW)
    verdict = auth.decide_offline(ALICE, NOW + 3600, Rules())
    assert verdict == R(A.ACCEPTED, None, FLEET7), "the parent comes along"


def test_offline_start_with_a_card_on_the_local_list() -> None:
    auth = LocalAuthorization()
    full(auth, 1, entry(ALICE, expires_at=NOW + 151 * DAY))
    assert auth.decide_offline(ALICE, NOW, Rules()).status is A.ACCEPTED


@pytest.mark.parametrize("store", ["cache", "list"])
def test_an_expired_card_is_refused_offline(store: str) -> None:
    auth = LocalAuthorization()
    if store == "cache":
        auth.remember(ALICE, R(A.ACCEPTED, expires_at=NOW + DAY), NOW)
    else:
        full(auth, 1, entry(ALICE, expires_at=NOW + DAY))
    rules = Rules(allow_offline_tx_for_unknown_id=True)
    assert auth.decide_offline(ALICE, NOW + 2 * DAY, rules).status is A.EXPIRED, \
        "known and expired is not unknown: AllowOfflineTxForUnknownId does not let it in"


def test_a_card_blocked_on_the_local_list_is_refused_offline_even_if_unknown_ids_may_charge(
) -> None:
    auth = LocalAuthorization()
    full(auth, 1, entry(BOB, A.BLOCKED))
    verdict = auth.decide_offline(BOB, NOW, Rules(allow_offline_tx_for_unknown_id=True))
    assert verdict.status is A.BLOCKED


def test_an_unknown_card_offline_with_allow_offline_tx_for_unknown_id_true_starts() -> None:
    auth = LocalAuthorization()
    verdict = auth.decide_offline(VISITOR, NOW, Rules(allow_offline_tx_for_unknown_id=True))
    assert verdict == R(A.ACCEPTED)


def test_an_unknown_card_offline_with_allow_offline_tx_for_unknown_id_false_is_refused() -> None:
    auth = LocalAuthorization()
    assert auth.decide_offline(VISITOR, NOW, Rules(allow_offline_tx_for_unknown_id=False)) is None


def test_local_authorize_offline_false_does_not_start_a_cached_card_offline() -> None:
    auth = LocalAuthorization()
    auth.remember(ALICE, R(A.ACCEPTED), NOW)
    assert auth.decide_offline(ALICE, NOW, Rules(local_authorize_offline=False)) is None
    lenient = Rules(local_authorize_offline=False, allow_offline_tx_for_unknown_id=True)
    assert auth.decide_offline(ALICE, NOW, lenient).status is A.ACCEPTED


# --- LocalPreAuthorize ---------------------------------------------------------------------------


def test_local_pre_authorize_starts_a_listed_or_cached_accepted_card_without_asking() -> None:
    auth = LocalAuthorization()
    full(auth, 1, entry(ALICE))
    auth.remember(CAROL, R(A.ACCEPTED), NOW)
    rules = Rules(local_pre_authorize=True)
    assert auth.decide_pre_authorize(ALICE, NOW, rules) == R(A.ACCEPTED)
    assert auth.decide_pre_authorize(CAROL, NOW, rules) == R(A.ACCEPTED)


def test_local_pre_authorize_asks_the_csms_about_any_other_card() -> None:
    auth = LocalAuthorization()
    full(auth, 1, entry(BOB, A.BLOCKED), entry(CAROL, expires_at=NOW + 3600))
    rules = Rules(local_pre_authorize=True)
    assert auth.decide_pre_authorize(VISITOR, NOW, rules) is None, "unknown"
    assert auth.decide_pre_authorize(BOB, NOW, rules) is None, "blocked: the CSMS may say more"
    assert auth.decide_pre_authorize(CAROL, NOW + 7200, rules) is None, "expired"


def test_local_pre_authorize_false_always_asks_the_csms() -> None:
    auth = LocalAuthorization()
    full(auth, 1, entry(ALICE))
    assert auth.decide_pre_authorize(ALICE, NOW, Rules(local_pre_authorize=False)) is None


# --- persistence ---------------------------------------------------------------------------------


def test_list_version_and_cache_survive_a_restart_through_json() -> None:
    auth = LocalAuthorization(cache_max_entries=10)
    full(auth, 7, entry(ALICE, expires_at=NOW + 59 * DAY, group=FLEET7))
    auth.remember(BOB, R(A.ACCEPTED), NOW)
    auth.remember(CAROL, R(A.INVALID), NOW)

    again = LocalAuthorization(cache_max_entries=10)
    again.restore(through_json(auth.snapshot()))
    assert again.list_version == 7
    assert again.lookup(ALICE, NOW) == auth.lookup(ALICE, NOW)
    assert again.lookup(CAROL, NOW).status is A.INVALID
    assert again.snapshot() == auth.snapshot()


def test_restoring_a_malformed_snapshot_changes_nothing() -> None:
    auth = LocalAuthorization()
    full(auth, 2, entry(ALICE))
    broken = {"version": 3, "entries": [
        {"id_token": {"value": BOB.value, "type": "iso14443"}, "result": {}}]}
    with pytest.raises(UnreadableRecord):
        auth.restore(AuthorizationSnapshot(*decode_local_list(broken), ()))
    with pytest.raises(ValueError):
        auth.restore(AuthorizationSnapshot(-1, (entry(BOB),), ()))
    assert auth.list_version == 2 and auth.lookup(ALICE, NOW) is not None


def through_json(snapshot: AuthorizationSnapshot) -> AuthorizationSnapshot:
    """The snapshot as the store writes it and reads it back."""
    listed = json.loads(json.dumps(encode_local_list(snapshot.list_version,
                                                     snapshot.local_list)))
    cached = json.loads(json.dumps(encode_entries(snapshot.cache)))
    version, entries = decode_local_list(listed)
    return AuthorizationSnapshot(version, tuple(entries), tuple(decode_entries(cached)))
