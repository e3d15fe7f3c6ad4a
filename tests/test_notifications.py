"""The redelivery queue alone, on a fake clock, against a stand-in for the CSMS's end of the RPC
session: what is sent, in which order, and when it is tried again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from ocpp.v16 import call

from pievse.aio import FakeClock
from pievse.protocol.common.notifications import RedeliveryQueue, Rule
from pievse.protocol.common.rpc import CallErrorReceived, ConnectionLost, ResponseTimeout
from tests.conftest import eventually

pytestmark = pytest.mark.asyncio

STATUS = "diagnostics status"
EVENT = "security event"


class CentralSystemEnd:
    """Answers the queue's calls as a CSMS would: records each request with the clock's time,
    refuses the next ones with ``refusals`` (in order), and is unreachable while offline."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.received: list[tuple[float, Any]] = []
        self.refusals: list[Exception] = []
        self.online = True

    async def call(self, request: Any) -> Any:
        if not self.online:
            raise ConnectionLost("the connection closed")
        self.received.append((self.clock.monotonic(), request))
        if self.refusals:
            raise self.refusals.pop(0)
        return {"answered": request}

    def statuses(self) -> list[tuple[float, str]]:
        return [(at, request.status) for at, request in self.received]


def status(value: str) -> call.DiagnosticsStatusNotification:
    return call.DiagnosticsStatusNotification(status=value)


def event(kind: str, at: str = "2026-01-01T00:00:00Z") -> call.SecurityEventNotification:
    return call.SecurityEventNotification(type=kind, timestamp=at, tech_info=None)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def csms(clock: FakeClock) -> CentralSystemEnd:
    return CentralSystemEnd(clock)


@pytest.fixture
async def queue(clock: FakeClock):
    notifications = RedeliveryQueue(clock, retry_interval=60)
    notifications.rule(STATUS, Rule(latest_only=True))
    notifications.rule(EVENT, Rule(must_arrive=lambda n: n.type == "TamperDetectionActivated",
                                   limit=3))
    return notifications


@pytest.fixture
async def delivering(queue: RedeliveryQueue, csms: CentralSystemEnd, clock: FakeClock):
    """Runs the queue's delivery over the stand-in's connection, as a session does."""
    tasks: list[asyncio.Task] = []

    async def start() -> asyncio.Task:
        tasks.append(asyncio.create_task(queue.deliver(csms.call)))
        await clock.settle()
        return tasks[-1]

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_notifications_go_out_in_order_and_each_answer_reaches_its_sender(
        queue, csms, clock, delivering):
    answers: list[Any] = []
    await delivering()
    queue.put(EVENT, event("StartupOfTheDevice"), answers.append)
    queue.put(STATUS, status("Uploading"), answers.append)
    queue.put(STATUS, status("Uploaded"))  # while connected, every step goes out
    await clock.settle()

    assert [type(r).__name__ for _, r in csms.received] == [
        "SecurityEventNotification", "DiagnosticsStatusNotification",
        "DiagnosticsStatusNotification"]
    assert [a["answered"] for a in answers] == [csms.received[0][1], csms.received[1][1]]
    assert len(queue) == 0


async def test_statuses_left_waiting_when_the_connection_drops_are_cut_to_the_latest(
        queue, csms, clock, delivering):
    csms.refusals = [CallErrorReceived("InternalError")]
    await delivering()
    queue.put(EVENT, event("InvalidMessages"))  # refused: the statuses wait behind it
    queue.put(STATUS, status("Uploading"))
    queue.put(STATUS, status("Uploaded"))
    await clock.settle()
    assert queue.requests(STATUS) == [status("Uploading"), status("Uploaded")]
    csms.online = False
    await clock.advance(60)
    assert queue.requests() == [event("InvalidMessages"), status("Uploaded")]


async def test_offline_they_wait_and_go_out_first_over_the_next_connection(
        queue, csms, clock, delivering):
    csms.online = False
    queue.put(EVENT, event("ResetOrReboot"))
    queue.put(STATUS, status("Uploaded"))
    session = await delivering()
    await clock.settle()
    assert session.done(), "delivery ends with the connection"
    assert queue.requests() == [event("ResetOrReboot"), status("Uploaded")]

    csms.online = True
    await delivering()
    await clock.settle()
    assert [r for _, r in csms.received] == [event("ResetOrReboot"), status("Uploaded")]
    assert len(queue) == 0


async def test_a_callerror_or_no_answer_is_retried_at_the_set_pace_then_given_up(
        queue, csms, clock, delivering):
    csms.refusals = [CallErrorReceived("InternalError"), ResponseTimeout("no answer"),
                     CallErrorReceived("GenericError")]
    await delivering()
    queue.put(EVENT, event("InvalidMessages"))
    queue.put(STATUS, status("Uploaded"))
    await clock.settle()
    assert [at for at, _ in csms.received] == [0.0]

    await clock.advance(59)
    assert len(csms.received) == 1, "nothing before the retry interval"
    await clock.advance(1)
    assert [at for at, _ in csms.received] == [0.0, 60.0]
    await clock.advance(60)
    # Three attempts, the rule's default: given up, and the next one goes at once.
    assert [(at, type(r).__name__) for at, r in csms.received] == [
        (0.0, "SecurityEventNotification"), (60.0, "SecurityEventNotification"),
        (120.0, "SecurityEventNotification"), (120.0, "DiagnosticsStatusNotification")]
    assert len(queue) == 0


async def test_one_that_must_arrive_is_retried_until_the_csms_takes_it(
        queue, csms, clock, delivering):
    csms.refusals = [CallErrorReceived("InternalError")] * 5
    await delivering()
    queue.put(EVENT, event("TamperDetectionActivated"))
    await clock.advance(6 * 60)
    assert [at for at, _ in csms.received] == [0.0, 60.0, 120.0, 180.0, 240.0, 300.0]
    assert len(queue) == 0


async def test_a_csms_that_does_not_take_the_message_is_not_asked_again(
        queue, csms, clock, delivering):
    csms.refusals = [CallErrorReceived("NotImplemented")]
    await delivering()
    queue.put(EVENT, event("TamperDetectionActivated"))
    queue.put(STATUS, status("Uploaded"))
    await clock.advance(600)
    assert [type(r).__name__ for _, r in csms.received] == [
        "SecurityEventNotification", "DiagnosticsStatusNotification"]
    assert len(queue) == 0


async def test_only_the_latest_status_of_a_kind_is_sent(queue, csms, clock, delivering):
    for value in ("Uploading", "UploadFailed", "Uploaded"):
        queue.put(STATUS, status(value))
    assert queue.requests(STATUS) == [status("Uploaded")]

    csms.refusals = [CallErrorReceived("InternalError")]
    await delivering()
    await clock.settle()
    assert csms.statuses() == [(0.0, "Uploaded")]
    queue.put(STATUS, status("Uploading"))  # newer than the one waiting for its retry
    await clock.advance(600)
    assert csms.statuses() == [(0.0, "Uploaded"), (0.0, "Uploading")]
    assert len(queue) == 0


async def test_a_status_lost_on_its_way_gives_way_to_a_newer_one_that_came_meanwhile(
        queue, csms, clock, delivering):
    on_its_way = asyncio.Event()
    lost = asyncio.get_running_loop().create_future()

    async def lost_on_the_way(request: Any) -> Any:
        on_its_way.set()
        await lost
        raise ConnectionLost("closed while waiting for the answer")

    session = asyncio.create_task(queue.deliver(lost_on_the_way))
    queue.put(STATUS, status("Uploading"))
    await eventually(on_its_way.is_set, "Uploading on its way")
    queue.put(STATUS, status("Uploaded"))
    assert queue.requests(STATUS) == [status("Uploading"), status("Uploaded")], \
        "the one on its way is not replaced"
    lost.set_result(None)
    await session
    assert queue.requests() == [status("Uploaded")]

    await delivering()
    await clock.settle()
    assert csms.statuses() == [(0.0, "Uploaded")]


async def test_past_its_limit_the_oldest_events_that_need_not_arrive_give_way(queue):
    queue.put(EVENT, event("InvalidMessages", "2026-01-01T00:00:01Z"))
    queue.put(EVENT, event("TamperDetectionActivated", "2026-01-01T00:00:02Z"))
    queue.put(EVENT, event("InvalidTLSVersion", "2026-01-01T00:00:03Z"))
    queue.put(EVENT, event("InvalidMessages", "2026-01-01T00:00:04Z"))
    assert [e.timestamp[-3:-1] for e in queue.requests(EVENT)] == ["02", "03", "04"]
    queue.put(EVENT, event("TamperDetectionActivated", "2026-01-01T00:00:05Z"))
    queue.put(EVENT, event("TamperDetectionActivated", "2026-01-01T00:00:06Z"))
    queue.put(EVENT, event("TamperDetectionActivated", "2026-01-01T00:00:07Z"))
    assert [e.timestamp[-3:-1] for e in queue.requests(EVENT)] == ["05", "06", "07"], \
        "when every one must arrive, the oldest goes"
