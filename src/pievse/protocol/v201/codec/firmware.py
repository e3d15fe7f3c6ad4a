"""The firmware updater's steps and the log uploader's statuses in OCPP 2.0.1's words: the only
place that knows FirmwareStatusEnumType and UploadLogStatusEnumType.

2.0.1 names every step the updater takes (they were named after the 1.6 security extension,
whose words 2.0.1 took over); DownloadPaused is a step this updater never takes (a download is
retried from the start, not resumed). A status notification carries the requestId of the
request it belongs to, except Idle, which belongs to none.
"""

from __future__ import annotations

from ocpp.v201 import call

from pievse.services.firmware import FirmwareStatus, UpdateRequest
from pievse.services.log_upload import UploadLogStatus

__all__ = ["FIRMWARE_STATUSES", "LOG_STATUSES", "firmware_status_notification",
           "log_canceled_notification", "log_status_notification"]

_F = FirmwareStatus
FIRMWARE_STATUSES: dict[FirmwareStatus, str] = {
    _F.IDLE: "Idle", _F.DOWNLOAD_SCHEDULED: "DownloadScheduled", _F.DOWNLOADING: "Downloading",
    _F.DOWNLOADED: "Downloaded", _F.DOWNLOAD_FAILED: "DownloadFailed",
    _F.SIGNATURE_VERIFIED: "SignatureVerified", _F.INVALID_SIGNATURE: "InvalidSignature",
    _F.INSTALL_VERIFICATION_FAILED: "InstallVerificationFailed",
    _F.INSTALL_SCHEDULED: "InstallScheduled", _F.INSTALLING: "Installing",
    _F.INSTALLATION_FAILED: "InstallationFailed", _F.INSTALL_REBOOTING: "InstallRebooting",
    _F.INSTALLED: "Installed",
}

_L = UploadLogStatus
LOG_STATUSES: dict[UploadLogStatus, str] = {
    _L.BAD_MESSAGE: "BadMessage", _L.IDLE: "Idle",
    _L.NOT_SUPPORTED_OPERATION: "NotSupportedOperation", _L.PERMISSION_DENIED: "PermissionDenied",
    _L.UPLOADED: "Uploaded", _L.UPLOAD_FAILURE: "UploadFailure", _L.UPLOADING: "Uploading",
}
#: UploadLogStatusEnumType's word for an upload cut short by a newer GetLog (the uploader does
#: not report it: the block that cancelled it does).
LOG_ACCEPTED_CANCELED = "AcceptedCanceled"


def firmware_status_notification(status: FirmwareStatus, request: UpdateRequest | None
                                 ) -> call.FirmwareStatusNotification:
    request_id = request.request_id if request is not None else None
    return call.FirmwareStatusNotification(
        status=FIRMWARE_STATUSES[status],
        request_id=None if status is FirmwareStatus.IDLE else request_id)


def log_status_notification(status: UploadLogStatus,
                            request_id: int | None) -> call.LogStatusNotification:
    return call.LogStatusNotification(
        status=LOG_STATUSES[status],
        request_id=None if status is UploadLogStatus.IDLE else request_id)


def log_canceled_notification(request_id: int | None) -> call.LogStatusNotification:
    """The upload of ``request_id`` was cut short by a newer GetLog."""
    return call.LogStatusNotification(status=LOG_ACCEPTED_CANCELED, request_id=request_id)
