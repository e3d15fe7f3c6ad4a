"""Whether a meter reading can be true, judged before the station bills with it.

A meter, its bus or its register map can produce numbers no connection could have measured: a
float register decoded from the wrong words (3.4e38 kWh), a counter that reads negative, a
million volts. Each reading is judged against what the connector can carry (its ``Ratings``) and
against the last energy the station accepted:

* the energy must be a finite number, not negative and within what a meter's register holds;
  after the first accepted reading it may only grow, and by no more than the connection could
  deliver at full power since that reading. A reading that breaks this keeps the last accepted
  energy, and the next reading is compared with that one, not with the rejected one: a single
  spike never makes the good readings after it look wrong;
* power, current, voltage and frequency must lie within the ratings; a value that does not is
  dropped from the reading and the rest is used (a bad voltage register spoils no billing).

A few rejected energies in a row are a meter failure, reported as a silent meter is.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

from pievse.core.clock import Clock
from pievse.core.hardware import MeterReading

__all__ = ["FAILURE_AFTER", "REGISTER_MAX_WH", "Judgement", "MeterPlausibility", "Ratings"]

#: A quarter above every rating: the grid's +10 % voltage tolerance, a car drawing a little more
#: than it is offered, the meter's own accuracy class.
MARGIN = 1.25
#: More than any meter's register counts to (displays end at 99,999,999.9 kWh): a first reading
#: beyond it is a decoding error, not energy.
REGISTER_MAX_WH = 1e11
#: A reading may reach the station this long after the meter took it (a retried request, a slow
#: bus), so two readings may lie this much further apart than the station saw them arrive.
READ_DELAY_S = 10.0
#: The largest step a register moves by at once: counters in 0.1 kWh jump 100 Wh, and a float32
#: register holding kWh moves in steps of about 2^-23 of its value.
REGISTER_STEP_WH = 100.0
FLOAT32_STEP = 2.0 ** -22
#: The frequencies of 50 Hz and 60 Hz grids with every tolerance their grid codes allow.
FREQUENCY_RANGE_HZ = (45.0, 65.0)
#: Rejected energies in a row that make a meter failure: one is a spike, three are a meter that
#: cannot be trusted.
FAILURE_AFTER = 3


@dataclass(frozen=True, slots=True)
class Ratings:
    """What one connector's connection can carry: ``max_current_a`` on each of ``phases`` at the
    nominal phase-to-neutral voltage."""

    max_current_a: float
    phases: int
    nominal_voltage_v: float

    @property
    def max_power_w(self) -> float:
        return self.max_current_a * self.phases * self.nominal_voltage_v


@dataclass(frozen=True, slots=True)
class Judgement:
    """What the station makes of one reading.

    ``reading`` is what it may use: implausible values dropped, and an implausible energy replaced
    by the last accepted one; None when nothing can be used (no energy accepted yet).
    ``problems`` says, one item per value, what was implausible."""

    reading: MeterReading | None
    energy_accepted: bool
    problems: tuple[str, ...] = ()

    @property
    def problem(self) -> str | None:
        """The problems in one line for the log and the status, None for a plausible reading."""
        return "implausible reading: " + "; ".join(self.problems) if self.problems else None


class MeterPlausibility:
    """Judges the readings of one connector's meter, in the order they arrive.

    ``ratings`` is asked at each reading (the settings may change); ``clock.monotonic()`` measures
    the time between readings, so a step of the wall clock cannot widen or narrow what is
    plausible."""

    def __init__(self, ratings: Callable[[], Ratings], clock: Clock) -> None:
        self._ratings = ratings
        self._clock = clock
        #: The last reading whose energy was accepted, and when (monotonic).
        self.accepted: MeterReading | None = None
        self._accepted_at = 0.0
        self.rejected_in_a_row = 0
        self.last: Judgement | None = None

    @property
    def failed(self) -> bool:
        """The energy was rejected too often in a row to trust the meter: a meter failure."""
        return self.rejected_in_a_row >= FAILURE_AFTER

    @property
    def problem(self) -> str | None:
        """What was implausible in the last reading; None if nothing was."""
        return self.last.problem if self.last is not None else None

    def judge(self, reading: MeterReading) -> Judgement:
        ratings = self._ratings()
        now = self._clock.monotonic()
        problems: list[str] = []
        energy_problem = self._energy_problem(reading.energy_import_wh, now, ratings)
        if energy_problem is not None:
            problems.append(energy_problem)
        max_power = ratings.max_power_w * MARGIN
        max_current = ratings.max_current_a * MARGIN
        values = {
            "power_w": _within("power", "W", reading.power_w, -max_power, max_power, problems),
            "current_a": _phases_within("current", "A", reading.current_a, -max_current,
                                        max_current, problems),
            "voltage_v": _phases_within("voltage", "V", reading.voltage_v, 0.0,
                                        ratings.nominal_voltage_v * MARGIN, problems),
            "frequency_hz": _within("frequency", "Hz", reading.frequency_hz,
                                    *FREQUENCY_RANGE_HZ, problems),
        }
        if energy_problem is None:
            self.accepted, self._accepted_at = reading, now
            self.rejected_in_a_row = 0
            usable: MeterReading | None = dataclasses.replace(reading, **values)
        else:
            self.rejected_in_a_row += 1
            usable = None if self.accepted is None else dataclasses.replace(
                reading, energy_import_wh=self.accepted.energy_import_wh, **values)
        self.last = Judgement(usable, energy_problem is None, tuple(problems))
        return self.last

    def _energy_problem(self, energy: float, now: float, ratings: Ratings) -> str | None:
        if not math.isfinite(energy):
            return f"energy {energy!r} Wh is not a number"
        if energy < 0:
            return f"energy {_wh(energy)} is negative"
        if energy > REGISTER_MAX_WH:
            return f"energy {_wh(energy)} is beyond any meter's register"
        accepted = self.accepted
        if accepted is None:
            return None
        before = accepted.energy_import_wh
        if energy < before:
            return f"energy went backwards from {_wh(before)} to {_wh(energy)}"
        elapsed = max(0.0, now - self._accepted_at)
        possible = (ratings.max_power_w * MARGIN * (elapsed + READ_DELAY_S) / 3600.0
                    + REGISTER_STEP_WH + before * FLOAT32_STEP)
        if energy - before > possible:
            return (f"energy rose {_wh(energy - before)} in {elapsed:.0f} s, more than "
                    f"{ratings.max_power_w / 1000:g} kW can deliver")
        return None


def _within(name: str, unit: str, value: float | None, low: float, high: float,
            problems: list[str]) -> float | None:
    if value is None or low <= value <= high:
        return value
    problems.append(f"{name} {_number(value)} {unit} dropped, outside {low:g} to {high:g} {unit}")
    return None


def _phases_within(name: str, unit: str, values: tuple[float, ...], low: float, high: float,
                   problems: list[str]) -> tuple[float, ...]:
    # One implausible phase makes the set meaningless (which phases draw, how much): drop it all.
    wrong = [v for v in values if not low <= v <= high]
    if not wrong:
        return values
    problems.append(f"{name} {_number(wrong[0])} {unit} dropped, outside {low:g} to {high:g} "
                    f"{unit}")
    return ()


def _number(value: float) -> str:
    return f"{value:.1f}" if math.isfinite(value) and abs(value) < 1e9 else f"{value:.3g}"


def _wh(value: float) -> str:
    return f"{_number(value)} Wh"
