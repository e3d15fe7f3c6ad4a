"""The master pass (OCPP 2.0.1 C16, MasterPassGroupId): a card whose group is the master pass
group stops every running transaction and starts none."""

from __future__ import annotations

from pievse.core.authorization import AuthorizationResult, AuthorizationStatus
from pievse.core.effects import AuthorizeRequest, TokenAnswered
from pievse.core.tx_points import TxPoint
from pievse.core.vocabulary import StopReason
from tests.test_station_rig import OTHER_TAG, TAG, Bench, card, only

MASTER = "MASTER-CARD"
GROUP = "MASTERS"


def master_verdict(group: str = GROUP) -> AuthorizationResult:
    return AuthorizationResult(AuthorizationStatus.ACCEPTED, None, card(group))


def test_a_master_pass_stops_every_running_transaction() -> None:
    bench = Bench(connectors=2, master_pass_group_id=GROUP)
    bench.start_charging(TAG, connector=1)
    bench.start_charging(OTHER_TAG, connector=2)
    assert only(bench.tap(MASTER), AuthorizeRequest), "no connector free, yet the CSMS is asked"
    answered = only(bench.answer(MASTER, master_verdict()), TokenAnswered)
    assert [(a.accepted, a.info) for a in answered] == [(True, "master pass: sessions stopped")]
    bench.pilot("B", connector=1)
    bench.pilot("B", connector=2)
    stopped = bench.stopped()
    assert {(s.connector_id, s.reason) for s in stopped} == {
        (1, StopReason.MASTER_PASS), (2, StopReason.MASTER_PASS)}
    assert all(s.id_token == card(MASTER) for s in stopped)


def test_a_master_pass_at_an_idle_station_starts_nothing() -> None:
    bench = Bench(connectors=1, master_pass_group_id=GROUP)
    bench.pilot("B")
    bench.tap(MASTER)
    answered = only(bench.answer(MASTER, master_verdict()), TokenAnswered)
    assert [(a.accepted, a.info) for a in answered] == [(False, "a master pass starts no session")]
    bench.pilot("C")
    assert bench.started() == [] and not bench.contactor_closed()


def test_a_master_pass_held_locally_is_not_pre_authorised_to_start() -> None:
    bench = Bench(master_pass_group_id=GROUP, local_pre_authorize=True)
    bench.station.csms_online = True
    bench.tap(MASTER)
    bench.answer(MASTER, master_verdict())  # now in the cache, Accepted
    bench.pilot("B")
    effects = bench.tap(MASTER)
    assert only(effects, AuthorizeRequest) == []
    assert [a.accepted for a in only(effects, TokenAnswered)] == [False]
    assert bench.started() == []


def test_without_a_master_pass_group_the_same_card_is_an_ordinary_one() -> None:
    bench = Bench(connectors=2)
    bench.start_charging(TAG, connector=1)
    bench.pilot("B", connector=2)
    bench.tap(MASTER)
    bench.answer(MASTER, master_verdict())
    assert len(bench.started()) == 2 and bench.stopped() == []


def test_a_card_of_another_group_is_no_master_pass() -> None:
    bench = Bench(connectors=2, master_pass_group_id=GROUP)
    bench.start_charging(TAG, connector=1)
    bench.start_charging(MASTER, connector=2)  # tapped before any verdict named its group
    bench.tap("SOMEONE")
    bench.answer("SOMEONE", master_verdict("OTHERS"))
    assert bench.stopped() == []


def test_a_master_pass_ends_the_authorisation_where_the_cable_ends_the_transaction() -> None:
    bench = Bench(master_pass_group_id=GROUP,
                  tx_stop_points=frozenset({TxPoint.EV_CONNECTED}))
    bench.start_charging(TAG)
    bench.tap(MASTER)
    bench.answer(MASTER, master_verdict())
    bench.pilot("B")
    assert not bench.contactor_closed() and bench.stopped() == []
    bench.pilot("A")
    assert [s.reason for s in bench.stopped()] == [StopReason.EV_DISCONNECTED]
