"""Where a transaction begins and ends (2.0.1's TxStartPoint and TxStopPoint), decided by the
station core: a transaction begun with the cable plugged in and authorised later, one begun at
the authorisation that EVConnectionTimeOut ends, one begun when the car takes energy, one that
ends when the car stops taking it, and one whose authorisation ends before the cable does. The
default (PowerPathClosed at both ends) is 1.6's, and test_station_session.py holds it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pievse.core.authorization import AuthorizationStatus
from pievse.core.effects import (
    EVConnectionChanged,
    SetContactor,
    TransactionAuthorized,
    TransactionDeauthorized,
    TransactionStarted,
    TransactionStopped,
)
from pievse.core.tx_points import StartCause, TxPoint, TxPoints
from pievse.core.vocabulary import ConnectorStatus, StopReason
from tests.test_station_rig import TAG, Bench, card, only

EV, AUTH, PPC, ENERGY = (TxPoint.EV_CONNECTED, TxPoint.AUTHORIZED, TxPoint.POWER_PATH_CLOSED,
                         TxPoint.ENERGY_TRANSFER)


def bench(start: set[TxPoint], stop: set[TxPoint] | None = None, **settings: object) -> Bench:
    return Bench(tx_start_points=frozenset(start), tx_stop_points=frozenset(stop or {PPC}),
                 **settings)


def test_ev_connected_begins_the_transaction_at_the_plug_and_the_card_authorises_it() -> None:
    b = bench({EV})
    [started] = only(b.pilot("B"), TransactionStarted)
    assert started.id_token is None and started.cause is StartCause.CABLE_PLUGGED_IN
    assert b.status() is ConnectorStatus.PREPARING
    b.pilot("C")
    assert not b.contactor_closed(), "no energy before anyone is authorised"
    b.tap()
    [authorized] = only(b.answer(), TransactionAuthorized)
    assert authorized.id_token == card(TAG)
    assert authorized.transaction_ref == started.transaction_ref
    assert b.contactor_closed() and len(b.started()) == 1
    b.tap()  # the same card ends it
    b.run_for(5)
    assert b.stopped()[-1].reason is StopReason.LOCAL


def test_ev_connected_does_not_begin_again_with_the_car_of_the_transaction_that_ended() -> None:
    b = bench({EV})
    b.pilot("B")
    b.tap()
    b.answer()
    b.tap()
    assert len(b.stopped()) == 1
    b.run_for(5)
    assert len(b.started()) == 1, "the car must leave before plugging in starts another"
    b.pilot("A")
    b.pilot("B")
    assert len(b.started()) == 2


def test_authorized_begins_before_the_car_and_ev_connection_timeout_ends_it() -> None:
    b = bench({AUTH}, connection_timeout_s=30.0)
    b.tap()
    [started] = only(b.answer(), TransactionStarted)
    assert started.cause is StartCause.AUTHORIZED and not started.ev_connected
    b.run_for(29)
    assert not b.stopped()
    b.run_for(2)
    [stopped] = b.stopped()
    assert stopped.reason is StopReason.TIMEOUT


def test_authorized_then_the_car_comes_in_time_and_charges() -> None:
    b = bench({AUTH}, connection_timeout_s=30.0)
    b.tap()
    b.answer()
    b.run_for(10)
    b.pilot("C")
    assert b.contactor_closed()
    b.run_for(60)
    assert not b.stopped()


def test_power_path_closed_says_which_came_last() -> None:
    b = bench({PPC})
    b.tap()
    b.answer()
    [started] = only(b.pilot("B"), TransactionStarted)
    assert started.cause is StartCause.CABLE_PLUGGED_IN
    b2 = bench({PPC})
    b2.pilot("B")
    b2.tap()
    [started] = only(b2.answer(), TransactionStarted)
    assert started.cause is StartCause.AUTHORIZED


def test_energy_transfer_begins_when_the_car_asks_for_power() -> None:
    b = bench({ENERGY})
    b.pilot("B")
    b.tap()
    b.answer()
    assert not b.started()
    [started] = only(b.pilot("C"), TransactionStarted)
    assert started.cause is StartCause.ENERGY_TRANSFER
    assert b.contactor_closed()


def test_energy_transfer_stop_point_ends_when_the_car_stops_taking_energy() -> None:
    b = bench({PPC}, {ENERGY})
    b.start_charging()
    b.pilot("B")
    b.run_for(1)
    [stopped] = b.stopped()
    assert stopped.reason is StopReason.STOPPED_BY_EV
    assert not b.contactor_closed()


def test_ev_connected_stop_point_keeps_the_transaction_until_the_cable_leaves() -> None:
    b = bench({PPC}, {EV})
    b.start_charging()
    effects = b.tap()  # the driver ends the authorisation
    [ended] = only(effects, TransactionDeauthorized)
    assert ended.reason is StopReason.LOCAL and ended.id_token == card(TAG)
    b.run_for(5)
    assert not b.contactor_closed() and not b.stopped()
    assert b.status() is ConnectorStatus.FINISHING
    b.pilot("A")
    [stopped] = b.stopped()
    assert stopped.reason is StopReason.EV_DISCONNECTED


def test_ev_connected_stop_point_ends_on_unplug_whatever_stop_tx_on_ev_side_disconnect() -> None:
    b = bench({PPC}, {EV}, stop_transaction_on_ev_side_disconnect=False)
    b.start_charging()
    b.pilot("A")
    assert b.stopped()[-1].reason is StopReason.EV_DISCONNECTED
    b2 = bench({PPC}, {AUTH}, stop_transaction_on_ev_side_disconnect=False)
    b2.start_charging()
    b2.pilot("A")
    assert not b2.stopped(), "Authorized alone: the transaction waits for the car (E10)"


def test_the_car_leaving_and_coming_back_to_a_transaction_that_waits_for_it_is_told() -> None:
    b = bench({PPC}, {AUTH}, stop_transaction_on_ev_side_disconnect=False)
    started = b.start_charging()
    b.pilot("A")
    b.pilot("C")
    assert [(e.transaction_ref, e.connected) for e in only(b.log, EVConnectionChanged)] == [
        (started.transaction_ref, False), (started.transaction_ref, True)]
    b2 = bench({PPC})  # 1.6's points: unplugging ends the transaction, nothing more to tell
    b2.start_charging()
    b2.pilot("A")
    assert not only(b2.log, EVConnectionChanged)


def test_a_remote_start_joining_a_plugged_in_transaction_brings_its_tx_profile() -> None:
    from tests.test_station_smart_charging import TXP, profile

    b = bench({EV}, authorize_remote_tx_requests=False)
    b.pilot("C")
    answer = b.command(b.station.remote_start(card(TAG), 1, profile(5, TXP, [(0, 10.0)]), 77))
    assert answer.status.value == "accepted"
    [authorized] = only(b.log, TransactionAuthorized)
    assert authorized.remote_start_id == 77
    assert b.contactor_closed() and b.offered_a() == 10.0


def test_a_transaction_the_car_left_ends_after_ev_connection_timeout_unless_1_6s() -> None:
    """E10: TxStopPoint Authorized, StopTxOnEVSideDisconnect false: the car does not come
    back within EVConnectionTimeOut, the transaction ends (Timeout). With PowerPathClosed
    (1.6's) it waits for as long as it takes."""
    b = bench({PPC}, {AUTH}, stop_transaction_on_ev_side_disconnect=False,
              connection_timeout_s=30.0)
    b.start_charging()
    b.run_for(100)
    b.pilot("A")
    b.run_for(29)
    assert not b.stopped()
    b.pilot("B")
    b.pilot("A")  # back and gone again: the time counts from the last leaving
    b.run_for(29)
    assert not b.stopped()
    b.run_for(2)
    assert [s.reason for s in b.stopped()] == [StopReason.TIMEOUT]
    b16 = bench({PPC}, {PPC}, stop_transaction_on_ev_side_disconnect=False,
                connection_timeout_s=30.0)
    b16.start_charging()
    b16.pilot("A")
    b16.run_for(3600)
    assert not b16.stopped()


def test_a_refused_card_after_an_ev_connected_start_leaves_the_transaction_unauthorised() -> None:
    b = bench({EV})
    b.pilot("C")
    b.tap()
    b.answer(TAG, AuthorizationStatus.INVALID)
    assert not only(b.log, TransactionAuthorized) and not b.contactor_closed()


@settings(max_examples=150, deadline=None)
@given(start=st.sets(st.sampled_from(list(TxPoint)), min_size=1),
       stop=st.sets(st.sampled_from(list(TxPoint)), min_size=1),
       moves=st.lists(st.sampled_from(["A", "B", "C", "tap", "answer", "wait", "remote_stop"]),
                      max_size=25))
def test_any_points_and_any_moves_keep_the_safety_rules(start, stop, moves) -> None:
    """Whatever the points and whatever happens: energy only to an authorised transaction with
    the car asking, one transaction at a time, each begun once and ended at most once."""
    b = bench(start, stop, connection_timeout_s=20.0)
    for move in moves:
        before = len(b.log)
        if move in ("A", "B", "C"):
            b.pilot(move)
        elif move == "tap":
            b.tap()
        elif move == "answer":
            b.answer()
        elif move == "wait":
            b.run_for(7)
        elif b.station.connector(1).transaction is not None:
            b.command(b.station.stop_session(1, StopReason.REMOTE))
        connector = b.station.connector(1)
        tx = connector.transaction
        if any(e.closed for e in only(b.log[before:], SetContactor)):
            assert tx is not None and tx.id_token is not None and not tx.authorization_ended
            assert connector.pilot.value in ("C", "D")
        if b.contactor_closed():
            assert connector.pilot.value in ("C", "D")
    refs = [s.transaction_ref for s in b.started()]
    ended = [s.transaction_ref for s in only(b.log, TransactionStopped)]
    assert len(refs) == len(set(refs)) and len(ended) == len(set(ended))
    assert set(ended) <= set(refs)
    assert len(refs) - len(ended) <= 1
    assert TxPoints(frozenset(start), frozenset(stop)).start  # the points as given


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from([p.value for p in TxPoint] + ["ParkingBayOccupancy", "DataSigned",
                                                           "", " ", "evconnected"]),
             max_size=6).map(",".join)))
def test_tx_start_and_stop_point_values_are_taken_whole_or_refused(text) -> None:
    """TxStartPoint/TxStopPoint as SetVariables gives them: a MemberList of the points the
    station can do is taken and becomes a non-empty set of points; anything else is refused
    with why, and nothing is set."""
    from pievse.protocol.v201.blocks.transactions import TX_POINTS, _tx_points
    from pievse.protocol.v201.device_model import DataType, Variable, parse

    variable = Variable("TxCtrlr", "TxStartPoint", DataType.MEMBER_LIST, "PowerPathClosed",
                        values_list=TX_POINTS)
    try:
        value = parse(variable, text)
    except ValueError as error:
        assert str(error)
        assert any(item.strip() and item.strip() not in TX_POINTS for item in text.split(","))
        return
    points = _tx_points(value)
    assert points and points <= set(TxPoint)
    assert "ParkingBayOccupancy" not in value
