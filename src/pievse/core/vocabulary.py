"""The words the core decides in: connector statuses, error codes and stop reasons.

They are OCPP 1.6's words because they are the most detailed of the field (2.0.1 maps them to its
coarser connector status and its transaction events); the values are the exact wire strings so an
adapter can pass them through.
"""

from __future__ import annotations

import enum


class ConnectorStatus(str, enum.Enum):
    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


class ErrorCode(str, enum.Enum):
    NO_ERROR = "NoError"
    CONNECTOR_LOCK_FAILURE = "ConnectorLockFailure"
    EV_COMMUNICATION_ERROR = "EVCommunicationError"
    GROUND_FAILURE = "GroundFailure"
    HIGH_TEMPERATURE = "HighTemperature"
    INTERNAL_ERROR = "InternalError"
    OTHER_ERROR = "OtherError"
    OVER_CURRENT_FAILURE = "OverCurrentFailure"
    POWER_METER_FAILURE = "PowerMeterFailure"
    POWER_SWITCH_FAILURE = "PowerSwitchFailure"
    READER_FAILURE = "ReaderFailure"


class StopReason(str, enum.Enum):
    DE_AUTHORIZED = "DeAuthorized"
    EMERGENCY_STOP = "EmergencyStop"
    EV_DISCONNECTED = "EVDisconnected"
    HARD_RESET = "HardReset"
    LOCAL = "Local"
    OTHER = "Other"
    POWER_LOSS = "PowerLoss"
    REBOOT = "Reboot"
    REMOTE = "Remote"
    SOFT_RESET = "SoftReset"
    UNLOCK_COMMAND = "UnlockCommand"
    # 2.0.1's own, reached only at the start and stop points 1.6 cannot choose (tx_points.py):
    #: EVConnectionTimeOut: authorised, the transaction begun, but no car came in time.
    TIMEOUT = "Timeout"
    #: TxStopPoint EnergyTransfer: the car stopped taking energy.
    STOPPED_BY_EV = "StoppedByEV"
    #: A master pass card (2.0.1 C16; 1.6 has no master pass to set) stopped the transaction.
    MASTER_PASS = "MasterPass"


class ReadingContext(str, enum.Enum):
    """Why a meter sample was taken (OCPP's ReadingContext)."""

    TRANSACTION_BEGIN = "Transaction.Begin"
    TRANSACTION_END = "Transaction.End"
    SAMPLE_PERIODIC = "Sample.Periodic"
    SAMPLE_CLOCK = "Sample.Clock"
    TRIGGER = "Trigger"
