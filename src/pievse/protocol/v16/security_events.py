"""The 1.6 security extension's SecurityEventNotification (the events and how they are
reported are common: :mod:`pievse.protocol.common.security_events`)."""

from __future__ import annotations

from ocpp.v16 import call

from pievse.protocol.common.security_events import SecurityEvent
from pievse.protocol.v16 import messages

__all__ = ["security_event_notification"]


def security_event_notification(event: SecurityEvent | str, at: float,
                                tech_info: str | None = None) -> call.SecurityEventNotification:
    """The SecurityEventNotification of one event at ``at`` (epoch seconds)."""
    return call.SecurityEventNotification(
        type=SecurityEvent(event).value,
        timestamp=messages.timestamp(at),
        tech_info=tech_info[:255] if tech_info else None,
    )
