"""OCPP 1.6 Smart Charging (section 3.13): charging profiles installed, stacked, combined, cleared
and expired, and the current limit and composite schedule they give a connector.

The scenarios follow the worked examples of the specification's smart-charging chapter and the
OCTT test cases built on them: a short higher stack level falling back to a lower one, a daily
profile crossing midnight, a Relative TxProfile counted from the transaction start, a
ChargePointMaxProfile capping a TxDefaultProfile, and a TxProfile that takes over from the
TxDefaultProfile for one transaction and leaves with it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

import pytest

from pievse.core.charging_profiles import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingProfileStatus,
    ChargingRateUnit,
    ChargingSchedule,
    ChargingSchedulePeriod,
    ClearChargingProfileStatus,
    CompositeSchedule,
    CompositeScheduleStatus,
    InstalledProfile,
    RecurrencyKind,
)
from pievse.protocol.common.datetimes import format_datetime, parse_datetime
from pievse.core.smart_charging import (
    COMPOSITE_BOUNDARY_LIMIT,
    ChargingProfiles,
    SmartChargingLimits,
)
from pievse.persistence.profile_codec import decode_installed_profile, encode_installed_profile

MONDAY = parse_datetime("2026-01-05T00:00:00Z")
HOUR = 3600
DAY = 86_400
TXD = ChargingProfilePurpose.TX_DEFAULT_PROFILE
CPMAX = ChargingProfilePurpose.CHARGE_POINT_MAX_PROFILE
TXP = ChargingProfilePurpose.TX_PROFILE
ABSOLUTE = ChargingProfileKind.ABSOLUTE
RECURRING = ChargingProfileKind.RECURRING
RELATIVE = ChargingProfileKind.RELATIVE
DAILY = RecurrencyKind.DAILY
WEEKLY = RecurrencyKind.WEEKLY
A = ChargingRateUnit.AMPS
W = ChargingRateUnit.WATTS


def at(text: str) -> float:
    return parse_datetime(text)


def profile(
    profile_id: int,
    purpose: ChargingProfilePurpose,
    periods: list[tuple],
    *,
    stack: int = 0,
    kind: ChargingProfileKind = ABSOLUTE,
    unit: ChargingRateUnit = A,
    start: float | None = MONDAY,
    duration: int | None = None,
    recurrency: RecurrencyKind | None = None,
    valid_from: float | None = None,
    valid_to: float | None = None,
    transaction_id: int | None = None,
) -> ChargingProfile:
    """A profile as a CSMS sets it. ``periods``: (startPeriod, limit) or (startPeriod, limit,
    numberPhases)."""
    schedule = ChargingSchedule(
        unit,
        tuple(ChargingSchedulePeriod(p[0], float(p[1]), *p[2:]) for p in periods),
        duration=duration,
        start_schedule=start if kind is not RELATIVE else None,
    )
    return ChargingProfile(profile_id, stack, purpose, kind, schedule,
                           transaction_id=transaction_id, recurrency_kind=recurrency,
                           valid_from=valid_from, valid_to=valid_to)


def install(store: ChargingProfiles, connector_id: int, prof: ChargingProfile, now: float = MONDAY,
            transaction_id: int | None = None) -> None:
    result = store.install(connector_id, prof, now, transaction_id)
    assert result.accepted, result.reason


def amps(store: ChargingProfiles, t: float, connector_id: int = 1, **kw: Any) -> float | None:
    return store.limit_at(connector_id, t, **kw).amps


def periods_of(composite: CompositeSchedule) -> list[tuple]:
    assert composite.schedule is not None
    return [
        (p.start_period, p.limit, *([p.number_phases] if p.number_phases is not None else []))
        for p in composite.schedule.periods
    ]


def start_of(composite: CompositeSchedule) -> str:
    assert composite.schedule is not None and composite.schedule.start_schedule is not None
    return format_datetime(composite.schedule.start_schedule)


# --- the specification's worked examples ---------------------------------------------------------


def test_stacking_a_short_higher_stack_level_falls_back_to_the_lower_one_when_it_ends() -> None:
    """OCTT TC_072: stack level 0 runs 400 s (6 A, 8 A from 100 s, 10 A from 200 s); stack level 1
    runs 150 s (10 A, 12 A from 100 s). After 150 s the lower level shows through."""
    store = ChargingProfiles()
    install(store, 1, profile(1, TXD, [(0, 6), (100, 8), (200, 10)], stack=0, duration=400))
    install(store, 1, profile(2, TXD, [(0, 10), (100, 12)], stack=1, duration=150))

    assert store.limit_at(1, MONDAY + 50) == (10.0, "TxDefaultProfile #2 (stack level 1) limits "
                                                    "to 10 A", MONDAY + 100)
    assert store.limit_at(1, MONDAY + 120).next_change_at == MONDAY + 150
    fallback = store.limit_at(1, MONDAY + 150)
    assert fallback.amps == 8.0 and "#1 (stack level 0)" in fallback.reason
    assert fallback.next_change_at == MONDAY + 200
    assert amps(store, MONDAY + 399) == 10.0
    assert store.limit_at(1, MONDAY + 400) == (None, "no charging profile in effect", None)

    composite = store.composite_schedule(1, MONDAY, 400, A, no_limit_a=32.0)
    assert composite.status is CompositeScheduleStatus.ACCEPTED and composite.connector_id == 1
    assert start_of(composite) == "2026-01-05T00:00:00Z"
    assert composite.schedule.duration == 400
    assert periods_of(composite) == [(0, 10.0), (100, 12.0), (150, 8.0), (200, 10.0)]


def test_stacking_a_holiday_exception_overrides_the_weekly_default_only_while_it_is_valid() -> None:
    """The chapter's calendar example: a weekly TxDefaultProfile at stack level 0 and, for one
    day, a higher stack level bounded by validFrom and validTo."""
    store = ChargingProfiles()
    install(store, 0, profile(1, TXD, [(0, 32), (8 * HOUR, 16), (18 * HOUR, 32)],
                              kind=RECURRING, recurrency=DAILY))
    wednesday, thursday = MONDAY + 2 * DAY, MONDAY + 3 * DAY
    install(store, 0, profile(2, TXD, [(0, 10)], stack=1, start=wednesday,
                              valid_from=wednesday, valid_to=thursday))

    assert amps(store, MONDAY + DAY + 12 * HOUR) == 16.0, "Tuesday: the everyday profile"
    assert store.limit_at(1, MONDAY + DAY + 20 * HOUR).next_change_at == wednesday
    holiday = store.limit_at(1, wednesday + 12 * HOUR)
    assert holiday.amps == 10.0 and "#2 (stack level 1) on connector 0" in holiday.reason
    assert holiday.next_change_at == thursday, "validTo ends the exception"
    assert amps(store, thursday + 12 * HOUR) == 16.0


def test_a_daily_recurring_night_limit_crosses_midnight_and_wraps_every_day() -> None:
    store = ChargingProfiles()
    sunday_22h = at("2026-01-04T22:00:00Z")
    install(store, 1, profile(1, TXD, [(0, 10), (8 * HOUR, 32)], kind=RECURRING,
                              recurrency=DAILY, start=sunday_22h, duration=DAY))

    assert amps(store, at("2026-01-04T21:59:59Z")) is None, "before its first recurrence"
    assert amps(store, at("2026-01-04T23:00:00Z")) == 10.0
    after_midnight = store.limit_at(1, at("2026-01-05T01:00:00Z"))
    assert after_midnight.amps == 10.0
    assert after_midnight.next_change_at == at("2026-01-05T06:00:00Z")
    assert amps(store, at("2026-01-05T05:59:59Z")) == 10.0
    day = store.limit_at(1, at("2026-01-05T06:00:00Z"))
    assert day.amps == 32.0 and day.next_change_at == at("2026-01-05T22:00:00Z"), "the wrap"
    assert amps(store, at("2026-01-05T22:00:00Z")) == 10.0
    assert amps(store, at("2026-01-08T03:00:00Z")) == 10.0, "and so on, night after night"
    assert amps(store, at("2026-01-08T12:00:00Z")) == 32.0


def test_a_daily_profile_shorter_than_a_day_limits_only_its_hours() -> None:
    store = ChargingProfiles()
    install(store, 1, profile(1, TXD, [(0, 8)], kind=RECURRING, recurrency=DAILY,
                              start=at("2026-01-04T22:00:00Z"), duration=8 * HOUR))
    assert amps(store, at("2026-01-05T05:00:00Z")) == 8.0
    day = store.limit_at(1, at("2026-01-05T06:00:00Z"))
    assert day.amps is None and day.next_change_at == at("2026-01-05T22:00:00Z")
    assert amps(store, at("2026-01-05T23:00:00Z")) == 8.0


def test_a_recurring_schedule_longer_than_its_day_is_cut_off_by_the_next_recurrence() -> None:
    store = ChargingProfiles()
    install(store, 1, profile(1, TXD, [(0, 6), (20 * HOUR, 16), (30 * HOUR, 25)],
                              kind=RECURRING, recurrency=DAILY, duration=2 * DAY))
    assert store.limit_at(1, MONDAY + 21 * HOUR) == (
        16.0, "TxDefaultProfile #1 (stack level 0) limits to 16 A", MONDAY + DAY)
    assert amps(store, MONDAY + DAY + 7 * HOUR) == 6.0, "30 h is never reached"


def test_a_weekly_recurring_profile_repeats_on_the_same_weekday() -> None:
    store = ChargingProfiles()
    install(store, 1, profile(1, TXD, [(0, 6), (DAY, 32)], kind=RECURRING,
                              recurrency=WEEKLY, start=MONDAY))
    assert amps(store, MONDAY + 7 * DAY + HOUR) == 6.0, "next Monday"
    assert amps(store, MONDAY + 9 * DAY) == 32.0
    assert store.limit_at(1, MONDAY + 9 * DAY).next_change_at == MONDAY + 14 * DAY


def test_a_relative_tx_profile_counts_from_the_transaction_start() -> None:
    store = ChargingProfiles()
    started = MONDAY + 1000
    install(store, 1, profile(1, TXP, [(0, 6), (600, 16)], kind=RELATIVE, duration=HOUR),
            now=started + 100, transaction_id=7)
    assert store.installed[0].profile.transaction_id == 7, "bound to the running transaction"

    warm_up = store.limit_at(1, started + 500, transaction_start=started)
    assert warm_up.amps == 6.0 and warm_up.next_change_at == started + 600
    full = store.limit_at(1, started + 600, transaction_start=started)
    assert full.amps == 16.0 and full.next_change_at == started + HOUR
    assert amps(store, started + HOUR, transaction_start=started) is None

    composite = store.composite_schedule(1, started + 300, 3600, no_limit_a=32.0,
                                         transaction_start=started)
    assert periods_of(composite) == [(0, 6.0), (300, 16.0), (3300, 32.0)]


def test_a_change_between_two_seconds_is_exact_in_limit_at_and_whole_in_the_composite() -> None:
    """The station's clock is a float; OCPP's startPeriod counts whole seconds."""
    store = ChargingProfiles()
    started = MONDAY + 0.4
    install(store, 1, profile(1, TXP, [(0, 6), (600, 16)], kind=RELATIVE), transaction_id=1)
    assert store.limit_at(1, MONDAY + 100, transaction_start=started).next_change_at == (
        started + 600)
    assert amps(store, MONDAY + 600.3, transaction_start=started) == 6.0
    assert amps(store, started + 600, transaction_start=started) == 16.0
    composite = store.composite_schedule(1, started, 900, no_limit_a=32.0,
                                         transaction_start=started)
    assert start_of(composite) == "2026-01-05T00:00:00Z"
    assert periods_of(composite) == [(0, 6.0), (600, 16.0)]


def test_a_relative_tx_default_profile_waits_for_a_transaction_to_start() -> None:
    store = ChargingProfiles()
    install(store, 1, profile(1, TXD, [(0, 10)], kind=RELATIVE, duration=HOUR))
    idle = store.limit_at(1, MONDAY + 50)
    assert idle.amps is None and idle.next_change_at is None
    assert amps(store, MONDAY + 50, transaction_start=MONDAY) == 10.0


def test_the_charge_point_max_profile_caps_a_higher_tx_default_profile() -> None:
    """The chapter's combination figure: the limit is the lower of ChargePointMaxProfile and
    TxDefaultProfile at every instant."""
    store = ChargingProfiles(connector_count=2)
    install(store, 0, profile(1, CPMAX, [(0, 16)]))
    install(store, 0, profile(2, TXD, [(0, 32), (8 * HOUR, 10), (18 * HOUR, 32)],
                              kind=RECURRING, recurrency=DAILY))

    night = store.limit_at(2, MONDAY + 2 * HOUR)
    assert night.amps == 16.0 and night.reason.startswith("ChargePointMaxProfile #1")
    assert night.next_change_at == MONDAY + 8 * HOUR
    day = store.limit_at(2, MONDAY + 9 * HOUR)
    assert day.amps == 10.0 and day.reason.startswith("TxDefaultProfile #2")

    composite = store.composite_schedule(0, MONDAY, DAY, A, no_limit_a=32.0)
    assert periods_of(composite) == [(0, 16.0), (8 * HOUR, 10.0), (18 * HOUR, 16.0)]


def test_a_tx_profile_replaces_the_tx_default_profile_during_a_transaction_and_ends_with_it(
) -> None:
    store = ChargingProfiles()
    install(store, 1, profile(1, TXD, [(0, 16)]))
    started = MONDAY + HOUR
    assert amps(store, started, transaction_start=started) == 16.0

    install(store, 1, profile(2, TXP, [(0, 8)], start=started, transaction_id=42),
            now=started + 60, transaction_id=42)
    during = store.limit_at(1, started + 120, transaction_start=started)
    assert during.amps == 8.0 and during.reason == "TxProfile #2 (stack level 0) limits to 8 A"

    removed = store.transaction_ended(1)
    assert [e.profile.charging_profile_id for e in removed] == [2]
    assert amps(store, started + 180) == 16.0, "the default is back for the next transaction"


def test_a_tx_profile_hands_back_to_the_tx_default_profile_when_its_schedule_ends() -> None:
    store = ChargingProfiles()
    install(store, 1, profile(1, TXD, [(0, 16)]))
    install(store, 1, profile(2, TXP, [(0, 6)], kind=RELATIVE, duration=900),
            transaction_id=1)
    assert amps(store, MONDAY + 100, transaction_start=MONDAY) == 6.0
    after = store.limit_at(1, MONDAY + 900, transaction_start=MONDAY)
    assert after.amps == 16.0 and after.reason.startswith("TxDefaultProfile #1")


def test_a_connector_tx_default_overrides_the_charge_point_wide_one_until_its_schedule_ends(
) -> None:
    store = ChargingProfiles(connector_count=2)
    install(store, 0, profile(1, TXD, [(0, 20)], stack=0))
    install(store, 1, profile(2, TXD, [(0, 10)], stack=0, duration=HOUR))

    assert amps(store, MONDAY + 60, connector_id=1) == 10.0, "even at the same stack level"
    assert amps(store, MONDAY + 60, connector_id=2) == 20.0, "connector 2 has only the shared one"
    shared = store.limit_at(1, MONDAY + HOUR)
    assert shared.amps == 20.0 and "on connector 0" in shared.reason
    assert periods_of(store.composite_schedule(0, MONDAY, 2 * HOUR, no_limit_a=32.0)) == [
        (0, 20.0)], "connector 0's schedule ignores what is installed on connector 1"


def test_an_absolute_profile_without_start_schedule_starts_when_it_is_installed() -> None:
    store = ChargingProfiles()
    install(store, 1, profile(1, TXD, [(0, 6), (60, 12)], start=None), now=MONDAY + 500)
    assert amps(store, MONDAY + 530) == 6.0 and amps(store, MONDAY + 560) == 12.0
    stored = store.installed[0].profile.schedule.start_schedule
    assert stored == MONDAY + 500, "kept, so persistence and composite schedules agree"


# --- watts and amps ------------------------------------------------------------------------------


def test_a_limit_in_watts_becomes_amps_per_phase_with_the_voltage_and_phases() -> None:
    store = ChargingProfiles(connector_count=2)
    install(store, 1, profile(1, TXD, [(0, 11_000)], unit=W))
    install(store, 2, profile(2, TXD, [(0, 7_360, 1)], unit=W))
    three_phase = store.limit_at(1, MONDAY)
    assert three_phase.amps == pytest.approx(15.942, abs=1e-3)
    assert three_phase.reason.endswith("11000 W = 15.9 A at 230 V on 3 phases")
    assert amps(store, MONDAY, voltage=230.0, phases=1) == pytest.approx(47.826, abs=1e-3)
    assert amps(store, MONDAY, connector_id=2) == pytest.approx(32.0), "numberPhases 1 wins"


def test_composite_schedules_in_amps_and_in_watts() -> None:
    store = ChargingProfiles()
    install(store, 0, profile(1, CPMAX, [(0, 11_000)], unit=W))
    install(store, 1, profile(2, TXD, [(0, 32), (HOUR, 10), (2 * HOUR, 10, 1)], duration=3 * HOUR))

    in_amps = store.composite_schedule(1, MONDAY, 4 * HOUR, A, no_limit_a=32.0)
    assert in_amps.schedule.charging_rate_unit is A
    assert periods_of(in_amps) == [(0, 15.9), (HOUR, 10.0), (2 * HOUR, 10.0, 1),
                                   (3 * HOUR, 15.9)]
    in_watts = store.composite_schedule(1, MONDAY, 4 * HOUR, W, no_limit_a=32.0)
    assert periods_of(in_watts) == [(0, 11_000.0), (HOUR, 6_900.0), (2 * HOUR, 2_300.0, 1),
                                    (3 * HOUR, 11_000.0)]


def test_a_composite_schedule_merges_equal_neighbours_and_fills_unlimited_stretches() -> None:
    store = ChargingProfiles()
    install(store, 1, profile(1, TXD, [(0, 16), (600, 16), (1200, 8)], duration=1800))
    composite = store.composite_schedule(1, MONDAY + 0.7, 3600, no_limit_a=25.0)
    assert start_of(composite) == "2026-01-05T00:00:00Z", "on a whole second"
    assert periods_of(composite) == [(0, 16.0), (1200, 8.0), (1800, 25.0)]
    watts_only = ChargingProfiles()
    install(watts_only, 1, profile(1, TXD, [(0, 4_600)], unit=W))
    own = watts_only.composite_schedule(1, MONDAY, 60, no_limit_a=25.0)
    assert own.schedule.charging_rate_unit is W, "without a unit asked for, the profiles' own"


def test_a_composite_schedule_for_a_connector_that_does_not_exist_is_rejected() -> None:
    assert ChargingProfiles().composite_schedule(3, MONDAY, 60, no_limit_a=16.0).status is (
        CompositeScheduleStatus.REJECTED)


def test_a_relative_charge_point_max_profile_counts_from_its_arrival() -> None:
    """Home Assistant's station-wide limit is a Relative ChargePointMaxProfile: it limits every
    connector from the moment it arrives, with no transaction running, and a restart (the
    profile persisted and read back) does not move its start."""
    store = ChargingProfiles(connector_count=2)
    arrival = MONDAY + 10 * HOUR
    install(store, 0, profile(1, CPMAX, [(0, 10), (HOUR, 6)], kind=RELATIVE, start=None,
                              duration=2 * HOUR), now=arrival)
    for connector_id in (0, 1, 2):
        assert amps(store, arrival - 1, connector_id) is None, "not before it arrived"
        assert amps(store, arrival, connector_id) == 10.0
        assert amps(store, arrival + HOUR, connector_id) == 6.0
        assert amps(store, arrival + 2 * HOUR, connector_id) is None, "its duration is over"
    assert store.limit_at(1, arrival).next_change_at == arrival + HOUR
    (entry,) = store.installed
    restored = ChargingProfiles(connector_count=2)
    install(restored, 0, decode_installed_profile(encode_installed_profile(entry)).profile,
            now=arrival + 5 * HOUR)
    assert amps(restored, arrival + HOUR, 1) == 6.0, "a restart keeps the start of arrival"


# --- what SetChargingProfile refuses -------------------------------------------------------------

REJECTIONS = {
    "ChargePointMaxProfile not on connector 0": (1, profile(1, CPMAX, [(0, 16)]), None,
                                                 "only be set on connector 0"),
    "TxProfile on connector 0": (0, profile(1, TXP, [(0, 16)]), 5, "not connector 0"),
    "TxProfile without a transaction": (1, profile(1, TXP, [(0, 16)]), None,
                                        "no transaction is running on connector 1"),
    "TxProfile for another transaction": (1, profile(1, TXP, [(0, 16)], transaction_id=8),
                                          5, "transactionId 8 is not the transaction running"),
    "transactionId outside a TxProfile": (1, profile(1, TXD, [(0, 16)], transaction_id=5),
                                          5, "only allowed in a TxProfile"),
    "connector that does not exist": (2, profile(1, TXD, [(0, 16)]), None,
                                      "connector 2 does not exist"),
    "stack level above ChargeProfileMaxStackLevel": (1, profile(1, TXD, [(0, 16)], stack=3),
                                                     None, "ChargeProfileMaxStackLevel (2)"),
    "negative stack level": (1, profile(1, TXD, [(0, 16)], stack=-1), None, "negative"),
    "more periods than ChargingScheduleMaxPeriods": (
        1, profile(1, TXD, [(0, 16), (60, 8), (120, 6), (180, 16)]), None,
        "ChargingScheduleMaxPeriods (3)"),
    "rate unit not allowed": (1, profile(1, TXD, [(0, 7000)], unit=W), None,
                              "chargingRateUnit W is not allowed"),
    "first period not at 0": (1, profile(1, TXD, [(60, 16)]), None, "startPeriod 0"),
    "periods not ascending": (1, profile(1, TXD, [(0, 16), (600, 8), (600, 6)]), None,
                              "ascending"),
    "negative limit": (1, profile(1, TXD, [(0, -1)]), None, "negative"),
    "numberPhases not 1 to 3": (1, profile(1, TXD, [(0, 16, 4)]), None, "numberPhases 4"),
    "zero duration": (1, profile(1, TXD, [(0, 16)], duration=0), None, "not positive"),
    "no periods": (1, profile(1, TXD, []), None, "empty"),
    "Recurring without recurrencyKind": (1, profile(1, TXD, [(0, 16)], kind=RECURRING),
                                         None, "needs a recurrencyKind"),
    "Recurring without startSchedule": (
        1, profile(1, TXD, [(0, 16)], kind=RECURRING, recurrency=DAILY, start=None),
        None, "needs a startSchedule"),
    "validTo already passed": (1, profile(1, TXD, [(0, 16)], valid_to=MONDAY - 1), None,
                               "has already passed"),
    "validTo before validFrom": (
        1, profile(1, TXD, [(0, 16)], valid_from=MONDAY + 60, valid_to=MONDAY + 30), None,
        "validTo is not after validFrom"),
}


@pytest.mark.parametrize("case", REJECTIONS, ids=list(REJECTIONS))
def test_set_charging_profile_rejects(case: str) -> None:
    store = ChargingProfiles(limits=SmartChargingLimits(
        max_stack_level=2, max_schedule_periods=3,
        allowed_rate_units=frozenset({ChargingRateUnit.AMPS})))
    install(store, 0, profile(99, CPMAX, [(0, 32)]))
    connector_id, obj, transaction_id, reason = REJECTIONS[case]
    result = store.install(connector_id, obj, MONDAY, transaction_id)
    assert result.status is ChargingProfileStatus.REJECTED
    assert reason in result.reason
    assert [e.profile.charging_profile_id for e in store.installed] == [99], "nothing changed"


def test_a_relative_profile_with_a_start_schedule_is_rejected() -> None:
    obj = profile(1, TXD, [(0, 16)], kind=RELATIVE)
    obj = dataclasses.replace(obj, schedule=dataclasses.replace(obj.schedule,
                                                                start_schedule=MONDAY))
    result = ChargingProfiles().install(1, obj, MONDAY)
    assert not result.accepted and "cannot have a startSchedule" in result.reason


def test_max_charging_profiles_installed_rejects_one_more_but_not_a_replacement() -> None:
    store = ChargingProfiles(limits=SmartChargingLimits(max_profiles_installed=2))
    install(store, 1, profile(1, TXD, [(0, 16)], stack=0))
    install(store, 1, profile(2, TXD, [(0, 16)], stack=1))
    third = store.install(1, profile(3, TXD, [(0, 16)], stack=2), MONDAY)
    assert not third.accepted and "MaxChargingProfilesInstalled (2)" in third.reason
    install(store, 1, profile(2, TXD, [(0, 8)], stack=1))
    assert amps(store, MONDAY) == 8.0


def test_a_tx_profile_for_a_transaction_without_an_id_yet_binds_once_it_is_running() -> None:
    """RemoteStartTransaction's TxProfile is installed as the transaction starts, before the
    CSMS has answered StartTransaction with its transactionId."""
    store = ChargingProfiles()
    prof = profile(1, TXP, [(0, 10)], kind=RELATIVE)
    assert not store.install(1, prof, MONDAY).accepted
    assert store.install(1, prof, MONDAY, None, transaction_active=True).accepted
    assert amps(store, MONDAY + 5, transaction_start=MONDAY) == 10.0
    named = profile(2, TXP, [(0, 10)], kind=RELATIVE, transaction_id=3)
    refused = store.install(1, named, MONDAY, None, transaction_active=True)
    assert "no transactionId yet" in refused.reason


# --- replacing and clearing ----------------------------------------------------------------------


def test_the_same_id_or_the_same_purpose_and_stack_level_on_a_connector_replaces() -> None:
    store = ChargingProfiles(connector_count=2)
    install(store, 1, profile(1, TXD, [(0, 16)], stack=0))
    install(store, 2, profile(1, TXD, [(0, 12)], stack=3))
    assert [(e.connector_id, e.profile.stack_level) for e in store.installed] == [(2, 3)]
    install(store, 2, profile(7, TXD, [(0, 6)], stack=3))
    install(store, 1, profile(8, TXD, [(0, 20)], stack=3))
    assert sorted(e.profile.charging_profile_id for e in store.installed) == [7, 8]
    assert amps(store, MONDAY, connector_id=2) == 6.0


def cleared_store() -> ChargingProfiles:
    store = ChargingProfiles(connector_count=2)
    install(store, 0, profile(1, CPMAX, [(0, 32)], stack=0))
    install(store, 0, profile(2, TXD, [(0, 16)], stack=0))
    install(store, 1, profile(3, TXD, [(0, 16)], stack=1))
    install(store, 2, profile(4, TXD, [(0, 16)], stack=1))
    install(store, 1, profile(5, TXP, [(0, 10)], stack=1), transaction_id=9)
    return store


@pytest.mark.parametrize(
    ("criteria", "left"),
    [
        pytest.param({"id": 3, "connector_id": 2}, [1, 2, 4, 5],
                     id="by id, other criteria ignored"),
        pytest.param({"connector_id": 1}, [1, 2, 4], id="by connector"),
        pytest.param({"connector_id": 0}, [3, 4, 5], id="connector 0 is the charge point's own"),
        pytest.param({"purpose": ChargingProfilePurpose.TX_DEFAULT_PROFILE}, [1, 5],
                     id="by purpose"),
        pytest.param({"stack_level": 1}, [1, 2], id="by stack level"),
        pytest.param({"connector_id": 1, "stack_level": 1,
                      "purpose": ChargingProfilePurpose.TX_PROFILE}, [1, 2, 3, 4],
                     id="every criterion together"),
        pytest.param({}, [], id="everything"),
    ],
)
def test_clear_charging_profile(criteria: dict[str, Any], left: list[int]) -> None:
    store = cleared_store()
    assert store.clear(**criteria) is ClearChargingProfileStatus.ACCEPTED
    assert sorted(e.profile.charging_profile_id for e in store.installed) == left


def test_clear_charging_profile_answers_unknown_when_nothing_matches() -> None:
    store = cleared_store()
    assert store.clear(id=77) is ClearChargingProfileStatus.UNKNOWN
    assert store.clear(connector_id=2, purpose=ChargingProfilePurpose.TX_PROFILE) is (
        ClearChargingProfileStatus.UNKNOWN)
    assert len(store.installed) == 5
    assert ChargingProfiles().clear() is ClearChargingProfileStatus.UNKNOWN


# --- expiry --------------------------------------------------------------------------------------


def test_a_profile_drops_out_when_its_valid_to_passes_and_frees_its_slot() -> None:
    store = ChargingProfiles(limits=SmartChargingLimits(max_profiles_installed=1))
    install(store, 1, profile(1, TXD, [(0, 8)], valid_to=MONDAY + HOUR))
    before = store.limit_at(1, MONDAY + 60)
    assert before.amps == 8.0 and before.next_change_at == MONDAY + HOUR
    assert amps(store, MONDAY + HOUR) is None, "validTo itself is no longer valid"
    assert [e.profile.charging_profile_id for e in store.purge_expired(MONDAY + HOUR)] == [1]
    assert store.installed == ()
    install(store, 1, profile(2, TXD, [(0, 12)]), now=MONDAY + HOUR)


def test_a_profile_not_valid_yet_names_its_valid_from_as_the_next_change() -> None:
    store = ChargingProfiles()
    install(store, 1, profile(1, TXD, [(0, 8)], valid_from=MONDAY + HOUR))
    assert store.limit_at(1, MONDAY) == (None, "no charging profile in effect", MONDAY + HOUR)
    assert amps(store, MONDAY + HOUR) == 8.0


def boundaries_looked_up(work: Any) -> int:
    """How many times ``work()`` asked a profile for its next boundary: the steps of the
    computation, counted on the real objects."""
    calls = 0

    def count(frame: Any, event: str, _arg: Any) -> None:
        nonlocal calls
        if event == "call" and frame.f_code is InstalledProfile.next_boundary_after.__code__:
            calls += 1

    sys.setprofile(count)
    try:
        work()
    finally:
        sys.setprofile(None)
    return calls


HALF_HOURS_ALTERNATING = [(i * 1800, 6 + (i % 2) * 10) for i in range(48)]


def test_a_composite_schedule_for_ten_years_is_computed_in_a_bounded_number_of_steps() -> None:
    """Safety does not wait for the protocol: a recurring profile repeats its boundaries for as
    long as the CSMS asks, so ten years were 175,200 steps that held the event loop for seconds.
    The answer stops at the bound, says so in its duration, and agrees with the profiles up to
    there."""
    store = ChargingProfiles()
    install(store, 1, profile(1, TXD, HALF_HOURS_ALTERNATING, kind=RECURRING, recurrency=DAILY,
                              duration=DAY))
    ten_years = 10 * 365 * DAY
    answers: list[CompositeSchedule] = []
    steps = boundaries_looked_up(
        lambda: answers.append(store.composite_schedule(1, MONDAY, ten_years, A, no_limit_a=32.0)))
    assert steps <= COMPOSITE_BOUNDARY_LIMIT
    schedule = answers[0].schedule
    assert len(schedule.periods) <= COMPOSITE_BOUNDARY_LIMIT
    assert schedule.duration == COMPOSITE_BOUNDARY_LIMIT * 1800 < ten_years
    assert periods_of(answers[0])[:3] == [(0, 6.0), (1800, 16.0), (3600, 6.0)]
    assert schedule.periods[-1].start_period < schedule.duration


def test_a_masked_recurring_profile_cannot_make_a_composite_schedule_unbounded() -> None:
    """A higher stack level hides the daily one, so each boundary adds no period: the work is
    bounded by the boundaries, not by the periods of the answer."""
    store = ChargingProfiles()
    install(store, 1, profile(1, TXD, HALF_HOURS_ALTERNATING, kind=RECURRING, recurrency=DAILY,
                              duration=DAY))
    install(store, 1, profile(2, TXD, [(0, 10)], stack=1))
    answers: list[CompositeSchedule] = []
    steps = boundaries_looked_up(
        lambda: answers.append(store.composite_schedule(1, MONDAY, 10 * 365 * DAY, A,
                                                        no_limit_a=32.0)))
    assert steps <= 2 * COMPOSITE_BOUNDARY_LIMIT  # two profiles asked at each step
    assert periods_of(answers[0]) == [(0, 10.0)]


def test_a_week_of_the_largest_daily_schedules_is_answered_in_full() -> None:
    store = ChargingProfiles()
    install(store, 1, profile(1, TXD, HALF_HOURS_ALTERNATING, kind=RECURRING, recurrency=DAILY,
                              duration=DAY))
    composite = store.composite_schedule(1, MONDAY, 7 * DAY, A, no_limit_a=32.0)
    assert composite.schedule.duration == 7 * DAY
    assert len(composite.schedule.periods) == 7 * 48


# --- what persistence saves --------------------------------------------------------------------


def test_installed_profiles_reinstall_from_what_persistence_saves() -> None:
    """Persistence saves each entry (its connector and its profile) and installs it again after
    a restart."""
    store = ChargingProfiles(connector_count=2)
    install(store, 0, profile(1, CPMAX, [(0, 20)]))
    install(store, 2, profile(2, TXD, [(0, 10), (HOUR, 16)], start=None), now=MONDAY + 30)
    saved = [decode_installed_profile(json.loads(json.dumps(encode_installed_profile(entry))))
             for entry in store.installed]
    assert saved == list(store.installed)

    restored = ChargingProfiles(connector_count=2)
    for entry in saved:
        result = restored.install(entry.connector_id, entry.profile, MONDAY + DAY)
        assert result.accepted
    for t in (MONDAY + 60, MONDAY + HOUR + 30, MONDAY + 2 * HOUR):
        assert restored.limit_at(2, t) == store.limit_at(2, t)
