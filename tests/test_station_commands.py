"""The CSMS's commands of OCPP 1.6 Core as the station core carries them out: RemoteStart/Stop,
Reset, ChangeAvailability, the verdict in the StartTransaction answer, UnlockConnector.

Each command returns the core's answer together with its effects; the effects of a command that
stops a transaction follow the same careful order as any stop (PWM off, then contactor).
"""

from __future__ import annotations

import pytest

from pievse.drivers.contracts import FaultKind
from pievse.core.answers import (
    AvailabilityStatus,
    RemoteStartStopStatus,
    ResetStatus,
    UnlockStatus,
)
from pievse.core.authorization import AuthorizationStatus
from pievse.core.effects import (
    AuthorizeRequest,
    AvailabilityChanged,
    ResetNow,
    SetContactor,
    SetPilot,
    StatusChanged,
    TokenAnswered,
    TransactionStarted,
    TransactionStopped,
)
from pievse.core.vocabulary import ConnectorStatus, StopReason
from tests.test_station_rig import OTHER_TAG, TAG, Bench, card, kinds, only

S = ConnectorStatus
RS = RemoteStartStopStatus


# --- RemoteStartTransaction ----------------------------------------------------------------------


def test_remote_start_with_authorize_remote_tx_requests_true_asks_the_csms_first() -> None:
    bench = Bench(authorize_remote_tx_requests=True)
    bench.pilot("B")
    answer = bench.command(bench.station.remote_start(card(TAG), 1))
    assert answer.status is RS.ACCEPTED
    assert answer.effects == [AuthorizeRequest(card(TAG))]
    assert bench.started() == []

    started = only(bench.answer(TAG), TransactionStarted)
    assert [(s.connector_id, s.id_token) for s in started] == [(1, card(TAG))]


def test_remote_start_refused_by_the_authorisation_starts_nothing() -> None:
    bench = Bench(authorize_remote_tx_requests=True)
    bench.pilot("B")
    bench.command(bench.station.remote_start(card(TAG), 1))
    effects = bench.answer(TAG, AuthorizationStatus.INVALID)
    assert only(effects, TokenAnswered)[0].accepted is False
    assert bench.started() == [] and bench.offered_a() == 0.0


def test_remote_start_with_authorize_remote_tx_requests_false_starts_without_asking() -> None:
    bench = Bench(authorize_remote_tx_requests=False)
    answer = bench.command(bench.station.remote_start(card(TAG), 1))
    assert answer.status is RS.ACCEPTED
    assert bench.questions() == []
    assert bench.status() is S.PREPARING, "the remote id tag waits for the car"

    effects = bench.pilot("B")
    (started,) = only(effects, TransactionStarted)
    assert started.id_token == card(TAG) and started.connector_id == 1
    bench.pilot("C")
    assert bench.contactor_closed()


def test_remote_start_without_connector_id_picks_the_connector_with_the_car() -> None:
    bench = Bench(connectors=2, authorize_remote_tx_requests=False)
    bench.pilot("B", connector=2)
    bench.command(bench.station.remote_start(card(TAG)))
    assert [s.connector_id for s in bench.started()] == [2]


def test_remote_start_is_rejected_on_a_connector_that_cannot_take_a_session() -> None:
    bench = Bench(connectors=2, authorize_remote_tx_requests=False)
    bench.start_charging(TAG, connector=1)
    bench.fault(FaultKind.RCD, connector=2)
    assert bench.station.remote_start(card(OTHER_TAG), 1).status is RS.REJECTED, "busy"
    assert bench.station.remote_start(card(OTHER_TAG), 2).status is RS.REJECTED, "faulted"
    assert bench.station.remote_start(card(OTHER_TAG), 3).status is RS.REJECTED, \
        "no such connector"
    assert bench.station.remote_start(card(OTHER_TAG)).status is RS.REJECTED, "none free"
    assert len(bench.started()) == 1


# --- RemoteStopTransaction -----------------------------------------------------------------------


def test_remote_stop_transaction() -> None:
    bench = Bench()
    started = bench.start_charging(TAG)
    bench.record(
        bench.station.transaction_accepted(
            started.transaction_ref, 77, AuthorizationStatus.ACCEPTED
        )
    )
    assert bench.station.remote_stop(78).status is RS.REJECTED, "unknown transactionId"

    answer = bench.command(bench.station.remote_stop(77))
    assert answer.status is RS.ACCEPTED
    assert answer.effects[0] == SetPilot(1, 0.0)
    assert bench.contactor_closed(), "waiting for the car to leave state C"
    assert bench.station.remote_stop(77).status is RS.REJECTED, "already stopping"

    effects = bench.pilot("B")
    assert effects[0] == SetContactor(1, closed=False)
    (stopped,) = only(effects, TransactionStopped)
    assert stopped.reason is StopReason.REMOTE and stopped.transaction_id == 77
    assert stopped.id_token is None
    assert bench.station.remote_stop(77).status is RS.REJECTED, "already stopped"


# --- Reset ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hard", "reason"), [(False, StopReason.SOFT_RESET), (True, StopReason.HARD_RESET)]
)
def test_reset_stops_transactions_first_and_only_then_asks_to_restart(
    hard: bool, reason: StopReason
) -> None:
    bench = Bench()
    bench.start_charging(TAG)
    answer = bench.command(bench.station.reset(hard))
    assert answer.status is ResetStatus.ACCEPTED
    assert answer.effects[0] == SetPilot(1, 0.0)
    assert not only(answer.effects, ResetNow), "a transaction is still running"

    effects = bench.pilot("B")
    assert kinds(effects)[0] == "SetContactor"
    assert effects.index(only(effects, TransactionStopped)[0]) < effects.index(ResetNow(hard))
    assert [s.reason for s in bench.stopped()] == [reason]
    assert only(bench.log, ResetNow) == [ResetNow(hard)]


def test_reset_opens_the_contactor_after_the_grace_time_when_the_car_keeps_drawing() -> None:
    bench = Bench(stop_grace_s=3.0)
    bench.start_charging(TAG)
    bench.command(bench.station.reset(True))
    effects = bench.run_for(10)
    assert kinds(effects)[0] == "SetContactor"
    assert [s.reason for s in bench.stopped()] == [StopReason.HARD_RESET]
    assert only(bench.log, ResetNow) == [ResetNow(hard=True)]


def test_reset_without_a_transaction_restarts_at_once() -> None:
    bench = Bench()
    assert bench.command(bench.station.reset(False)).effects == [ResetNow(hard=False)]


def test_reset_waits_for_every_transaction() -> None:
    bench = Bench(connectors=2)
    bench.start_charging(TAG, connector=1)
    bench.start_charging(OTHER_TAG, connector=2)
    bench.command(bench.station.reset(False))
    bench.pilot("B", connector=1)
    assert only(bench.log, ResetNow) == []
    bench.pilot("B", connector=2)
    assert only(bench.log, ResetNow) == [ResetNow(hard=False)]
    assert {s.reason for s in bench.stopped()} == {StopReason.SOFT_RESET}


def test_daemon_shutdown_opens_every_contactor_at_once_and_ends_transactions_with_reboot() -> None:
    """The daemon is exiting (SIGTERM, a fatal error): no grace for the car, it will lose its
    controller; the sessions end with reason Reboot so the CSMS does not keep them open."""
    bench = Bench(connectors=2, stop_grace_s=30.0)
    bench.start_charging(TAG, connector=1)
    bench.start_charging(OTHER_TAG, connector=2)
    effects = bench.record(bench.station.shut_down())
    opened = only(effects, SetContactor)
    assert {(e.connector_id, e.closed) for e in opened} == {(1, False), (2, False)}
    for stop in only(effects, TransactionStopped):
        assert effects.index(stop) > effects.index(SetContactor(stop.connector_id, False))
    assert [s.reason for s in bench.stopped()] == [StopReason.REBOOT, StopReason.REBOOT]
    assert bench.station.transactions() == []
    # Nothing starts again while the daemon goes down.
    bench.tap(TAG)
    assert bench.station.remote_start(card(TAG), 1).status is RS.REJECTED
    assert len(bench.started()) == 2


def test_no_new_session_once_a_reset_is_under_way() -> None:
    bench = Bench(connectors=2)
    bench.start_charging(TAG, connector=1)
    bench.command(bench.station.reset(False))
    assert bench.station.remote_start(card(OTHER_TAG), 2).status is RS.REJECTED
    bench.pilot("B", connector=2)
    assert bench.tap(OTHER_TAG)[0].accepted is False
    assert AuthorizeRequest(card(OTHER_TAG)) not in bench.questions()
    assert len(bench.started()) == 1


def test_reset_cancels_an_authorisation_waiting_for_its_car() -> None:
    bench = Bench()
    bench.tap(TAG)
    bench.answer(TAG)
    bench.command(bench.station.reset(False))
    bench.pilot("B")
    assert bench.started() == []


def test_a_hold_for_a_firmware_update_keeps_the_running_session_and_shows_the_rest_unavailable(
        ) -> None:
    bench = Bench(connectors=2)
    bench.start_charging(TAG, connector=1)
    bench.record(bench.station.hold_for_update(True))
    assert bench.contactor_closed(1) and bench.status(1) is S.CHARGING, "the session goes on"
    assert bench.status(2) is S.UNAVAILABLE
    bench.pilot("B", connector=2)
    assert bench.tap(OTHER_TAG)[0].accepted is False
    assert bench.status(2) is S.UNAVAILABLE
    bench.pilot("A", connector=1)  # the session ends: its connector is held too
    assert bench.status(1) is S.UNAVAILABLE
    bench.record(bench.station.hold_for_update(False))  # the update gave up
    assert bench.status(1) is S.AVAILABLE and bench.status(2) is S.PREPARING
    assert all(c.operative for c in bench.station.connectors.values()), \
        "the CSMS's availability was never touched"


# --- ChangeAvailability --------------------------------------------------------------------------


def test_change_availability_inoperative_while_idle_is_accepted_at_once() -> None:
    bench = Bench()
    answer = bench.command(bench.station.change_availability(1, operative=False))
    assert answer.status is AvailabilityStatus.ACCEPTED
    assert bench.status() is S.UNAVAILABLE
    bench.pilot("B")
    assert bench.tap(TAG)[0].accepted is False, "no new session on an inoperative connector"
    assert bench.command(bench.station.change_availability(1, operative=True)).status is (
        AvailabilityStatus.ACCEPTED)
    assert bench.status() is S.PREPARING, "the car that waited is there"


def test_change_availability_inoperative_during_a_transaction_is_scheduled() -> None:
    bench = Bench()
    bench.start_charging(TAG)
    answer = bench.command(bench.station.change_availability(1, operative=False))
    assert answer.status is AvailabilityStatus.SCHEDULED
    assert answer.effects == [AvailabilityChanged(((0, True), (1, False)))], \
        "the running transaction is not touched; what is wanted is written down"
    assert bench.contactor_closed() and bench.status() is S.CHARGING

    bench.tap(TAG)
    bench.pilot("B")
    assert bench.status() is S.UNAVAILABLE, "applied when the transaction ended"
    bench.pilot("A")
    assert bench.statuses()[-3:] == [S.CHARGING, S.FINISHING, S.UNAVAILABLE]


def test_change_availability_operative_again_cancels_the_scheduled_change() -> None:
    bench = Bench()
    bench.start_charging(TAG)
    bench.command(bench.station.change_availability(1, operative=False))
    assert bench.command(bench.station.change_availability(1, operative=True)).status is (
        AvailabilityStatus.ACCEPTED)
    bench.tap(TAG)
    bench.pilot("B")
    bench.pilot("A")
    assert bench.status() is S.AVAILABLE


def test_connector_0_availability_applies_to_the_whole_charge_point() -> None:
    bench = Bench(connectors=2)
    bench.start_charging(TAG, connector=1)
    answer = bench.command(bench.station.change_availability(0, operative=False))
    assert answer.status is AvailabilityStatus.SCHEDULED, "connector 1 has a transaction"
    assert bench.status(2) is S.UNAVAILABLE, "the idle connector goes at once"
    assert bench.status(1) is S.CHARGING
    assert bench.status(0) is S.AVAILABLE, "the charge point is in use until the session ends"

    bench.tap(TAG)
    effects = bench.pilot("B")
    reported = [(e.connector_id, e.status) for e in only(effects, StatusChanged)]
    assert (0, S.UNAVAILABLE) in reported and (1, S.UNAVAILABLE) in reported

    answer = bench.command(bench.station.change_availability(0, operative=True))
    assert answer.status is AvailabilityStatus.ACCEPTED
    assert [bench.status(n) for n in (0, 1, 2)] == [S.AVAILABLE, S.FINISHING, S.AVAILABLE]


# --- the StartTransaction answer -----------------------------------------------------------------


def test_start_transaction_answered_invalid_stops_with_deauthorized() -> None:
    """StopTransactionOnInvalidId true: the transaction ends, reason DeAuthorized."""
    bench = Bench(stop_transaction_on_invalid_id=True)
    started = bench.start_charging(TAG)
    effects = bench.record(
        bench.station.transaction_accepted(
            started.transaction_ref, 12, AuthorizationStatus.INVALID
        )
    )
    assert effects[0] == SetPilot(1, 0.0)
    bench.pilot("B")
    (stopped,) = bench.stopped()
    assert stopped.reason is StopReason.DE_AUTHORIZED and stopped.transaction_id == 12


def test_start_transaction_answered_invalid_keeps_the_transaction_but_offers_no_energy() -> None:
    """StopTransactionOnInvalidId false: the transaction goes on (it still has to be stopped and
    accounted for) but the car gets nothing: SuspendedEVSE."""
    bench = Bench(stop_transaction_on_invalid_id=False, stop_grace_s=3.0)
    started = bench.start_charging(TAG)
    effects = bench.record(
        bench.station.transaction_accepted(
            started.transaction_ref, 12, AuthorizationStatus.BLOCKED
        )
    )
    assert effects[0] == SetPilot(1, 0.0)
    assert bench.status() is S.SUSPENDED_EVSE
    bench.run_for(5)
    assert not bench.contactor_closed(), "opened after the grace time although the car stays in C"
    assert bench.stopped() == []

    bench.pilot("B")
    bench.pilot("C")
    assert not bench.contactor_closed() and bench.offered_a() == 0.0
    assert bench.status() is S.SUSPENDED_EVSE

    bench.pilot("B")
    bench.pilot("A")
    (stopped,) = bench.stopped()
    assert stopped.reason is StopReason.EV_DISCONNECTED and stopped.transaction_id == 12


def test_start_transaction_answered_accepted_only_records_the_transaction_id() -> None:
    bench = Bench()
    started = bench.start_charging(TAG)
    effects = bench.station.transaction_accepted(
        started.transaction_ref, 99, AuthorizationStatus.ACCEPTED
    )
    assert effects == []
    assert bench.station.connector(1).transaction.transaction_id == 99


# --- UnlockConnector -----------------------------------------------------------------------------


def test_unlock_connector_is_not_supported_without_a_cable_lock_and_the_session_goes_on() -> None:
    """A fixed cable has nothing to unlock (``has_lock`` false), and NotSupported is OCPP 1.6's
    answer for a charge point without a lock. The command touches nothing: the session charges
    on."""
    bench = Bench()
    bench.start_charging(TAG)
    answer = bench.station.unlock_connector(1)
    assert answer.status is UnlockStatus.NOT_SUPPORTED and answer.effects == []
    assert bench.contactor_closed() and bench.stopped() == []


def test_commands_for_a_connector_the_station_lacks_change_nothing() -> None:
    bench = Bench()
    assert bench.command(bench.station.change_availability(2, operative=False)).status is (
        AvailabilityStatus.REJECTED)
    assert bench.station.unlock_connector(2).status is UnlockStatus.UNKNOWN_CONNECTOR
    assert bench.status() is S.AVAILABLE and bench.status(0) is S.AVAILABLE


def test_change_availability_says_what_is_wanted_once_the_transactions_end() -> None:
    bench = Bench(connectors=2)
    bench.start_charging(connector=1)
    answer = bench.command(bench.station.change_availability(0, False))
    assert answer.status is AvailabilityStatus.SCHEDULED
    [changed] = only(answer.effects, AvailabilityChanged)
    assert changed.operative == ((0, False), (1, False), (2, False))


def test_restored_availability_holds_and_waits_for_a_resumed_transaction() -> None:
    bench = Bench(connectors=2)
    bench.start_charging(connector=2)
    bench.record(bench.station.restore_availability({0: True, 1: False, 2: False}))
    assert bench.status(1) is ConnectorStatus.UNAVAILABLE
    assert bench.status(2) is ConnectorStatus.CHARGING, "in a transaction: Scheduled"
    bench.command(bench.station.stop_session(2, StopReason.REMOTE))
    bench.pilot("B", connector=2)
    bench.run_for(5)
    assert bench.status(2) is ConnectorStatus.UNAVAILABLE
