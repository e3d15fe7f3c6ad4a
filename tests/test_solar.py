"""The solar surplus's control and the phase switch's sequence in the core, alone, on given time:
the delays, the steps, the modes, and that the phases switch no more often than allowed whatever
the sun does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pievse.core.effects import SetPhases
from pievse.core.phase_switch import PhaseSwitch, Stage
from pievse.core.solar import Solar, SolarMode, SolarRules

RULES = SolarRules(start_delay_s=60, stop_delay_s=120, phase_switch=True,
                   phase_switch_interval_s=300)
ONE_PHASE_W = 6 * 230.0
THREE_PHASE_W = 3 * ONE_PHASE_W


def feed(solar: Solar, start: float, seconds: int, export_w: float, cars_w: float = 0.0
         ) -> float:
    for t in range(seconds):
        solar.reading(start + t, -export_w, cars_w)
    return start + seconds


def test_pv_waits_the_start_delay_and_pauses_only_after_the_stop_delay():
    solar = Solar(SolarRules(start_delay_s=60, stop_delay_s=120), SolarMode.PV, 0.0)
    assert solar.limit_a == 0.0
    now = feed(solar, 0.0, 59, 6000.0)
    assert solar.limit_a == 0.0, "not before the start delay"
    now = feed(solar, now, 2, 6000.0)
    assert solar.limit_a == 8.0, "6 kW on three phases"
    # A cloud: the house imports 4 kW of the car's 5.5 kW.
    now = feed(solar, now, 100, -4000.0, cars_w=5520.0)
    assert solar.limit_a == 6.0, "down at once to the minimum, not paused yet"
    now = feed(solar, now, 30, -4000.0, cars_w=5520.0)
    assert solar.limit_a == 0.0, "paused once the surplus stayed short for the stop delay"


def test_min_pv_keeps_6_a_and_fast_sets_no_limit():
    solar = Solar(SolarRules(), SolarMode.MIN_PV, 0.0)
    feed(solar, 0.0, 600, 0.0)
    assert solar.limit_a == 6.0
    solar.set_mode(SolarMode.FAST, 600.0)
    assert solar.limit_a is None
    feed(solar, 600.0, 60, 20000.0)
    assert solar.limit_a is None


def test_the_offer_rises_in_steps_after_the_hold_and_a_reserve_is_left():
    solar = Solar(SolarRules(start_delay_s=0, reserve_w=690.0), SolarMode.PV, 0.0)
    feed(solar, 0.0, 1, 4830.0 + 690.0)
    assert solar.limit_a == 7.0
    limits = []
    for t in range(1, 60):
        solar.reading(float(t), -(12000.0 + 690.0), 0.0)
        limits.append(solar.limit_a)
    assert limits[8] == 7.0, "no raise before the hold"
    assert sorted(set(limits)) == [7.0, 9.0, 11.0, 13.0, 15.0, 17.0], "2 A a step"


def test_one_phase_for_a_weak_sun_three_again_when_it_is_strong():
    solar = Solar(RULES, SolarMode.PV, 0.0)
    now = feed(solar, 0.0, 121, ONE_PHASE_W + 200)
    assert solar.wanted_phases == 1
    solar.switched(1, now)
    now = feed(solar, now, 61, ONE_PHASE_W + 200)
    assert solar.limit_a == 6.0 and solar.phases == 1
    now = feed(solar, now, 200, THREE_PHASE_W + 500, cars_w=0.0)
    assert solar.wanted_phases == 1, "not sooner than the interval after the last switch"
    now = feed(solar, now, 100, THREE_PHASE_W + 500)
    assert solar.wanted_phases == 3


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 12000), min_size=1, max_size=40), st.integers(5, 60))
def test_the_phases_switch_no_more_often_than_the_interval_whatever_the_sun(exports, hold):
    solar = Solar(RULES, SolarMode.PV, 0.0)
    switch = PhaseSwitch([1], 3, settle_s=2.0)
    switched_at: list[float] = []
    now = 0.0
    for export in exports:
        for _ in range(hold):
            now += 1.0
            solar.reading(now, -export, 0.0)
            switch.request(solar.wanted_phases, now)
            _, done = switch.step(now, contactor_closed=False)
            if done is not None:
                solar.switched(done, now)
                switched_at.append(now)
    gaps = [b - a for a, b in zip(switched_at, switched_at[1:])]
    assert all(gap >= RULES.phase_switch_interval_s for gap in gaps), switched_at
    assert len(switched_at) <= now // RULES.phase_switch_interval_s + 1


def test_the_relay_is_told_only_once_the_contactor_is_open_then_settles():
    switch = PhaseSwitch([1, 2], 3, settle_s=2.0)
    assert switch.request(1, 0.0) and switch.holding
    assert not switch.request(3, 0.5), "one switch at a time"
    assert switch.step(1.0, contactor_closed=True) == ([], None)
    assert switch.stage is Stage.PAUSING
    assert switch.step(4.0, contactor_closed=False) == ([SetPhases(1, 1), SetPhases(2, 1)], None)
    assert switch.step(5.0, contactor_closed=False) == ([], None)
    assert switch.holding, "held while the relay settles"
    assert switch.step(6.0, contactor_closed=False) == ([], 1)
    assert not switch.holding and switch.phases == 1 and switch.switches == 1
    assert not switch.request(1, 7.0), "nothing to switch"


def test_choosing_fast_brings_three_phases_back_but_not_sooner_than_the_interval():
    solar = Solar(RULES, SolarMode.PV, 0.0)
    now = feed(solar, 0.0, 121, ONE_PHASE_W + 200)
    solar.switched(1, now)
    solar.set_mode(SolarMode.FAST, now)
    now = feed(solar, now, 10, ONE_PHASE_W + 200)
    assert solar.limit_a is None and solar.wanted_phases == 1, "the relay is spared"
    feed(solar, now, 300, ONE_PHASE_W + 200)
    assert solar.wanted_phases == 3
