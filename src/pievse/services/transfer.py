"""Moving files between the charge point and the servers a CSMS names: firmware comes down,
diagnostics bundles and logs go up.

A CSMS gives a URL (``location`` in UpdateFirmware, GetDiagnostics, SignedUpdateFirmware,
GetLog): http, https or ftp, with credentials in it when the server wants them
(``ftp://user:password@host/dir/``). Those credentials never reach a log line
(:func:`redact_url`). Every transfer is tried ``1 + retries`` times, ``retryInterval`` apart
(:func:`retrying`), in a worker thread: urllib and ftplib block, and the event loop must keep
the charge point answering the CSMS (and the contactor logic running) while a slow link to a
garage drips a 10 MiB wheel in.

When an upload fails, OCPP's security extension wants to know why in its own words
(:class:`UploadFailure`): a server that refuses the credentials is not the same news for the
operator as a server that is down.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import hashlib
import logging
import os
import posixpath
import re
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Coroutine
from http.client import HTTPException
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from pievse.aio import AsyncClock
from pievse.services.firmware_rollback import FirmwareError

__all__ = ["SCHEMES", "Job", "TransferError", "UploadFailure", "build_and_upload", "download",
           "open_url", "redact_url", "retrying", "upload", "upload_failure", "upload_url"]

log = logging.getLogger("pievse.transfer")

#: The URL schemes a CSMS may name.
SCHEMES = ("http", "https", "ftp")
_RETRYABLE = (OSError, HTTPException, ValueError)
T = TypeVar("T")


class TransferError(FirmwareError):
    """A download or an upload failed; ``failure`` says how a server refused, if it did."""

    def __init__(self, message: str, failure: UploadFailure | None = None) -> None:
        super().__init__(message)
        self.failure = failure


class UploadFailure(str, enum.Enum):
    """Why an upload failed, in the words of the security extension's UploadLogStatus."""

    FAILED = "UploadFailure"  # the server could not be reached, or failed (5xx), or anything else
    BAD_MESSAGE = "BadMessage"  # the server could not make sense of the request (HTTP 400)
    NOT_SUPPORTED = "NotSupportedOperation"  # it does not take uploads there (405, FTP 502)
    PERMISSION_DENIED = "PermissionDenied"  # wrong or missing credentials (401/403, FTP 530)


# --- URLs: credentials travel in them (ftp://user:pass@host/), and never reach a log ----------


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def open_url(url: str, *, timeout: float, method: str = "GET", data: Any = None,
             headers: dict[str, str] | None = None) -> Any:
    """urllib's ``urlopen`` for http, https and ftp, with user:password in an http(s) URL sent
    as Basic authentication (urllib's own FTP handler reads them from the URL)."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"unsupported URL scheme {parts.scheme!r} (http, https or ftp)")
    request_headers = dict(headers or {})
    if parts.scheme != "ftp" and parts.username is not None:
        token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        request_headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
        url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    request = urllib.request.Request(urlunsplit(urlsplit(url)._replace(fragment="")), data=data,
                                     headers=request_headers, method=method)
    return urllib.request.urlopen(request, timeout=timeout)


async def retrying(action: Callable[[], T], *, retries: int, interval: float, what: str,
                   clock: AsyncClock) -> T:
    """Run the blocking ``action`` in a worker thread, ``1 + retries`` times at most,
    ``interval`` seconds of ``clock`` apart; raise TransferError (its cause: the last attempt's
    error) when the last attempt failed."""
    attempts = max(1, retries + 1)
    attempt = 1
    while True:
        try:
            return await asyncio.to_thread(action)
        except (*_RETRYABLE, FirmwareError) as error:
            log.warning("%s: attempt %d of %d failed: %s", what, attempt, attempts, error)
            if attempt >= attempts:
                raise TransferError(f"{what}: gave up after {attempts} attempts: {error}",
                                    upload_failure(error)) from error
        attempt += 1
        await clock.sleep(max(0.0, interval))


# --- down -----------------------------------------------------------------------------------


def download(url: str, destination: Path, *, timeout: float, max_bytes: int) -> None:
    """Stream ``url`` into ``destination`` (written to a ``.part`` file and renamed only when
    complete, length and optional ``#sha256=`` fragment checked)."""
    wanted = re.fullmatch(r"sha256=([0-9a-fA-F]{64})", urlsplit(url).fragment)
    digest, size = hashlib.sha256(), 0
    partial = destination.with_name(destination.name + ".part")
    try:
        with open_url(url, timeout=timeout) as response, open(partial, "wb") as out:
            announced = response.headers.get("Content-Length")
            while chunk := response.read(1 << 16):
                size += len(chunk)
                if size > max_bytes:
                    raise TransferError(f"larger than the {max_bytes} bytes allowed")
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if announced is not None and announced.isdigit() and int(announced) != size:
            raise TransferError(f"cut short: {size} of {announced} bytes")
        if wanted and digest.hexdigest() != wanted.group(1).lower():
            raise TransferError(f"sha256 {digest.hexdigest()} is not the {wanted.group(1)} "
                                "announced")
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)


# --- up -------------------------------------------------------------------------------------


def upload_url(location: str, file_name: str) -> str:
    """Where a file goes: into ``location`` if it names a directory (its path ends with
    ``/`` or is empty), else ``location`` itself (a pre-signed URL, say)."""
    parts = urlsplit(location)
    if parts.path and not parts.path.endswith("/"):
        return location
    return urlunsplit(parts._replace(path=(parts.path or "/") + quote(file_name)))


def upload(url: str, path: Path, *, timeout: float,
           content_type: str = "application/octet-stream") -> None:
    """Send the file at ``path`` to ``url``: HTTP(S) PUT (any 2xx is success) or FTP STOR."""
    if urlsplit(url).scheme == "ftp":
        _ftp_store(url, path, timeout)
        return
    size = path.stat().st_size
    with open(path, "rb") as body, open_url(
            url, timeout=timeout, method="PUT", data=body,
            headers={"Content-Type": content_type, "Content-Length": str(size)}) as answer:
        answer.read()


def _ftp_store(url: str, path: Path, timeout: float) -> None:
    parts = urlsplit(url)
    folder, name = posixpath.split(unquote(parts.path))
    if not name:
        raise TransferError(f"{redact_url(url)} names no file to store")
    import ftplib  # here, not at start: only an ftp:// upload needs it

    try:
        with ftplib.FTP(timeout=timeout) as ftp:
            ftp.connect(parts.hostname or "", parts.port or 21)
            ftp.login(unquote(parts.username or "anonymous"), unquote(parts.password or ""))
            if folder not in ("", "/"):
                ftp.cwd(folder)
            with open(path, "rb") as body:
                ftp.storbinary(f"STOR {name}", body)
    except ftplib.Error as error:  # the server's refusals; socket errors are OSErrors
        raise TransferError(f"FTP: {error}", _ftp_failure(str(error))) from None


def _ftp_failure(reply: str) -> UploadFailure:
    """RFC 959 reply codes: 530 not logged in, 532 needs an account, 550/553 not allowed
    there; 500/501 syntax errors; 502/504 commands the server does not implement."""
    code = reply[:3]
    if code in ("530", "532", "550", "553"):
        return UploadFailure.PERMISSION_DENIED
    if code in ("502", "504"):
        return UploadFailure.NOT_SUPPORTED
    if code in ("500", "501"):
        return UploadFailure.BAD_MESSAGE
    return UploadFailure.FAILED


def upload_failure(error: BaseException) -> UploadFailure:
    """What an error of :func:`upload` says about the server."""
    if isinstance(error, TransferError) and error.failure is not None:
        return error.failure
    if isinstance(error, urllib.error.HTTPError):
        if error.code in (401, 403, 407):
            return UploadFailure.PERMISSION_DENIED
        if error.code in (405, 501):
            return UploadFailure.NOT_SUPPORTED
        if error.code == 400:
            return UploadFailure.BAD_MESSAGE
    return UploadFailure.FAILED


async def build_and_upload(folder: Path, file_name: str, build: Callable[[Path], Awaitable[None]],
                           location: str, *, retries: int, retry_interval: float, timeout: float,
                           content_type: str, uploading: Callable[[], None],
                           clock: AsyncClock) -> str:
    """Make ``folder/file_name`` with ``build``, call ``uploading()``, then upload it to
    ``location`` (retried); the file never outlives the call: the SD card keeps no copy. Returns
    the URL it went to; raises TransferError (OSError if the file could not be made)."""
    folder.mkdir(parents=True, exist_ok=True)
    for left in folder.iterdir():  # by an upload cut short (a power cut, a newer request)
        if left.is_file():
            left.unlink(missing_ok=True)
    path = folder / file_name
    target = upload_url(location, file_name)
    try:
        await build(path)
        uploading()
        await retrying(lambda: upload(target, path, timeout=timeout, content_type=content_type),
                       retries=retries, interval=retry_interval,
                       what=f"uploading {file_name} to {redact_url(target)}", clock=clock)
    finally:
        path.unlink(missing_ok=True)
    return target


class Job:
    """One background task of a kind at a time: starting another cancels the one under way
    (a CSMS that asks again wants the new request, not both)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._task: asyncio.Task | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, work: Coroutine[Any, Any, None]) -> bool:
        """Run ``work``; True if a job under way was cancelled for it."""
        cancelled = self.cancel()
        self._task = asyncio.get_running_loop().create_task(work, name=self.name)
        return cancelled

    def cancel(self) -> bool:
        """Cancel the job under way; True if there was one."""
        if not self.running:
            return False
        assert self._task is not None
        self._task.cancel()
        return True

    async def wait(self) -> None:
        """Until the job under way (if any) has ended."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
