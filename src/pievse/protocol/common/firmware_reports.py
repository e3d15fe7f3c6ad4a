"""The firmware updater as every OCPP version's adapter drives it: what it may install when, how
its steps reach the CSMS, and the security events they raise; each version only says the steps
in its own words.

* The updater installs only while no transaction is active, and restarts the daemon through a
  soft Reset (which waits for the transaction messages to be sent). Where the version says so
  (2.0.1's L01.FR.07, unless AllowNewSessionsPendingFirmwareUpdate), the station is held from
  the moment the install is due: no new session, the connectors not in use Unavailable, until
  the restart, or until the update gives up or a new one replaces it.
* Each step goes through the redelivery queue as the version's status notification: sent while
  registered, the latest kept while offline and sent after the next registration (the CSMS needs
  to know where an update ended, not every step it missed).
* The Installed (or InstallationFailed) that a new version reports after its restart is kept in
  the updater's marker on disk until the CSMS has answered it, and queued again at the first
  registration after the restart; a registration counts as proof that a new version came up.
* InvalidSignature raises the security event InvalidFirmwareSignature, Installed raises
  FirmwareUpdated.

The signing certificate of a signed update must chain to an installed
ManufacturerRootCertificate; once one is installed, firmware is taken signed only (the security
white paper for 1.6, L01/L02 for 2.0.1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pievse import __version__
from pievse.protocol.common.notifications import Rule
from pievse.protocol.common.security_events import SecurityEvent
from pievse.services.certificates import CertificateUse
from pievse.services.firmware import FirmwareStatus, UpdateRequest
from pievse.services.firmware_signature import check_signing_certificate
from pievse.services.transfer import redact_url

if TYPE_CHECKING:
    from pievse.protocol.common.adapter_context import AdapterContext
    from pievse.services.certificates import CertificateStore

__all__ = ["FIRMWARE_STATUS", "FirmwareReports", "signing_certificate_refusal",
           "unsigned_firmware_refusal"]

#: The kind in the redelivery queue of every firmware status notification: a new update, signed
#: or not, supersedes the last.
FIRMWARE_STATUS = "firmware status"

#: Builds the version's status notification of a step (None: that step sends nothing).
StatusMessage = Callable[[FirmwareStatus, UpdateRequest | None], Any]

#: The steps from the moment an install is due until the restart: the station stays held.
_INSTALL_STEPS = frozenset({FirmwareStatus.INSTALL_SCHEDULED, FirmwareStatus.INSTALLING,
                            FirmwareStatus.INSTALL_REBOOTING})


def unsigned_firmware_refusal(certificates: CertificateStore | None) -> str | None:
    """Why an unsigned update is refused (a manufacturer PKI is installed), or None."""
    if certificates is not None and certificates.root_files(CertificateUse.MANUFACTURER_ROOT):
        return ("a ManufacturerRootCertificate is installed: firmware is taken signed only")
    return None


def signing_certificate_refusal(certificates: CertificateStore | None,
                                certificate: str) -> str | None:
    """Why a signing certificate is not trusted, or None."""
    return check_signing_certificate(
        certificate,
        certificates.installed(CertificateUse.MANUFACTURER_ROOT) if certificates else [])


class FirmwareReports:
    """Hooks the context's firmware updater (if any) to the adapter; ``message`` says a step in
    the version's words; ``holds_sessions()`` says whether a due install holds the station."""

    def __init__(self, context: AdapterContext, message: StatusMessage,
                 holds_sessions: Callable[[], bool] = lambda: False) -> None:
        self.context = context
        self._message = message
        self._holds_sessions = holds_sessions
        context.notifications.rule(FIRMWARE_STATUS, Rule(latest_only=True))
        firmware = context.firmware
        if firmware is not None:
            firmware.notify = self.status_changed
            firmware.is_idle = self._idle
            firmware.restart = lambda: context.dispatch(context.station.reset(hard=False).effects)
        context.on_registered(self._send_pending_statuses)

    def _idle(self) -> bool:
        """The updater asks once an install is due, until no transaction is active."""
        station = self.context.station
        if not station.held_for_update and self._holds_sessions():
            self.context.dispatch(station.hold_for_update(True))
        return not station.transactions()

    def _send_pending_statuses(self) -> None:
        updater = self.context.firmware
        if updater is None:
            return
        if not self.context.notifications.holds(FIRMWARE_STATUS):
            report = updater.pending_report()
            if report is not None:
                self.status_changed(report)
        updater.confirm()

    def status_changed(self, status: FirmwareStatus) -> None:
        """A step of an update was reported (live, or after the restart that ended it)."""
        updater = self.context.firmware
        request = updater.request if updater is not None else None
        station = self.context.station
        if station.held_for_update and status not in _INSTALL_STEPS:
            self.context.dispatch(station.hold_for_update(False))
        if status is FirmwareStatus.INVALID_SIGNATURE and request is not None:
            self.report(SecurityEvent.INVALID_FIRMWARE_SIGNATURE,
                        f"{redact_url(request.location)}: the signature does not match the file")
        elif status is FirmwareStatus.INSTALLED:
            self.report(SecurityEvent.FIRMWARE_UPDATED, f"pievse {__version__}")
        message = self._message(status, request)
        if message is None:
            return

        def delivered(answer: Any) -> None:
            if self.context.firmware is not None:
                self.context.firmware.delivered(status)

        self.context.notifications.put(FIRMWARE_STATUS, message, delivered)

    def start(self, asked: UpdateRequest | None, signing_refused: str | None) -> None:
        """Once the answer is on the wire: the security event of a refused signing certificate,
        or the update asked for (cancelling one not yet installing)."""
        if signing_refused:
            self.report(SecurityEvent.INVALID_FIRMWARE_SIGNING_CERTIFICATE, signing_refused)
        if self.context.firmware is not None and asked is not None:
            self.context.firmware.update(asked)

    def report(self, event: SecurityEvent, tech_info: str) -> None:
        if self.context.security_events is not None:
            self.context.security_events.report(event, tech_info)
