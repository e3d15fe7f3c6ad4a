"""Schema-valid frames a CSMS may send that no station can carry out: numbers beyond what the code
can hold, date-times beyond what it can write back, payloads nested a thousand deep, frames larger
than a default websocket takes. Each is answered (a 1.6 CALLERROR, or the spec's Rejected) before
anything changes, and the link, the daemon and the session stay up."""

from __future__ import annotations

import asyncio
import json

import pytest

from pievse.app.daemon import ExitReason
from pievse.protocol.common.frames import read_frame
from tests.conftest import eventually
from tests.test_ocpp16_robustness import OCPP16_ERROR_CODES
from tests.test_ocpp16_sessions import TAG, charging_session, received

pytestmark = pytest.mark.asyncio

HUGE_INTEGER = "1" + "0" * 400


def profile_frame(unique_id: str, *, duration: str = "3600", start_period: str = "0",
                  limit: str = "10", min_rate: str = "6") -> str:
    return (
        f'[2,"{unique_id}","SetChargingProfile",{{"connectorId":0,"csChargingProfiles":{{'
        '"chargingProfileId":9,"stackLevel":0,"chargingProfilePurpose":"TxDefaultProfile",'
        '"chargingProfileKind":"Relative","chargingSchedule":{"chargingRateUnit":"A",'
        f'"duration":{duration},"minChargingRate":{min_rate},"chargingSchedulePeriod":'
        f'[{{"startPeriod":{start_period},"limit":{limit}}}]}}}}}}]'
    )


async def still_answering(csms, daemon) -> None:
    assert daemon.protocol.registered
    assert (await csms.get_configuration("CP1", ["HeartbeatInterval"]))["configurationKey"]


async def card_presented(csms, start_station, answers, action: str, **station):
    """A station (``start_station``'s keyword arguments: ``station``) whose CSMS answers with
    ``answers``, once a car is plugged in and a card presented, and ``action`` has reached the
    CSMS."""
    daemon = await start_station(**station)
    csms.on_call = answers
    sim = daemon.hardware.simulated
    sim.evs[1].set_state("B")
    sim.reader.present(TAG)
    await eventually(lambda: received(csms, action), what=action)
    return daemon


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (profile_frame("d", duration=HUGE_INTEGER), "PropertyConstraintViolation"),
        (profile_frame("s", start_period=HUGE_INTEGER), "PropertyConstraintViolation"),
        (profile_frame("l", limit="1e400"), "PropertyConstraintViolation"),
        (profile_frame("m", min_rate="-1.8e309"), "PropertyConstraintViolation"),
        (profile_frame("n", limit="NaN"), "TypeConstraintViolation"),
        (profile_frame("i", min_rate="Infinity"), "TypeConstraintViolation"),
        (profile_frame("t", duration="9223372036854775808"), "PropertyConstraintViolation"),
        ('[2,"f","UpdateFirmware",{"location":"http://x/f","retrieveDate":'
         f'"2030-01-01T00:00:00Z","retryInterval":{HUGE_INTEGER}}}]',
         "PropertyConstraintViolation"),
        ('[2,"g","GetDiagnostics",{"location":"ftp://x/","retryInterval":1e999}]',
         "PropertyConstraintViolation"),
        ('[2,"h","ChangeAvailability",{"connectorId":-Infinity,"type":"Operative"}]',
         "TypeConstraintViolation"),
    ],
)
async def test_numbers_beyond_what_the_code_can_hold_are_refused_before_anything_changes(
    csms, start_station, frame, code
):
    daemon = await start_station()
    answer = json.loads(await csms.send_raw("CP1", frame))
    assert answer[:3] == [4, json.loads(frame.replace("NaN", "0").replace("Infinity", "0"))[1],
                          code]
    assert answer[2] in OCPP16_ERROR_CODES
    assert not daemon.station.charging.profiles.installed
    await still_answering(csms, daemon)
    # A session still starts (an installed profile with such a number crashed every start).
    await charging_session(csms, daemon)


@pytest.mark.parametrize("number", [str(2**63), str(-(2**63) - 1), "1e309", "NaN", "-Infinity"])
async def test_a_callresult_with_a_number_beyond_what_the_code_can_hold_is_not_well_formed(
    number,
):
    frame = read_frame(f'[3,"r",{{"transactionId":{number},"idTagInfo":{{}}}}]')
    assert frame.unique_id == "r" and frame.fault is not None
    assert frame.fault[0] in ("property_constraint", "type_constraint")
    assert read_frame(f'[3,"r",{{"transactionId":{2**63 - 1}}}]').well_formed


async def test_numbers_beyond_what_the_code_can_hold_in_an_answer_are_an_invalid_answer(
    csms, start_station
):
    async def huge_transaction_id(cp_id, action, payload):
        if action == "StartTransaction":
            return {"transactionId": 2**63, "idTagInfo": {"status": "Accepted"}}
        if action == "Heartbeat":
            return {"currentTime": "2030-01-01T00:00:00Z"}
        return None

    daemon = await card_presented(csms, start_station, huge_transaction_id, "StartTransaction")
    # The transaction goes on without an id from the CSMS, the daemon and the link stay.
    await eventually(lambda: daemon.station.connector(1).transaction is not None,
                     what="a transaction")
    assert daemon.station.connector(1).transaction.transaction_id != 2**63
    csms.on_call = None
    await still_answering(csms, daemon)


@pytest.mark.parametrize("frame", [
    profile_frame("l", limit="1.7e308", min_rate="1.7e308"),
    profile_frame("m", limit="-1.7e308"),
    profile_frame("d", duration=str(2**63 - 1)),
])
async def test_the_largest_numbers_a_frame_may_carry_are_answered_and_keep_the_link(
    csms, start_station, frame
):
    # A limit of 1.7e308 is a multiple of 0.1 whose quotient the schema check could not round:
    # the OverflowError ended the session that every other message shares.
    daemon = await start_station()
    answer = json.loads(await csms.send_raw("CP1", frame))
    assert answer[0] in (3, 4) and answer[1] == json.loads(frame)[1]
    await still_answering(csms, daemon)
    await charging_session(csms, daemon)


async def test_a_heartbeat_interval_of_64_bits_keeps_the_station_running(csms, start_station):
    async def longest_interval(cp_id, action, payload):
        if action == "BootNotification":
            return {"status": "Accepted", "currentTime": "2030-01-01T00:00:00Z",
                    "interval": 2**63 - 1}
        return None

    csms.on_call = longest_interval
    daemon = await start_station()
    await still_answering(csms, daemon)
    await charging_session(csms, daemon)


UNWRITABLE = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59",
              "9999-12-31T23:59:59.9999999Z"]


@pytest.mark.parametrize("when", UNWRITABLE)
async def test_a_local_list_with_an_unwritable_date_time_leaves_the_list_version(
    csms, start_station, when
):
    daemon = await start_station()
    before = daemon.station.local_list_version()
    frame = json.dumps([2, "v", "SendLocalList", {
        "listVersion": before + 5, "updateType": "Full",
        "localAuthorizationList": [
            {"idTag": TAG, "idTagInfo": {"status": "Accepted", "expiryDate": when}}]}])
    answer = json.loads(await csms.send_raw("CP1", frame))
    assert answer[:3] == [4, "v", "PropertyConstraintViolation"]
    assert daemon.station.local_list_version() == before
    await still_answering(csms, daemon)


@pytest.mark.parametrize("when", UNWRITABLE)
async def test_a_reservation_or_profile_with_an_unwritable_date_time_changes_nothing(
    csms, start_station, when
):
    daemon = await start_station()
    reserve = json.dumps([2, "r", "ReserveNow", {"connectorId": 1, "expiryDate": when,
                                                  "idTag": TAG, "reservationId": 3}])
    answer = json.loads(await csms.send_raw("CP1", reserve))
    assert answer[:3] == [4, "r", "PropertyConstraintViolation"]
    frame = json.loads(profile_frame("p"))
    frame[3]["csChargingProfiles"]["validTo"] = when
    answer = json.loads(await csms.send_raw("CP1", json.dumps(frame)))
    assert answer[:3] == [4, "p", "PropertyConstraintViolation"]
    assert not daemon.station.charging.profiles.installed
    await still_answering(csms, daemon)
    await charging_session(csms, daemon)


@pytest.mark.parametrize("when", UNWRITABLE)
async def test_an_authorize_answer_with_an_unwritable_date_time_ends_no_session(
    csms, start_station, when
):
    async def expiring(cp_id, action, payload):
        if action == "Authorize":
            return {"idTagInfo": {"status": "Accepted", "expiryDate": when}}
        if action == "StartTransaction":
            return {"transactionId": 5,
                    "idTagInfo": {"status": "Accepted", "expiryDate": when}}
        return None

    daemon = await card_presented(csms, start_station, expiring, "Authorize")
    sim = daemon.hardware.simulated
    csms.on_call = None
    await still_answering(csms, daemon)
    # Whatever the station made of the answer, the transaction it started is ended.
    if received(csms, "StartTransaction"):
        sim.reader.present(TAG)
        await eventually(lambda: received(csms, "StopTransaction"), what="StopTransaction")
    assert daemon.exit_reason is ExitReason.STOPPED  # still running: nothing failed
    assert daemon.protocol.registered


LONE = "\\ud800X"  # a JSON escape of half a surrogate pair: valid JSON, not text


@pytest.mark.parametrize(("action", "payload"), [
    ("RemoteStartTransaction", '{"idTag":"' + LONE + '"}'),
    ("SendLocalList", '{"listVersion":9,"updateType":"Full","localAuthorizationList":'
                      '[{"idTag":"' + LONE + '","idTagInfo":{"status":"Accepted"}}]}'),
    ("ReserveNow", '{"connectorId":1,"expiryDate":"2099-01-01T00:00:00Z","idTag":"' + LONE
                   + '","reservationId":4}'),
    ("ChangeConfiguration", '{"key":"HeartbeatInterval","value":"' + LONE + '"}'),
    ("DataTransfer", '{"vendorId":"x","data":"' + LONE + '"}'),
])
async def test_a_string_that_is_not_text_is_a_formation_violation_and_changes_nothing(
    csms, start_station, action, payload
):
    # Accepted, the id tag of a remote start broke the store when the car came: the transaction
    # went unrecorded and its StartTransaction unsent.
    daemon = await start_station()
    version = daemon.station.local_list_version()
    answer = json.loads(await csms.send_raw("CP1", f'[2,"s",{json.dumps(action)},{payload}]'))
    assert answer[:3] == [4, "s", "FormationViolation"]
    assert "surrogate" in answer[3]
    assert daemon.station.local_list_version() == version
    await still_answering(csms, daemon)
    # No remote start is waiting: the car plugged in waits for a card, as before the frame.
    await charging_session(csms, daemon)
    assert [p["idTag"] for p in received(csms, "StartTransaction")] == [TAG]


async def test_an_answer_holding_a_string_that_is_not_text_is_not_taken_and_sent_again(
    csms, start_station
):
    answers: list[str] = []

    async def lone_surrogate_once(cp_id, action, payload):
        if action == "StartTransaction" and not answers:
            answers.append("lone")
            return {"transactionId": 5,
                    "idTagInfo": {"status": "Accepted", "parentIdTag": "\ud800"}}
        return None

    # Sent again after TransactionMessageRetryInterval: 1 s rather than the default 30 s that
    # the test would otherwise sit out.
    daemon = await card_presented(csms, start_station, lone_surrogate_once, "StartTransaction",
                                  keys={"TransactionMessageRetryInterval": 1})
    await eventually(lambda: daemon.station.connector(1).transaction is not None
                     and daemon.station.connector(1).transaction.transaction_id not in (None, 5),
                     timeout=30, what="the StartTransaction sent again and answered")
    starts = received(csms, "StartTransaction")
    assert len(starts) >= 2 and starts[0] == starts[1]
    await still_answering(csms, daemon)


def widest_local_list(version: int, entries: int) -> str:
    # Every idTag as long as the schema allows, in characters that JSON escapes as surrogate
    # pairs: the largest SendLocalList the station can be sent for its advertised length.
    plug = "\U0001F50C"
    return json.dumps([2, "big", "SendLocalList", {
        "listVersion": version, "updateType": "Full",
        "localAuthorizationList": [
            {"idTag": f"{n:05d}" + plug * 15, "idTagInfo": {
                "status": "ConcurrentTx", "expiryDate": "2099-01-01T00:00:00.000000000+00:00",
                "parentIdTag": plug * 20}}
            for n in range(entries)]}])


async def test_a_local_list_of_the_advertised_length_fits_in_one_frame(csms, start_station):
    daemon = await start_station(authorization={"send_local_list_max_length": 3000,
                                                "local_list_max_length": 3000})
    advertised = await csms.get_configuration("CP1", ["SendLocalListMaxLength"])
    assert advertised["configurationKey"][0]["value"] == "3000"
    frame = widest_local_list(7, 3000)
    assert len(frame) > 2**20  # past websockets' default, which closed the link with 1009
    answer = json.loads(await csms.send_raw("CP1", frame, timeout=30))
    assert answer == [3, "big", {"status": "Accepted"}]
    assert daemon.station.local_list_version() == 7
    await still_answering(csms, daemon)


async def test_a_frame_larger_than_any_request_closes_the_link_and_the_station_comes_back(
    csms, start_station
):
    daemon = await start_station()
    boots = len(received(csms, "BootNotification"))
    frame = widest_local_list(7, 3000)  # three times SendLocalListMaxLength
    assert await csms.send_raw("CP1", frame, timeout=5) is None
    assert daemon.station.local_list_version() != 7
    await eventually(lambda: csms.connected("CP1") and daemon.protocol.registered,
                     what="the station back on the link")
    assert len(received(csms, "BootNotification")) >= boots
    await still_answering(csms, daemon)


async def test_a_session_task_that_fails_ends_the_session_and_starts_again_on_reconnect(
    csms, start_station, caplog
):
    daemon = await start_station()
    runs: list[int] = []

    async def fails_once(call_csms) -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("a session task that fails")
        await asyncio.Event().wait()

    daemon.protocol.context.while_registered("fails-once", fails_once)
    boots = len(received(csms, "BootNotification"))
    await csms.drop_connection("CP1")
    await eventually(lambda: len(runs) == 2, what="the task started again on a new session")
    assert any("a session task that fails" in str(r.exc_info[1]) for r in caplog.records
               if r.exc_info)
    await eventually(lambda: daemon.protocol.registered, what="registered again")
    assert len(received(csms, "BootNotification")) >= boots
    await still_answering(csms, daemon)
