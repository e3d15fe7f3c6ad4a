"""IEC 61851-1 Annex A as the code knows it: the pilot voltage bands and the duty-cycle table.

The numbers are the standard's; a test failing here means a car would read a different current
than the station meant to offer, or the station would misread what the car asks for.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pievse.core.iec61851 import (
    MAX_CURRENT_A,
    MIN_CURRENT_A,
    PilotState,
    current_for_duty_cycle,
    duty_cycle_for_current,
    pilot_state_from_voltage,
)

# --- duty cycle <-> current ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amps", "duty_percent"),
    [
        (6.0, 10.0),
        (10.0, 16.667),
        (13.0, 21.667),
        (16.0, 26.667),
        (20.0, 33.333),
        (32.0, 53.333),
        (51.0, 85.0),
        (63.0, 89.2),
        (80.0, 96.0),
    ],
)
def test_duty_cycle_table_of_annex_a(amps: float, duty_percent: float) -> None:
    """6-51 A: duty = A / 0.6; 51-80 A: duty = A / 2.5 + 64."""
    assert duty_cycle_for_current(amps) == pytest.approx(duty_percent, abs=1e-3)


@pytest.mark.parametrize("amps", [0.0, 5.0, 5.99])
def test_less_than_6_a_cannot_be_offered_on_the_pilot(amps: float) -> None:
    """Under 6 A the station must pause (steady +12 V) instead: asking for a duty cycle is an error,
    not a silent 10 %."""
    with pytest.raises(ValueError, match="6 A"):
        duty_cycle_for_current(amps)


def test_more_than_80_a_is_offered_as_80_a() -> None:
    """96 % is the top of the AC table; nothing above it codes a current."""
    assert duty_cycle_for_current(100.0) == pytest.approx(96.0)
    assert MAX_CURRENT_A == 80.0 and MIN_CURRENT_A == 6.0


@pytest.mark.parametrize(
    ("duty_percent", "amps"),
    [
        (10.0, 6.0),
        (26.667, 16.0),
        (53.333, 32.0),
        (85.0, 51.0),
        (90.0, 65.0),
        (96.0, 80.0),
    ],
)
def test_the_car_reads_the_current_from_the_duty_cycle(duty_percent: float, amps: float) -> None:
    assert current_for_duty_cycle(duty_percent) == pytest.approx(amps, abs=1e-3)


@pytest.mark.parametrize(
    "duty_percent",
    [0.0, 3.0, 5.0, 8.0, 9.99, 96.01, 97.0, 100.0],
)
def test_duty_cycles_outside_the_table_offer_nothing(duty_percent: float) -> None:
    """5 % asks for digital communication (ISO 15118), 100 % is no PWM at all, and the gaps
    around them are not allowed: none of them lets an AC car draw current."""
    assert current_for_duty_cycle(duty_percent) == 0.0


@given(st.floats(min_value=MIN_CURRENT_A, max_value=MAX_CURRENT_A))
def test_the_car_never_reads_more_than_the_station_offers(amps: float) -> None:
    """Round trip through the pilot. The table is not continuous at 85 % (51 A at 85 %, the
    upper formula starts at 52.5 A), so between 51 and 52.5 A the car reads 51 A; never more."""
    duty = duty_cycle_for_current(amps)
    assert 10.0 <= duty <= 96.0
    read = current_for_duty_cycle(duty)
    assert read <= amps + 1e-9
    if 51.0 < amps < 52.5:
        assert read == pytest.approx(51.0)
    else:
        assert read == pytest.approx(amps)


@pytest.mark.parametrize("amps", [51.5, 52.0, 52.4])
def test_in_the_gap_between_the_two_formulas_the_car_is_offered_51_a(amps: float) -> None:
    assert duty_cycle_for_current(amps) == pytest.approx(85.0)


@given(
    st.floats(min_value=MIN_CURRENT_A, max_value=MAX_CURRENT_A),
    st.floats(min_value=MIN_CURRENT_A, max_value=MAX_CURRENT_A),
)
def test_a_higher_current_never_gives_a_lower_duty_cycle(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert duty_cycle_for_current(low) <= duty_cycle_for_current(high)


# --- pilot voltage bands -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("positive_v", "state"),
    [
        (12.0, PilotState.A),
        (10.5, PilotState.A),
        (10.49, PilotState.B),
        (9.0, PilotState.B),
        (7.5, PilotState.B),
        (7.49, PilotState.C),
        (6.0, PilotState.C),
        (4.5, PilotState.C),
        (4.49, PilotState.D),
        (3.0, PilotState.D),
        (1.5, PilotState.D),
        (1.49, PilotState.E),
        (0.0, PilotState.E),
        (-12.0, PilotState.F),
    ],
)
def test_pilot_voltage_bands(positive_v: float, state: PilotState) -> None:
    """A >= 10.5 V, B 7.5-10.5 V, C 4.5-7.5 V, D 1.5-4.5 V, E near 0 V, F at -12 V."""
    assert pilot_state_from_voltage(positive_v) is state


@pytest.mark.parametrize("positive_v", [9.0, 6.0, 3.0])
def test_a_car_with_a_good_diode_leaves_the_negative_half_at_minus_12_v(positive_v: float) -> None:
    assert pilot_state_from_voltage(positive_v, negative_v=-12.0) is pilot_state_from_voltage(
        positive_v
    )


@pytest.mark.parametrize(("positive_v", "negative_v"), [(9.0, 0.0), (6.0, -6.0), (6.0, -9.9)])
def test_a_missing_or_shorted_diode_is_reported_as_state_f(
    positive_v: float, negative_v: float
) -> None:
    """The diode check failing is a fault: state F, so that the station opens the contactor."""
    assert pilot_state_from_voltage(positive_v, negative_v=negative_v) is PilotState.F


def test_no_diode_check_without_a_car() -> None:
    """State A has no car and thus no diode: the negative half does not matter."""
    assert pilot_state_from_voltage(12.0, negative_v=0.0) is PilotState.A


@pytest.mark.parametrize(
    ("state", "connected", "asks", "error"),
    [
        (PilotState.A, False, False, False),
        (PilotState.B, True, False, False),
        (PilotState.C, True, True, False),
        (PilotState.D, True, True, False),
        (PilotState.E, False, False, True),
        (PilotState.F, False, False, True),
    ],
)
def test_what_each_pilot_state_means(
    state: PilotState, connected: bool, asks: bool, error: bool
) -> None:
    assert state.vehicle_connected is connected
    assert state.asks_for_power is asks
    assert state.is_error is error
