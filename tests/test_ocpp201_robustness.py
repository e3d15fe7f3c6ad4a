"""OCPP 2.0.1 over a link that misbehaves: every CALL the station cannot use gets the CALLERROR
2.0.1 defines for it, broken frames are answered as RPC errors, and the link stays up. Also
TriggerMessage: what the station sends when asked, and NotImplemented for what it does not."""

from __future__ import annotations

import json

import pytest

from tests.conftest import eventually
from tests.ocpp201 import OCPP201, calls_sent, get_variable, sent, set_variable

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('[2,"b1","NoSuchAction",{}]', "NotImplemented"),
        ('[2,"b2","SetChargingProfile",{"evseId":1,"chargingProfile":{}}]',
         "OccurrenceConstraintViolation"),
        ('[2,"b3","GetVariables",{}]', "OccurrenceConstraintViolation"),
        ('[2,"b4","GetVariables",{"getVariableData":[]}]', "OccurrenceConstraintViolation"),
        ('[2,"b5","RequestStopTransaction",{"transactionId":42}]', "TypeConstraintViolation"),
        ('[2,"b6","RequestStopTransaction",{"transactionId":"' + "X" * 37 + '"}]',
         "PropertyConstraintViolation"),
        ('[2,"b7","Reset",{"type":"Hard"}]', "PropertyConstraintViolation"),
        ('[2,"b8","Reset",{"type":"OnIdle","please":true}]', "FormatViolation"),
        ('[2,"b9"]', "RpcFrameworkError"),
        ("not json at all", "RpcFrameworkError"),
        ('[7,"b10","Heartbeat",{}]', "MessageTypeNotSupported"),
        # A JSON escape of half a surrogate pair: valid JSON, but no text a store or log takes.
        ('[2,"b11","RequestStartTransaction",{"idToken":{"idToken":"\\ud800",'
         '"type":"ISO14443"},"remoteStartId":1}]', "FormatViolation"),
    ],
)
async def test_out_of_spec_call_gets_the_ocpp201_callerror_and_the_link_stays(
        csms, start_station, frame, code):
    station = await start_station(ocpp=OCPP201)
    answer = json.loads(await csms.send_raw("CP1", frame))
    assert answer[0] == 4 and answer[2] == code, answer
    assert csms.connected("CP1") and station.protocol.registered
    assert (await get_variable(csms, "OCPPCommCtrlr", "HeartbeatInterval"))[
        "attributeStatus"] == "Accepted"


async def test_a_csms_answer_that_breaks_the_schema_is_not_taken_and_the_event_is_sent_again(
        csms, start_station):
    answers: list[str] = []

    async def bad_then_good(cp_id, action, payload):
        if action == "TransactionEvent" and not answers:
            answers.append("bad")
            return {"idTokenInfo": {"status": "Perhaps"}}
        return None

    csms.on_call = bad_then_good
    station = await start_station(ocpp=OCPP201)
    assert await set_variable(csms, "OCPPCommCtrlr", "MessageAttemptInterval", "1",
                              instance="TransactionEvent") == "Accepted"
    sim = station.hardware.simulated
    sim.evs[1].set_state("C")
    sim.reader.present("04A1B2C3")
    await eventually(lambda: len(sent(csms, "TransactionEvent")) >= 2, timeout=15,
                     what="the Started event sent again")
    first, again = sent(csms, "TransactionEvent")[:2]
    assert first == again and first["seqNo"] == 0


@pytest.mark.parametrize(("message", "action"), [
    ("StatusNotification", "StatusNotification"),
    ("Heartbeat", "Heartbeat"),
    ("MeterValues", "MeterValues"),
    ("FirmwareStatusNotification", "FirmwareStatusNotification"),
    ("LogStatusNotification", "LogStatusNotification"),
])
async def test_tc_f_trigger_message_sends_what_was_asked(csms, start_station, message, action):
    await start_station(ocpp=OCPP201)
    before = len(sent(csms, action))
    payload = {"requestedMessage": message}
    if message != "Heartbeat":
        payload["evse"] = {"id": 1}
    assert (await csms.call("CP1", "TriggerMessage", payload))["status"] == "Accepted"
    await eventually(lambda: len(sent(csms, action)) > before, what=f"the triggered {action}")
    if action == "StatusNotification":
        assert sent(csms, action)[-1]["evseId"] == 1


async def test_tc_f_27_trigger_message_not_implemented(csms, start_station):
    await start_station(ocpp=OCPP201)
    answer = await csms.call("CP1", "TriggerMessage",
                             {"requestedMessage": "PublishFirmwareStatusNotification"})
    assert answer["status"] == "NotImplemented"
    answer = await csms.call("CP1", "TriggerMessage",
                             {"requestedMessage": "StatusNotification", "evse": {"id": 9}})
    assert answer["status"] == "Rejected"
    assert "SignCertificate" not in calls_sent(csms)


async def test_security_events_reach_the_csms_once_accepted_and_not_before(csms, start_station):
    """A04: the station reports its start (StartupOfTheDevice) through the redelivery queue,
    which waits for an Accepted BootNotification (a CSMS answers earlier ones SecurityError)."""
    csms.boot_status, csms.boot_retry_interval = "Pending", 3600
    station = await start_station(ocpp=OCPP201, wait_registered=False)
    await csms.wait_for_message("CP1", "BootNotification", "out")
    assert "SecurityEventNotification" not in calls_sent(csms)
    csms.boot_status = "Accepted"
    await csms.call("CP1", "TriggerMessage", {"requestedMessage": "BootNotification"})
    await eventually(lambda: sent(csms, "SecurityEventNotification"), what="the event")
    [event] = sent(csms, "SecurityEventNotification")
    assert event["type"] == "StartupOfTheDevice" and station.protocol.registered


KEY, NEW_KEY = "0123456789abcdef", "fedcba9876543210-new"


async def test_a_new_basic_auth_password_is_write_only_never_logged_and_used_next(
        csms, start_station, caplog):
    """A01: SetVariables of SecurityCtrlr.BasicAuthPassword; the station reconnects with it."""
    import logging

    caplog.set_level(logging.DEBUG)
    csms.authorization_keys = {"CP1": KEY}
    station = await start_station(ocpp={**OCPP201, "security_profile": 1, "password": KEY})
    assert (await get_variable(csms, "SecurityCtrlr", "SecurityProfile"))[
        "attributeValue"] == "1"
    assert (await get_variable(csms, "SecurityCtrlr", "BasicAuthPassword"))[
        "attributeStatus"] == "Rejected", "write-only"
    assert await set_variable(csms, "SecurityCtrlr", "BasicAuthPassword", "short") == "Rejected"
    csms.authorization_keys = {"CP1": NEW_KEY}
    connections = csms.charge_points["CP1"].connections
    assert await set_variable(csms, "SecurityCtrlr", "BasicAuthPassword", NEW_KEY) == \
        "Accepted"
    await eventually(lambda: csms.charge_points["CP1"].connections > connections
                     and station.protocol.registered, timeout=20,
                     what="reconnected with the new password")
    assert ("ReconfigurationOfSecurityParameters"
            in [e["type"] for e in sent(csms, "SecurityEventNotification")])
    assert "BasicAuthPassword" in caplog.text, "the frames were logged (with the value blanked)"
    assert NEW_KEY not in caplog.text
