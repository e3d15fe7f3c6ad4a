"""The security log: every security event the charge point raised, kept for the CSMS to fetch.

The white paper "Improved security for OCPP 1.6-J" asks a charge point to report security
events (SecurityEventNotification: a failed TLS handshake, a changed security profile, a
firmware signature that does not verify...) and to keep them in a security log that the CSMS
retrieves with GetLog(SecurityLog). This module is that log:

* one JSON object per line in ``security-events.jsonl``: the event's type, its time, whether
  the white paper calls it critical, and its techInfo. Plain text a technician can read with
  ``less``, and that a half-written last line (a power cut during the write) cannot spoil: such
  a line is skipped;
* append-only: each event is appended and synced to the SD card before the CSMS hears of it;
* owner-only: the folder is 0700 and the files 0600, as a log of attacks may tell an attacker
  what was noticed and what was not;
* bounded: when the file would pass ``max_bytes`` it becomes ``security-events.1.jsonl``, and
  the generation before that is deleted. Events deleted that way are events the CSMS can no
  longer fetch: the log then raises SecurityLogWasCleared (the first rotation deletes nothing
  and raises nothing). So does :meth:`SecurityLog.clear`;
* free of secrets: the known secret values in force (the AuthorizationKey, the Basic auth
  password) and the password of any URL are blanked from the techInfo before it is written
  (and before it is sent, see :meth:`SecurityLog.scrub`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pievse.core.clock import Clock, SystemClock

__all__ = ["SecurityLog", "SecurityLogEntry"]

log = logging.getLogger("pievse.security_log")

#: The smallest bound that still holds a useful history (an event line is under 400 bytes).
MIN_BYTES = 4096

# "scheme://user:password@host": the password goes, the user stays (it says which account).
_URL_PASSWORD = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s@/]*@")


@dataclass(frozen=True, slots=True)
class SecurityLogEntry:
    """One security event: its ``type`` (the white paper's name), when (epoch seconds), and
    what the charge point said about it."""

    at: float
    type: str
    tech_info: str | None = None
    critical: bool = False

    def to_json(self) -> dict[str, Any]:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.at))
        return {"timestamp": f"{stamp}.{int(self.at * 1000) % 1000:03d}Z", "at": self.at,
                "type": self.type, "critical": self.critical, "techInfo": self.tech_info}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SecurityLogEntry:
        return cls(float(data["at"]), str(data["type"]), data.get("techInfo"),
                   bool(data.get("critical", False)))


class SecurityLog:
    """The security log in ``folder`` (made 0700 if need be).

    ``secrets()`` returns the secret values in force, to be blanked from every techInfo. The
    owner sets ``on_cleared(tech_info)``, called after events were deleted (a rotation that
    dropped a generation, or :meth:`clear`): the charge point raises SecurityLogWasCleared
    with it, which lands in the fresh log as its first line. An event recorded without its
    time is stamped with ``clock``'s.
    """

    FILE = "security-events.jsonl"
    PREVIOUS = "security-events.1.jsonl"

    def __init__(self, folder: Path | str, *, max_bytes: int = 256 << 10,
                 secrets: Callable[[], Iterable[str]] = tuple,
                 clock: Clock | None = None) -> None:
        self.folder = Path(folder)
        self.clock = clock or SystemClock()
        self.max_bytes = max(MIN_BYTES, max_bytes)
        self.secrets = secrets
        self.on_cleared: Callable[[str], None] = lambda tech_info: None
        # record() runs on the event loop, export() in a worker thread: one at a time, so an
        # export never reads a file that a rotation is moving.
        self._lock = threading.Lock()
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.folder.stat().st_mode & 0o077:
            log.warning("%s was readable by others: made it owner-only (0700)", self.folder)
        os.chmod(self.folder, 0o700)
        for path in (self.path, self.previous_path):
            with contextlib.suppress(FileNotFoundError):
                os.chmod(path, 0o600)

    @property
    def path(self) -> Path:
        return self.folder / self.FILE

    @property
    def previous_path(self) -> Path:
        return self.folder / self.PREVIOUS

    def scrub(self, text: str | None) -> str | None:
        """``text`` with every known secret and URL password blanked."""
        if not text:
            return text
        for secret in self.secrets():
            if secret:
                text = text.replace(secret, "[redacted]")
        return _URL_PASSWORD.sub(r"\1***@", text)

    # --- writing --------------------------------------------------------------------------------

    def record(self, event: str, at: float | None = None, tech_info: str | None = None,
               critical: bool = False) -> None:
        """Append one event (and sync it to the disk). Never raises: a full or read-only SD
        card must not stop the charge point from reporting the event to the CSMS."""
        entry = SecurityLogEntry(self.clock.now() if at is None else at, event,
                                 (self.scrub(tech_info) or "")[:255] or None, critical)
        line = (json.dumps(entry.to_json(), ensure_ascii=False) + "\n").encode()
        dropped = 0
        try:
            with self._lock:
                if self._size(self.path) + len(line) > self.max_bytes:
                    dropped = self._rotate()
                descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(descriptor, line)
                    os.fsync(descriptor)
                finally:
                    os.close(descriptor)
        except OSError as error:
            log.error("security event %s not written to the security log: %s", event, error)
            return
        if dropped:
            self.on_cleared(f"rotated: the {dropped} oldest events were deleted "
                            f"(the log keeps at most {2 * self.max_bytes >> 10} KiB)")

    def clear(self, why: str = "cleared") -> int:
        """Delete every event (an operator's decision); returns how many there were."""
        with self._lock:
            count = len(self._read(self.previous_path)) + len(self._read(self.path))
            for path in (self.previous_path, self.path):
                path.unlink(missing_ok=True)
        log.warning("security log %s: %d events deleted", why, count)
        self.on_cleared(f"{why}: {count} events deleted")
        return count

    def _rotate(self) -> int:
        """The current file becomes the previous one; returns the events deleted with the
        generation before it."""
        dropped = len(self._read(self.previous_path))
        os.replace(self.path, self.previous_path)
        return dropped

    @staticmethod
    def _size(path: Path) -> int:
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return 0

    # --- reading --------------------------------------------------------------------------------

    def entries(self, oldest: float | None = None,
                latest: float | None = None) -> list[SecurityLogEntry]:
        """The events from ``oldest`` to ``latest`` (epoch seconds, None: no bound), oldest
        first."""
        with self._lock:
            found = self._read(self.previous_path) + self._read(self.path)
        return [e for e in found if (oldest is None or e.at >= oldest)
                and (latest is None or e.at <= latest)]

    def export(self, path: Path, oldest: float | None = None,
               latest: float | None = None) -> int:
        """Write the events of the window to ``path`` (JSON lines, 0600) for an upload;
        returns how many. Blocking: run it in a worker thread."""
        selected = self.entries(oldest, latest)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            for entry in selected:
                out.write(json.dumps(entry.to_json(), ensure_ascii=False) + "\n")
        return len(selected)

    @staticmethod
    def _read(path: Path) -> list[SecurityLogEntry]:
        try:
            lines = path.read_bytes().decode("utf-8", "replace").splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for line in lines:
            try:
                entries.append(SecurityLogEntry.from_json(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                continue  # a line a power cut left half-written
        return entries
