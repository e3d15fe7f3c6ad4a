"""Facts of IEC 61851-1 Annex A that both the station core and the board drivers rely on.

The control pilot (CP) is a ±12 V signal between the charging station and the car. The station
drives +12 V through a 1 kΩ resistor; the car pulls the positive half down with resistors (and a
diode that leaves the negative half at -12 V). The positive level tells the station what the car
wants; the duty cycle of the 1 kHz PWM tells the car how much current it may draw.

This module is pure: no I/O, so the core and every driver can share it.
"""

from __future__ import annotations

import enum

PWM_FREQUENCY_HZ = 1000

#: Below this nothing may be offered on the pilot (a lower limit means: pause charging).
MIN_CURRENT_A = 6.0
#: The highest current the duty cycle can code for AC charging.
MAX_CURRENT_A = 80.0


class PilotState(str, enum.Enum):
    """The car's state as read on the positive half of the control pilot."""

    A = "A"  # +12 V: no vehicle
    B = "B"  # +9 V: vehicle connected, not asking for power
    C = "C"  # +6 V: vehicle asks for power
    D = "D"  # +3 V: vehicle asks for power and needs ventilation
    E = "E"  # 0 V: pilot shorted to PE, or the station has no power
    F = "F"  # -12 V: station not available (or the car's diode is missing)

    @property
    def vehicle_connected(self) -> bool:
        return self in (PilotState.B, PilotState.C, PilotState.D)

    @property
    def asks_for_power(self) -> bool:
        return self in (PilotState.C, PilotState.D)

    @property
    def is_error(self) -> bool:
        return self in (PilotState.E, PilotState.F)


# Decision bands (volts, positive half) used by open EVSE firmwares.
_BANDS = (
    (10.5, PilotState.A),
    (7.5, PilotState.B),
    (4.5, PilotState.C),
    (1.5, PilotState.D),
)


def pilot_state_from_voltage(positive_v: float, negative_v: float | None = None) -> PilotState:
    """Classify a pilot measurement taken in the PWM high phase.

    ``negative_v`` is the level read in the low phase while the PWM runs; it must be about -12 V.
    A higher reading means the car's diode is missing or shorted, which IEC 61851 treats as a
    fault: it is reported as state F so that the station opens the contactor.
    """
    if negative_v is not None and positive_v < 10.5 and negative_v > -10.0:
        return PilotState.F
    for threshold, state in _BANDS:
        if positive_v >= threshold:
            return state
    if positive_v > -10.0:
        return PilotState.E
    return PilotState.F


def duty_cycle_for_current(amps: float) -> float:
    """Duty cycle (percent, 0–100) that offers ``amps`` on a 1 kHz pilot.

    6–51 A: duty = amps / 0.6; 51–80 A: duty = amps / 2.5 + 64. A value under 6 A cannot be
    offered and raises ValueError: the caller must pause instead (steady +12 V, no PWM).

    The two formulas do not meet: 85 % reads as 51 A, and the upper one only reaches 85 % at
    52.5 A. Between 51 and 52.5 A the duty cycle stays at 85 % (51 A), the most the car can be
    offered without reading more than ``amps``; the upper formula would give less (84.8 % for
    52 A reads as 50.9 A).
    """
    if amps < MIN_CURRENT_A:
        raise ValueError(f"{amps} A is below the 6 A minimum that a pilot can offer")
    amps = min(amps, MAX_CURRENT_A)
    if amps <= 51.0:
        return amps / 0.6
    return max(amps / 2.5 + 64.0, 85.0)


def current_for_duty_cycle(duty_percent: float) -> float:
    """The current (A) that a car reads from ``duty_percent``; 0 where nothing is offered."""
    if 10.0 <= duty_percent <= 85.0:
        return duty_percent * 0.6
    if 85.0 < duty_percent <= 96.0:
        return (duty_percent - 64.0) * 2.5
    return 0.0
