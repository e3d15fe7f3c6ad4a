"""Properties of the smart-charging arithmetic over random sets of charging profiles.

Hypothesis draws up to six profiles of every purpose, kind and rate unit (some of them invalid,
which the store rejects), installs them on a two-connector charge point, and checks at random
instants that:

* the limit equals a plain, loop-by-loop reading of OCPP 1.6's stacking rules, and so never
  exceeds the prevailing ChargePointMaxProfile limit;
* GetCompositeSchedule says what ``limit_at`` says, at any instant of its window;
* ``next_change_at`` is in the future and nothing changes before it;
* a profile survives the trip to OCPP 1.6 JSON and back.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pievse.core.charging_profiles import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSchedule,
    ChargingSchedulePeriod,
    RecurrencyKind,
)
from pievse.protocol.common.datetimes import parse_datetime
from pievse.core.smart_charging import ChargingProfiles, ProfileLimit
from pievse.protocol.v16.codec.charging_profiles import (
    decode_charging_profile,
    encode_charging_profile,
)

MONDAY = parse_datetime("2026-01-05T00:00:00Z")
HOUR = 3600
DAY = 86_400
VOLTAGE = 230.0
PHASES = 3
NO_LIMIT_A = 40.0
TRANSACTION_ID = 11

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

instants = st.integers(MONDAY - 6 * HOUR, MONDAY + 30 * HOUR)


@st.composite
def charging_profiles(draw: st.DrawFn, profile_id: int) -> tuple[int, ChargingProfile]:
    """A connector id and a profile, mostly valid."""
    P, K = ChargingProfilePurpose, ChargingProfileKind
    purpose = draw(st.sampled_from([P.CHARGE_POINT_MAX_PROFILE, P.CHARGE_POINT_MAX_PROFILE,
                                    P.TX_DEFAULT_PROFILE, P.TX_DEFAULT_PROFILE, P.TX_PROFILE]))
    connector_id = {
        P.CHARGE_POINT_MAX_PROFILE: 0,
        P.TX_PROFILE: 1,  # where the transaction may run
        P.TX_DEFAULT_PROFILE: draw(st.sampled_from([0, 1, 2])),
    }[purpose]
    # A Relative ChargePointMaxProfile counts from its arrival (tested apart): draw it rarely.
    kinds = [K.ABSOLUTE, K.RECURRING] * 4 + [K.RELATIVE] if connector_id == 0 else list(K)
    kind = draw(st.sampled_from(kinds))
    unit = draw(st.sampled_from(ChargingRateUnit))
    starts = sorted(draw(st.sets(st.integers(1, 8 * HOUR), max_size=4)))
    periods = []
    for start in [0, *starts]:
        limit = (draw(st.integers(0, 640)) / 10 if unit is ChargingRateUnit.AMPS
                 else float(draw(st.integers(0, 250)) * 100))
        phases = draw(st.sampled_from([None, None, 1, 3]))
        periods.append(ChargingSchedulePeriod(start, limit, phases))
    duration = draw(st.one_of(st.none(), st.none(), st.integers(60, 30 * HOUR)))
    start_schedule = None
    if kind is not ChargingProfileKind.RELATIVE:
        start_schedule = MONDAY + draw(st.integers(-DAY, 6 * HOUR))
    recurrency = None
    if kind is ChargingProfileKind.RECURRING:
        recurrency = draw(st.sampled_from([RecurrencyKind.DAILY, RecurrencyKind.DAILY,
                                           RecurrencyKind.WEEKLY]))
    valid_from = valid_to = None
    if draw(st.integers(0, 3)) == 0:
        valid_from = MONDAY + draw(st.integers(-DAY, DAY))
    if draw(st.integers(0, 3)) == 0:
        valid_to = MONDAY + draw(st.integers(0, 2 * DAY))
    schedule = ChargingSchedule(unit, tuple(periods), duration=duration,
                                start_schedule=start_schedule)
    return connector_id, ChargingProfile(
        profile_id, draw(st.integers(0, 3)), purpose, kind, schedule,
        recurrency_kind=recurrency, valid_from=valid_from, valid_to=valid_to)


@st.composite
def stations(draw: st.DrawFn, whole_seconds: bool = False) -> tuple[ChargingProfiles, float | None]:
    """A two-connector store with random profiles; connector 1 may have a transaction, which
    may have started between two seconds (the station's clock is a float)."""
    transaction_start = draw(st.one_of(st.none(), st.integers(MONDAY - HOUR, MONDAY + 6 * HOUR),
                                       st.integers(MONDAY - HOUR, MONDAY + 6 * HOUR)))
    if transaction_start is not None and not whole_seconds:
        transaction_start += draw(st.sampled_from([0.0, 0.1, 0.5, 0.999]))
    store = ChargingProfiles(connector_count=2)
    for profile_id in range(1, draw(st.integers(1, 6)) + 1):
        connector_id, profile = draw(charging_profiles(profile_id))
        running = connector_id == 1 and transaction_start is not None
        store.install(connector_id, profile, MONDAY - DAY, TRANSACTION_ID if running else None)
    return store, transaction_start


# --- a plain reading of the rules, to check the store against ------------------------------------


def oracle_amps(profile: ChargingProfile, t: float,
                transaction_start: float | None) -> float | None:
    """The profile's limit at ``t`` in amps, by walking the schedule the long way."""
    if profile.valid_from is not None and t < profile.valid_from:
        return None
    if profile.valid_to is not None and t >= profile.valid_to:
        return None
    schedule = profile.schedule
    length = schedule.duration
    if profile.kind is ChargingProfileKind.RELATIVE:
        if transaction_start is None:
            return None
        origin = transaction_start
    else:
        origin = schedule.start_schedule
        if profile.kind is ChargingProfileKind.RECURRING:
            cycle = DAY if profile.recurrency_kind is RecurrencyKind.DAILY else 7 * DAY
            while origin + cycle <= t:
                origin += cycle
            length = cycle if length is None else min(length, cycle)
    if t < origin or (length is not None and t >= origin + length):
        return None
    period = [p for p in schedule.periods if origin + p.start_period <= t][-1]
    if schedule.charging_rate_unit is ChargingRateUnit.AMPS:
        return period.limit
    return period.limit / (VOLTAGE * (period.number_phases or PHASES))


def oracle_prevailing(store: ChargingProfiles, connector_id: int, purpose: ChargingProfilePurpose,
                      t: float, transaction_start: float | None) -> float | None:
    """The limit of the highest stack level of ``purpose`` on ``connector_id`` that has one."""
    candidates = sorted(
        (e.profile for e in store.installed
         if e.connector_id == connector_id and e.profile.purpose is purpose),
        key=lambda p: -p.stack_level,
    )
    for profile in candidates:
        limit = oracle_amps(profile, t, transaction_start)
        if limit is not None:
            return limit
    return None


def oracle_limit(store: ChargingProfiles, t: float,
                 transaction_start: float | None) -> float | None:
    """Connector 1: min(ChargePointMax, TxProfile or own TxDefault or connector 0's TxDefault)."""
    P = ChargingProfilePurpose
    cp_max = oracle_prevailing(store, 0, P.CHARGE_POINT_MAX_PROFILE, t, None)
    tx = None
    for connector_id, purpose in ((1, P.TX_PROFILE), (1, P.TX_DEFAULT_PROFILE),
                                  (0, P.TX_DEFAULT_PROFILE)):
        tx = oracle_prevailing(store, connector_id, purpose, t, transaction_start)
        if tx is not None:
            break
    found = [limit for limit in (cp_max, tx) if limit is not None]
    return min(found) if found else None


def limit(store: ChargingProfiles, connector_id: int, t: float,
          transaction_start: float | None) -> ProfileLimit:
    return store.limit_at(connector_id, t, transaction_start=transaction_start, voltage=VOLTAGE,
                          phases=PHASES)


# --- the properties ------------------------------------------------------------------------------


@FAST
@given(stations(), st.lists(instants, min_size=1, max_size=8))
def test_the_limit_follows_the_stacking_rules_and_never_exceeds_the_charge_point_max(
    station: tuple[ChargingProfiles, float | None], times: list[int]
) -> None:
    store, transaction_start = station
    for t in times:
        amps = limit(store, 1, t, transaction_start).amps
        cp_max = oracle_prevailing(
            store, 0, ChargingProfilePurpose.CHARGE_POINT_MAX_PROFILE, t, None)
        if cp_max is not None:
            assert amps is not None and amps <= cp_max
        expected = oracle_limit(store, t, transaction_start)
        assert (amps is None) == (expected is None)
        if expected is not None:
            assert math.isclose(amps, expected, rel_tol=1e-12)


@FAST
@given(stations(whole_seconds=True), instants, st.integers(1, 2 * DAY),
       st.sampled_from(ChargingRateUnit), st.sampled_from([0, 1, 2]),
       st.lists(st.floats(0, 1), max_size=6))
def test_the_composite_schedule_agrees_with_the_limit_at_every_instant_of_its_window(
    station: tuple[ChargingProfiles, float | None], start: int, duration: int,
    unit: ChargingRateUnit,
    connector_id: int, fractions: list[float],
) -> None:
    store, transaction_start = station
    composite = store.composite_schedule(
        connector_id, start, duration, unit, no_limit_a=NO_LIMIT_A,
        transaction_start=transaction_start, voltage=VOLTAGE, phases=PHASES)
    periods = composite.schedule.periods
    assert periods[0].start_period == 0
    starts = [p.start_period for p in periods]
    assert starts == sorted(set(starts)) and starts[-1] < duration

    # Every period's first and last second, and a few instants anywhere in the window. (Whole
    # seconds: startPeriod cannot say that a limit changes between two of them.)
    offsets = set(starts) | {s - 1 for s in starts[1:]} | {duration - 1}
    offsets |= {min(duration - 1, math.floor(f * duration)) for f in fractions}
    for offset in sorted(offsets):
        period = [p for p in periods if p.start_period <= offset][-1]
        amps = limit(store, connector_id, start + offset, transaction_start).amps
        amps = NO_LIMIT_A if amps is None else amps
        phases = period.number_phases or PHASES
        # Reported in the schema's steps of 0.1, rounded down.
        scale = 1.0 if unit is ChargingRateUnit.AMPS else VOLTAGE * phases
        assert amps * scale - 0.1 - 1e-6 <= period.limit <= amps * scale + 1e-6, (
            f"at +{offset} s: composite {period} but limit_at {amps} A")


@FAST
@given(stations(), instants, st.sampled_from([1, 2]), st.lists(st.floats(0, 1), max_size=5))
def test_nothing_changes_before_next_change_at(
    station: tuple[ChargingProfiles, float | None], now: int, connector_id: int,
    fractions: list[float],
) -> None:
    store, transaction_start = station
    here = limit(store, connector_id, now, transaction_start)
    if here.next_change_at is None:
        later = [now + k * DAY + 1 for k in (1, 3, 8, 30)]
    else:
        assert here.next_change_at > now
        span = here.next_change_at - now
        later = [now + f * span for f in fractions]
        later += [now + 0.5, here.next_change_at - 0.5]
        # Strictly between, judged on the instants themselves (now + 0.99999 * span can round
        # to next_change_at).
        later = [t for t in later if now < t < here.next_change_at]
    for t in later:
        there = limit(store, connector_id, t, transaction_start)
        assert (there.amps, there.reason) == (here.amps, here.reason), f"changed at {t}"


@FAST
@given(st.integers(1, 1000).flatmap(charging_profiles))
def test_a_profile_survives_the_trip_to_ocpp_json_and_back(
    placed: tuple[int, ChargingProfile],
) -> None:
    _, profile = placed
    obj = encode_charging_profile(profile)
    assert decode_charging_profile(obj) == profile
    assert encode_charging_profile(decode_charging_profile(obj)) == obj
