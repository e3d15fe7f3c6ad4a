"""What the station core knows of its hardware: the values a driver reports to it.

The drivers' contracts (``pievse.drivers.contracts``) are written in these values, so the core
never imports a driver and every driver, real or simulated, speaks the core's language.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pievse.core.iec61851 import PilotState

__all__ = ["FaultKind", "MeterReading", "PilotState"]


@dataclass(frozen=True, slots=True)
class MeterReading:
    """One reading of an energy meter.

    ``energy_import_wh`` is the meter's import register (monotonic, never goes backwards).
    Per-phase lists hold one value per phase in use (1 or 3). ``timestamp`` is seconds since the
    epoch (UTC) at which the meter was read.
    """

    energy_import_wh: float
    timestamp: float
    power_w: float | None = None
    current_a: tuple[float, ...] = ()
    voltage_v: tuple[float, ...] = ()
    frequency_hz: float | None = None


class FaultKind(str, enum.Enum):
    """Fault inputs of a board. Any active fault opens the contactor at once."""

    RCD = "rcd"  # residual current device tripped (or DC leakage detected)
    EMERGENCY_STOP = "emergency_stop"
    # Contactor commanded open but its auxiliary contact reads closed. The board compares command
    # and feedback itself (it knows the contactor's switching time) and reports the result here.
    WELDED = "welded"
    # Contactor commanded closed but its auxiliary contact stays open: coil, coil supply or the
    # contact itself failed. No current flows, but the station must not pretend it charges.
    CONTACTOR_OPEN = "contactor_open"
    PILOT = "pilot"  # pilot in state E/F, or the car's diode check failed
    # A socket's cable lock did not reach the position it was driven to (its feedback says so).
    CABLE_LOCK = "cable_lock"
    # The board's driver failed: its inputs (pilot, fault contacts) are no longer heard, so
    # nothing the station decides about this connector rests on facts. Set by the daemon.
    BOARD_DRIVER = "board_driver"
