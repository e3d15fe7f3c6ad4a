"""Diagnostics (OCPP 1.6 Firmware Management, GetDiagnostics): what a technician needs to see,
in one file, uploaded where the CSMS says.

The bundle ``diagnostics-<charge point>-<UTC time>.tar.gz`` holds:

* ``journal.txt``: ``journalctl --unit pievse`` over the window the CSMS asked for
  (``startTime`` .. ``stopTime``), when systemd's journal is there;
* ``log.txt``: the end of the configured log file, when there is one;
* ``config.toml``: the configuration in force, every secret (``[ocpp] password``...) blanked;
* ``store.json``: what the store holds: transaction messages waiting for the CSMS, the open
  transactions (id tags left out: they are personal data), the keys the CSMS changed;
* ``version.txt``: ``pievse --version``, Python and the platform.

Each text is capped (``max_text_bytes``, the newest part kept) so a month of journal does not
fill the SD card, and the known secret values (the password, the AuthorizationKey in force) are
scrubbed from every one of them: a log line that quoted one must not leave the charge point.

The upload is an HTTP(S) ``PUT`` or an FTP ``STOR`` to ``location``, tried ``retries`` more times
``retryInterval`` apart. A location whose path ends with ``/`` is a directory: the bundle goes
into it under its file name; any other location is the exact target (a pre-signed URL, say).
DiagnosticsStatusNotification tells the CSMS: Uploading, then Uploaded or UploadFailed (Idle
answers a TriggerMessage when no upload is under way). The security extension's
GetLog(DiagnosticsLog) uploads the same bundle (:mod:`pievse.services.log_upload`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import io
import json
import logging
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pievse.aio import AsyncClock, SystemClock
from pievse.services.firmware import DEFAULT_RETRIES, DEFAULT_RETRY_INTERVAL_S, FirmwareError
from pievse.services.transfer import Job, build_and_upload, redact_url, upload, upload_url

__all__ = ["DiagnosticsRequest", "DiagnosticsStatus", "DiagnosticsUploader",
           "redacted_config", "store_summary", "upload", "upload_file_name", "upload_url"]

log = logging.getLogger("pievse.diagnostics")

#: Configuration keys whose values are secrets even where the key table does not say so.
_SECRET_NAME = re.compile(r"password|secret|token|authorization_?key|passphrase", re.IGNORECASE)


class DiagnosticsStatus(str, enum.Enum):
    """The ``status`` of DiagnosticsStatusNotification (OCPP 1.6 DiagnosticsStatus)."""

    IDLE = "Idle"
    UPLOADED = "Uploaded"
    UPLOAD_FAILED = "UploadFailed"
    UPLOADING = "Uploading"


@dataclass(frozen=True, slots=True)
class DiagnosticsRequest:
    """A GetDiagnostics.req; times in epoch seconds (None: no bound)."""

    location: str
    retries: int = DEFAULT_RETRIES
    retry_interval: float = DEFAULT_RETRY_INTERVAL_S
    start_time: float | None = None
    stop_time: float | None = None


# --- what goes into the bundle ----------------------------------------------------------------


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()) \
            + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a TOML basic string


def redacted_config(config: Any) -> str:
    """The configuration in force as TOML, every secret key's value replaced by ``""``.
    ``config`` is the app's configuration, which names its secret keys."""
    secret = config.secret_keys()
    lines = ["# The configuration in force; secrets are blanked.", ""]
    for section, values in dataclasses.asdict(config).items():
        lines.append(f"[{section}]")
        for name, value in values.items():
            hidden = (section, name) in secret or _SECRET_NAME.search(name)
            lines.append(f"{name} = {_toml('' if hidden else value)}")
        lines.append("")
    return "\n".join(lines)


def store_summary(store: Any, connectors: Iterable[int] = (1,)) -> dict[str, Any]:
    """What the store holds, without id tags or secrets. Read on the event loop's thread, the
    store's own (its SQLite connection is not shared with worker threads)."""
    queued: dict[str, int] = {}
    for entry in store.outbox_entries():
        queued[entry.kind] = queued.get(entry.kind, 0) + 1
    return {
        "path": store.path,
        "outbox": {"start": queued.get("start", 0), "stop": queued.get("stop", 0),
                   "meter": queued.get("meter", 0)},
        "transaction_ids_awaiting_stop": len(store.transaction_ids()),
        "open_transactions": [
            {field: getattr(t, field) for field in (
                "ref", "connector_id", "transaction_id", "meter_start_wh", "started_at",
                "last_energy_wh", "last_energy_at")}
            for t in store.open_transactions()],
        "next_transaction_ref": store.state("next_transaction_ref"),
        "reset_pending": store.state("reset_pending"),
        "meter_energy_wh": {str(n): store.state(f"meter_energy_wh/{n}") for n in connectors},
        "charging_profiles": len(store.state("charging_profiles") or []),
        "configuration_changed_by_csms": {
            name: value for name, value in store.configuration().items()
            if not _SECRET_NAME.search(name)},
    }


def upload_file_name(charge_point_id: str, at: float, kind: str = "diagnostics",
                     suffix: str = ".tar.gz") -> str:
    """``<kind>-<charge point>-<UTC time><suffix>``: who made the file and when (``at``, epoch
    seconds), safe in a URL path and on any file system."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(at))
    who = re.sub(r"[^A-Za-z0-9._-]", "_", charge_point_id)
    return f"{kind}-{who}-{stamp}{suffix}"


def _tail(data: bytes, limit: int) -> bytes:
    if len(data) <= limit:
        return data
    cut = data[-limit:]
    return b"[... older lines left out ...]\n" + cut[cut.find(b"\n") + 1:]


# --- the uploader -----------------------------------------------------------------------------


class DiagnosticsUploader:
    """Builds and uploads diagnostics bundles, one GetDiagnostics at a time, in ``work_dir``.

    ``secrets()`` returns the secret values in force (scrubbed from every text); the owner sets
    the ``notify(status)`` hook. ``version_command`` prints the version (``pievse --version``).
    File names, times in the bundle and the wait between attempts go by ``clock``.
    """

    def __init__(self, work_dir: Path | str, *, charge_point_id: str, config: Any = None,
                 store: Any = None, journal_unit: str | None = "pievse",
                 log_file: str | None = None, secrets: Callable[[], Iterable[str]] = tuple,
                 timeout: float = 60.0, max_text_bytes: int = 8 << 20,
                 version_command: list[str] | None = None,
                 clock: AsyncClock | None = None) -> None:
        self.work_dir = Path(work_dir)
        self.clock = clock or SystemClock()
        self.charge_point_id = charge_point_id
        self.config = config
        self.store = store
        self.journal_unit = journal_unit
        self.log_file = log_file
        self.secrets = secrets
        self.timeout = timeout
        self.max_text_bytes = max_text_bytes
        self.version_command = version_command or [sys.executable, "-m", "pievse", "--version"]
        self.notify: Callable[[DiagnosticsStatus], None] = lambda status: None
        self._current: DiagnosticsStatus | None = None
        self._job = Job("diagnostics")

    @property
    def status(self) -> DiagnosticsStatus:
        """What a triggered DiagnosticsStatusNotification says: Uploading, or Idle."""
        return self._current or DiagnosticsStatus.IDLE

    def _report(self, status: DiagnosticsStatus) -> None:
        self._current = status if status is DiagnosticsStatus.UPLOADING else None
        log.info("diagnostics: %s", status.value)
        self.notify(status)

    def file_name(self, at: float | None = None) -> str:
        """The name of a bundle made now: what GetDiagnostics.conf answers."""
        return upload_file_name(self.charge_point_id, self.clock.now() if at is None else at)

    def start(self, request: DiagnosticsRequest, file_name: str) -> None:
        """Build and upload ``file_name`` (an upload still under way is abandoned)."""
        self._job.start(self._run(request, file_name))

    def stop(self) -> None:
        """The daemon is going down: the upload under way is abandoned (its file removed)."""
        self._job.cancel()

    async def wait(self) -> None:
        """Until the upload under way (if any) has ended."""
        await self._job.wait()

    async def _run(self, request: DiagnosticsRequest, file_name: str) -> None:
        try:
            target = await build_and_upload(
                self.work_dir, file_name,
                lambda path: self.make_bundle(path, request.start_time, request.stop_time),
                request.location, retries=request.retries, retry_interval=request.retry_interval,
                timeout=self.timeout, content_type="application/gzip",
                uploading=lambda: self._report(DiagnosticsStatus.UPLOADING), clock=self.clock)
        except (FirmwareError, OSError) as error:
            log.error("diagnostics not uploaded: %s", error)
            self._report(DiagnosticsStatus.UPLOAD_FAILED)
        except Exception:  # a bug: the CSMS must still hear how it ended
            log.exception("diagnostics not uploaded")
            self._report(DiagnosticsStatus.UPLOAD_FAILED)
        else:
            log.info("diagnostics %s uploaded to %s", file_name, redact_url(target))
            self._report(DiagnosticsStatus.UPLOADED)

    async def make_bundle(self, path: Path, start_time: float | None = None,
                          stop_time: float | None = None) -> None:
        """Write the bundle at ``path``: the store is read here, on the event loop's thread
        (its SQLite connection's), the rest in a worker thread."""
        summary = store_summary(self.store, self._connectors()) if self.store else None
        await asyncio.to_thread(self.build_bundle, path, summary, start_time, stop_time)

    def _connectors(self) -> range:
        count = getattr(getattr(self.config, "charge_point", None), "connectors", 1)
        return range(1, count + 1)

    def build_bundle(self, path: Path, summary: dict[str, Any] | None = None,
                     start_time: float | None = None, stop_time: float | None = None) -> None:
        """Write the tar.gz at ``path`` (blocking: run it in a worker thread)."""
        texts: dict[str, bytes] = {}
        notes = []
        journal = self._journal(start_time, stop_time)
        if journal is not None:
            texts["journal.txt"] = journal
        else:
            notes.append("no systemd journal on this machine")
        if self.log_file:
            try:
                texts["log.txt"] = _tail(Path(self.log_file).read_bytes(), self.max_text_bytes)
            except OSError as error:
                notes.append(f"log file {self.log_file}: {error.strerror or error}")
        if self.config is not None:
            texts["config.toml"] = redacted_config(self.config).encode()
        if summary is not None:
            texts["store.json"] = json.dumps(summary, indent=1, default=str).encode()
        texts["version.txt"] = self._versions(self.clock.now()).encode()
        if notes:
            texts["NOTES.txt"] = "".join(f"{note}\n" for note in notes).encode()
        secrets = [s.encode() for s in self.secrets() if s]
        partial = path.with_name(path.name + ".part")
        now = self.clock.now()
        import tarfile  # here, not at start: most stations never make a bundle

        with tarfile.open(partial, "w:gz") as bundle:
            folder = path.name.removesuffix(".tar.gz")
            for name, data in texts.items():
                for secret in secrets:
                    data = data.replace(secret, b"[redacted]")
                member = tarfile.TarInfo(f"{folder}/{name}")
                member.size, member.mtime, member.mode = len(data), int(now), 0o644
                bundle.addfile(member, io.BytesIO(data))
        os.replace(partial, path)

    def _journal(self, start_time: float | None, stop_time: float | None) -> bytes | None:
        if not self.journal_unit:
            return None
        command = ["journalctl", "--unit", self.journal_unit, "--no-pager", "--utc",
                   "--output", "short-iso-precise"]
        if start_time is not None:
            command.append(f"--since=@{int(start_time)}")
        if stop_time is not None:
            command.append(f"--until=@{int(stop_time) + 1}")
        try:
            done = subprocess.run(command, capture_output=True, timeout=120,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as error:
            log.info("no journal for the diagnostics: %s", error)
            return None
        if done.returncode != 0:
            log.info("journalctl failed: %s", done.stderr.decode(errors="replace").strip())
            return None
        return _tail(done.stdout + done.stderr, self.max_text_bytes)

    def _versions(self, now: float) -> str:
        try:
            version = subprocess.run(self.version_command, capture_output=True, text=True,
                                     timeout=60, stdin=subprocess.DEVNULL).stdout.strip()
        except (OSError, subprocess.TimeoutExpired) as error:
            version = f"({' '.join(self.version_command)} failed: {error})"
        return (f"{version}\npython {sys.version.split()[0]} ({sys.executable})\n"
                f"platform {platform.platform()} {platform.machine()}\n"
                f"made {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now))}\n")
