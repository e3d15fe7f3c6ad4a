"""OCPP 1.6 Core sessions played against the station core: starting and stopping transactions,
the connector statuses the CSMS sees on the way, and the meter values a transaction reports.

The station is pure, so each test drives it by hand on a ``Bench`` (tests/test_station_rig.py):
the car's pilot state, the cards, the CSMS's answers, the meter and the clock.
"""

from __future__ import annotations

import pytest

from pievse.core.authorization import AuthorizationStatus
from pievse.core.effects import (
    AuthorizeRequest,
    MeterSample,
    SetContactor,
    SetPilot,
    StatusChanged,
    TokenAnswered,
    TransactionStarted,
    TransactionStopped,
)
from pievse.core.vocabulary import (
    ConnectorStatus,
    ErrorCode,
    ReadingContext,
    StopReason,
)
from tests.test_station_rig import NEW_YEAR, OTHER_TAG, TAG, Bench, card, kinds, only

S = ConnectorStatus


def test_boot_reports_connector_0_and_every_connector_available() -> None:
    bench = Bench(connectors=2)
    assert [(e.connector_id, e.status) for e in only(bench.log, StatusChanged)] == [
        (0, S.AVAILABLE),
        (1, S.AVAILABLE),
        (2, S.AVAILABLE),
    ]
    assert not only(bench.log, SetContactor), "nothing to switch at boot: the contactor is open"


# --- starting a transaction ----------------------------------------------------------------------


def test_start_transaction_plug_in_first_then_present_a_card() -> None:
    bench = Bench()

    assert kinds(bench.pilot("B")) == ["StatusChanged"]
    assert bench.status() is S.PREPARING

    assert bench.tap(TAG) == [AuthorizeRequest(card(TAG))]
    assert bench.started() == [], "no transaction before the CSMS accepted the id tag"

    effects = bench.answer(TAG, AuthorizationStatus.ACCEPTED)
    assert kinds(effects) == [
        "TokenAnswered",
        "TransactionStarted",
        "MeterSample",
        "SetPilot",
        "StatusChanged",
    ]
    answered, started, begin, offer, status = effects
    assert isinstance(answered, TokenAnswered) and answered.accepted and answered.connector_id == 1
    assert started == TransactionStarted(
        transaction_ref=1, connector_id=1, id_token=card(TAG), meter_start_wh=1000.0,
        timestamp=NEW_YEAR,
    )
    assert isinstance(begin, MeterSample)
    assert begin.context is ReadingContext.TRANSACTION_BEGIN and begin.transaction_ref == 1
    assert offer == SetPilot(1, 32.0)
    # The car is in B: energy is offered but not asked for yet.
    assert isinstance(status, StatusChanged) and status.status is S.SUSPENDED_EV

    assert bench.pilot("C") == [
        SetContactor(1, closed=True),
        StatusChanged(1, S.CHARGING, ErrorCode.NO_ERROR, None, NEW_YEAR),
    ]
    assert bench.statuses() == [S.AVAILABLE, S.PREPARING, S.SUSPENDED_EV, S.CHARGING]


def test_start_transaction_present_a_card_first_then_plug_in() -> None:
    bench = Bench()
    bench.tap(TAG)
    effects = bench.answer(TAG)
    assert kinds(effects) == ["TokenAnswered", "StatusChanged"]
    assert bench.status() is S.PREPARING, "an accepted card waiting for its car is Preparing"
    assert bench.started() == []

    bench.clock.advance(20)
    effects = bench.pilot("B")
    assert kinds(effects) == ["TransactionStarted", "MeterSample", "SetPilot", "StatusChanged"]
    started = only(effects, TransactionStarted)[0]
    assert started.id_token == card(TAG) and started.timestamp == NEW_YEAR + 20

    bench.pilot("C")
    assert bench.contactor_closed()
    assert bench.statuses() == [S.AVAILABLE, S.PREPARING, S.SUSPENDED_EV, S.CHARGING]


def test_connection_timeout_cancels_an_authorisation_when_no_car_arrives() -> None:
    bench = Bench(connection_timeout_s=30.0)
    bench.tap(TAG)
    bench.answer(TAG)
    assert bench.station.next_deadline() == NEW_YEAR + 30, "the daemon must wake at the timeout"

    bench.clock.advance(29.5)
    bench.tick()
    assert bench.status() is S.PREPARING

    bench.run_for(1.0)
    assert bench.status() is S.AVAILABLE
    assert bench.station.next_deadline() is None

    # The car that comes after the timeout needs a card again.
    bench.pilot("B")
    assert bench.started() == []
    assert bench.status() is S.PREPARING
    assert bench.statuses() == [S.AVAILABLE, S.PREPARING, S.AVAILABLE, S.PREPARING]


def test_connection_timeout_does_not_cancel_once_the_car_is_plugged_in() -> None:
    bench = Bench(connection_timeout_s=30.0)
    bench.tap(TAG)
    bench.answer(TAG)
    bench.clock.advance(29)
    bench.pilot("B")
    bench.run_for(3600)
    assert len(bench.started()) == 1 and bench.stopped() == []
    assert bench.station.connector(1).transaction is not None


def test_a_rejected_card_starts_nothing_and_says_why() -> None:
    bench = Bench()
    bench.pilot("B")
    bench.tap(TAG)
    effects = bench.answer(TAG, AuthorizationStatus.BLOCKED)
    assert effects == [
        TokenAnswered(card(TAG), False, AuthorizationStatus.BLOCKED, None, "id tag Blocked")
    ]
    assert bench.started() == [] and bench.offered_a() == 0.0
    assert bench.status() is S.PREPARING


def test_a_second_tap_while_the_csms_decides_asks_only_once() -> None:
    bench = Bench()
    bench.tap(TAG)
    assert bench.tap(TAG) == []
    assert bench.questions() == [AuthorizeRequest(card(TAG))]


def test_presenting_the_accepted_card_again_before_plugging_in_cancels_it() -> None:
    bench = Bench()
    bench.tap(TAG)
    bench.answer(TAG)
    effects = bench.tap(TAG)
    assert only(effects, TokenAnswered)[0].info == "authorisation cancelled"
    assert bench.status() is S.AVAILABLE
    bench.pilot("B")
    assert bench.started() == []


@pytest.mark.parametrize("offline_allowed", [True, False])
def test_unknown_id_tag_while_offline_follows_allow_offline_tx_for_unknown_id(
    offline_allowed: bool,
) -> None:
    bench = Bench(allow_offline_tx_for_unknown_id=offline_allowed)
    bench.pilot("B")
    bench.tap(TAG)
    bench.answer(TAG, None)  # the CSMS could not be asked
    assert len(bench.started()) == (1 if offline_allowed else 0)


def test_a_second_card_goes_to_the_connector_where_a_car_waits() -> None:
    bench = Bench(connectors=2)
    bench.start_charging(TAG, connector=1)
    bench.pilot("B", connector=2)
    assert bench.tap(OTHER_TAG) == [AuthorizeRequest(card(OTHER_TAG))]
    started = only(bench.answer(OTHER_TAG), TransactionStarted)
    assert [(s.connector_id, s.id_token, s.transaction_ref) for s in started] == [
        (2, card(OTHER_TAG), 2)]


# --- stopping a transaction ----------------------------------------------------------------------


def test_the_same_id_tag_stops_its_own_transaction_without_asking_the_csms() -> None:
    bench = Bench()
    bench.start_charging(TAG)
    effects = bench.tap(TAG)
    assert AuthorizeRequest(card(TAG)) not in effects
    assert kinds(effects) == ["SetPilot", "StatusChanged", "TokenAnswered"]
    assert effects[0] == SetPilot(1, 0.0), "the PWM stops first, so the car stops drawing"
    assert bench.contactor_closed(), "the contactor does not break the load; the car goes to B"
    assert bench.status() is S.FINISHING

    effects = bench.pilot("B")
    assert effects[0] == SetContactor(1, closed=False)
    (stopped,) = only(effects, TransactionStopped)
    assert stopped.reason is StopReason.LOCAL and stopped.id_token == card(TAG)
    assert bench.status() is S.FINISHING, "the cable is still plugged in"

    bench.pilot("A")
    assert bench.statuses() == [
        S.AVAILABLE,
        S.PREPARING,
        S.SUSPENDED_EV,
        S.CHARGING,
        S.FINISHING,
        S.AVAILABLE,
    ]


def test_another_id_tag_does_not_stop_the_transaction() -> None:
    bench = Bench()
    bench.start_charging(TAG)
    effects = bench.tap(OTHER_TAG)
    assert effects == [
        TokenAnswered(card(OTHER_TAG), False, None, None,
                      "no connector free for a new session")
    ]
    assert bench.stopped() == []
    assert bench.contactor_closed() and bench.offered_a() == 32.0
    assert bench.status() is S.CHARGING


def test_stop_transaction_on_ev_side_disconnect() -> None:
    """StopTransactionOnEVSideDisconnect true: unplugging the car ends the transaction."""
    bench = Bench()
    started = bench.start_charging(TAG)
    bench.deliver(5000, seconds=30 * 60)

    effects = bench.pilot("B")
    assert effects[0] == SetContactor(1, closed=False)
    assert bench.stopped() == [], "the car only paused: the transaction goes on"

    effects = bench.pilot("A")
    (stopped,) = only(effects, TransactionStopped)
    assert stopped.transaction_ref == started.transaction_ref
    assert stopped.reason is StopReason.EV_DISCONNECTED and stopped.id_token is None
    assert stopped.meter_stop_wh == 6000.0
    assert bench.statuses()[-3:] == [S.CHARGING, S.SUSPENDED_EV, S.AVAILABLE]
    assert bench.offered_a() == 0.0 and not bench.contactor_closed()


def test_without_stop_transaction_on_ev_side_disconnect_the_transaction_waits_for_the_car() -> None:
    bench = Bench(stop_transaction_on_ev_side_disconnect=False)
    bench.start_charging(TAG)
    effects = bench.pilot("A")
    assert effects[0] == SetContactor(1, closed=False)
    assert bench.stopped() == []
    assert bench.offered_a() == 0.0, "nothing is offered to an empty socket"
    assert bench.status() is S.SUSPENDED_EV

    bench.pilot("B")
    assert bench.offered_a() == 32.0
    bench.pilot("C")
    assert bench.contactor_closed() and bench.status() is S.CHARGING

    bench.tap(TAG)
    bench.pilot("B")
    assert [s.reason for s in bench.stopped()] == [StopReason.LOCAL]


def test_a_new_session_can_start_while_the_previous_car_is_still_finishing() -> None:
    bench = Bench()
    bench.start_charging(TAG)
    bench.tap(TAG)
    bench.pilot("B")
    assert bench.status() is S.FINISHING
    bench.tap(OTHER_TAG)
    bench.answer(OTHER_TAG)
    assert [s.id_token for s in bench.started()] == [card(TAG), card(OTHER_TAG)]
    assert [s.transaction_ref for s in bench.started()] == [1, 2]


# --- meter values --------------------------------------------------------------------------------


def test_energy_accounting_meter_stop_minus_meter_start_is_the_energy_delivered() -> None:
    bench = Bench(meter_wh=123_456.0)
    bench.deliver(44.0)  # before the session: not this transaction's energy
    started = bench.start_charging(TAG)
    assert started.meter_start_wh == 123_500.0
    for _ in range(10):
        bench.clock.advance(60)
        bench.deliver(123.5)
    assert bench.station.connector(1).transaction.energy_wh == pytest.approx(1235.0)
    bench.tap(TAG)
    bench.pilot("B")
    bench.deliver(7.0)  # after the stop: not this transaction's energy either
    (stopped,) = bench.stopped()
    assert stopped.meter_stop_wh - started.meter_start_wh == pytest.approx(1235.0)


def test_meter_energy_never_goes_backwards() -> None:
    """A glitching meter (a bad Modbus read, a meter swap) must not make the transaction lose
    energy: the register keeps its highest value."""
    bench = Bench()
    started = bench.start_charging(TAG)
    bench.deliver(500.0, seconds=5 * 60)
    bench.energy_wh[1] = 900.0  # the meter reports less than at the start
    bench.deliver(0.0)
    assert bench.station.connector(1).transaction.energy_wh == 500.0
    effects = bench.record(bench.station.sample_now(1))
    assert only(effects, MeterSample)[0].reading.energy_import_wh == 1500.0
    bench.tap(TAG)
    bench.pilot("B")
    (stopped,) = bench.stopped()
    assert stopped.meter_stop_wh == 1500.0 >= started.meter_start_wh
    registers = [s.reading.energy_import_wh for s in bench.samples()]
    assert registers == sorted(registers)


def test_meter_value_sample_interval_gives_periodic_samples_through_a_ten_hour_session() -> None:
    bench = Bench(meter_value_sample_interval_s=60.0)
    started = bench.start_charging(TAG)
    assert bench.station.next_deadline() == started.timestamp + 60

    for _ in range(600):  # ten hours of 7.4 kW, read every minute
        bench.clock.advance(60)
        bench.deliver(7400 / 60)
        bench.tick()

    periodic = [s for s in bench.samples() if s.context is ReadingContext.SAMPLE_PERIODIC]
    assert len(periodic) == 600
    assert [s.timestamp - started.timestamp for s in periodic] == [60.0 * n for n in range(1, 601)]
    assert all(s.transaction_ref == started.transaction_ref for s in periodic)
    assert all(s.offered_current_a == 32.0 for s in periodic)
    assert bench.station.connector(1).transaction.energy_wh == pytest.approx(74_000.0)

    bench.tap(TAG)
    bench.pilot("B")
    (stopped,) = bench.stopped()
    assert stopped.timestamp == NEW_YEAR + 36_000
    assert stopped.meter_stop_wh - stopped.transaction_data[0].reading.energy_import_wh == (
        pytest.approx(74_000.0)
    )


def test_a_clock_jump_over_many_intervals_gives_one_sample_and_keeps_the_grid() -> None:
    """After a long stall (the Pi was busy, the daemon was suspended) the station reports once,
    not a burst of stale samples, and the next sample stays on the interval's grid."""
    bench = Bench(meter_value_sample_interval_s=60.0)
    started = bench.start_charging(TAG)
    bench.clock.advance(10 * 60 + 5)
    effects = bench.tick()
    assert [s.context for s in only(effects, MeterSample)] == [ReadingContext.SAMPLE_PERIODIC]
    assert bench.station.next_deadline() == started.timestamp + 11 * 60


def test_no_periodic_samples_when_meter_value_sample_interval_is_0() -> None:
    bench = Bench(meter_value_sample_interval_s=0.0)
    bench.start_charging(TAG)
    assert bench.station.next_deadline() is None
    bench.run_for(3600)
    assert [s.context for s in bench.samples()] == [ReadingContext.TRANSACTION_BEGIN]


def test_clock_aligned_data_interval_samples_on_the_quarter_hour() -> None:
    start = NEW_YEAR + 7 * 60 + 13  # 00:07:13 UTC
    bench = Bench(
        start_at=start, clock_aligned_data_interval_s=900.0, meter_value_sample_interval_s=0.0
    )
    assert bench.station.next_deadline() == NEW_YEAR + 900, "the first one falls on 00:15:00"

    bench.run_for(20 * 60)  # idle until 00:27:13
    bench.start_charging(TAG)
    bench.run_for(60 * 60)  # charging until 01:27:13

    aligned = [s for s in bench.samples() if s.context is ReadingContext.SAMPLE_CLOCK]
    assert [s.timestamp - NEW_YEAR for s in aligned] == [900.0, 1800.0, 2700.0, 3600.0, 4500.0]
    assert [s.transaction_ref for s in aligned] == [None, 1, 1, 1, 1]
    tx = bench.station.connector(1).transaction
    assert [s.context for s in tx.samples] == [
        ReadingContext.TRANSACTION_BEGIN,
        *[ReadingContext.SAMPLE_CLOCK] * 4,
    ]


def test_a_clock_aligned_sample_taken_late_carries_the_aligned_instant() -> None:
    """A daemon woken late (a busy Pi) still reports the 00:15:00 value as 00:15:00: the
    CSMS bills quarter-hours from these timestamps."""
    bench = Bench(start_at=NEW_YEAR + 100, clock_aligned_data_interval_s=900.0,
                  meter_value_sample_interval_s=0.0)
    bench.clock.set(NEW_YEAR + 900 + 4.5)
    aligned = [s for s in only(bench.tick(), MeterSample)]
    assert [(s.context, s.timestamp) for s in aligned] == [
        (ReadingContext.SAMPLE_CLOCK, NEW_YEAR + 900)]
    assert bench.station.next_deadline() == NEW_YEAR + 1800


def test_clock_aligned_data_interval_set_by_the_csms_takes_effect_at_once() -> None:
    bench = Bench(start_at=NEW_YEAR + 100, meter_value_sample_interval_s=0.0)
    assert bench.station.next_deadline() is None
    bench.record(bench.station.update_settings(clock_aligned_data_interval_s=900.0))
    assert bench.station.next_deadline() == NEW_YEAR + 900
    bench.record(bench.station.update_settings(clock_aligned_data_interval_s=0.0))
    assert bench.station.next_deadline() is None


def test_transaction_data_keeps_begin_and_end_and_the_latest_samples() -> None:
    bench = Bench(meter_value_sample_interval_s=60.0, max_transaction_samples=5)
    started = bench.start_charging(TAG)
    for _ in range(20):
        bench.deliver(100.0)
        bench.run_for(60)
    bench.tap(TAG)
    bench.pilot("B")
    (stopped,) = bench.stopped()
    data = stopped.transaction_data
    assert [s.context for s in data] == [
        ReadingContext.TRANSACTION_BEGIN,
        ReadingContext.SAMPLE_PERIODIC,
        ReadingContext.SAMPLE_PERIODIC,
        ReadingContext.SAMPLE_PERIODIC,
        ReadingContext.TRANSACTION_END,
    ]
    assert [s.timestamp - started.timestamp for s in data] == [0.0, 1080.0, 1140.0, 1200.0, 1200.0]
    assert data[0].reading.energy_import_wh == stopped.meter_stop_wh - 2000.0
    assert data[-1].reading.energy_import_wh == stopped.meter_stop_wh
    assert all(s.transaction_ref == started.transaction_ref for s in data)


def test_triggered_meter_values_report_every_connector() -> None:
    bench = Bench(connectors=2)
    bench.start_charging(TAG, connector=2)
    effects = bench.record(bench.station.sample_now())
    assert [(s.connector_id, s.context, s.transaction_ref) for s in only(effects, MeterSample)] == [
        (1, ReadingContext.TRIGGER, None),
        (2, ReadingContext.TRIGGER, 1),
    ]
