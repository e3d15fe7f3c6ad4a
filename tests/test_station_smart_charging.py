"""OCPP 1.6 Smart Charging at the station: accepted profiles become the current offered on the
pilot, on time, and a limit under 6 A pauses the car (SuspendedEVSE) without ending the
transaction (IEC 61851-1: PWM off, then the contactor opens)."""

from __future__ import annotations

from pievse.core.charging_profiles import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingProfileStatus,
    ChargingRateUnit,
    ChargingSchedule,
    ChargingSchedulePeriod,
    ClearChargingProfileStatus,
    CompositeScheduleStatus,
)
from pievse.core.answers import RemoteStartStopStatus
from pievse.core.effects import ChargingProfilesChanged
from pievse.core.vocabulary import ConnectorStatus as S
from pievse.drivers.contracts import MeterReading
from tests.test_station_rig import NEW_YEAR, TAG, Bench, card, only

HOUR = 3600
CPMAX = ChargingProfilePurpose.CHARGE_POINT_MAX_PROFILE
TXD = ChargingProfilePurpose.TX_DEFAULT_PROFILE
TXP = ChargingProfilePurpose.TX_PROFILE
ACCEPTED, REJECTED = ChargingProfileStatus.ACCEPTED, ChargingProfileStatus.REJECTED


def profile(profile_id: int, purpose: ChargingProfilePurpose,
            periods: list[tuple[int, float]], *, stack_level: int = 0,
            unit: ChargingRateUnit = ChargingRateUnit.AMPS,
            kind: ChargingProfileKind = ChargingProfileKind.ABSOLUTE,
            start: float | None = NEW_YEAR, number_phases: int | None = None) -> ChargingProfile:
    schedule = ChargingSchedule(
        unit, tuple(ChargingSchedulePeriod(at, float(limit), number_phases)
                    for at, limit in periods),
        start_schedule=start if kind is not ChargingProfileKind.RELATIVE else None)
    return ChargingProfile(profile_id, stack_level, purpose, kind, schedule)


def install(bench: Bench, connector: int, prof: ChargingProfile) -> ChargingProfileStatus:
    return bench.command(bench.station.set_charging_profile(connector, prof)).status


def test_a_tx_default_profile_moves_the_pilot_at_each_period_boundary_without_polling():
    bench = Bench()
    bench.start_charging()
    assert bench.offered_a() == 32.0
    assert install(bench, 0, profile(1, TXD, [(0, 10), (HOUR, 16)])) is ACCEPTED
    assert bench.offered_a() == 10.0
    # The station's next deadline is the period boundary itself: the daemon sleeps until then.
    assert bench.station.next_deadline() <= NEW_YEAR + HOUR
    bench.run_for(HOUR - 1)
    assert bench.offered_a() == 10.0
    bench.run_for(1)
    assert bench.offered_a() == 16.0


def test_a_limit_under_6_a_pauses_the_car_and_a_higher_one_resumes_the_same_transaction():
    bench = Bench()
    started = bench.start_charging()
    install(bench, 1, profile(1, TXP, [(0, 0), (HOUR, 16)]))
    assert bench.offered_a() == 0.0, "PWM off: steady +12 V"
    assert bench.status() is S.SUSPENDED_EVSE
    bench.pilot("B")  # the car stops drawing and leaves C
    assert not bench.contactor_closed()
    bench.run_for(HOUR)
    assert bench.offered_a() == 16.0
    bench.pilot("C")
    assert bench.contactor_closed() and bench.status() is S.CHARGING
    assert bench.stopped() == [] and bench.started() == [started]


def test_charge_point_max_caps_a_higher_tx_default():
    bench = Bench()
    install(bench, 0, profile(1, CPMAX, [(0, 16)]))
    install(bench, 0, profile(2, TXD, [(0, 20)]))
    bench.start_charging()
    assert bench.offered_a() == 16.0
    assert "ChargePointMaxProfile" in bench.station.charging.reasons[1]


def test_a_tx_profile_needs_a_transaction_and_ends_with_it():
    bench = Bench()
    assert install(bench, 1, profile(1, TXP, [(0, 8)])) is REJECTED
    bench.start_charging()
    assert install(bench, 1, profile(1, TXP, [(0, 8)])) is ACCEPTED
    assert bench.offered_a() == 8.0
    bench.pilot("A")
    assert bench.stopped()
    assert bench.station.charging.profiles.installed == ()


def test_remote_start_with_a_charging_profile_charges_at_its_limit_from_the_start():
    bench = Bench(authorize_remote_tx_requests=False)
    tx_profile = profile(5, TXP, [(0, 11)], kind=ChargingProfileKind.RELATIVE, start=None)
    assert bench.command(bench.station.remote_start(card(TAG), 1, tx_profile)).status is (
        RemoteStartStopStatus.ACCEPTED)
    bench.pilot("B")
    bench.pilot("C")
    assert bench.offered_a() == 11.0
    not_tx = profile(6, TXD, [(0, 11)])
    assert bench.command(bench.station.remote_start(card(TAG), 1, not_tx)).status is (
        RemoteStartStopStatus.REJECTED)


def test_a_profile_in_watts_uses_the_phases_the_car_draws_on():
    bench = Bench()
    bench.start_charging()
    # A one-phase car: only L1 carries current.
    bench.record(bench.station.meter_reading(1, MeterReading(
        1000.0, bench.clock.now(), 3680.0, (16.0, 0.0, 0.0), (230.0, 230.0, 230.0))))
    install(bench, 1, profile(1, TXP, [(0, 2300)], unit=ChargingRateUnit.WATTS))
    assert bench.offered_a() == 10.0  # 2300 W / 230 V on one phase
    install(bench, 1, profile(1, TXP, [(0, 6900)], unit=ChargingRateUnit.WATTS, number_phases=3))
    assert bench.offered_a() == 10.0  # the period says three phases


def test_profiles_that_outlive_a_restart_are_handed_out_and_installed_again():
    bench = Bench()
    bench.start_charging()
    install(bench, 0, profile(1, CPMAX, [(0, 20)]))
    install(bench, 1, profile(2, TXP, [(0, 8)]))
    [*_, saved] = only(bench.log, ChargingProfilesChanged)
    assert [p.profile.charging_profile_id for p in saved.profiles] == [1], \
        "TxProfiles die with their transaction and are not saved"

    restarted = Bench()
    restarted.record(restarted.station.restore_charging_profiles(list(saved.profiles)))
    restarted.start_charging()
    assert restarted.offered_a() == 20.0


def test_clear_charging_profile_lifts_the_limit_at_once():
    bench = Bench()
    bench.start_charging()
    install(bench, 0, profile(1, TXD, [(0, 10)]))
    assert bench.command(bench.station.clear_charging_profile(profile_id=1)).status is \
        ClearChargingProfileStatus.ACCEPTED
    assert bench.offered_a() == 32.0
    assert bench.command(bench.station.clear_charging_profile(profile_id=1)).status is \
        ClearChargingProfileStatus.UNKNOWN


def test_the_composite_schedule_agrees_with_the_current_offered():
    bench = Bench()
    bench.start_charging()
    install(bench, 0, profile(1, TXD, [(0, 10), (HOUR, 16)]))
    composite = bench.station.composite_schedule(1, 2 * HOUR, ChargingRateUnit.AMPS)
    periods = composite.schedule.periods
    assert composite.status is CompositeScheduleStatus.ACCEPTED
    assert [(p.start_period, p.limit) for p in periods] == [(0, 10.0), (HOUR, 16.0)]
