"""Meter readings as OCPP measurands: what each measurand reads from a MeterReading.

Shared by every OCPP version; each adapter only formats the resulting values for its wire.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from pievse.core.effects import MeterSample

PHASES = ("L1", "L2", "L3")

#: What our meters can report, by OCPP measurand name (the same names in 1.6 and 2.0.1).
SUPPORTED_MEASURANDS = (
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import",
    "Current.Offered",
    "Voltage",
    "Frequency",
)


class Measurement(NamedTuple):
    """One value of a sample (a tuple: a MeterValues makes ten or so of them per sample, and a
    fleet thousands of MeterValues a second; a frozen dataclass costs twice as much to make)."""

    measurand: str
    value: float
    unit: str
    phase: str | None = None


def measurements(sample: MeterSample, measurands: list[str]) -> Iterator[Measurement]:
    """The values of ``measurands`` in ``sample``, skipping what the meter did not measure."""
    reading = sample.reading
    for measurand in measurands:
        if measurand == "Energy.Active.Import.Register":
            yield Measurement(measurand, reading.energy_import_wh, "Wh")
        elif measurand == "Power.Active.Import" and reading.power_w is not None:
            yield Measurement(measurand, reading.power_w, "W")
        elif measurand == "Current.Import":
            for phase, amps in zip(PHASES, reading.current_a):
                yield Measurement(measurand, amps, "A", phase)
        elif measurand == "Current.Offered":
            yield Measurement(measurand, sample.offered_current_a, "A")
        elif measurand == "Voltage":
            for phase, volts in zip(PHASES, reading.voltage_v):
                yield Measurement(measurand, volts, "V", f"{phase}-N")
        elif measurand == "Frequency" and reading.frequency_hz is not None:
            yield Measurement(measurand, reading.frequency_hz, "Hz")


def format_value(value: float) -> str:
    """Meter values travel as strings; keep what a meter resolves, no float noise."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"
