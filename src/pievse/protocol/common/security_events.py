"""Security events, and how they are reported, whatever the OCPP version.

The white paper "Improved security for OCPP 1.6-J" and OCPP 2.0.1 (A04) have the charge point
report security events (SecurityEventNotification; each version builds its own request, given
to :class:`SecurityEvents`). Each one goes to the security log on the SD card when one is kept
(:mod:`pievse.services.security_log`, secrets blanked), to the system log, and to the CSMS
through the redelivery queue: a critical event must reach the CSMS even if it happens offline,
so it is kept until the CSMS has answered it; the oldest non-critical events give way first when
too many wait.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import Any

from pievse.aio import AsyncClock
from pievse.protocol.common.notifications import RedeliveryQueue, Rule
from pievse.services.security_log import SecurityLog

__all__ = ["CRITICAL_SECURITY_EVENTS", "SECURITY_EVENT", "Notification", "SecurityEvent",
           "SecurityEvents"]

#: Every security event, critical or not, also goes to the system log (journal).
event_log = logging.getLogger("pievse.ocpp.security_events")

#: The most events kept while the CSMS cannot be reached.
MAX_QUEUED_EVENTS = 100

#: SecurityEventNotification's kind in the redelivery queue.
SECURITY_EVENT = "security event"


class SecurityEvent(str, enum.Enum):
    """The security events, in the white paper's words (the ``type`` of 1.6's
    SecurityEventNotification; 2.0.1 names a few of them differently, its adapter says so)."""

    FIRMWARE_UPDATED = "FirmwareUpdated"
    FAILED_TO_AUTHENTICATE_AT_CENTRAL_SYSTEM = "FailedToAuthenticateAtCentralSystem"
    CENTRAL_SYSTEM_FAILED_TO_AUTHENTICATE = "CentralSystemFailedToAuthenticate"
    SETTING_SYSTEM_TIME = "SettingSystemTime"
    STARTUP_OF_THE_DEVICE = "StartupOfTheDevice"
    RESET_OR_REBOOT = "ResetOrReboot"
    SECURITY_LOG_WAS_CLEARED = "SecurityLogWasCleared"
    RECONFIGURATION_OF_SECURITY_PARAMETERS = "ReconfigurationOfSecurityParameters"
    MEMORY_EXHAUSTION = "MemoryExhaustion"
    INVALID_MESSAGES = "InvalidMessages"
    ATTEMPTED_REPLAY_ATTACKS = "AttemptedReplayAttacks"
    TAMPER_DETECTION_ACTIVATED = "TamperDetectionActivated"
    INVALID_FIRMWARE_SIGNATURE = "InvalidFirmwareSignature"
    INVALID_FIRMWARE_SIGNING_CERTIFICATE = "InvalidFirmwareSigningCertificate"
    INVALID_CENTRAL_SYSTEM_CERTIFICATE = "InvalidCentralSystemCertificate"
    INVALID_CHARGE_POINT_CERTIFICATE = "InvalidChargePointCertificate"
    INVALID_TLS_VERSION = "InvalidTLSVersion"
    INVALID_TLS_CIPHER_SUITE = "InvalidTLSCipherSuite"

    @property
    def critical(self) -> bool:
        return self in CRITICAL_SECURITY_EVENTS


#: The events the white paper marks critical: they must reach the CSMS, offline or not.
CRITICAL_SECURITY_EVENTS = frozenset({
    SecurityEvent.FIRMWARE_UPDATED, SecurityEvent.SETTING_SYSTEM_TIME,
    SecurityEvent.STARTUP_OF_THE_DEVICE, SecurityEvent.RESET_OR_REBOOT,
    SecurityEvent.SECURITY_LOG_WAS_CLEARED, SecurityEvent.MEMORY_EXHAUSTION,
    SecurityEvent.TAMPER_DETECTION_ACTIVATED,
})


#: Events that a working charge point has in its normal life: logged at INFO, the rest at WARNING.
_ROUTINE_EVENTS = frozenset({
    SecurityEvent.FIRMWARE_UPDATED, SecurityEvent.SETTING_SYSTEM_TIME,
    SecurityEvent.STARTUP_OF_THE_DEVICE, SecurityEvent.RESET_OR_REBOOT,
    SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS,
})


#: Builds a version's SecurityEventNotification: (event, when in epoch seconds, tech info).
Notification = Callable[[SecurityEvent, float, "str | None"], Any]


class SecurityEvents:
    """Reports the charge point's security events (see the module's doc)."""

    def __init__(self, notifications: RedeliveryQueue, clock: AsyncClock,
                 notification: Notification, security_log: SecurityLog | None = None) -> None:
        self.notifications = notifications
        self.clock = clock
        self._notification = notification
        #: Where every security event is also written, if the charge point keeps a security log.
        self.security_log = security_log
        # The white paper's "guaranteed delivery" of the critical events.
        notifications.rule(SECURITY_EVENT, Rule(
            must_arrive=lambda notification: SecurityEvent(notification.type).critical,
            limit=MAX_QUEUED_EVENTS))
        if security_log is not None:  # it reports its own clearing
            security_log.on_cleared = lambda tech_info: self.report(
                SecurityEvent.SECURITY_LOG_WAS_CLEARED, tech_info)

    def report(self, event: SecurityEvent | str, tech_info: str | None = None) -> None:
        """Log a security event and tell the CSMS; offline, it waits for the next registration
        (the oldest non-critical events give way first when too many wait)."""
        event, at = SecurityEvent(event), self.clock.now()
        if self.security_log is not None:  # on the SD card first, secrets blanked
            tech_info = self.security_log.scrub(tech_info)
            self.security_log.record(event.value, at, tech_info, event.critical)
        event_log.log(logging.INFO if event in _ROUTINE_EVENTS else logging.WARNING,
                      "security event %s%s", event.value, f": {tech_info}" if tech_info else "")
        self.notifications.put(SECURITY_EVENT, self._notification(event, at, tech_info))
