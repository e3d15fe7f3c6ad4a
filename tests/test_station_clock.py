"""The station's clock on a Pi without RTC or network time: the CSMS's time from the answer to
BootNotification is adopted (in the daemon's clock, not the system's), and said in the log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from pievse.aio import SystemClock
from pievse.app.daemon import Daemon
from pievse.app.system_time import system_clock_synchronised
from pievse.csms.server import CentralSystem
from pievse.protocol.common.datetimes import parse_datetime
from tests.conftest import eventually, station_config
from tests.test_ocpp16_sessions import received

DAYS_AHEAD = 3
AHEAD_S = DAYS_AHEAD * 86_400


class ClockAhead(SystemClock):
    """The CSMS's clock, right where the station's is days behind (a Pi booted at the time it
    last saved)."""

    def now(self) -> float:
        return super().now() + AHEAD_S


@pytest.fixture
async def csms() -> AsyncIterator[CentralSystem]:
    central = CentralSystem(host="127.0.0.1", port=0, heartbeat_interval=300, clock=ClockAhead())
    await central.start()
    try:
        yield central
    finally:
        await central.stop()


@pytest.fixture
async def start(csms: CentralSystem) -> AsyncIterator[Callable[[bool], Awaitable[Daemon]]]:
    running: list[tuple[Daemon, asyncio.Task]] = []

    async def start_daemon(synchronised: bool) -> Daemon:
        daemon = Daemon(station_config(csms.url), clock_synchronised=lambda: synchronised)
        running.append((daemon, asyncio.create_task(daemon.run())))
        await eventually(lambda: daemon.protocol.registered, what="BootNotification Accepted")
        await eventually(lambda: received(csms, "StatusNotification"), what="the statuses")
        return daemon

    yield start_daemon
    for daemon, task in running:
        daemon.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)


def jump_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if "not synchronised" in r.getMessage() and f"{DAYS_AHEAD}.0 days behind"
            in r.getMessage()]


async def test_the_clock_is_set_from_boot_notification_when_the_system_clock_is_not_synchronised(
        csms, start, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO)
    daemon = await start(False)
    assert abs(daemon.clock.now() - (time.time() + AHEAD_S)) < 5, "the CSMS's time adopted"
    sent = [parse_datetime(s["timestamp"]) for s in received(csms, "StatusNotification")
            if "timestamp" in s]
    assert sent and all(abs(t - (time.time() + AHEAD_S)) < 30 for t in sent), (
        "the statuses after the boot carry the right time")
    assert len(jump_lines(caplog)) == 1, "the jump is said in the log"

    # Another BootNotification (the CSMS asks) finds the clock right: the jump is not logged
    # again.
    boots = len(received(csms, "BootNotification"))
    assert (await csms.trigger_message("CP1", "BootNotification"))["status"] == "Accepted"
    await eventually(lambda: len(received(csms, "BootNotification")) > boots, what="a boot")
    await asyncio.sleep(0.2)
    assert len(jump_lines(caplog)) == 1
    assert abs(daemon.clock.now() - (time.time() + AHEAD_S)) < 5


async def test_a_synchronised_system_clock_is_kept_whatever_the_csms_says(csms, start):
    daemon = await start(True)
    assert abs(daemon.clock.now() - time.time()) < 5


def test_the_kernel_can_be_asked_whether_the_clock_is_synchronised():
    assert system_clock_synchronised() in (True, False)
