"""What a connector's trouble tells the CSMS: for each fault the OCPP error code of its status
and the reason that ends its transaction, and the info texts of the conditions that are not
faults (a silent or implausible meter, a car asking for ventilation)."""

from __future__ import annotations

from pievse.core.hardware import FaultKind
from pievse.core.vocabulary import ErrorCode, StopReason

# Why a fault stops a transaction, and the error code the CSMS sees for it.
FAULT_REPORT: dict[FaultKind, tuple[ErrorCode, StopReason, str]] = {
    FaultKind.RCD: (ErrorCode.GROUND_FAILURE, StopReason.OTHER, "residual current device tripped"),
    FaultKind.EMERGENCY_STOP: (
        ErrorCode.OTHER_ERROR,
        StopReason.EMERGENCY_STOP,
        "emergency stop pressed",
    ),
    FaultKind.CONTACTOR_OPEN: (
        ErrorCode.POWER_SWITCH_FAILURE,
        StopReason.OTHER,
        "contactor commanded closed but reads open",
    ),
    FaultKind.WELDED: (
        ErrorCode.POWER_SWITCH_FAILURE,
        StopReason.OTHER,
        "contactor welded: commanded open but reads closed",
    ),
    FaultKind.PILOT: (ErrorCode.EV_COMMUNICATION_ERROR, StopReason.OTHER, "control pilot error"),
    FaultKind.CABLE_LOCK: (
        ErrorCode.CONNECTOR_LOCK_FAILURE,
        StopReason.OTHER,
        "cable lock failed: its feedback does not read the position it was driven to",
    ),
    FaultKind.BOARD_DRIVER: (ErrorCode.INTERNAL_ERROR, StopReason.OTHER, "board driver failed"),
}

METER_FAILURE_INFO = "meter not answering; last good energy kept"
IMPLAUSIBLE_METER_INFO = "implausible meter readings; last good energy kept"
VENTILATION_INFO = "vehicle asks for ventilation (state D), which this station does not provide"
