"""A driver that fails in a way nobody foresaw costs its own part, never the daemon: the failure
is logged, the station acts on it (OCPP status and error code of the connector, the contactor
open), the part starts again after a pause that grows, and every other part keeps running.

The drivers here are the simulated ones with a bug put in (a stand-in for a driver with a bug),
run by a real daemon against the bench CSMS over a real websocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from pievse.aio import FakeClock
from pievse.app.daemon import Daemon
from pievse.app.supervision import Backoff, Supervisor
from pievse.csms.server import CentralSystem
from tests.conftest import eventually, station_config
from tests.test_ocpp16_sessions import TAG, charging_session, received, status_now

pytestmark = pytest.mark.asyncio

QUICK = Backoff(first_s=0.05, longest_s=0.4, settled_s=30.0)


class BugInDriver(RuntimeError):
    """What a driver with a bug raises: not a DriverError, nothing the daemon expects."""


class BoardWithABug:
    """A board driver that loses an event and breaks its stream, or refuses to close the
    contactor, when the test says so; otherwise the simulated board it wraps."""

    def __init__(self, board: Any) -> None:
        self._board = board
        self.breaks_on_next_event = False
        self.refuses_to_close = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._board, name)

    async def events(self) -> AsyncIterator[Any]:
        async for event in self._board.events():
            if self.breaks_on_next_event:
                self.breaks_on_next_event = False
                raise BugInDriver("GPIO event thread lost")
            yield event

    def set_contactor(self, closed: bool) -> None:
        if closed and self.refuses_to_close:
            raise BugInDriver("contactor output in an unexpected state")
        self._board.set_contactor(closed)


class MeterWithABug:
    """A meter driver that raises the unforeseen for the next ``failures`` readings."""

    def __init__(self, meter: Any) -> None:
        self._meter = meter
        self.failures = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._meter, name)

    async def read(self) -> Any:
        if self.failures:
            self.failures -= 1
            raise BugInDriver("register map lookup failed")
        return await self._meter.read()


class ReaderWithABug:
    """A card reader whose stream breaks on the next card when the test says so."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        self.breaks_on_next_card = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)

    async def tokens(self) -> AsyncIterator[Any]:
        async for token in self._reader.tokens():
            if self.breaks_on_next_card:
                self.breaks_on_next_card = False
                raise BugInDriver("reader thread died")
            yield token


@pytest.fixture
async def buggy_station(csms: CentralSystem) -> AsyncIterator[Callable[[], Awaitable[Daemon]]]:
    running: list[tuple[Daemon, asyncio.Task]] = []

    async def start() -> Daemon:
        daemon = Daemon(station_config(csms.url))
        hardware = daemon.hardware
        hardware.boards[1] = BoardWithABug(hardware.boards[1])
        hardware.meters[1] = MeterWithABug(hardware.meters[1])
        hardware.reader = ReaderWithABug(hardware.reader)
        daemon.supervisor = Supervisor(daemon.clock, QUICK)
        running.append((daemon, asyncio.create_task(daemon.run())))
        await eventually(lambda: daemon.protocol.registered, what="BootNotification Accepted")
        await eventually(lambda: status_now(csms) == "Available", what="Available")
        return daemon

    yield start
    for daemon, task in running:
        daemon.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)


def last_status(csms: CentralSystem, connector_id: int = 1) -> dict:
    return [p for p in received(csms, "StatusNotification")
            if p["connectorId"] == connector_id][-1]


async def test_a_board_whose_events_break_faults_its_connector_and_opens_the_contactor(
        csms, buggy_station, caplog):
    """A charging session; the board's event stream breaks (a lost event): the contactor opens
    at once, the CSMS sees Faulted / InternalError, and the StopTransaction is not lost. The
    restarted board is heard again at the car's next change, which clears the fault."""
    daemon = await buggy_station()
    await charging_session(csms, daemon)
    board, ev = daemon.hardware.boards[1], daemon.hardware.simulated.evs[1]
    assert board.contactor_closed

    with caplog.at_level(logging.CRITICAL, logger="pievse"):
        board.breaks_on_next_event = True
        ev.set_state("B")  # the event that is lost with the stream
        await eventually(lambda: status_now(csms) == "Faulted", what="Faulted")
    assert not board.contactor_closed
    fault = last_status(csms)
    assert fault["errorCode"] == "InternalError"
    assert "board driver failed" in fault.get("info", "")
    assert any("board of connector 1 failed" in r.getMessage() and r.exc_info
               for r in caplog.records), "the first failure is logged with its traceback"
    assert received(csms, "StopTransaction"), "a fault ends the session as any fault does"
    assert daemon.exit_reason.value == "stopped" and not daemon._stopping.is_set()

    ev.set_state("A")  # the restarted board reports the car unplugged: heard again
    await eventually(lambda: status_now(csms) == "Available", what="Available again")
    assert not board.contactor_closed


async def test_a_board_that_refuses_to_close_the_contactor_faults_its_connector(
        csms, buggy_station):
    """Closing the contactor raises inside the driver: the station does not pretend to charge;
    it reports the connector Faulted and leaves the contactor open, and the daemon runs on."""
    daemon = await buggy_station()
    board = daemon.hardware.boards[1]
    board.refuses_to_close = True
    sim = daemon.hardware.simulated
    sim.evs[1].set_state("B")
    await eventually(lambda: status_now(csms) == "Preparing", what="Preparing")
    sim.reader.present(TAG)
    sim.evs[1].set_state("C")
    await eventually(lambda: status_now(csms) == "Faulted",
                     what=f"Faulted {received(csms, 'StatusNotification')}")
    assert last_status(csms)["errorCode"] == "InternalError"
    assert not board.contactor_closed
    assert not daemon._stopping.is_set()

    # The car waits in B (no offer while Faulted): still Faulted, no retry.
    await asyncio.sleep(1.0)
    assert status_now(csms) == "Faulted" and not board.contactor_closed
    board.refuses_to_close = False
    sim.evs[1].set_state("A")  # unplugged: the board is trusted again
    await eventually(lambda: status_now(csms) == "Available", what="Available again")


async def test_a_meter_driver_that_raises_the_unforeseen_is_a_power_meter_failure_until_it_reads(
        csms, buggy_station, caplog):
    """The meter driver raises something that is not a DriverError: the connector reports
    PowerMeterFailure (charging goes on: a silent meter is no danger), the poller starts again,
    and the first good reading clears the error code."""
    daemon = await buggy_station()
    meter = daemon.hardware.meters[1]
    meter.failures = 3
    await eventually(lambda: last_status(csms)["errorCode"] == "PowerMeterFailure",
                     what="PowerMeterFailure")
    assert any("meter of connector 1 failed (BugInDriver: register map lookup failed)"
               in r.getMessage() for r in caplog.records)
    await eventually(lambda: last_status(csms)["errorCode"] == "NoError", what="NoError again")
    assert daemon.supervisor.failures["meter of connector 1"] >= 1
    assert daemon.status()["connectors"][0]["meter"]["online"]


async def test_a_card_reader_that_breaks_is_started_again_and_reads_the_next_card(
        csms, buggy_station):
    """The card lost with the broken stream is lost, and the charge point reports ReaderFailure
    (connector 0, still Available: a remote start works); the next card read clears it and
    starts the session."""
    daemon = await buggy_station()
    sim = daemon.hardware.simulated
    daemon.hardware.reader.breaks_on_next_card = True
    sim.evs[1].set_state("B")
    await eventually(lambda: status_now(csms) == "Preparing", what="Preparing")
    sim.reader.present(TAG)
    await eventually(lambda: last_status(csms, 0)["errorCode"] == "ReaderFailure",
                     what="ReaderFailure on connector 0")
    assert last_status(csms, 0)["status"] == "Available"
    assert last_status(csms, 0)["info"].startswith("card reader driver failed")
    sim.reader.present(TAG)
    await eventually(lambda: received(csms, "StartTransaction"), what="StartTransaction")
    await eventually(lambda: last_status(csms, 0)["errorCode"] == "NoError", what="NoError")


# --- the supervisor itself -------------------------------------------------------------------


async def test_a_part_failing_at_once_on_every_try_waits_longer_each_time_up_to_the_longest():
    clock = FakeClock()
    supervisor = Supervisor(clock, Backoff(first_s=1, longest_s=8, settled_s=60))
    starts: list[float] = []
    reported: list[str] = []

    async def part() -> None:
        starts.append(clock.monotonic())
        raise BugInDriver("no such device")

    task = supervisor.start("part", part, failed=reported.append)
    for _ in range(40):
        await clock.advance(1)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    pauses = [b - a for a, b in zip(starts, starts[1:])]
    assert pauses[:5] == [1, 2, 4, 8, 8]
    assert reported[0] == "BugInDriver: no such device"
    assert supervisor.failures["part"] == len(starts)


async def test_a_part_that_ran_a_while_before_failing_starts_again_with_the_short_pause():
    clock = FakeClock()
    supervisor = Supervisor(clock, Backoff(first_s=1, longest_s=8, settled_s=60))
    starts: list[float] = []

    async def part() -> None:
        starts.append(clock.monotonic())
        if len(starts) == 4:
            await clock.sleep(120)  # worked for two minutes, then failed
        raise BugInDriver("lost")

    task = supervisor.start("part", part)
    for _ in range(160):
        await clock.advance(1)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    pauses = [b - a for a, b in zip(starts, starts[1:])]
    assert pauses[:3] == [1, 2, 4]
    assert pauses[3] == 120 + 1, "after a good run the pause is the short one again"
    assert supervisor.failures["part"] == len(starts) - 3


async def test_a_part_that_ends_on_its_own_is_started_again_and_a_failing_report_does_not_stop_it(
        caplog):
    clock = FakeClock()
    supervisor = Supervisor(clock, Backoff(first_s=1, longest_s=1, settled_s=60))
    runs = 0

    async def part() -> None:
        nonlocal runs
        runs += 1

    def report(why: str) -> None:
        raise BugInDriver(f"cannot report {why}")

    task = supervisor.start("part", part, failed=report)
    for _ in range(5):
        await clock.advance(1)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert runs >= 4
    assert any("could not report its failure" in r.getMessage() for r in caplog.records)
    assert any("stopped on its own" in r.getMessage() for r in caplog.records)
