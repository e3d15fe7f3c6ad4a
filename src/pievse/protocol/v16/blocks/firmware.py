"""Firmware: UpdateFirmware, the security extension's SignedUpdateFirmware, and the status
notifications that follow them, translated to :mod:`pievse.services.firmware`, which does the
work (without an updater, UpdateFirmware is answered NotSupported, SignedUpdateFirmware
Rejected).

Both commands are answered at once (the RPC layer reads nothing while a handler runs); the work
starts in the ``@after`` handler, once the answer is on the wire, so that the CSMS never sees a
status notification before the answer to its command.

* **SignedUpdateFirmware** checks the signing certificate before it answers: it must chain to an
  installed ManufacturerRootCertificate, or the answer is InvalidCertificate and the security
  event InvalidFirmwareSigningCertificate goes out. Otherwise Accepted (AcceptedCanceled when
  it cancelled an update not yet installing, Rejected while one installs); a signature that does
  not match the download raises InvalidFirmwareSignature.
* Once a ManufacturerRootCertificate is installed the charge point takes signed firmware only:
  the unsigned UpdateFirmware is answered NotSupported, as the white paper has it. Before that,
  a charge point without a manufacturer PKI still updates the 1.6 way.

How the updater's steps reach the CSMS (through the redelivery queue, the report after a
restart, the security events they raise) is the same for every version
(:mod:`pievse.protocol.common.firmware_reports`).

The updater names its steps as the security extension does (:class:`FirmwareStatus`). An update
started by SignedUpdateFirmware is reported in those words, in SignedFirmwareStatusNotification
with its requestId; one started by UpdateFirmware in OCPP 1.6's FirmwareStatusNotification,
whose words are fewer (:data:`STATUS_16`).
"""

from __future__ import annotations

from typing import Any

from ocpp.exceptions import NotSupportedError
from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from pievse.protocol.common.firmware_reports import (
    FIRMWARE_STATUS,
    FirmwareReports,
    signing_certificate_refusal,
    unsigned_firmware_refusal,
)
from pievse.protocol.v16 import messages
from pievse.protocol.v16.configuration import KeyDefinition
from pievse.protocol.v16.context import Context
from pievse.protocol.common.transfer_requests import request_retries, request_time
from pievse.services.firmware import (
    FINAL_STATUSES,
    FirmwareStatus,
    UpdateRequest,
)

__all__ = ["FIRMWARE_STATUS", "STATUS_16", "FirmwareBlock", "status_16"]

_S = FirmwareStatus
#: How OCPP 1.6's FirmwareStatus says the state an update is in, step by step.
STATUS_16: dict[FirmwareStatus, str] = {
    _S.IDLE: "Idle", _S.DOWNLOAD_SCHEDULED: "Idle", _S.DOWNLOADING: "Downloading",
    _S.DOWNLOADED: "Downloaded", _S.DOWNLOAD_FAILED: "DownloadFailed",
    _S.SIGNATURE_VERIFIED: "Downloaded", _S.INVALID_SIGNATURE: "InstallationFailed",
    _S.INSTALL_VERIFICATION_FAILED: "InstallationFailed", _S.INSTALL_SCHEDULED: "Downloaded",
    _S.INSTALLING: "Installing", _S.INSTALLATION_FAILED: "InstallationFailed",
    _S.INSTALL_REBOOTING: "Installing", _S.INSTALLED: "Installed",
}


def status_16(step: FirmwareStatus) -> str | None:
    """The FirmwareStatusNotification a step sends: a step 1.6 has its own word for, or the
    end of an update; a step 1.6 cannot tell from the one before sends nothing."""
    word = STATUS_16[step]
    return word if word == step.value or step in FINAL_STATUSES else None


class FirmwareBlock:
    def __init__(self, context: Context) -> None:
        self.context = context
        self.log = context.log
        self._signed_asked: UpdateRequest | None = None
        self._signing_refused: str | None = None
        self.reports = FirmwareReports(context, _status_message)
        context.triggers.register(
            "FirmwareStatusNotification",
            lambda connector_id: context.send(self.firmware_status_notification()))
        # The white paper: SignedFirmwareStatusNotification.
        context.extended_triggers.register(
            "FirmwareStatusNotification", lambda connector_id: self._send_signed_status())

    def keys(self) -> list[KeyDefinition]:
        return []

    # --- UpdateFirmware ------------------------------------------------------------------------

    @on(Action.update_firmware)
    def on_update_firmware(self, location: str, retrieve_date: str,
                           **_: Any) -> call_result.UpdateFirmware:
        if self.context.firmware is None:
            raise NotSupportedError("firmware updates are not set up on this charge point")
        refused = self._unsigned_firmware_refusal()
        if refused:
            self.log.warning("UpdateFirmware refused: %s", refused)
            raise NotSupportedError(refused)
        request_time(retrieve_date, "retrieveDate")
        return call_result.UpdateFirmware()

    @after(Action.update_firmware)
    def after_update_firmware(self, location: str, retrieve_date: str,
                              retries: int | None = None, retry_interval: int | None = None,
                              **_: Any) -> None:
        firmware = self.context.firmware
        if firmware is None or self._unsigned_firmware_refusal():
            return
        firmware.update(UpdateRequest(location, messages.parse_timestamp(retrieve_date),
                                      *request_retries(retries, retry_interval)))

    def _unsigned_firmware_refusal(self) -> str | None:
        refused = unsigned_firmware_refusal(self.context.certificates)
        return f"{refused} (SignedUpdateFirmware)" if refused else None

    # --- SignedUpdateFirmware ------------------------------------------------------------------

    @on(Action.signed_update_firmware)
    def on_signed_update_firmware(self, request_id: int, firmware: dict[str, Any],
                                  retries: int | None = None, retry_interval: int | None = None,
                                  **_: Any) -> call_result.SignedUpdateFirmware:
        retrieve = request_time(firmware["retrieve_date_time"], "retrieveDateTime")
        install = request_time(firmware.get("install_date_time"), "installDateTime")
        updater = self.context.firmware
        if updater is None:
            self.log.warning("SignedUpdateFirmware %s rejected: firmware updates are not set up "
                             "on this charge point", request_id)
            return call_result.SignedUpdateFirmware(status="Rejected")
        certificate = firmware["signing_certificate"]
        why = signing_certificate_refusal(self.context.certificates, certificate)
        if why:
            self.log.warning("SignedUpdateFirmware %s: the signing certificate is refused: %s",
                             request_id, why)
            self._signing_refused = why
            return call_result.SignedUpdateFirmware(status="InvalidCertificate")
        if updater.installing:
            self.log.warning("SignedUpdateFirmware %s rejected: an installation is under way",
                             request_id)
            return call_result.SignedUpdateFirmware(status="Rejected")
        self._signed_asked = UpdateRequest(
            firmware["location"], retrieve or 0.0, *request_retries(retries, retry_interval),
            install, certificate, firmware["signature"], request_id)
        return call_result.SignedUpdateFirmware(
            status="AcceptedCanceled" if updater.busy else "Accepted")

    @after(Action.signed_update_firmware)
    def after_signed_update_firmware(self, **_: Any) -> None:
        refused, self._signing_refused = self._signing_refused, None
        asked, self._signed_asked = self._signed_asked, None
        self.reports.start(asked, refused)

    # --- the notifications ---------------------------------------------------------------------

    def firmware_status_notification(self) -> call.FirmwareStatusNotification:
        """What a TriggerMessage(FirmwareStatusNotification) sends: the step under way, or
        Idle (OCPP 1.6 uses Idle only in answer to a trigger)."""
        updater = self.context.firmware
        status = updater.status if updater is not None else FirmwareStatus.IDLE
        return call.FirmwareStatusNotification(status=STATUS_16[status])

    def _send_signed_status(self) -> None:
        """What ExtendedTriggerMessage(FirmwareStatusNotification) sends: the last status of
        the signed update, Idle once it was Installed or when there was none. An unsigned
        update under way answers in its own message, FirmwareStatusNotification."""
        updater = self.context.firmware
        request = updater.request if updater is not None else None
        if updater is None or request is None or (not request.signed and not updater.busy):
            # request_id=None: left out of the frame (the ocpp package's dataclass wants it
            # given, though the schema makes it optional for Idle).
            self.context.send(call.SignedFirmwareStatusNotification(status="Idle",
                                                                    request_id=None))
        elif not request.signed:
            self.context.send(self.firmware_status_notification())
        else:
            status = updater.last_status
            self.context.send(call.SignedFirmwareStatusNotification(
                status=status.value,
                request_id=None if status is FirmwareStatus.IDLE else request.request_id))


def _status_message(status: FirmwareStatus, request: UpdateRequest | None) -> Any:
    """A signed update speaks SignedFirmwareStatusNotification with its requestId, an unsigned
    one 1.6's FirmwareStatusNotification (when 1.6 has a word for the step)."""
    if request is not None and request.signed:
        return call.SignedFirmwareStatusNotification(status=status.value,
                                                     request_id=request.request_id)
    word = status_16(status)
    return call.FirmwareStatusNotification(status=word) if word is not None else None
