"""The station's answers to the CSMS's commands of every day: start and stop a session, reset,
change availability, unlock a connector.

Each command of ``Station`` answers with one of these (inside ``Answer``, with the effects it
caused). The words are the core's own; each protocol adapter says them in its version's words.
The answers of the local authorization, the reservations and smart charging live with those.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pievse.core.effects import Effect

__all__ = ["Answer", "AvailabilityStatus", "RemoteStartStopStatus", "ResetStatus",
           "UnlockStatus"]


@dataclass(frozen=True, slots=True)
class Answer:
    """The station's answer to a command (one of the core's status enums) and what the command
    caused."""

    status: enum.Enum
    effects: list[Effect]
    #: Why, when the command was refused and the core can say (an OCPP 2.0.1 statusInfo).
    reason: str | None = None


class RemoteStartStopStatus(enum.Enum):
    """RemoteStartTransaction and RemoteStopTransaction (2.0.1: RequestStart/StopTransaction)."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"


class ResetStatus(enum.Enum):
    #: Always: the transactions are stopped first, then the station restarts.
    ACCEPTED = "accepted"


class EvseResetStatus(enum.Enum):
    """A reset of one EVSE (2.0.1's Reset with an evseId)."""

    ACCEPTED = "accepted"
    #: OnIdle while a transaction runs there: the reset follows when it ends.
    SCHEDULED = "scheduled"
    #: No such EVSE.
    REJECTED = "rejected"


class AvailabilityStatus(enum.Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    #: A connector in use changes once its transaction has ended.
    SCHEDULED = "scheduled"


class UnlockStatus(enum.Enum):
    #: This station has no connector lock to work.
    NOT_SUPPORTED = "not_supported"
    #: The station has no connector of that number.
    UNKNOWN_CONNECTOR = "unknown_connector"
    #: The lock is being released (after the transaction there stopped): its outcome follows
    #: as a ``CableLockSettled`` effect.
    UNLOCKING = "unlocking"
