"""OCPP 1.6 Firmware Management profile: UpdateFirmware and GetDiagnostics, and the status
notifications that follow them, translated to :mod:`pievse.services.firmware` and
:mod:`pievse.services.diagnostics`, which do the work.

Both commands are answered at once (the RPC layer reads nothing while a handler runs); the work
starts in the ``@after`` handler, once the answer is on the wire, so that the CSMS never sees a
FirmwareStatusNotification before the answer to its UpdateFirmware.

Status notifications go through the charge point's redelivery queue
(:mod:`pievse.protocol.common.notifications`): sent while registered, the latest of each kind
kept while offline and sent after the next registration (the CSMS needs to know where an update
ended, not every step it missed). The Installed (or InstallationFailed) that a new version
reports after its restart is also kept in the updater's marker on disk until the CSMS has
answered it, and queued again at the first registration after the restart
(:meth:`send_pending_firmware_statuses`).

The updater names its steps as the security extension does (:class:`FirmwareStatus`). An update
started by SignedUpdateFirmware is reported in those words, in SignedFirmwareStatusNotification
with its requestId; one started by UpdateFirmware in OCPP 1.6's FirmwareStatusNotification,
whose words are fewer (:data:`STATUS_16`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ocpp.exceptions import NotSupportedError, TypeConstraintViolationError
from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from pievse.services.diagnostics import DiagnosticsRequest, DiagnosticsStatus, DiagnosticsUploader
from pievse.services.firmware import (
    DEFAULT_RETRIES,
    DEFAULT_RETRY_INTERVAL_S,
    FINAL_STATUSES,
    FirmwareStatus,
    FirmwareUpdater,
    UpdateRequest,
)
from pievse.protocol.common.notifications import RedeliveryQueue, Rule
from pievse.protocol.v16 import messages
from pievse.core.station import Station

__all__ = ["DIAGNOSTICS_STATUS", "FIRMWARE_MANAGEMENT", "FIRMWARE_STATUS", "STATUS_16",
           "FirmwareManagementHandlers", "request_time", "status_16"]

log = logging.getLogger("pievse.ocpp")

#: The feature profile's name in SupportedFeatureProfiles.
FIRMWARE_MANAGEMENT = "FirmwareManagement"

#: Kinds in the redelivery queue: one for Firmware- and SignedFirmwareStatusNotification alike,
#: since a new update, signed or not, supersedes the last.
FIRMWARE_STATUS = "firmware status"
DIAGNOSTICS_STATUS = "diagnostics status"

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


def request_time(text: str | None, field: str) -> float | None:
    """A date-time of a request in epoch seconds (None stays None); an unreadable one is the
    CSMS's TypeConstraintViolation."""
    if text is None:
        return None
    try:
        return messages.parse_timestamp(text)
    except ValueError:
        raise TypeConstraintViolationError(f"{field} is not a date-time: {text!r}") from None


class FirmwareManagementHandlers:
    """Mixed into the 1.6 charge point, before ``ChargePoint16`` in the bases (it answers the
    TriggerMessages of its two notifications and hands the others on). Needs ``station``,
    ``registered``, ``notifications``, ``_send`` and ``_dispatch``;
    :meth:`use_firmware_management` gives it the updater and the uploader (without them both
    commands are answered NotSupported)."""

    station: Station
    registered: bool
    notifications: RedeliveryQueue
    _send: Callable[..., None]
    _dispatch: Callable[[list[Any]], None]

    firmware: FirmwareUpdater | None = None
    diagnostics: DiagnosticsUploader | None = None
    _diagnostics_asked: tuple[DiagnosticsRequest, str] | None = None

    def use_firmware_management(self, firmware: FirmwareUpdater | None = None,
                                diagnostics: DiagnosticsUploader | None = None) -> None:
        """Wire the updater and the uploader to this charge point: their notifications go to
        the CSMS, the updater installs only while no transaction is active and restarts the
        daemon through a soft Reset (which waits for the transaction messages to be sent)."""
        self.notifications.rule(FIRMWARE_STATUS, Rule(latest_only=True))
        self.notifications.rule(DIAGNOSTICS_STATUS, Rule(latest_only=True))
        if firmware is not None:
            self.firmware = firmware
            firmware.notify = self._firmware_status_changed
            firmware.is_idle = lambda: not self.station.transactions()
            firmware.restart = lambda: self._dispatch(self.station.reset(hard=False).effects)
        if diagnostics is not None:
            self.diagnostics = diagnostics
            diagnostics.notify = self._diagnostics_status_changed

    # --- UpdateFirmware --------------------------------------------------------------------------

    @on(Action.update_firmware)
    def on_update_firmware(self, location: str, retrieve_date: str,
                           **_: Any) -> call_result.UpdateFirmware:
        if self.firmware is None:
            raise NotSupportedError("firmware updates are not set up on this charge point")
        refused = self._unsigned_firmware_refusal()
        if refused:
            log.warning("UpdateFirmware refused: %s", refused)
            raise NotSupportedError(refused)
        request_time(retrieve_date, "retrieveDate")
        return call_result.UpdateFirmware()

    @after(Action.update_firmware)
    def after_update_firmware(self, location: str, retrieve_date: str,
                              retries: int | None = None, retry_interval: int | None = None,
                              **_: Any) -> None:
        if self.firmware is None or self._unsigned_firmware_refusal():
            return
        self.firmware.update(UpdateRequest(
            location, messages.parse_timestamp(retrieve_date),
            DEFAULT_RETRIES if retries is None else max(0, retries),
            DEFAULT_RETRY_INTERVAL_S if retry_interval is None else max(0, retry_interval)))

    # --- GetDiagnostics --------------------------------------------------------------------------

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, location: str, retries: int | None = None,
                           retry_interval: int | None = None, start_time: str | None = None,
                           stop_time: str | None = None,
                           **_: Any) -> call_result.GetDiagnostics:
        if self.diagnostics is None:
            raise NotSupportedError("diagnostics are not set up on this charge point")
        request = DiagnosticsRequest(
            location,
            DEFAULT_RETRIES if retries is None else max(0, retries),
            DEFAULT_RETRY_INTERVAL_S if retry_interval is None else max(0, retry_interval),
            request_time(start_time, "startTime"), request_time(stop_time, "stopTime"))
        file_name = self.diagnostics.file_name()
        self._diagnostics_asked = (request, file_name)
        return call_result.GetDiagnostics(file_name=file_name)

    @after(Action.get_diagnostics)
    def after_get_diagnostics(self, **_: Any) -> None:
        asked, self._diagnostics_asked = self._diagnostics_asked, None
        if self.diagnostics is not None and asked is not None:
            self.diagnostics.start(*asked)

    # --- the notifications -----------------------------------------------------------------------

    def firmware_status_notification(self) -> call.FirmwareStatusNotification:
        """What a TriggerMessage(FirmwareStatusNotification) sends: the step under way, or
        Idle (OCPP 1.6 uses Idle only in answer to a trigger)."""
        status = self.firmware.status if self.firmware is not None else FirmwareStatus.IDLE
        return call.FirmwareStatusNotification(status=STATUS_16[status])

    def _unsigned_firmware_refusal(self) -> str | None:
        """Why UpdateFirmware (unsigned) is refused here, or None: for the adapter of the
        security extension to say."""
        return None

    def _firmware_status_noted(self, status: FirmwareStatus,
                               request: UpdateRequest | None) -> None:
        """A step of an update was reported (live, or after the restart that ended it): for
        the adapter of the security extension to raise its security events."""

    def diagnostics_status_notification(self) -> call.DiagnosticsStatusNotification:
        status = (self.diagnostics.status if self.diagnostics is not None
                  else DiagnosticsStatus.IDLE)
        return call.DiagnosticsStatusNotification(status=status.value)

    @after(Action.trigger_message)
    def after_trigger_message(self, requested_message: str, connector_id: int | None = None,
                              **options: Any) -> None:
        if connector_id not in (None, 0) and connector_id not in self.station.connectors:
            return  # answered Rejected
        if requested_message == "FirmwareStatusNotification":
            self._send(self.firmware_status_notification())
        elif requested_message == "DiagnosticsStatusNotification":
            self._send(self.diagnostics_status_notification())
        else:
            super().after_trigger_message(  # type: ignore[misc]
                requested_message=requested_message, connector_id=connector_id, **options)

    def send_pending_firmware_statuses(self) -> None:
        """Call when the connection changes: once registered, queue how an update that ended
        before a restart went, if the CSMS has not heard it yet, and count a registration as
        proof that a new version came up."""
        if not self.registered or self.firmware is None:
            return
        if not self.notifications.holds(FIRMWARE_STATUS):
            report = self.firmware.pending_report()
            if report is not None:
                self._firmware_status_changed(report)
        self.firmware.confirm()

    def _firmware_status_changed(self, status: FirmwareStatus) -> None:
        request = self.firmware.request if self.firmware is not None else None
        self._firmware_status_noted(status, request)
        if request is not None and request.signed:
            message: Any = call.SignedFirmwareStatusNotification(status=status.value,
                                                                 request_id=request.request_id)
        elif (word := status_16(status)) is not None:
            message = call.FirmwareStatusNotification(status=word)
        else:
            return

        def delivered(answer: Any) -> None:
            if self.firmware is not None:
                self.firmware.delivered(status)

        self.notifications.put(FIRMWARE_STATUS, message, delivered)

    def _diagnostics_status_changed(self, status: DiagnosticsStatus) -> None:
        self.notifications.put(DIAGNOSTICS_STATUS,
                               call.DiagnosticsStatusNotification(status=status.value))
