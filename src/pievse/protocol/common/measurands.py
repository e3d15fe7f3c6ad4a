"""Meter readings as OCPP measurands: what each measurand reads from a MeterReading.

Shared by every OCPP version; each adapter only formats the resulting values for its wire.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pievse.core.effects import MeterSample

PHASES = ("L1", "L2", "L3")
_VOLTAGE_PHASES = ("L1-N", "L2-N", "L3-N")

#: What our meters can report, by OCPP measurand name (the same names in 1.6 and 2.0.1).
SUPPORTED_MEASURANDS = (
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import",
    "Current.Offered",
    "Voltage",
    "Frequency",
)


#: One value of a sample: (measurand, value, unit, phase or None). A plain tuple: a MeterValues
#: makes ten or so of them per sample, and a fleet thousands of MeterValues a second (a named
#: tuple costs twice as much to make, a frozen dataclass four times).
Measurement = tuple[str, float, str, str | None]


def measurements(sample: MeterSample, measurands: list[str]) -> Iterator[Measurement]:
    """The values of ``measurands`` in ``sample``, skipping what the meter did not measure."""
    reading = sample.reading
    for measurand in measurands:
        if measurand == "Energy.Active.Import.Register":
            yield measurand, reading.energy_import_wh, "Wh", None
        elif measurand == "Power.Active.Import" and reading.power_w is not None:
            yield measurand, reading.power_w, "W", None
        elif measurand == "Current.Import":
            for phase, amps in zip(PHASES, reading.current_a):
                yield measurand, amps, "A", phase
        elif measurand == "Current.Offered":
            yield measurand, sample.offered_current_a, "A", None
        elif measurand == "Voltage":
            for phase, volts in zip(_VOLTAGE_PHASES, reading.voltage_v):
                yield measurand, volts, "V", phase
        elif measurand == "Frequency" and reading.frequency_hz is not None:
            yield measurand, reading.frequency_hz, "Hz", None


@functools.lru_cache(maxsize=1024)
def format_value(value: float) -> str:
    """Meter values travel as strings; keep what a meter resolves, no float noise. (Cached: a
    charging car's voltage, currents and power repeat from one sample to the next.)"""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"
