"""The embedded CSMS (`pievse csms`), driven by a bare-bones charge point written here.

The charge point in these tests is plain websockets and JSON frames, deliberately not our station
nor the ``ocpp`` package: the CSMS is checked against the OCPP-J 1.6 wire format itself. Every
test runs a real server on 127.0.0.1, port 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import re
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from ocpp.exceptions import OccurenceConstraintViolationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from pievse.aio import FakeClock
from pievse.csms.cli import add_csms_command, run_csms
from pievse.csms.server import (
    CallErrorResponse,
    CentralSystem,
    ChargePointNotConnected,
    InvalidRequest,
    InvalidResponse,
)
from tests.conftest import eventually
from tests.ports import free_port

TAG = "04A1B2C3"
BOOT = {"chargePointVendor": "pievse-tests", "chargePointModel": "bare-bones"}

Answer = Callable[[dict], list]


class FakeChargePoint:
    """A charge point reduced to its wire: sends CALLs, answers the CSMS's CALLs it was told to.

    ``answers[action]`` builds the reply frame tail for a CSMS CALL: ``result(payload)`` or
    ``error(code, description)``. Frames it has no answer for wait in ``inbox``.
    """

    def __init__(self, websocket: ClientConnection) -> None:
        self.websocket = websocket
        self.answers: dict[str, Answer] = {}
        self.inbox: asyncio.Queue[str] = asyncio.Queue()
        self._ids = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[list]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for text in self.websocket:
                try:
                    frame = json.loads(text)
                except ValueError:
                    frame = None
                if not isinstance(frame, list) or len(frame) < 3:
                    await self.inbox.put(text)
                elif frame[0] in (3, 4) and frame[1] in self._waiting:
                    self._waiting.pop(frame[1]).set_result(frame)
                elif frame[0] == 2 and frame[2] in self.answers:
                    kind, *rest = self.answers[frame[2]](frame[3])
                    await self.send([kind, frame[1], *rest])
                else:
                    await self.inbox.put(text)

    async def send(self, frame: Any) -> None:
        await self.websocket.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def call(self, action: str, payload: dict | None = None, timeout: float = 10) -> list:
        """Send a CALL and return the whole answer frame (CALLRESULT or CALLERROR)."""
        unique_id = f"cp-{next(self._ids)}"
        answered = asyncio.get_running_loop().create_future()
        self._waiting[unique_id] = answered
        await self.send([2, unique_id, action, payload or {}])
        return await asyncio.wait_for(answered, timeout)

    async def result(self, action: str, payload: dict | None = None) -> dict:
        """Send a CALL that must succeed; its CALLRESULT payload."""
        frame = await self.call(action, payload)
        assert frame[0] == 3, f"{action} was answered {frame}"
        return frame[2]

    async def next_frame(self, timeout: float = 10) -> list | str:
        text = await asyncio.wait_for(self.inbox.get(), timeout)
        try:
            return json.loads(text)
        except ValueError:
            return text

    async def close(self) -> None:
        await self.websocket.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


def result(payload: dict) -> Answer:
    return lambda _request: [3, payload]


def error(code: str, description: str = "") -> Answer:
    return lambda _request: [4, code, description, {}]


@contextlib.asynccontextmanager
async def charge_point(csms: CentralSystem, cp_id: str = "CP1",
                       boot: bool = True) -> AsyncIterator[FakeChargePoint]:
    async with connect(f"{csms.url}/{cp_id}", subprotocols=["ocpp1.6"]) as websocket:
        cp = FakeChargePoint(websocket)
        if boot:
            await cp.result("BootNotification", BOOT)
        try:
            yield cp
        finally:
            await cp.close()


@contextlib.asynccontextmanager
async def running(**options: Any) -> AsyncIterator[CentralSystem]:
    csms = CentralSystem(port=0, response_timeout=10, **options)
    await csms.start()
    try:
        yield csms
    finally:
        await csms.stop()


def http(method: str, url: str, body: dict | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as failure:
        return failure.code, json.loads(failure.read())


def start_transaction(connector_id: int = 1, id_tag: str = TAG, meter_start: int = 1000) -> dict:
    return {"connectorId": connector_id, "idTag": id_tag, "meterStart": meter_start,
            "timestamp": "2025-01-01T12:00:00.000Z"}


def meter_values(transaction_id: int, wh: int) -> dict:
    return {"connectorId": 1, "transactionId": transaction_id, "meterValue": [{
        "timestamp": "2025-01-01T12:01:00.000Z",
        "sampledValue": [{"value": str(wh), "measurand": "Energy.Active.Import.Register",
                          "unit": "Wh"}]}]}


# --- BootNotification, Heartbeat, StatusNotification -------------------------------------------


async def test_boot_notification_accepted_gives_the_heartbeat_interval():
    async with running(heartbeat_interval=120) as csms, charge_point(csms, boot=False) as cp:
        answer = await cp.result("BootNotification", BOOT)
        assert answer["status"] == "Accepted" and answer["interval"] == 120
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", answer["currentTime"])
        assert csms.charge_points["CP1"].boot == BOOT
        assert csms.charge_points["CP1"].connected


@pytest.mark.parametrize("status", ["Pending", "Rejected"])
async def test_boot_notification_pending_or_rejected_gives_the_retry_interval(status):
    async with running(boot_status=status, heartbeat_interval=300, boot_retry_interval=7) as csms:
        async with charge_point(csms, boot=False) as cp:
            answer = await cp.result("BootNotification", BOOT)
            assert answer["status"] == status and answer["interval"] == 7
            # The policy changes at run time: the next boot is accepted.
            csms.boot_status = "Accepted"
            answer = await cp.result("BootNotification", BOOT)
            assert answer["status"] == "Accepted" and answer["interval"] == 300


async def test_heartbeat_and_status_notifications_for_every_connector_are_recorded():
    async with running() as csms, charge_point(csms) as cp:
        assert re.fullmatch(r".+Z", (await cp.result("Heartbeat"))["currentTime"])
        for connector_id, status in ((0, "Available"), (1, "Available"), (1, "Preparing")):
            await cp.result("StatusNotification", {"connectorId": connector_id,
                                                   "errorCode": "NoError", "status": status})
        await cp.result("StatusNotification", {"connectorId": 2, "errorCode": "GroundFailure",
                                                "status": "Faulted"})
        record = csms.charge_points["CP1"]
        assert record.statuses == {0: "Available", 1: "Preparing", 2: "Faulted"}
        assert record.status_notifications[2]["errorCode"] == "GroundFailure"
        assert record.last_heartbeat is not None


# --- Authorize and transactions ----------------------------------------------------------------


async def test_authorize_accepts_listed_id_tags_case_insensitively_and_refuses_others():
    async with running(accept_id_tags={TAG}) as csms, charge_point(csms) as cp:
        accepted = await cp.result("Authorize", {"idTag": TAG})
        assert accepted == {"idTagInfo": {"status": "Accepted"}}
        assert (await cp.result("Authorize", {"idTag": TAG.lower()}))["idTagInfo"]["status"] == \
            "Accepted"
        refused = await cp.result("Authorize", {"idTag": "DEADBEEF"})
        assert refused == {"idTagInfo": {"status": "Invalid"}}


async def test_authorize_without_a_tag_list_accepts_every_tag():
    async with running() as csms, charge_point(csms) as cp:
        assert (await cp.result("Authorize", {"idTag": "ANYTHING"}))["idTagInfo"]["status"] == \
            "Accepted"


async def test_transaction_ids_increase_across_charge_points_and_the_ledger_keeps_the_session():
    async with running(accept_id_tags={TAG}) as csms, charge_point(csms, "CP1") as cp1, \
            charge_point(csms, "CP2") as cp2:
        first = await cp1.result("StartTransaction", start_transaction(meter_start=1000))
        second = await cp2.result("StartTransaction", start_transaction(id_tag="UNKNOWN"))
        assert (first["transactionId"], second["transactionId"]) == (1, 2)
        assert first["idTagInfo"]["status"] == "Accepted"
        assert second["idTagInfo"]["status"] == "Invalid"

        await cp1.result("MeterValues", meter_values(1, 1500))
        await cp1.result("MeterValues", meter_values(1, 2200))
        # No reason given: OCPP 1.6 says the transaction was stopped locally.
        stopped = await cp1.result("StopTransaction", {
            "transactionId": 1, "meterStop": 2500, "timestamp": "2025-01-01T12:05:00.000Z",
            "idTag": TAG, "transactionData": [meter_values(1, 2500)["meterValue"][0]]})
        assert stopped == {"idTagInfo": {"status": "Accepted"}}

        tx = csms.transactions[1]
        assert (tx.cp_id, tx.connector_id, tx.id_tag, tx.meter_start) == ("CP1", 1, TAG, 1000)
        assert tx.start_time == "2025-01-01T12:00:00.000Z"
        assert [v["sampledValue"][0]["value"] for v in tx.meter_values] == ["1500", "2200"]
        assert (tx.meter_stop, tx.stop_reason, tx.energy_wh) == (2500, "Local", 1500)
        assert len(tx.transaction_data) == 1
        assert csms.transactions[2].cp_id == "CP2" and not csms.transactions[2].stopped


async def test_a_repeated_start_transaction_gets_the_same_transaction_id():
    """A charge point that lost our answer (crash, dropped link) sends the same start again: a
    CSMS that bills must not open a second session for it."""
    async with running() as csms, charge_point(csms, "CP1") as cp1:
        first = await cp1.result("StartTransaction", start_transaction(meter_start=1000))
        again = await cp1.result("StartTransaction", start_transaction(meter_start=1000))
        other = await cp1.result("StartTransaction", start_transaction(meter_start=1200))
        assert first["transactionId"] == again["transactionId"] != other["transactionId"]
        assert csms.repeated_starts == 1
        assert len(csms.transactions) == 2


async def test_data_transfer_and_firmware_and_diagnostics_notifications_are_answered():
    async with running() as csms, charge_point(csms) as cp:
        assert await cp.result("DataTransfer", {"vendorId": "com.example"}) == \
            {"status": "UnknownVendorId"}
        assert await cp.result("FirmwareStatusNotification", {"status": "Idle"}) == {}
        assert await cp.result("DiagnosticsStatusNotification", {"status": "Idle"}) == {}


@pytest.mark.parametrize(
    ("action", "payload", "code"),
    [
        ("FlyToTheMoon", {}, "NotImplemented"),
        ("Reset", {"type": "Soft"}, "NotSupported"),
        ("Authorize", {}, "OccurenceConstraintViolation"),
        ("Authorize", {"idTag": 42}, "TypeConstraintViolation"),
        ("Authorize", {"idTag": "X" * 21}, "PropertyConstraintViolation"),
        ("Authorize", {"idTag": TAG, "colour": "blue"}, "FormationViolation"),
        ("MeterValues", {"connectorId": 1, "meterValue": []}, "OccurenceConstraintViolation"),
        ("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Bored"},
         "PropertyConstraintViolation"),
    ],
)
async def test_a_call_out_of_spec_is_answered_with_the_ocpp16_error_code(action, payload, code):
    async with running() as csms, charge_point(csms) as cp:
        answer = await cp.call(action, payload)
        assert answer[0] == 4 and answer[2] == code
        # The CSMS goes on answering.
        assert (await cp.result("Heartbeat"))["currentTime"]


# --- commands from the CSMS ----------------------------------------------------------------------


async def test_remote_start_and_remote_stop_round_trip():
    async with running() as csms, charge_point(csms) as cp:
        cp.answers["RemoteStartTransaction"] = result({"status": "Accepted"})
        cp.answers["RemoteStopTransaction"] = result({"status": "Rejected"})
        answer = await csms.remote_start("CP1", TAG, connector_id=1)
        assert answer == {"status": "Accepted"}
        sent = await csms.wait_for_message("CP1", "RemoteStartTransaction", direction="out")
        assert sent.message_type == 2 and sent.payload == {"idTag": TAG, "connectorId": 1}
        assert (await csms.remote_stop("CP1", 7)) == {"status": "Rejected"}
        answered = await csms.wait_for_message("CP1", "RemoteStopTransaction")
        assert answered.message_type == 3 and answered.payload == {"status": "Rejected"}


async def test_every_command_sends_its_action_with_a_valid_payload():
    async with running() as csms, charge_point(csms) as cp:
        for action in ("Reset", "ChangeAvailability", "ChangeConfiguration", "ClearCache",
                       "TriggerMessage", "SetChargingProfile"):
            cp.answers[action] = result({"status": "Accepted"})
        cp.answers["UnlockConnector"] = result({"status": "Unlocked"})
        cp.answers["GetConfiguration"] = result({"configurationKey": [], "unknownKey": ["X"]})
        cp.answers["DataTransfer"] = result({"status": "Accepted", "data": "pong"})
        profile = {"chargingProfileId": 1, "stackLevel": 0,
                   "chargingProfilePurpose": "TxDefaultProfile",
                   "chargingProfileKind": "Absolute", "chargingSchedule": {
                       "chargingRateUnit": "A", "chargingSchedulePeriod": [
                           {"startPeriod": 0, "limit": 10.5}]}}
        assert (await csms.reset("CP1", "Hard"))["status"] == "Accepted"
        assert (await csms.change_availability("CP1", 0, "Inoperative"))["status"] == "Accepted"
        assert (await csms.change_configuration("CP1", "HeartbeatInterval", "60"))["status"] == \
            "Accepted"
        assert (await csms.get_configuration("CP1", ["X"]))["unknownKey"] == ["X"]
        assert (await csms.clear_cache("CP1"))["status"] == "Accepted"
        assert (await csms.unlock_connector("CP1", 1))["status"] == "Unlocked"
        assert (await csms.trigger_message("CP1", "MeterValues", 1))["status"] == "Accepted"
        assert (await csms.set_charging_profile("CP1", 1, profile))["status"] == "Accepted"
        assert (await csms.data_transfer("CP1", "com.example", data="ping"))["data"] == "pong"
        sent = {m.action: m.payload for m in csms.messages if m.direction == "out"
                and m.message_type == 2}
        assert sent["Reset"] == {"type": "Hard"}
        assert sent["TriggerMessage"] == {"requestedMessage": "MeterValues", "connectorId": 1}
        assert sent["SetChargingProfile"]["csChargingProfiles"]["chargingSchedule"][
            "chargingSchedulePeriod"][0]["limit"] == 10.5


async def test_a_callerror_answer_surfaces_with_its_code():
    async with running() as csms, charge_point(csms) as cp:
        cp.answers["UnlockConnector"] = error("NotSupported", "no lock on this socket")
        with pytest.raises(CallErrorResponse) as raised:
            await csms.unlock_connector("CP1", 1)
        assert raised.value.code == "NotSupported"
        assert raised.value.description == "no lock on this socket"
        assert raised.value.action == "UnlockConnector"
        recorded = await csms.wait_for_message("CP1", "UnlockConnector")
        assert recorded.message_type == 4 and recorded.error_code == "NotSupported"


async def test_the_generic_call_sends_any_action_by_name():
    async with running() as csms, charge_point(csms) as cp:
        cp.answers["GetLocalListVersion"] = result({"listVersion": 3})
        assert await csms.call("CP1", "GetLocalListVersion", {}) == {"listVersion": 3}
        cp.answers["ReserveNow"] = error("NotImplemented")
        with pytest.raises(CallErrorResponse) as raised:
            await csms.call("CP1", "ReserveNow", {"connectorId": 1, "expiryDate":
                                                  "2030-01-01T00:00:00Z", "idTag": TAG,
                                                  "reservationId": 1})
        assert raised.value.code == "NotImplemented"


async def test_a_command_that_breaks_the_schema_is_not_sent():
    async with running() as csms, charge_point(csms):
        with pytest.raises(InvalidRequest):
            await csms.call("CP1", "Reset", {"type": "Sideways"})
        assert not [m for m in csms.messages if m.action == "Reset"]


async def test_an_answer_that_breaks_the_schema_raises_invalid_response():
    async with running() as csms, charge_point(csms) as cp:
        cp.answers["ClearCache"] = result({"status": "Maybe"})
        with pytest.raises(InvalidResponse) as raised:
            await csms.clear_cache("CP1")
        assert raised.value.payload == {"status": "Maybe"}


async def test_a_command_nobody_answers_times_out_naming_the_action():
    async with running() as csms, charge_point(csms):
        with pytest.raises(TimeoutError, match="CP1 did not answer ClearCache"):
            await csms.call("CP1", "ClearCache", {}, timeout=0.5)


async def test_on_a_fake_clock_the_csms_answers_stamps_and_times_out_in_that_clock():
    clock = FakeClock(start=1_767_225_600.0)  # 2026-01-01T00:00:00Z
    async with running(clock=clock) as csms, charge_point(csms, boot=False) as cp:
        await clock.advance(90)
        answer = await cp.result("BootNotification", BOOT)
        assert answer["currentTime"] == "2026-01-01T00:01:30Z"
        boot = next(m for m in csms.messages if m.action == "BootNotification")
        assert boot.time.timestamp() == 1_767_225_690.0
        command = asyncio.create_task(csms.call("CP1", "ClearCache", {}, timeout=30))
        await clock.advance(29)
        assert not command.done(), "the command's timeout is 30 s of the CSMS's clock"
        await clock.advance(1)
        with pytest.raises(TimeoutError, match="CP1 did not answer ClearCache"):
            await command


# --- raw frames ----------------------------------------------------------------------------------


async def test_send_raw_returns_the_answer_with_the_same_unique_id():
    async with running() as csms, charge_point(csms) as cp:
        cp.answers["Bogus"] = error("NotImplemented", "unknown action")
        answer = await csms.send_raw("CP1", '[2,"raw-1","Bogus",{}]')
        assert json.loads(answer) == [4, "raw-1", "NotImplemented", "unknown action", {}]


async def test_send_raw_of_garbage_returns_the_charge_points_callerror():
    async with running() as csms, charge_point(csms) as cp:
        sending = asyncio.create_task(csms.send_raw("CP1", "this is not json"))
        assert await cp.next_frame() == "this is not json"
        await cp.send([4, "-1", "FormationViolation", "not JSON", {}])
        assert json.loads(await sending) == [4, "-1", "FormationViolation", "not JSON", {}]


async def test_send_raw_does_not_take_the_answer_of_a_command_sent_meanwhile():
    async with running() as csms, charge_point(csms) as cp:
        cp.answers["ClearCache"] = result({"status": "Accepted"})
        raw = asyncio.create_task(csms.send_raw("CP1", '[2,"raw-2","Bogus",{}]'))
        assert (await cp.next_frame())[1] == "raw-2"
        assert await csms.clear_cache("CP1") == {"status": "Accepted"}
        assert not raw.done()
        await cp.send([3, "raw-2", {"fine": True}])
        assert json.loads(await raw) == [3, "raw-2", {"fine": True}]


async def test_send_raw_returns_none_when_nothing_answers():
    async with running() as csms, charge_point(csms):
        assert await csms.send_raw("CP1", '[3,"nothing-to-answer",{}]', timeout=0.5) is None


# --- test hooks ----------------------------------------------------------------------------------


async def test_on_call_answers_instead_of_the_defaults_and_the_ledger_follows_the_wire():
    async def blocked(cp_id, action, payload):
        if action == "StartTransaction":
            return {"transactionId": 99, "idTagInfo": {"status": "Blocked"}}
        return None

    async with running() as csms, charge_point(csms) as cp:
        csms.on_call = blocked
        answer = await cp.result("StartTransaction", start_transaction())
        assert answer == {"transactionId": 99, "idTagInfo": {"status": "Blocked"}}
        assert csms.transactions[99].id_tag_status == "Blocked"
        assert (await cp.result("Heartbeat"))["currentTime"]  # None: the default answer


async def test_on_call_raising_an_ocpp_error_answers_a_callerror_with_its_code():
    def refuse(cp_id, action, payload):
        if action == "Authorize":
            raise OccurenceConstraintViolationError(description="who are you")
        return None

    async with running() as csms, charge_point(csms) as cp:
        csms.on_call = refuse
        answer = await cp.call("Authorize", {"idTag": TAG})
        assert answer[0] == 4 and answer[2:4] == ["OccurenceConstraintViolation", "who are you"]


async def test_a_slow_answer_holds_back_only_itself():
    """A CSMS slow to answer Authorize still reads, records and answers what follows."""
    release = asyncio.Event()

    async def slow(cp_id, action, payload):
        if action == "Authorize":
            await release.wait()
        return None

    async with running() as csms, charge_point(csms) as cp:
        csms.on_call = slow
        authorizing = asyncio.create_task(cp.call("Authorize", {"idTag": TAG}, timeout=30))
        await cp.result("StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                                "status": "Preparing"})
        assert csms.charge_points["CP1"].statuses[1] == "Preparing"
        assert not authorizing.done()
        release.set()
        assert (await authorizing)[2] == {"idTagInfo": {"status": "Accepted"}}


async def test_a_hook_may_send_a_command_to_the_charge_point_it_is_answering():
    seen: list[dict] = []

    async def ask_back(cp_id, action, payload):
        if action == "BootNotification":
            seen.append(await csms.get_configuration(cp_id, ["HeartbeatInterval"]))
        return None

    async with running() as csms, charge_point(csms, boot=False) as cp:
        csms.on_call = ask_back
        cp.answers["GetConfiguration"] = result({"configurationKey": [
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"}]})
        assert (await cp.result("BootNotification", BOOT))["status"] == "Accepted"
        assert seen[0]["configurationKey"][0]["value"] == "300"


async def test_drop_connection_closes_the_websocket_and_the_charge_point_may_come_back():
    async with running() as csms:
        async with charge_point(csms) as cp:
            await csms.drop_connection("CP1")
            assert not csms.charge_points["CP1"].connected
            with pytest.raises(ConnectionClosed):
                await cp.websocket.recv()
            with pytest.raises(ChargePointNotConnected):
                await csms.clear_cache("CP1")
        async with charge_point(csms):
            await csms.wait_for(lambda c: c.charge_points["CP1"].connected)
            assert csms.charge_points["CP1"].connections == 2


async def test_a_charge_point_that_closes_its_websocket_is_disconnected_and_commands_fail():
    async with running() as csms:
        async with charge_point(csms):
            assert csms.connected("CP1")
        await csms.wait_for(lambda c: not c.charge_points["CP1"].connected,
                            what="CP1 disconnected")
        assert not csms.connected("CP1")
        with pytest.raises(ChargePointNotConnected):
            await csms.clear_cache("CP1")


async def test_a_new_connection_with_the_same_id_replaces_the_old_one():
    async with running() as csms, charge_point(csms) as old, charge_point(csms) as new:
        with pytest.raises(ConnectionClosed):
            await old.websocket.recv()
        new.answers["ClearCache"] = result({"status": "Accepted"})
        assert await csms.clear_cache("CP1") == {"status": "Accepted"}
        assert csms.charge_points["CP1"].connected


async def test_refuse_connections_answers_the_handshake_with_503():
    async with running() as csms:
        csms.refuse_connections = True
        with pytest.raises(InvalidStatus) as refused:
            async with charge_point(csms):
                pass
        assert refused.value.response.status_code == 503
        assert "CP1" not in csms.charge_points


@pytest.mark.parametrize("offered", [["ocpp2.1"], None, ["ocpp1.5"]])
async def test_a_charge_point_offering_no_version_it_speaks_is_refused(offered):
    async with running() as csms:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"{csms.url}/CP1", subprotocols=offered):
                pass
        assert refused.value.response.status_code == 400
        assert "CP1" not in csms.charge_points


@pytest.mark.parametrize(("offered", "version"), [
    (["ocpp1.6"], "1.6"), (["ocpp2.0.1"], "2.0.1"), (["ocpp2.0.1", "ocpp1.6"], "2.0.1")])
async def test_it_speaks_the_version_the_charge_point_offers(offered, version):
    async with running() as csms:
        async with connect(f"{csms.url}/CP1", subprotocols=offered) as websocket:
            await csms.wait_for(lambda c: c.connected("CP1"))
            assert csms.session("CP1").version == version
            assert websocket.subprotocol == f"ocpp{version}"


async def test_the_identity_is_the_last_path_segment():
    async with running() as csms:
        async with connect(f"ws://127.0.0.1:{csms.port}/any/prefix/CP%2042",
                           subprotocols=["ocpp1.6"]):
            await csms.wait_for(lambda c: "CP 42" in c.charge_points)


# --- waiting on the ledger -------------------------------------------------------------------


async def test_wait_for_wakes_when_the_frame_arrives():
    async with running() as csms, charge_point(csms) as cp:
        waiting = asyncio.create_task(csms.wait_for(
            lambda c: [m for m in c.messages if m.action == "Heartbeat"], timeout=30))
        await asyncio.sleep(0)
        assert not waiting.done()
        await cp.result("Heartbeat")
        heartbeats = await waiting
        assert {m.direction for m in heartbeats} == {"in", "out"}


async def test_wait_for_message_since_waits_for_a_new_frame_only():
    async with running() as csms, charge_point(csms) as cp:
        await cp.result("Heartbeat")
        first = await csms.wait_for_message("CP1", "Heartbeat")
        mark = len(csms.messages)
        later = asyncio.create_task(csms.wait_for_message("CP1", "Heartbeat", since=mark))
        await cp.result("Heartbeat")
        second = await later
        assert second is not first and second.time >= first.time
        answered = await csms.wait_for_message("CP1", "BootNotification", direction="out")
        assert answered.message_type == 3 and answered.payload["status"] == "Accepted"


async def test_wait_for_times_out_saying_what_it_waited_for():
    async with running() as csms, charge_point(csms):
        with pytest.raises(TimeoutError) as raised:
            await csms.wait_for(lambda c: c.transactions, timeout=0.2,
                                what="a transaction to start")
        text = str(raised.value)
        assert "a transaction to start" in text
        assert "CP1 → BootNotification" in text  # and what happened instead
        with pytest.raises(TimeoutError, match="StopTransaction from CP1"):
            await csms.wait_for_message("CP1", "StopTransaction", timeout=0.2)


async def test_every_frame_is_logged_readably_one_line_each(caplog):
    caplog.set_level(logging.INFO, logger="pievse.csms")
    async with running(accept_id_tags={TAG}) as csms, charge_point(csms) as cp:
        await cp.result("Authorize", {"idTag": TAG})
    lines = [r.getMessage() for r in caplog.records if r.name == "pievse.csms"]
    assert 'CP1 → Authorize {"idTag": "04A1B2C3"}' in lines
    assert 'CP1 ← Authorize {"idTagInfo": {"status": "Accepted"}}' in lines


# --- the HTTP control endpoint and the command line ----------------------------------------------


async def test_http_endpoint_lists_charge_points_and_relays_a_remote_start():
    async with running(http_port=0) as csms, charge_point(csms) as cp:
        await cp.result("StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                                "status": "Preparing"})
        status, listed = await asyncio.to_thread(http, "GET", f"{csms.http_url}/charge-points")
        assert status == 200
        assert listed["CP1"]["connected"] and listed["CP1"]["statuses"] == {"1": "Preparing"}

        cp.answers["RemoteStartTransaction"] = result({"status": "Accepted"})
        status, answer = await asyncio.to_thread(
            http, "POST", f"{csms.http_url}/charge-points/CP1/remote-start",
            {"idTag": TAG, "connectorId": 1})
        assert (status, answer) == (200, {"status": "Accepted"})
        sent = await csms.wait_for_message("CP1", "RemoteStartTransaction", direction="out")
        assert sent.payload == {"idTag": TAG, "connectorId": 1}

        await cp.result("StartTransaction", start_transaction())
        status, transactions = await asyncio.to_thread(http, "GET",
                                                       f"{csms.http_url}/transactions")
        assert status == 200 and transactions[0]["transactionId"] == 1


async def test_http_endpoint_reports_callerrors_unknown_charge_points_and_bad_bodies():
    async with running(http_port=0) as csms, charge_point(csms) as cp:
        cp.answers["Reset"] = error("NotSupported", "no")
        base = f"{csms.http_url}/charge-points"
        status, body = await asyncio.to_thread(http, "POST", f"{base}/CP1/reset",
                                               {"type": "Soft"})
        assert status == 502 and body["errorCode"] == "NotSupported"
        status, _ = await asyncio.to_thread(http, "POST", f"{base}/CP9/reset", {"type": "Soft"})
        assert status == 404
        status, _ = await asyncio.to_thread(http, "POST", f"{base}/CP1/reset", {"type": "Never"})
        assert status == 400
        status, _ = await asyncio.to_thread(http, "POST", f"{base}/CP1/teleport", {})
        assert status == 404


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pievse")
    add_csms_command(parser.add_subparsers(dest="command"))
    return parser.parse_args(["csms", *argv])


async def test_cli_client_commands_go_through_the_http_endpoint(capsys):
    async with running(http_port=0) as csms, charge_point(csms) as cp:
        cp.answers["RemoteStartTransaction"] = result({"status": "Accepted"})
        cp.answers["Reset"] = error("NotSupported", "no reset here")
        args = parse("remote-start", "--http", csms.http_url, "CP1", TAG, "--connector", "1")
        assert await asyncio.to_thread(run_csms, args) == 0
        assert json.loads(capsys.readouterr().out) == {"status": "Accepted"}
        sent = await csms.wait_for_message("CP1", "RemoteStartTransaction", direction="out")
        assert sent.payload == {"idTag": TAG, "connectorId": 1}

        args = parse("send", "--http", csms.http_url, "CP1", "reset", '{"type": "Hard"}')
        assert await asyncio.to_thread(run_csms, args) == 1
        assert "NotSupported" in capsys.readouterr().err


def test_cli_client_says_when_the_csms_is_unreachable(capsys):
    port = free_port()
    assert run_csms(parse("status", "--http", f"127.0.0.1:{port}")) == 1
    assert "cannot reach the CSMS" in capsys.readouterr().err


async def test_pievse_csms_serves_logs_to_stderr_and_exits_cleanly_on_ctrl_c():
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pievse.csms", "--port", "0", "--http-port", "0",
        "--id-tag", TAG, "--heartbeat", "42",
        stderr=asyncio.subprocess.PIPE,
    )
    lines: list[str] = []
    changed = asyncio.Event()

    async def collect() -> None:
        assert process.stderr is not None
        async for line in process.stderr:
            lines.append(line.decode())
            changed.set()

    collecting = asyncio.create_task(collect())

    async def line_matching(pattern: str) -> re.Match:
        async def search() -> re.Match:
            while True:
                for line in lines:
                    if found := re.search(pattern, line):
                        return found
                changed.clear()
                await changed.wait()
        return await asyncio.wait_for(search(), 60)

    try:
        ws_url = (await line_matching(r"listening on (ws://\S+/ocpp)")).group(1)
        http_url = (await line_matching(r"control endpoint on (http://\S+)")).group(1)
        async with connect(f"{ws_url}/CLI1", subprotocols=["ocpp1.6"]) as websocket:
            cp = FakeChargePoint(websocket)
            assert (await cp.result("BootNotification", BOOT))["interval"] == 42
            assert (await cp.result("Authorize", {"idTag": "DEADBEEF"}))["idTagInfo"] == \
                {"status": "Invalid"}
            await line_matching(r'CLI1 ← Authorize \{"idTagInfo": \{"status": "Invalid"\}\}')
            status, listed = await asyncio.to_thread(http, "GET", f"{http_url}/charge-points")
            assert status == 200 and listed["CLI1"]["boot"] == BOOT
            await cp.close()
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 60) == 0
        await asyncio.wait_for(collecting, 10)
        assert not [line for line in lines if "Traceback" in line], "".join(lines)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_pievse_csms_ocpp_speaks_only_that_version():
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pievse.csms", "--port", "0", "--no-http", "--ocpp", "1.6",
        stderr=asyncio.subprocess.PIPE)
    try:
        assert process.stderr is not None
        ws_url = None
        while ws_url is None:
            line = (await asyncio.wait_for(process.stderr.readline(), 60)).decode()
            assert line, "pievse csms ended before listening"
            if found := re.search(r"listening on (ws://\S+/ocpp)", line):
                ws_url = found.group(1)
        async with connect(f"{ws_url}/CLI2", subprotocols=["ocpp2.0.1", "ocpp1.6"]) as websocket:
            assert websocket.subprotocol == "ocpp1.6"
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"{ws_url}/CLI3", subprotocols=["ocpp2.0.1"]):
                pass
        assert refused.value.response.status_code == 400
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 60) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_the_security_extension_messages_of_a_charge_point_are_acknowledged(
        csms, start_station):
    """A station on the 1.6 security extension reports its start (SecurityEventNotification):
    the embedded CSMS takes it, and refuses to sign certificates, having no CA."""
    await start_station()
    await eventually(lambda: [m for m in csms.messages if m.action == "SecurityEventNotification"
                              and m.message_type == 3], what="SecurityEventNotification answered")
    answer = [m for m in csms.messages if m.action == "SecurityEventNotification"
              and m.message_type == 3][0]
    assert answer.payload == {}
