"""The daemon under systemd: READY, STATUS and WATCHDOG over a real NOTIFY_SOCKET.

The test binds the datagram socket systemd would bind, hands its path to the daemon in
NOTIFY_SOCKET (and WATCHDOG_USEC, as a unit with WatchdogSec= does) and reads what arrives.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from pievse.app.systemd import Notifier, setup_logging, under_journald
from tests.conftest import config_text, eventually
from tests.ports import free_port


class NotifySocket:
    """What systemd listens on: every datagram, with the monotonic time it arrived."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.received: list[tuple[float, str]] = []
        self._running = True
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while self._running:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received.append((time.monotonic(), data.decode()))

    def lines(self) -> list[str]:
        return [line for _, text in self.received for line in text.splitlines()]

    def statuses(self) -> list[str]:
        return [line.removeprefix("STATUS=") for line in self.lines() if line.startswith("STATUS=")]

    def close(self) -> None:
        self._running = False
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path):
    sock = NotifySocket(tmp_path / "notify")
    yield sock
    sock.close()


async def test_pievse_run_under_systemd_reports_ready_status_watchdog_and_stopping(
    csms, notify_socket, tmp_path
):
    api_port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(config_text({
        "charge_point": {"id": "SYSTEMD1"},
        "ocpp": {"url": csms.url},
        "api": {"listen": f"127.0.0.1:{api_port}"},
        "simulation": {"ev_reaction_delay": 0.1},
        "storage": {"path": str(tmp_path / "pievse.sqlite3")},
    }))
    env = {**os.environ, "NOTIFY_SOCKET": notify_socket.path, "WATCHDOG_USEC": "1000000"}
    process = subprocess.Popen([sys.executable, "-m", "pievse", "run", "--config", str(config)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        await eventually(lambda: "READY=1" in notify_socket.lines(), "READY=1", timeout=30)
        # Pinged at half of WatchdogSec, from the running event loop.
        await eventually(lambda: notify_socket.lines().count("WATCHDOG=1") >= 3,
                         "three watchdog pings")
        await eventually(lambda: any("SYSTEMD1 online" in s for s in notify_socket.statuses()),
                         "STATUS says online")
        assert any("connector 1 Available" in s for s in notify_socket.statuses())

        def plug_in() -> None:
            request = urllib.request.Request(f"http://127.0.0.1:{api_port}/api/sim/ev",
                                             data=b'{"state": "B"}', method="POST",
                                             headers={"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=5).read()

        await asyncio.to_thread(plug_in)
        await eventually(lambda: any("connector 1 Preparing" in s
                                     for s in notify_socket.statuses()), "STATUS follows the car")
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 20) == 0
        assert "STOPPING=1" in notify_socket.lines()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()


async def test_a_hung_event_loop_stops_the_watchdog_pings(csms, start_station, notify_socket):
    """A blocked loop must look dead to systemd, so that it restarts the daemon."""
    notifier = Notifier({"NOTIFY_SOCKET": notify_socket.path, "WATCHDOG_USEC": "200000"})
    await start_station(notifier=notifier)
    await eventually(lambda: notify_socket.lines().count("WATCHDOG=1") >= 3, "pings")
    hung_from = time.monotonic()
    time.sleep(1.5)  # the whole loop stands still, as in a blocking driver call
    hung_until = time.monotonic()
    # Leave a margin for a ping that was already on its way when the loop stopped.
    during = [t for t, text in notify_socket.received
              if "WATCHDOG=1" in text and hung_from + 0.3 < t < hung_until]
    assert during == []
    count = notify_socket.lines().count("WATCHDOG=1")
    await eventually(lambda: notify_socket.lines().count("WATCHDOG=1") > count,
                     "pings again once the loop runs")


def test_outside_systemd_nothing_is_sent_and_nothing_fails():
    notifier = Notifier({})
    assert not notifier.enabled and notifier.watchdog_s is None
    notifier.ready("up")
    notifier.watchdog()
    notifier.stopping()


def test_a_watchdog_meant_for_another_process_is_ignored():
    assert Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "4000000",
                     "WATCHDOG_PID": str(os.getpid())}).watchdog_s == 2.0
    assert Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "4000000",
                     "WATCHDOG_PID": str(os.getpid() + 1)}).watchdog_s is None


def test_a_vanished_notify_socket_is_reported_once_and_then_left_alone(tmp_path, caplog):
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    notifier.ready()
    notifier.status("still here")
    assert len([r for r in caplog.records if "cannot notify systemd" in r.getMessage()]) == 1
    assert not notifier.enabled


def test_journald_is_recognised_by_the_device_and_inode_of_stderr(tmp_path):
    """systemd sets JOURNAL_STREAM to the device:inode of the stream it gave us as stderr."""
    stream = tmp_path / "journal-stream"
    stream.touch()
    stat = stream.stat()
    probe = "from pievse.app.systemd import under_journald; print(under_journald())"
    for journal_stream, expected in [(f"{stat.st_dev}:{stat.st_ino}", "True"),
                                     (f"{stat.st_dev}:{stat.st_ino + 1}", "False"), ("", "False")]:
        with stream.open("w") as stderr:
            out = subprocess.run([sys.executable, "-c", probe], stderr=stderr, text=True,
                                 capture_output=False, stdout=subprocess.PIPE,
                                 env={**os.environ, "JOURNAL_STREAM": journal_stream}, check=True)
        assert out.stdout.strip() == expected, journal_stream
    assert under_journald({}) is False


def test_a_lone_surrogate_from_the_wire_is_escaped_in_the_log_line_not_dropped_with_it():
    """JSON lets a peer send "\\ud800" in an id tag or a topic; UTF-8 (the journal) cannot carry
    it, and the handler would drop the whole line that quotes it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        handler = setup_logging("INFO")
        record = logging.LogRecord("pievse.test", logging.WARNING, __file__, 1,
                                   "refused id tag %s", ("\ud800ABC",), None)
        line = handler.format(record)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert "refused id tag \\ud800ABC" in line.encode("utf-8").decode("utf-8")


async def test_log_lines_carry_the_journal_fields_of_their_connector_and_ocpp_action(
        csms, start_station, caplog):
    """journalctl CONNECTOR_ID=1 (or OCPP_ACTION=BootNotification) finds one story."""
    caplog.set_level(logging.DEBUG)
    daemon = await start_station()
    daemon.hardware.simulated.evs[1].set_state("B")
    await eventually(lambda: any(getattr(r, "CONNECTOR_ID", None) == 1
                                 and "pilot state B" in r.getMessage() for r in caplog.records),
                     what="a pilot line with CONNECTOR_ID 1")
    assert any(getattr(r, "OCPP_ACTION", None) == "BootNotification" for r in caplog.records)
