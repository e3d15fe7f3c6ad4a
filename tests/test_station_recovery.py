"""The core's part of a restart after a power cut or a crash, and of a failed meter: given the
transactions the store hands back as still open (an ``InterruptedTransaction``), the core stops
them with reason PowerLoss and the last energy the store saw, or resumes one whose car is still
plugged in, and numbers its new transactions after the old ones; a silent meter is reported as
PowerMeterFailure.

Nothing here kills anything: these build the interrupted transaction by hand. The same claims
through a real process killed with SIGKILL are in test_nothing_lost.py (and test_chaos.py)."""

from __future__ import annotations

from pievse.drivers.contracts import FaultKind
from pievse.core.effects import StatusChanged, TransactionStarted, TransactionStopped
from pievse.core.transactions import InterruptedTransaction
from pievse.core.vocabulary import ConnectorStatus, ErrorCode, ReadingContext, StopReason
from tests.test_station_rig import NEW_YEAR, TAG, Bench, card, only

INTERRUPTED = InterruptedTransaction(
    ref=7,
    connector_id=1,
    id_token=card(TAG),
    meter_start_wh=1000.0,
    started_at=NEW_YEAR - 3600,
    transaction_id=4711,
    last_energy_wh=5400.0,
    last_energy_at=NEW_YEAR - 60,
)


def test_an_interrupted_transaction_stops_with_power_loss_and_its_last_stored_energy() -> None:
    bench = Bench()
    effects = bench.record(bench.station.end_interrupted(INTERRUPTED))
    [stop] = only(effects, TransactionStopped)
    assert (stop.transaction_ref, stop.transaction_id, stop.connector_id) == (7, 4711, 1)
    assert stop.reason is StopReason.POWER_LOSS
    assert stop.meter_stop_wh == 5400.0
    # The session ended when the station lost power, not when it came back.
    assert stop.timestamp == NEW_YEAR - 60
    assert [s.context for s in stop.transaction_data] == [ReadingContext.TRANSACTION_END]
    assert only(effects, TransactionStarted) == []


def test_a_transaction_interrupted_during_a_reset_is_stopped_with_reason_reboot() -> None:
    bench = Bench()
    effects = bench.station.end_interrupted(INTERRUPTED, StopReason.REBOOT)
    assert [s.reason for s in only(effects, TransactionStopped)] == [StopReason.REBOOT]


def test_an_interrupted_transaction_whose_start_was_never_answered_stops_without_an_id() -> None:
    """The outbox still holds its StartTransaction: the stop follows it and gets the id then."""
    bench = Bench()
    unanswered = InterruptedTransaction(7, 1, card(TAG), 1000.0, NEW_YEAR - 10, None, 1000.0,
                                        NEW_YEAR - 10)
    [stop] = only(bench.station.end_interrupted(unanswered), TransactionStopped)
    assert stop.transaction_id is None and stop.meter_stop_wh == 1000.0


def test_new_transactions_are_numbered_after_the_interrupted_ones() -> None:
    bench = Bench()
    bench.record(bench.station.end_interrupted(INTERRUPTED))
    started = bench.start_charging(TAG)
    assert started.transaction_ref == 8


# --- a meter that stops answering -------------------------------------------------------------


def test_a_meter_failure_while_charging_is_reported_as_power_meter_failure_not_faulted() -> None:

    bench = Bench()
    bench.start_charging(TAG)
    bench.deliver(500)
    [failed] = only(bench.record(bench.station.meter_failed(1, "no answer within 1 s")),
                    StatusChanged)
    assert (failed.status, failed.error_code) == (ConnectorStatus.CHARGING,
                                                  ErrorCode.POWER_METER_FAILURE)
    assert bench.contactor_closed(), "a silent meter is no reason to cut the car off"
    [back] = only(bench.record(bench.station.meter_failed(1, None)), StatusChanged)
    assert (back.status, back.error_code) == (ConnectorStatus.CHARGING, ErrorCode.NO_ERROR)


def test_a_fault_outranks_a_meter_failure_in_the_status() -> None:

    bench = Bench()
    bench.record(bench.station.meter_failed(1, "adapter unplugged"))
    bench.fault(FaultKind.RCD)
    assert bench.status() is ConnectorStatus.FAULTED
    assert bench.station.connector(1).compute_status()[1] is ErrorCode.GROUND_FAILURE


# --- resuming a session whose car is still plugged in (resume_interrupted_transactions) ------


def test_a_session_whose_car_is_still_plugged_in_goes_on_without_a_second_start() -> None:
    bench = Bench(resume_interrupted_transactions=True, meter_wh=5400.0)
    effects = bench.record(bench.station.hold_interrupted(INTERRUPTED))
    assert only(effects, TransactionStopped) == [], "nothing decided before the pilot is known"
    bench.pilot("C")  # the board's first word after the restart: the car asks for power
    assert bench.started() == [] and bench.stopped() == []
    tx = bench.station.connector(1).transaction
    assert (tx.ref, tx.transaction_id, tx.meter_start_wh) == (7, 4711, 1000.0)
    assert bench.contactor_closed() and bench.status() is ConnectorStatus.CHARGING
    bench.deliver(600, seconds=5 * 60)
    bench.pilot("A")
    [stop] = bench.stopped()
    assert (stop.transaction_id, stop.reason, stop.meter_stop_wh) == (
        4711, StopReason.EV_DISCONNECTED, 6000.0)


def test_a_car_gone_by_the_restart_ends_the_session_with_power_loss_even_with_resume_on() -> None:
    bench = Bench(resume_interrupted_transactions=True)
    bench.record(bench.station.hold_interrupted(INTERRUPTED))
    bench.pilot("A")
    [stop] = bench.stopped()
    assert stop.reason is StopReason.POWER_LOSS and stop.meter_stop_wh == 5400.0
    assert not bench.contactor_closed()


def test_a_board_that_never_tells_its_pilot_state_ends_the_session_after_a_while() -> None:
    bench = Bench(resume_interrupted_transactions=True)
    bench.record(bench.station.hold_interrupted(INTERRUPTED))
    bench.run_for(5)
    assert bench.stopped() == []
    bench.run_for(10)
    assert [s.reason for s in bench.stopped()] == [StopReason.POWER_LOSS]
