"""Meter readings the station must not bill with: each finding of a faulty meter, one test.

The station judges every reading against what the connector can carry (the board's maximum
current on the phases wired, at the nominal voltage) and against the last energy it accepted. The
bench's connector: 32 A on three phases at 230 V, 22.08 kW.
"""

from __future__ import annotations

import math

import pytest

from pievse.core.fault_reports import IMPLAUSIBLE_METER_INFO, METER_FAILURE_INFO
from pievse.core.effects import MeterSample, StatusChanged
from pievse.core.hardware import MeterReading
from pievse.core.meter_plausibility import FAILURE_AFTER, REGISTER_MAX_WH
from pievse.core.vocabulary import ConnectorStatus, ErrorCode
from tests.test_station_rig import TAG, Bench, only

FLOAT32_MAX_KWH = 3.4028234663852886e38


def read(bench: Bench, energy_wh: float, connector: int = 1, **values) -> list:
    """The meter reports ``energy_wh`` (and any other ``values``) now."""
    return bench.record(bench.station.meter_reading(
        connector, MeterReading(energy_wh, bench.clock.now(), **values)))


def billed(bench: Bench) -> float:
    return bench.station.connector(1).transaction.energy_wh


def stop(bench: Bench):
    bench.tap(TAG)
    bench.pilot("B")
    (stopped,) = bench.stopped()
    return stopped


def test_a_reading_of_3_4e38_kwh_never_reaches_meter_stop_and_the_next_real_one_counts() -> None:
    bench = Bench()
    started = bench.start_charging(TAG)
    bench.clock.advance(60)
    read(bench, FLOAT32_MAX_KWH * 1000)
    assert bench.station.connector(1).energy_wh == 1000.0
    bench.clock.advance(60)
    read(bench, 1300.0)  # what the meter really counted: 300 Wh in two minutes
    assert billed(bench) == 300.0
    stopped = stop(bench)
    assert stopped.meter_stop_wh - started.meter_start_wh == 300.0
    assert all(s.reading.energy_import_wh <= 1300.0 for s in bench.samples())


def test_a_meter_that_reads_negative_energy_from_the_start_is_never_billed_negative() -> None:
    bench = Bench(meter_wh=-5000.0)
    connector = bench.station.connector(1)
    assert connector.last_reading is None, "a negative register is no reading"
    assert connector.meter_check.problem == "implausible reading: energy -5000.0 Wh is negative"
    started = bench.start_charging(TAG)
    assert started.meter_start_wh >= 0.0
    for _ in range(5):
        bench.clock.advance(60)
        bench.deliver(-100.0)
    stopped = stop(bench)
    assert stopped.meter_stop_wh >= started.meter_start_wh >= 0.0


@pytest.mark.parametrize("energy_wh", [math.inf, math.nan, -1.0, REGISTER_MAX_WH * 2])
def test_a_first_reading_must_be_a_finite_register_value_not_below_zero(energy_wh) -> None:
    bench = Bench(meter_wh=energy_wh)
    assert bench.station.connector(1).last_reading is None
    read(bench, 2000.0)
    assert bench.station.connector(1).energy_wh == 2000.0, "any plausible first reading counts"


def test_energy_beyond_what_the_connection_can_deliver_is_rejected_until_time_allows() -> None:
    bench = Bench()
    bench.start_charging(TAG)
    bench.clock.advance(60)
    read(bench, 1000.0 + 3000.0)  # 3 kWh in a minute: 180 kW on a 22 kW connection
    problem = bench.station.connector(1).meter_check.problem
    assert problem.startswith("implausible reading: energy rose 3000.0 Wh in 60 s, more than "
                              "22.08 kW can deliver")
    assert billed(bench) == 0.0
    bench.clock.advance(9 * 60)  # the same register ten minutes after the last accepted reading
    read(bench, 4000.0)
    assert billed(bench) == 3000.0
    assert bench.station.connector(1).meter_check.problem is None


def test_a_spike_is_rejected_without_poisoning_the_next_reading() -> None:
    bench = Bench()
    bench.start_charging(TAG)
    for energy in (1100.0, 900_000.0, 1300.0, 1400.0):  # a minute apart
        bench.clock.advance(60)
        read(bench, energy)
    # The spike of 900 kWh is rejected; 1300 Wh is compared with 1100 Wh, not with the spike.
    assert billed(bench) == 400.0
    registers = [s.reading.energy_import_wh for s in bench.samples()]
    assert registers == sorted(registers) and max(registers) <= 1400.0


def test_absurd_power_current_voltage_and_frequency_are_dropped_and_the_energy_kept() -> None:
    bench = Bench()
    bench.start_charging(TAG)
    bench.clock.advance(60)
    read(bench, 1200.0, power_w=7.4e9, current_a=(16.0, 1e6, 16.0), voltage_v=(230.0, -5.0, 231.0),
         frequency_hz=math.nan)
    reading = bench.station.connector(1).last_reading
    assert reading.energy_import_wh == 1200.0 and billed(bench) == 200.0
    assert (reading.power_w, reading.current_a, reading.voltage_v, reading.frequency_hz) == (
        None, (), (), None)
    problem = bench.station.connector(1).meter_check.problem
    for said in ("power 7.4e+09 W dropped", "current 1000000.0 A dropped",
                 "voltage -5.0 V dropped", "frequency nan Hz dropped"):
        assert said in problem
    bench.clock.advance(60)
    read(bench, 1300.0, power_w=11000.0, current_a=(16.0, 16.0, 16.0),
         voltage_v=(230.0, 231.0, 229.0), frequency_hz=50.0)
    reading = bench.station.connector(1).last_reading
    assert (reading.power_w, reading.current_a, reading.voltage_v, reading.frequency_hz) == (
        11000.0, (16.0, 16.0, 16.0), (230.0, 231.0, 229.0), 50.0)
    assert bench.station.connector(1).meter_check.problem is None
    effects = bench.record(bench.station.sample_now(1))
    assert only(effects, MeterSample)[0].reading == reading


def test_values_within_the_ratings_and_their_margin_are_kept() -> None:
    bench = Bench()
    read(bench, 1000.0, power_w=-3.0, current_a=(39.0, 0.0, 0.0), voltage_v=(253.0, 0.0, 0.0),
         frequency_hz=59.9)
    reading = bench.station.connector(1).last_reading
    assert (reading.power_w, reading.current_a, reading.voltage_v, reading.frequency_hz) == (
        -3.0, (39.0, 0.0, 0.0), (253.0, 0.0, 0.0), 59.9)


def test_a_single_spike_is_no_meter_failure() -> None:
    bench = Bench()
    bench.start_charging(TAG)
    bench.clock.advance(60)
    effects = read(bench, FLOAT32_MAX_KWH)
    assert only(effects, StatusChanged) == []
    assert bench.station.connector(1).compute_status()[1] is ErrorCode.NO_ERROR


def test_repeated_implausible_readings_are_a_power_meter_failure_with_the_status_unchanged(
        ) -> None:
    bench = Bench()
    bench.start_charging(TAG)
    changes = []
    for _ in range(FAILURE_AFTER):
        bench.clock.advance(60)
        changes += only(read(bench, FLOAT32_MAX_KWH), StatusChanged)
    [failed] = changes
    assert (failed.status, failed.error_code, failed.info) == (
        ConnectorStatus.CHARGING, ErrorCode.POWER_METER_FAILURE, IMPLAUSIBLE_METER_INFO)
    assert bench.contactor_closed(), "an implausible meter is no reason to cut the car off"
    bench.clock.advance(60)
    [back] = only(read(bench, 1100.0), StatusChanged)
    assert (back.status, back.error_code) == (ConnectorStatus.CHARGING, ErrorCode.NO_ERROR)
    assert billed(bench) == 100.0


def test_the_status_info_says_implausible_not_not_answering_and_fits_ocpp_16() -> None:
    assert IMPLAUSIBLE_METER_INFO.startswith("implausible meter readings")
    assert IMPLAUSIBLE_METER_INFO != METER_FAILURE_INFO
    assert len(IMPLAUSIBLE_METER_INFO) <= 50, "StatusNotification info is CiString50"


def test_a_meter_silent_and_implausible_says_not_answering_first() -> None:
    bench = Bench()
    for _ in range(FAILURE_AFTER):
        read(bench, -1.0)
    bench.record(bench.station.meter_failed(1, "no answer within 1 s"))
    assert bench.station.connector(1).compute_status()[2] == METER_FAILURE_INFO


def test_the_energy_allowed_follows_the_board_and_the_phases_wired() -> None:
    # Three phases at 32 A would allow 600 Wh in a minute; one phase at 16 A does not.
    three_phase, one_phase = Bench(), Bench(board_max_current_a={1: 16.0}, phases=1)
    for bench in (three_phase, one_phase):
        bench.clock.advance(60)
        read(bench, 1600.0)
    assert three_phase.station.connector(1).energy_wh == 1600.0
    assert one_phase.station.connector(1).energy_wh == 1000.0
    assert "more than 3.68 kW can deliver" in one_phase.station.connector(1).meter_check.problem
