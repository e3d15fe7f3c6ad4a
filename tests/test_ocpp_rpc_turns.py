"""Our CALLs in their turn, over a real websocket on 127.0.0.1: one in flight at a time, whether
its sender awaits the answer (``call``) or is called back with it (``start_call``, as the outbox
sends), and every wait ended once: by the answer, the timeout, the connection's loss, or the
sender giving up.

The test plays the central system with raw frames, so that exactly what goes over the wire, and
when, is checked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ocpp.v16 import call, call_result

from pievse.aio import FakeClock
from pievse.protocol.common.payloads import WireRequest
from pievse.protocol.common.rpc import (
    CallErrorReceived,
    ConnectionLost,
    ResponseTimeout,
    RpcError,
)
from tests.conftest import eventually
from tests.test_ocpp_rpc import NOW, Wire, open_wire, warnings_from

STATUS = call.StatusNotification(connector_id=1, error_code="NoError", status="Charging")


@pytest.fixture
async def wire() -> AsyncIterator[Wire]:
    async with open_wire() as link:
        yield link


class Answers:
    """What a ``start_call`` sender hears, in order: (response, error) pairs."""

    def __init__(self) -> None:
        self.heard: list[tuple[Any, RpcError | None]] = []

    def __call__(self, response: Any, error: RpcError | None) -> None:
        self.heard.append((response, error))


async def not_sent_yet(wire: Wire) -> None:
    """Round trip a CALL of the CSMS: a frame of ours sent before its answer would arrive
    first, since a websocket keeps frames in order."""
    answer = await wire.csms_asks([2, "probe", "ClearCache", {}])
    assert answer == [3, "probe", {"status": "Accepted"}]


async def status_behind_a_heartbeat(wire: Wire) -> tuple[Any, asyncio.Task, list, Answers]:
    """A session whose awaited Heartbeat is in flight and a StatusNotification, started with a
    callback, waits its turn: (session, the Heartbeat's task, its frame, the callback)."""
    session = wire.charge_point_session()
    heartbeat = asyncio.create_task(session.call(call.Heartbeat()))
    first = await wire.csms_receives()
    answers = Answers()
    session.start_call(STATUS, answers)
    return session, heartbeat, first, answers


async def test_a_call_started_while_another_is_in_flight_goes_out_once_that_one_is_answered(wire):
    session, heartbeat, first, answers = await status_behind_a_heartbeat(wire)
    later = asyncio.create_task(session.call(call.Heartbeat()))

    await not_sent_yet(wire)
    assert answers.heard == [] and not later.done()
    await wire.csms_sends([3, first[1], {"currentTime": NOW}])
    second = await wire.csms_receives()
    assert second[2] == "StatusNotification" and second[3]["status"] == "Charging"
    assert (await heartbeat).current_time == NOW
    await not_sent_yet(wire)  # the Heartbeat handed over last waits behind it
    await wire.csms_sends([3, second[1], {}])
    third = await wire.csms_receives()

    assert third[2] == "Heartbeat"
    assert answers.heard == [(call_result.StatusNotification(), None)]
    await wire.csms_sends([3, third[1], {"currentTime": NOW}])
    assert (await later).current_time == NOW


async def test_a_callerror_reaches_the_callback_as_call_error_received(wire):
    session = wire.charge_point_session()
    answers = Answers()
    session.start_call(STATUS, answers)
    request = await wire.csms_receives()
    await wire.csms_sends([4, request[1], "InternalError", "database busy", {}])

    await eventually(lambda: answers.heard, what="the CALLERROR heard")
    [(response, error)] = answers.heard
    assert response is None and isinstance(error, CallErrorReceived)
    assert error.code == "InternalError"


async def test_an_answer_after_the_timeout_is_dropped_and_the_callback_hears_only_the_timeout(
        wire, caplog):
    clock = FakeClock()
    session = wire.charge_point_session(response_timeout=30, clock=clock)
    answers = Answers()
    session.start_call(STATUS, answers)
    request = await wire.csms_receives()

    await clock.advance(30)
    await wire.csms_sends([3, request[1], {}])  # too late
    heartbeat = asyncio.create_task(session.call(call.Heartbeat()))
    following = await wire.csms_receives()
    await wire.csms_sends([3, following[1], {"currentTime": NOW}])

    assert (await heartbeat).current_time == NOW
    [(response, error)] = answers.heard
    assert response is None and isinstance(error, ResponseTimeout)
    assert "within 30 s" in str(error)
    assert any(request[1] in line for line in warnings_from(caplog))


async def test_a_sender_that_stops_waiting_gives_the_turn_to_the_next_call(wire):
    _, given_up, first, answers = await status_behind_a_heartbeat(wire)

    given_up.cancel()
    second = await wire.csms_receives()
    await wire.csms_sends([3, first[1], {"currentTime": NOW}])  # nobody waits for it now
    await wire.csms_sends([3, second[1], {}])

    await eventually(lambda: answers.heard, what="the StatusNotification answered")
    assert second[2] == "StatusNotification"
    assert answers.heard == [(call_result.StatusNotification(), None)]


async def test_the_connection_lost_ends_the_call_in_flight_and_those_waiting_their_turn(wire):
    session = wire.charge_point_session()
    in_flight, waiting = Answers(), Answers()
    session.start_call(STATUS, in_flight)
    await wire.csms_receives()
    session.start_call(call.Heartbeat(), waiting)
    awaited = asyncio.create_task(session.call(call.Heartbeat()))

    await wire.csms.close()

    with pytest.raises(ConnectionLost):
        await awaited
    assert [type(error) for _, error in in_flight.heard + waiting.heard] == [ConnectionLost] * 2
    late = Answers()
    session.start_call(call.Heartbeat(), late)  # on a closed session: told at once
    assert [type(error) for _, error in late.heard] == [ConnectionLost]


async def test_a_call_that_cannot_be_written_fails_alone_and_the_next_goes_out(wire):
    session = wire.charge_point_session(validate_outbound=False)
    unwritable, answers = Answers(), Answers()
    session.start_call(WireRequest("DataTransfer", {"vendorId": "x", "data": {1, 2}}),
                       unwritable)  # a set is no JSON: nothing is sent
    session.start_call(call.Heartbeat(), answers)
    request = await wire.csms_receives()
    await wire.csms_sends([3, request[1], {"currentTime": NOW}])

    assert request[2] == "Heartbeat"
    await eventually(lambda: answers.heard, what="the Heartbeat answered")
    assert answers.heard == [(call_result.Heartbeat(current_time=NOW), None)]
    [(response, error)] = unwritable.heard
    assert response is None and isinstance(error, TypeError)
