"""The station's answers to the Core profile's commands in OCPP 1.6's words: RemoteStart- and
RemoteStopTransaction, Reset, ChangeAvailability, UnlockConnector."""

from __future__ import annotations

from pievse.core.answers import (
    AvailabilityStatus,
    RemoteStartStopStatus,
    ResetStatus,
    UnlockStatus,
)

__all__ = [
    "encode_availability_status",
    "encode_remote_start_stop_status",
    "encode_reset_status",
    "encode_unlock_outcome",
    "encode_unlock_status",
]


def encode_remote_start_stop_status(status: RemoteStartStopStatus) -> str:
    return {RemoteStartStopStatus.ACCEPTED: "Accepted",
            RemoteStartStopStatus.REJECTED: "Rejected"}[status]


def encode_reset_status(status: ResetStatus) -> str:
    return {ResetStatus.ACCEPTED: "Accepted"}[status]


def encode_availability_status(status: AvailabilityStatus) -> str:
    return {AvailabilityStatus.ACCEPTED: "Accepted",
            AvailabilityStatus.REJECTED: "Rejected",
            AvailabilityStatus.SCHEDULED: "Scheduled"}[status]


def encode_unlock_status(status: UnlockStatus) -> str:
    # 1.6 has no word for a connector the station lacks; NotSupported is what it answered
    # before the core told the two apart.
    return {UnlockStatus.NOT_SUPPORTED: "NotSupported",
            UnlockStatus.UNKNOWN_CONNECTOR: "NotSupported"}[status]


def encode_unlock_outcome(unlocked: bool) -> str:
    """The lock was driven open: whether its feedback reads unlocked."""
    return "Unlocked" if unlocked else "UnlockFailed"
