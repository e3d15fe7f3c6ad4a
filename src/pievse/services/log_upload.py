"""GetLog (OCPP 1.6 security extension, and OCPP 2.0.1): a log file, uploaded where the CSMS
says, its progress told in LogStatusNotifications.

The CSMS asks for one of two logs:

* **SecurityLog**: the security events in the window ``oldestTimestamp`` .. ``latestTimestamp``
  (:mod:`pievse.services.security_log`), as ``security-log-<charge point>-<UTC time>.jsonl``;
* **DiagnosticsLog**: the diagnostics bundle of GetDiagnostics
(:mod:`pievse.services.diagnostics`), the
  journal limited to the same window.

It answers GetLog with the file name it will upload, and Accepted, or AcceptedCanceled when
that request cancelled an upload still under way (one at a time: the CSMS wants the newest), or
Rejected when it cannot (that log is not kept here, or the location is no http, https or ftp
URL). Then the file is made and sent like a diagnostics bundle (HTTP PUT or FTP STOR, retried),
and LogStatusNotification, carrying the request's ``requestId``, says Uploading, then Uploaded,
or why not: PermissionDenied (the server refused the credentials), NotSupportedOperation (it
takes no uploads there), BadMessage (it could not read the request) or UploadFailure (anything
else). A triggered LogStatusNotification says Idle when nothing is under way.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pievse.aio import AsyncClock, SystemClock
from pievse.services.diagnostics import DiagnosticsUploader, upload_file_name
from pievse.services.firmware import DEFAULT_RETRIES, DEFAULT_RETRY_INTERVAL_S, FirmwareError
from pievse.services.security_log import SecurityLog
from pievse.services.transfer import SCHEMES, Job, build_and_upload, redact_url, upload_failure

__all__ = ["LogRequest", "LogType", "LogUploader", "UploadLogStatus"]

log = logging.getLogger("pievse.log_upload")


class LogType(str, enum.Enum):
    """GetLog's ``logType``."""

    DIAGNOSTICS = "DiagnosticsLog"
    SECURITY = "SecurityLog"


class UploadLogStatus(str, enum.Enum):
    """The ``status`` of LogStatusNotification."""

    BAD_MESSAGE = "BadMessage"
    IDLE = "Idle"
    NOT_SUPPORTED_OPERATION = "NotSupportedOperation"
    PERMISSION_DENIED = "PermissionDenied"
    UPLOADED = "Uploaded"
    UPLOAD_FAILURE = "UploadFailure"
    UPLOADING = "Uploading"


@dataclass(frozen=True, slots=True)
class LogRequest:
    """A GetLog.req; times in epoch seconds (None: no bound)."""

    request_id: int
    log_type: LogType
    location: str
    retries: int = DEFAULT_RETRIES
    retry_interval: float = DEFAULT_RETRY_INTERVAL_S
    oldest: float | None = None
    latest: float | None = None


class LogUploader:
    """Carries out GetLog, one upload at a time, in ``work_dir``.

    Either log may be missing (None): GetLog for it is then Rejected. The owner sets
    ``notify(status, request_id)``. File names and the wait between attempts go by ``clock``.
    """

    def __init__(self, work_dir: Path | str, *, charge_point_id: str,
                 security_log: SecurityLog | None, diagnostics: DiagnosticsUploader | None,
                 timeout: float = 60.0, clock: AsyncClock | None = None) -> None:
        self.work_dir = Path(work_dir)
        self.clock = clock or SystemClock()
        self.charge_point_id = charge_point_id
        self.security_log = security_log
        self.diagnostics = diagnostics
        self.timeout = timeout
        self.notify: Callable[[UploadLogStatus, int], None] = lambda status, request_id: None
        self._job = Job("get-log")
        self._uploading: int | None = None  # the requestId of the upload under way

    @property
    def status(self) -> tuple[UploadLogStatus, int | None]:
        """What a triggered LogStatusNotification says: Uploading and the upload's requestId,
        or Idle (no requestId)."""
        if self._uploading is None:
            return UploadLogStatus.IDLE, None
        return UploadLogStatus.UPLOADING, self._uploading

    def why_not(self, log_type: LogType, location: str) -> str | None:
        """Why a GetLog must be Rejected, or None."""
        if log_type is LogType.SECURITY and self.security_log is None:
            return "no security log is kept on this charge point"
        if log_type is LogType.DIAGNOSTICS and self.diagnostics is None:
            return "diagnostics are not set up on this charge point"
        if urlsplit(location).scheme not in SCHEMES:
            return f"{redact_url(location)}: only http, https and ftp locations are supported"
        return None

    def file_name(self, log_type: LogType, at: float | None = None) -> str:
        """The name of the file GetLog.conf announces."""
        at = self.clock.now() if at is None else at
        if log_type is LogType.DIAGNOSTICS:
            return upload_file_name(self.charge_point_id, at)
        return upload_file_name(self.charge_point_id, at, kind="security-log", suffix=".jsonl")

    def cancel(self) -> bool:
        """Cancel the upload under way (a new GetLog came); True if there was one."""
        cancelled = self._job.cancel()
        if cancelled:
            log.info("GetLog %s cancelled by a newer request", self._uploading)
            self._uploading = None
        return cancelled

    def start(self, request: LogRequest, name: str) -> None:
        """Make the file ``name`` and upload it (cancelling an upload still under way)."""
        self.cancel()
        self._uploading = request.request_id
        self._job.start(self._run(request, name))

    def stop(self) -> None:
        """The daemon is going down: the upload under way is abandoned (its file removed)."""
        self._job.cancel()

    async def wait(self) -> None:
        await self._job.wait()

    async def _run(self, request: LogRequest, name: str) -> None:
        security = request.log_type is LogType.SECURITY
        try:
            target = await build_and_upload(
                self.work_dir, name, lambda path: self._make(request, path),
                request.location, retries=request.retries, retry_interval=request.retry_interval,
                timeout=self.timeout,
                content_type="application/x-ndjson" if security else "application/gzip",
                uploading=lambda: self._report(UploadLogStatus.UPLOADING, request),
                clock=self.clock)
        except FirmwareError as error:
            log.error("GetLog %s: %s not uploaded: %s", request.request_id, name, error)
            self._report(UploadLogStatus(upload_failure(error).value), request)
        except Exception:  # a bug, or the file could not be made: the CSMS must still hear
            log.exception("GetLog %s: %s not uploaded", request.request_id, name)
            self._report(UploadLogStatus.UPLOAD_FAILURE, request)
        else:
            log.info("GetLog %s: %s uploaded to %s", request.request_id, name,
                     redact_url(target))
            self._report(UploadLogStatus.UPLOADED, request)

    async def _make(self, request: LogRequest, path: Path) -> None:
        if request.log_type is LogType.SECURITY:
            assert self.security_log is not None
            count = await asyncio.to_thread(self.security_log.export, path, request.oldest,
                                            request.latest)
            log.info("GetLog %s: %d security events", request.request_id, count)
        else:
            assert self.diagnostics is not None
            await self.diagnostics.make_bundle(path, request.oldest, request.latest)

    def _report(self, status: UploadLogStatus, request: LogRequest) -> None:
        if status is not UploadLogStatus.UPLOADING and self._uploading == request.request_id:
            self._uploading = None
        log.info("GetLog %s: %s", request.request_id, status.value)
        self.notify(status, request.request_id)
