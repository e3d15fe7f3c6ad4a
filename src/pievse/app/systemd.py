"""Running under systemd: readiness, status and watchdog notifications, and logging to journald.

A ``Type=notify`` unit waits for ``READY=1`` before it calls the service started, shows the last
``STATUS=`` line in ``systemctl status``, and with ``WatchdogSec=`` kills and restarts a service
that stops sending ``WATCHDOG=1``. Each is a datagram to the unix socket named in
``$NOTIFY_SOCKET`` (a leading ``@`` means Linux's abstract namespace). ``systemd-python`` sends
them when it is installed (the ``pi`` extra); without it the same datagram is written here, so a
plain ``pip install .`` behaves the same under systemd.

The watchdog ping comes from a task on the daemon's event loop, not from a thread: a loop that
hangs (a blocking call, a busy loop) stops the pings, and systemd restarts the daemon. The
contactor does not depend on that restart: the board drivers leave it open when the process
dies (see hardware/README.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

from pievse.aio import SystemClock

log = logging.getLogger("pievse")

#: systemd's watchdog counts real seconds, whatever clock the daemon runs on.
_WATCHDOG_CLOCK = SystemClock()


class Notifier:
    """sd_notify(3) for one process; every method is a no-op outside systemd."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = env.get("NOTIFY_SOCKET") or None
        self.watchdog_s = _watchdog_interval(env)
        self._socket: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def ready(self, status: str | None = None) -> None:
        self._send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def status(self, text: str) -> None:
        self._send(f"STATUS={text}")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> None:
        self._send("STOPPING=1" + (f"\nSTATUS={status}" if status else ""))

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _send(self, message: str) -> None:
        if self.address is None:
            return
        address = self.address
        if address.startswith("@"):
            address = "\0" + address[1:]
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX,
                                             socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.sendto(message.encode(), address)
        except OSError as error:
            # systemd gone or the socket path wrong: say it once, then keep quiet.
            log.warning("cannot notify systemd at %s: %s", self.address, error)
            self.address = None
            self.close()


def _watchdog_interval(env: Any) -> float | None:
    """Seconds between watchdog pings (half of WatchdogSec), or None without a watchdog."""
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None  # meant for another process (a parent that exec'd us keeps its own)
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2e6 if value > 0 else None


class ServiceReporter:
    """Keeps systemd informed while the daemon runs: READY once it is up, a STATUS line whenever
    what ``describe()`` says changes, and WATCHDOG pings from the event loop."""

    def __init__(self, notifier: Notifier, describe: Callable[[], str]) -> None:
        self.notifier = notifier
        self._describe = describe
        self._changed = asyncio.Event()
        self._shown: str | None = None

    def ready(self) -> None:
        self._shown = self._describe()
        self.notifier.ready(self._shown)

    def changed(self) -> None:
        """Something a person would want in ``systemctl status`` may have changed."""
        self._changed.set()

    def stopping(self, why: str) -> None:
        self.notifier.stopping(why)

    async def run(self) -> None:
        """Runs for as long as the daemon does (only under systemd)."""
        interval = self.notifier.watchdog_s
        if interval is not None:
            self.notifier.watchdog()
        while True:
            await _WATCHDOG_CLOCK.wait(self._changed, interval)
            self._changed.clear()
            if interval is not None:
                self.notifier.watchdog()
            text = self._describe()
            if text != self._shown:
                self._shown = text
                self.notifier.status(text)


# --- logging --------------------------------------------------------------------------------------

#: Fields a log record may carry (``log.info(..., extra={"CONNECTOR_ID": 1})``); the journal keeps
#: them as its own fields, so ``journalctl CONNECTOR_ID=1`` finds one connector's story.
JOURNAL_FIELDS = ("CHARGE_POINT_ID", "CONNECTOR_ID", "TRANSACTION_ID", "OCPP_ACTION")


def under_journald(environ: dict[str, str] | None = None) -> bool:
    """Is stderr connected to the journal? (systemd sets JOURNAL_STREAM to its device:inode.)"""
    env = os.environ if environ is None else environ
    stream = env.get("JOURNAL_STREAM", "")
    device, _, inode = stream.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        stat = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    return (stat.st_dev, stat.st_ino) == (int(device), int(inode))


class _Utf8SafeFormatter(logging.Formatter):
    """Escapes what UTF-8 cannot carry. JSON lets a peer send a lone surrogate ("\\ud800") in
    any string, and a log line quoting it would make the journal's handler drop the whole line."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        if line.isascii():
            return line
        return line.encode("utf-8", "backslashreplace").decode("utf-8")


def setup_logging(level: str, charge_point_id: str | None = None) -> logging.Handler:
    """Log to journald with structured fields when systemd runs us, else to stderr."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler: logging.Handler | None = None
    if under_journald():
        try:
            from systemd.journal import JournalHandler
        except ImportError:
            handler = None
        else:
            extra = {"SYSLOG_IDENTIFIER": "pievse"}
            if charge_point_id:
                extra["CHARGE_POINT_ID"] = charge_point_id
            handler = JournalHandler(**extra)
            handler.setFormatter(_Utf8SafeFormatter("%(message)s"))
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        # The journal stamps time and priority itself; a terminal needs them in the line.
        fmt = ("%(name)s: %(message)s" if under_journald()
               else "%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        handler.setFormatter(_Utf8SafeFormatter(fmt))
    root.addHandler(handler)
    return handler
