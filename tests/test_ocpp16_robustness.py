"""Bad frames, lost connections and failures: the charge point answers and keeps running.

OCPP-J 1.6 section 4.2.3 lists the CALLERROR codes; a 1.6 CSMS must only ever see those.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from pievse.app.daemon import ExitReason
from tests.conftest import eventually
from pievse.protocol.v16.blocks.transactions import SLOW_RETRY_S
from tests.test_ocpp16_sessions import (
    TAG,
    charging_session,
    next_one,
    received,
    sent_at,
    status_now,
)

pytestmark = pytest.mark.asyncio

OCPP16_ERROR_CODES = {
    "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
    "FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
    "TypeConstraintViolation", "GenericError",
}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('[2,"a1","NoSuchAction",{}]', "NotImplemented"),
        ('[2,"a2","SignCertificate",{"csr":"x"}]', "NotSupported"),
        ('[2,"a9","SetChargingProfile",{"connectorId":1,"csChargingProfiles":{}}]',
         "OccurenceConstraintViolation"),
        ('[2,"a3","RemoteStartTransaction",{}]', "OccurenceConstraintViolation"),
        ('[2,"a4","RemoteStartTransaction",{"idTag":42}]', "TypeConstraintViolation"),
        ('[2,"a5","RemoteStartTransaction",{"idTag":"' + "X" * 21 + '"}]',
         "PropertyConstraintViolation"),
        ('[2,"a6","Reset",{"type":"Sideways"}]', "PropertyConstraintViolation"),
        ('[2,"a7","Reset",{"type":"Soft","please":true}]', "FormationViolation"),
        ('[2,"a8","ChangeAvailability",{"connectorId":"one","type":"Operative"}]',
         "TypeConstraintViolation"),
    ],
)
async def test_out_of_spec_call_gets_the_ocpp16_callerror_and_the_station_keeps_running(
    csms, start_station, frame, code
):
    await start_station()
    answer = json.loads(await csms.send_raw("CP1", frame))
    assert answer[0] == 4 and answer[1] == json.loads(frame)[1]
    assert answer[2] == code and answer[2] in OCPP16_ERROR_CODES
    # The connection and the daemon are still there and answer the next good request.
    assert (await csms.get_configuration("CP1", ["HeartbeatInterval"]))["configurationKey"]


@pytest.mark.parametrize(
    "frame",
    ["this is not json", "{\"an\": \"object\"}", "[9,\"x\",\"Reset\",{}]", "[2,\"only-two\"]",
     "[2, 17, \"Reset\", {\"type\": \"Soft\"}]", "[2,\"a\",\"Reset\",[1,2]]"],
)
async def test_garbage_frames_get_a_callerror_and_break_nothing(csms, start_station, frame):
    daemon = await start_station()
    raw = await csms.send_raw("CP1", frame)
    answer = json.loads(raw)
    assert answer[0] == 4 and answer[2] in OCPP16_ERROR_CODES
    assert daemon.protocol.registered
    assert (await csms.trigger_message("CP1", "Heartbeat"))["status"] == "Accepted"


async def test_reconnect_after_the_csms_drops_the_connection_resends_the_current_status(
    csms, start_station
):
    daemon = await start_station()
    statuses = len(received(csms, "StatusNotification"))
    await csms.drop_connection("CP1")
    # A reconnect is not a reboot: the statuses, not a BootNotification, say it is back.
    await eventually(lambda: len(received(csms, "StatusNotification")) > statuses, timeout=20,
                     what="reconnect and send the statuses again")
    await eventually(lambda: daemon.protocol.registered, what="registered again")
    daemon.hardware.simulated.evs[1].set_state("B")
    await eventually(lambda: status_now(csms) == "Preparing", what="status after reconnect")


async def test_a_reconnect_is_not_a_reboot_for_home_assistant(csms, start_station):
    """Home Assistant reports every BootNotification as a reboot: once accepted, this process
    reconnects with the status of every connector and what was queued, and sends a
    BootNotification only when the CSMS asks or answered the last one Pending or Rejected."""
    daemon = await start_station()
    connectors = len(daemon.station.connectors)

    async def reconnect() -> list[dict]:
        statuses = len(received(csms, "StatusNotification"))
        await csms.drop_connection("CP1")
        await eventually(lambda: not daemon.protocol.registered, what="the link dropped")
        await eventually(lambda: daemon.protocol.registered, timeout=20, what="registered again")
        await eventually(lambda: len(received(csms, "StatusNotification")) > statuses + connectors,
                         what="the status of connector 0 and every connector")
        return received(csms, "StatusNotification")[statuses:]

    boots = len(received(csms, "BootNotification"))
    resent = await reconnect()
    assert sorted(s["connectorId"] for s in resent) == list(range(connectors + 1))
    assert len(received(csms, "BootNotification")) == boots, "a reconnect sends no boot"

    assert (await csms.trigger_message("CP1", "BootNotification"))["status"] == "Accepted"
    await eventually(lambda: len(received(csms, "BootNotification")) == boots + 1,
                     what="the BootNotification the CSMS asked for")

    csms.boot_status = "Pending"
    assert (await csms.trigger_message("CP1", "BootNotification"))["status"] == "Accepted"
    await eventually(lambda: len(received(csms, "BootNotification")) == boots + 2,
                     what="a BootNotification answered Pending")
    csms.boot_status = "Accepted"
    await reconnect()
    assert len(received(csms, "BootNotification")) == boots + 3, "Pending: boot on reconnect"
    await reconnect()
    assert len(received(csms, "BootNotification")) == boots + 3, "accepted again: no boot"


async def test_transaction_messages_wait_for_the_connection_and_keep_their_order(
    csms, start_station
):
    daemon = await start_station()
    tx_id = await charging_session(csms, daemon)
    # The CSMS goes away; the session ends while offline.
    csms.refuse_connections = True
    await csms.drop_connection("CP1")
    await eventually(lambda: not daemon.protocol.connected, what="offline")
    daemon.hardware.simulated.evs[1].set_state("A")
    await eventually(lambda: len(daemon.protocol.outbox) >= 1, what="StopTransaction queued")
    assert received(csms, "StopTransaction") == []
    csms.refuse_connections = False
    await eventually(lambda: received(csms, "StopTransaction"), timeout=30,
                     what="StopTransaction after reconnecting")
    stop = received(csms, "StopTransaction")
    assert len(stop) == 1 and stop[0]["transactionId"] == tx_id
    assert stop[0]["reason"] == "EVDisconnected"
    await eventually(lambda: len(daemon.protocol.outbox) == 0, what="outbox empty")


async def test_transaction_started_offline_gets_its_real_id_when_the_csms_answers(
    csms, start_station
):
    daemon = await start_station(keys={"AllowOfflineTxForUnknownId": True})
    csms.refuse_connections = True
    await csms.drop_connection("CP1")
    await eventually(lambda: not daemon.protocol.connected, what="offline")
    sim = daemon.hardware.simulated
    sim.evs[1].set_state("C")
    sim.reader.present(TAG)
    await eventually(lambda: daemon.station.connector(1).transaction is not None,
                     what="offline transaction")
    await eventually(lambda: sim.boards[1].contactor_closed, what="charging offline")
    sim.evs[1].set_state("A")
    await eventually(lambda: len(daemon.protocol.outbox) >= 2, what="start and stop queued")
    csms.refuse_connections = False
    await eventually(lambda: received(csms, "StopTransaction"), timeout=30, what="delivered")
    start = received(csms, "StartTransaction")
    stop = received(csms, "StopTransaction")
    assert len(start) == 1 and len(stop) == 1
    tx_id = next(iter(csms.transactions))
    assert stop[0]["transactionId"] == tx_id != -1


def refuse_stops(times: int):
    """An on_call hook that answers the first ``times`` StopTransactions with a CALLERROR."""
    failures = {"left": times}

    async def flaky(cp_id, action, payload):
        if action == "StopTransaction" and failures["left"] > 0:
            failures["left"] -= 1
            from ocpp.exceptions import InternalError

            raise InternalError(description="database busy")
        return None

    return flaky, failures


async def stop_refused(csms, start_station, refusals: int, attempts: int):
    """A session whose StopTransaction the CSMS refuses ``refusals`` times, with
    TransactionMessageRetryInterval 10 and ``attempts``: the daemon, the transactionId, the
    refusals left and when the first StopTransaction came."""
    csms.on_call, failures = refuse_stops(refusals)
    daemon = await start_station(keys={"TransactionMessageRetryInterval": 10,
                                       "TransactionMessageAttempts": attempts},
                                 meter={"interval": 60})
    tx_id = await charging_session(csms, daemon)
    daemon.hardware.simulated.evs[1].set_state("A")
    await eventually(lambda: received(csms, "StopTransaction"), what="StopTransaction")
    return daemon, tx_id, failures, sent_at(csms, "StopTransaction")[0]


async def test_callerror_on_stop_transaction_is_retried_until_accepted(
        csms, start_station, fake_clock):
    daemon, _, failures, first = await stop_refused(csms, start_station, 2, attempts=5)
    # TransactionMessageRetryInterval times the number of attempts so far: 10 s, then 20 s.
    assert await next_one(fake_clock, csms, "StopTransaction", 10) == first + 10
    assert await next_one(fake_clock, csms, "StopTransaction", 20) == first + 30
    await eventually(lambda: len(daemon.protocol.outbox) == 0 and failures["left"] == 0,
                     timeout=20, what="StopTransaction accepted after two CALLERRORs")
    stops = [m for m in csms.messages
             if m.direction == "in" and m.action == "StopTransaction" and m.message_type == 2]
    assert len(stops) == 3  # two refused, one accepted
    assert len({json.dumps(m.payload, sort_keys=True) for m in stops}) == 1


async def test_past_its_attempts_a_stop_transaction_is_retried_slowly_and_never_dropped(
        csms, start_station, fake_clock):
    daemon, tx_id, failures, first = await stop_refused(csms, start_station, 3, attempts=2)
    assert await next_one(fake_clock, csms, "StopTransaction", 10) == first + 10
    # TransactionMessageAttempts used up: a CPO bills from it, so it goes on at the slow pace.
    assert await next_one(fake_clock, csms, "StopTransaction", SLOW_RETRY_S) == \
        first + 10 + SLOW_RETRY_S
    assert await next_one(fake_clock, csms, "StopTransaction", SLOW_RETRY_S) == \
        first + 10 + 2 * SLOW_RETRY_S
    await eventually(lambda: len(daemon.protocol.outbox) == 0, what="accepted at last")
    assert failures["left"] == 0
    assert csms.transactions[tx_id].stop_reason == "EVDisconnected"


async def test_daemon_stop_opens_the_contactor_and_stops_the_transaction(csms, start_station):
    daemon = await start_station()
    tx_id = await charging_session(csms, daemon)
    board = daemon.hardware.simulated.boards[1]
    assert board.contactor_closed
    daemon.stop()
    await eventually(lambda: not board.contactor_closed and not board.pwm_on,
                     what="contactor open")
    # The interrupted session is closed at the CSMS too, not left open for ever.
    stop = await csms.wait_for_message("CP1", "StopTransaction", timeout=10)
    assert stop.payload["reason"] == "Reboot"
    assert stop.payload["transactionId"] == tx_id


async def test_an_unhandled_error_opens_the_contactor_and_ends_the_daemon(csms, start_station):
    """An error in the station core itself (its state is then suspect) ends the daemon, the
    contactor open first; a driver's error is survived instead (test_daemon_supervision)."""
    daemon = await start_station()
    await charging_session(csms, daemon)
    board = daemon.hardware.simulated.boards[1]

    def broken_deadline():
        raise RuntimeError("bug in the station core")

    daemon.station.next_deadline = broken_deadline
    await eventually(lambda: daemon.exit_reason is ExitReason.FAILED, what="daemon failed")
    assert not board.contactor_closed and not board.pwm_on
    await csms.wait_for_message("CP1", "StopTransaction", timeout=10)


async def test_csms_that_never_answers_does_not_block_the_station(csms, start_station):
    async def silent(cp_id, action, payload):
        if action == "Authorize":
            await asyncio.sleep(3)
        return None

    csms.on_call = silent
    daemon = await start_station(ocpp={"response_timeout": 1})
    sim = daemon.hardware.simulated
    sim.evs[1].set_state("C")
    sim.reader.present(TAG)
    # The Authorize reaches the CSMS, which sits on it past the response timeout: the card is
    # refused (CSMS unreachable), the car keeps waiting, the late answer changes nothing.
    await csms.wait_for_message("CP1", "Authorize", timeout=10)
    await eventually(lambda: TAG not in daemon.station.id_tags.deciding, timeout=10,
                     what="the Authorize timeout handled")
    await csms.wait_for_message("CP1", "Authorize", "out", timeout=10)
    await asyncio.sleep(0.3)
    assert not sim.boards[1].contactor_closed
    assert daemon.station.connector(1).transaction is None
    assert status_now(csms) == "Preparing"


async def start_transaction_held(csms, daemon, *, only_the_first: bool = False) -> None:
    """A card session on connector 1 whose StartTransaction the CSMS holds unanswered (every
    one, or only the first); returns once the first has reached the CSMS."""
    held: list[str] = []

    async def hold(cp_id: str, action: str, payload: dict) -> None:
        if action == "StartTransaction" and not (only_the_first and held):
            held.append(action)
            await asyncio.sleep(60)

    csms.on_call = hold
    sim = daemon.hardware.simulated
    sim.evs[1].set_state("B")
    sim.reader.present(TAG)
    await csms.wait_for_message("CP1", "StartTransaction")


async def test_an_authorize_waiting_its_turn_when_the_link_drops_is_decided_offline(
        csms, start_station):
    """OCPP-J allows one CALL at a time, so an Authorize waits while a StartTransaction is
    unanswered. When the link dies then, the Authorize is answered "CSMS unreachable" and the
    offline rules decide (AllowOfflineTxForUnknownId lets the unknown card in): the card holder
    is never left waiting for an answer that cannot come."""
    daemon = await start_station(charge_point={"connectors": 2})
    await csms.change_configuration("CP1", "AllowOfflineTxForUnknownId", "true")
    await start_transaction_held(csms, daemon)
    sim = daemon.hardware.simulated
    sim.evs[2].set_state("B")
    sim.reader.present("04C0FFEE")
    await eventually(lambda: daemon.station.connector(2).status[0].value == "Preparing")
    await asyncio.sleep(0.3)  # the Authorize is queued behind the unanswered StartTransaction
    csms.refuse_connections = True
    await csms.drop_connection("CP1", abrupt=True)
    await eventually(lambda: daemon.station.connector(2).transaction is not None,
                     what="the second session started on the offline rules")


async def test_a_start_transaction_in_flight_when_the_link_drops_is_sent_again_and_delivered(
        csms, start_station):
    """The outbox's head goes out as the session's CALL; lost with the link before its answer,
    it stays the head and is the first transaction message of the next connection."""
    daemon = await start_station()
    await start_transaction_held(csms, daemon, only_the_first=True)
    assert len(daemon.protocol.outbox) == 1
    await csms.drop_connection("CP1", abrupt=True)

    await eventually(lambda: len(received(csms, "StartTransaction")) == 2, timeout=30,
                     what="the StartTransaction sent again after reconnecting")
    await eventually(lambda: len(daemon.protocol.outbox) == 0, what="outbox empty")
    await eventually(lambda: daemon.station.connector(1).transaction.transaction_id,
                     what="transactionId known")
    first, again = received(csms, "StartTransaction")
    assert first == again
