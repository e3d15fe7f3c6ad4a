"""Properties of the current a charging station really offers under random charging profiles.

Hypothesis installs random profile sets on a one-connector station that is charging (through the
station core, as SetChargingProfile does), then lets simulated time run with the daemon's
wake-ups (``next_deadline``/``tick``). At every sampled instant:

* the pilot never offers more than the installation maximum, nor more than the limit of the
  profiles in force (``limit_at``), and never a current between 0 and 6 A (IEC 61851-1: below
  6 A the car is paused, not fed a trickle);
* while the limit allows 6 A or more, the station offers exactly that limit (or the installation
  maximum): what the CSMS asked for is what the car is told;
* GetCompositeSchedule, asked at the start, said the same about that instant.
"""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from pievse.core.charging_profiles import ChargingRateUnit, CompositeSchedule
from tests.test_smart_charging_properties import FAST, MONDAY, charging_profiles
from tests.test_station_rig import Bench

MAX_A = 32.0
HOUR = 3600


@FAST
@given(
    profiles=st.lists(st.integers(1, 1000), min_size=1, max_size=5, unique=True).flatmap(
        lambda ids: st.tuples(*(charging_profiles(i) for i in ids))),
    steps=st.lists(st.integers(1, 2 * HOUR), min_size=1, max_size=8),
)
def test_the_pilot_offers_what_the_profiles_allow_at_every_instant(profiles, steps):
    bench = Bench(start_at=MONDAY, max_current_a=MAX_A, meter_value_sample_interval_s=0)
    bench.start_charging()
    for connector_id, profile in profiles:
        if connector_id > 1:
            continue  # a one-connector station: connector 2 does not exist here
        bench.command(bench.station.set_charging_profile(connector_id, profile))
    charging = bench.station.charging
    horizon = sum(steps) + 1
    composite = bench.station.composite_schedule(1, horizon, ChargingRateUnit.AMPS)
    for step in steps:
        bench.run_for(step)
        now = bench.clock.now()
        tx = bench.station.connector(1).transaction
        limit = charging.profiles.limit_at(1, now, transaction_start=tx.started_at,
                                           voltage=230.0, phases=3).amps
        allowed = MAX_A if limit is None else min(MAX_A, limit)
        offered = bench.offered_a()
        assert offered <= allowed + 1e-9
        assert offered == 0.0 or offered >= 6.0
        if allowed >= 6.0:
            assert math.isclose(offered, allowed), (offered, allowed)
        else:
            assert offered == 0.0
        if composite.accepted:
            assert _composite_at(composite, now) == \
                (math.floor(allowed * 10) / 10 if limit is not None else MAX_A)


def _composite_at(composite: CompositeSchedule, now: float) -> float:
    schedule = composite.schedule
    assert schedule is not None and schedule.start_schedule is not None
    limit = None
    for period in schedule.periods:
        if schedule.start_schedule + period.start_period <= now:
            limit = period.limit
    assert limit is not None
    return limit
