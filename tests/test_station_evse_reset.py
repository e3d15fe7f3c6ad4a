"""A reset of one EVSE (OCPP 2.0.1 B11/B12): that EVSE's session ends, the others go on, and
the daemon does not restart."""

from __future__ import annotations

from pievse.core.answers import EvseResetStatus
from pievse.core.effects import ResetNow
from pievse.core.vocabulary import ConnectorStatus, StopReason
from tests.test_station_rig import OTHER_TAG, TAG, Bench, only


def test_immediate_evse_reset_ends_that_session_only_and_restarts_nothing() -> None:
    bench = Bench(connectors=2, stop_grace_s=3.0)
    bench.start_charging(TAG, connector=1)
    bench.start_charging(OTHER_TAG, connector=2)
    answer = bench.command(bench.station.reset_evse(1, immediate=True))
    assert answer.status is EvseResetStatus.ACCEPTED
    bench.run_for(10)  # the car keeps drawing: the contactor opens after the grace time
    assert [(s.connector_id, s.reason) for s in bench.stopped()] == [(1, StopReason.SOFT_RESET)]
    assert not bench.contactor_closed(1)
    assert bench.contactor_closed(2)
    assert bench.status(2) is ConnectorStatus.CHARGING
    # The car is still plugged in: the connector says so; unplugged, it is free again.
    assert bench.status(1) is ConnectorStatus.FINISHING
    bench.pilot("A", connector=1)
    assert bench.status(1) is ConnectorStatus.AVAILABLE
    assert only(bench.log, ResetNow) == []


def test_on_idle_evse_reset_waits_for_the_transaction_there_to_end() -> None:
    bench = Bench(connectors=2)
    bench.start_charging(TAG, connector=1)
    answer = bench.command(bench.station.reset_evse(1, immediate=False))
    assert answer.status is EvseResetStatus.SCHEDULED
    assert bench.contactor_closed(1) and bench.stopped() == []
    assert bench.station.evse_resets.waiting == {1}
    bench.pilot("A", connector=1)  # the driver unplugs: the transaction ends its own way
    assert [s.reason for s in bench.stopped()] == [StopReason.EV_DISCONNECTED]
    assert bench.station.evse_resets.waiting == set()
    assert only(bench.log, ResetNow) == []


def test_evse_reset_of_an_idle_evse_forgets_a_card_waiting_for_its_car() -> None:
    bench = Bench(connectors=2)
    bench.tap(TAG)
    bench.answer(TAG)
    assert bench.station.connector(1).pending is not None
    answer = bench.command(bench.station.reset_evse(1, immediate=False))
    assert answer.status is EvseResetStatus.ACCEPTED
    bench.pilot("B")
    assert bench.started() == []


def test_evse_reset_of_an_evse_the_station_lacks_is_rejected() -> None:
    bench = Bench(connectors=2)
    bench.start_charging(TAG, connector=1)
    for evse in (0, 3, -1):
        answer = bench.command(bench.station.reset_evse(evse, immediate=True))
        assert answer.status is EvseResetStatus.REJECTED
        assert answer.effects == []
    assert bench.contactor_closed(1)
