"""The security extension's maintenance commands for OCPP 1.6: GetLog and SignedUpdateFirmware,
with LogStatusNotification and SignedFirmwareStatusNotification.

Both are the 2.0.1 commands ported back to 1.6 by the white paper "Improved security for OCPP
1.6-J"; the work is done by :mod:`pievse.services.log_upload` and by the same firmware updater as
the
unsigned UpdateFirmware (:mod:`pievse.services.firmware`), which adds the signature check for them.

* **GetLog** answers Accepted with the file name (AcceptedCanceled when it cancelled an upload
  under way, Rejected when that log is not kept here); LogStatusNotification then carries the
  request's requestId through Uploading to its end. ExtendedTriggerMessage(LogStatusNotification)
  hears Idle when nothing is under way.
* **SignedUpdateFirmware** checks the signing certificate before it answers: it must chain to an
  installed ManufacturerRootCertificate, or the answer is InvalidCertificate and the security
  event InvalidFirmwareSigningCertificate goes out. Otherwise Accepted (AcceptedCanceled when
  it cancelled an update not yet installing, Rejected while one installs); the status
  notifications follow, with the requestId, and a signature that does not match the download
  raises InvalidFirmwareSignature. ExtendedTriggerMessage(FirmwareStatusNotification) hears the
  last status sent, or Idle once it was Installed or when there was none.
* Once a ManufacturerRootCertificate is installed the charge point takes signed firmware only:
  the unsigned UpdateFirmware is answered NotSupported, as the white paper has it. Before that,
  a charge point without a manufacturer PKI still updates the 1.6 way.

A firmware that came up after its update raises the security event FirmwareUpdated.

Mixed into :class:`~pievse.protocol.v16.security_ext.SecuredChargePoint16` before the Firmware
Management mixin, whose hooks it fills in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from pievse import __version__
from pievse.services.firmware import (
    DEFAULT_RETRIES,
    DEFAULT_RETRY_INTERVAL_S,
    FirmwareStatus,
    FirmwareUpdater,
    UpdateRequest,
)
from pievse.services.firmware_signature import check_signing_certificate
from pievse.services.log_upload import LogRequest, LogType, LogUploader, UploadLogStatus
from pievse.services.certificates import CertificateStore, CertificateUse
from pievse.protocol.common.notifications import RedeliveryQueue, Rule
from pievse.protocol.v16.firmware_mgmt import request_time
from pievse.services.security_log import SecurityLog
from pievse.services.transfer import redact_url

__all__ = ["LOG_STATUS", "SecureMaintenanceHandlers"]

logger = logging.getLogger("pievse.ocpp")

#: LogStatusNotification's kind in the redelivery queue: only the latest is worth sending.
LOG_STATUS = "log status"


class SecureMaintenanceHandlers:
    """GetLog and SignedUpdateFirmware. Needs what the secured 1.6 charge point provides
    (``certificates``, ``firmware``, ``notifications``, ``_send``, ``report_security_event``);
    :meth:`use_logs` gives it the log uploader (without it GetLog is Rejected and
    ExtendedTriggerMessage(LogStatusNotification) answered NotImplemented)."""

    certificates: CertificateStore
    firmware: FirmwareUpdater | None
    notifications: RedeliveryQueue
    _send: Callable[..., None]
    report_security_event: Callable[..., None]
    firmware_status_notification: Callable[[], Any]

    logs: LogUploader | None = None
    security_log: SecurityLog | None = None
    _log_asked: tuple[LogRequest, str] | None = None
    _signed_asked: UpdateRequest | None = None
    _signing_refused: str | None = None

    def use_logs(self, logs: LogUploader) -> None:
        """Wire the log uploader: its notifications go to the CSMS, and every security event
        from now on is written to its security log, which reports its own clearing."""
        self.logs = logs
        self.notifications.rule(LOG_STATUS, Rule(latest_only=True))
        logs.notify = self._log_status_changed
        if logs.security_log is not None:
            self.security_log = logs.security_log
            logs.security_log.on_cleared = lambda tech_info: self.report_security_event(
                "SecurityLogWasCleared", tech_info)

    # --- GetLog ----------------------------------------------------------------------------------

    @on(Action.get_log)
    def on_get_log(self, log: dict[str, Any], log_type: str, request_id: int,
                   retries: int | None = None, retry_interval: int | None = None,
                   **_: Any) -> call_result.GetLog:
        kind = LogType(log_type)
        location = log["remote_location"]
        oldest = request_time(log.get("oldest_timestamp"), "oldestTimestamp")
        latest = request_time(log.get("latest_timestamp"), "latestTimestamp")
        why = ("GetLog is not set up on this charge point" if self.logs is None
               else self.logs.why_not(kind, location))
        if why or self.logs is None:
            logger.warning("GetLog %s %s rejected: %s", request_id, kind.value, why)
            return call_result.GetLog(status="Rejected")
        name = self.logs.file_name(kind)
        self._log_asked = (LogRequest(
            request_id, kind, location,
            DEFAULT_RETRIES if retries is None else max(0, retries),
            DEFAULT_RETRY_INTERVAL_S if retry_interval is None else max(0, retry_interval),
            oldest, latest), name)
        # Cancelled here, not when the new one starts: the answer must say whether it was.
        cancelled = self.logs.cancel()
        return call_result.GetLog(status="AcceptedCanceled" if cancelled else "Accepted",
                                  filename=name)

    @after(Action.get_log)
    def after_get_log(self, **_: Any) -> None:
        asked, self._log_asked = self._log_asked, None
        if self.logs is not None and asked is not None:
            self.logs.start(*asked)

    def send_log_status(self) -> None:
        """What ExtendedTriggerMessage(LogStatusNotification) sends: Uploading with the
        upload's requestId, or Idle."""
        status, request_id = (self.logs.status if self.logs is not None
                              else (UploadLogStatus.IDLE, None))
        self._send(call.LogStatusNotification(status=status.value, request_id=request_id))

    def _log_status_changed(self, status: UploadLogStatus, request_id: int) -> None:
        self.notifications.put(LOG_STATUS, call.LogStatusNotification(status=status.value,
                                                                      request_id=request_id))

    # --- SignedUpdateFirmware --------------------------------------------------------------------

    @on(Action.signed_update_firmware)
    def on_signed_update_firmware(self, request_id: int, firmware: dict[str, Any],
                                  retries: int | None = None, retry_interval: int | None = None,
                                  **_: Any) -> call_result.SignedUpdateFirmware:
        retrieve = request_time(firmware["retrieve_date_time"], "retrieveDateTime")
        install = request_time(firmware.get("install_date_time"), "installDateTime")
        if self.firmware is None:
            logger.warning("SignedUpdateFirmware %s rejected: firmware updates are not set up "
                           "on this charge point", request_id)
            return call_result.SignedUpdateFirmware(status="Rejected")
        certificate = firmware["signing_certificate"]
        why = check_signing_certificate(
            certificate, self.certificates.installed(CertificateUse.MANUFACTURER_ROOT))
        if why:
            logger.warning("SignedUpdateFirmware %s: the signing certificate is refused: %s",
                           request_id, why)
            self._signing_refused = why
            return call_result.SignedUpdateFirmware(status="InvalidCertificate")
        if self.firmware.installing:
            logger.warning("SignedUpdateFirmware %s rejected: an installation is under way",
                           request_id)
            return call_result.SignedUpdateFirmware(status="Rejected")
        self._signed_asked = UpdateRequest(
            firmware["location"], retrieve or 0.0,
            DEFAULT_RETRIES if retries is None else max(0, retries),
            DEFAULT_RETRY_INTERVAL_S if retry_interval is None else max(0, retry_interval),
            install, certificate, firmware["signature"], request_id)
        return call_result.SignedUpdateFirmware(
            status="AcceptedCanceled" if self.firmware.busy else "Accepted")

    @after(Action.signed_update_firmware)
    def after_signed_update_firmware(self, **_: Any) -> None:
        refused, self._signing_refused = self._signing_refused, None
        if refused:
            self.report_security_event("InvalidFirmwareSigningCertificate", refused)
        asked, self._signed_asked = self._signed_asked, None
        if self.firmware is not None and asked is not None:
            self.firmware.update(asked)  # cancels an update not yet installing

    def send_signed_firmware_status(self) -> None:
        """What ExtendedTriggerMessage(FirmwareStatusNotification) sends: the last status of
        the signed update, Idle once it was Installed or when there was none. An unsigned
        update under way answers in its own message, FirmwareStatusNotification."""
        updater = self.firmware
        request = updater.request if updater is not None else None
        if updater is None or request is None or (not request.signed and not updater.busy):
            # request_id=None: left out of the frame (the ocpp package's dataclass wants it
            # given, though the schema makes it optional for Idle).
            self._send(call.SignedFirmwareStatusNotification(status="Idle", request_id=None))
        elif not request.signed:
            self._send(self.firmware_status_notification())
        else:
            status = updater.last_status
            self._send(call.SignedFirmwareStatusNotification(
                status=status.value,
                request_id=None if status is FirmwareStatus.IDLE else request.request_id))

    # --- the Firmware Management mixin's hooks ---------------------------------------------------

    def _unsigned_firmware_refusal(self) -> str | None:
        if self.certificates.root_files(CertificateUse.MANUFACTURER_ROOT):
            return ("a ManufacturerRootCertificate is installed: firmware is taken signed only "
                    "(SignedUpdateFirmware)")
        return None

    def _firmware_status_noted(self, status: FirmwareStatus,
                               request: UpdateRequest | None) -> None:
        if status is FirmwareStatus.INVALID_SIGNATURE and request is not None:
            self.report_security_event(
                "InvalidFirmwareSignature",
                f"{redact_url(request.location)}: the signature does not match the file")
        elif status is FirmwareStatus.INSTALLED:
            self.report_security_event("FirmwareUpdated", f"pievse {__version__}")
