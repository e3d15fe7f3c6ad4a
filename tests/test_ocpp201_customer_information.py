"""OCPP 2.0.1 N09/N10 CustomerInformation, end to end: the daemon on 2.0.1 with its store, the
bench CSMS asking over a real websocket what the station holds of a customer (the cache, the
local list, the session history), and clearing it; NotifyCustomerInformation recorded as the
CSMS got it. Named after the OCTT test cases (TC_N_27 ... TC_N_32, TC_N_62)."""

from __future__ import annotations

import asyncio
from typing import Any


from pievse.core.authorization import IdToken, IdTokenType
from pievse.persistence.history import CLEARED_ID_TOKEN
from pievse.protocol.v201.codec.customer_information import (
    MAX_DATA,
    notify_customer_information,
)
from tests.conftest import eventually
from tests.ocpp201 import CARD, OCPP201, sent


LISTED = {"idToken": "04B0B0B0", "type": "ISO14443"}
STRANGER = {"idToken": "04DEAD00", "type": "ISO14443"}


def ask(request_id: int, *, report: bool, clear: bool, **reference: Any) -> dict[str, Any]:
    return {"requestId": request_id, "report": report, "clear": clear, **reference}


def reports(csms, request_id: int) -> list[dict[str, Any]]:
    return [p for p in sent(csms, "NotifyCustomerInformation") if p["requestId"] == request_id]


async def report_of(csms, request_id: int) -> str:
    """The whole report of ``request_id``, once its last message (tbc false) came."""
    await eventually(lambda: any(not p["tbc"] for p in reports(csms, request_id)),
                     f"the report of request {request_id}")
    messages = reports(csms, request_id)
    assert [p["seqNo"] for p in messages] == list(range(len(messages)))
    assert len({p["generatedAt"] for p in messages}) == 1
    return "\n".join(p["data"] for p in messages)


async def charge_once(station, csms) -> None:
    """A whole session of CARD on EVSE 1: plugged in, card, unplugged."""
    sim = station.hardware.simulated
    ended = len([e for e in sent(csms, "TransactionEvent") if e["eventType"] == "Ended"])
    sim.evs[1].set_state("C")
    sim.reader.present(CARD["idToken"])
    await eventually(lambda: sim.boards[1].contactor_closed, what="charging")
    sim.evs[1].set_state("A")
    await eventually(lambda: len([e for e in sent(csms, "TransactionEvent")
                                  if e["eventType"] == "Ended"]) > ended, what="Ended")


async def list_card(csms, token: dict) -> None:
    answer = await csms.call("CP1", "SendLocalList", {
        "versionNumber": 1, "updateType": "Full",
        "localAuthorizationList": [{"idToken": token, "idTokenInfo": {"status": "Accepted"}}]})
    assert answer["status"] == "Accepted"


def card(token: dict) -> IdToken:
    return IdToken(token["idToken"], IdTokenType.ISO14443)


async def test_tc_n_27_report_with_data_names_the_cache_entry_and_the_sessions(
        csms, start_station):
    station = await start_station(ocpp=OCPP201)
    await charge_once(station, csms)
    await charge_once(station, csms)

    answer = await csms.call("CP1", "CustomerInformation",
                             ask(3, report=True, clear=False, idToken=CARD))

    assert answer == {"status": "Accepted"}
    text = await report_of(csms, 3)
    assert f"AuthorizationCache: idToken {CARD['idToken']} (ISO14443): Accepted" in text
    assert text.count("Session on EVSE 1: from ") == 2 and "kWh" in text
    assert "Cleared" not in text
    assert len(station.store.sessions_of(CARD["idToken"])) == 2, "a report changes nothing"


async def test_tc_n_28_report_without_data_says_none_was_found(csms, start_station):
    await start_station(ocpp=OCPP201)
    answer = await csms.call("CP1", "CustomerInformation",
                             ask(4, report=True, clear=False, idToken=STRANGER))
    assert answer == {"status": "Accepted"}
    assert await report_of(csms, 4) == f"No data found for idToken {STRANGER['idToken']} " \
                                       "(ISO14443)"


async def test_tc_n_29_neither_report_nor_clear_is_rejected_and_no_customer_is_invalid(
        csms, start_station):
    await start_station(ocpp=OCPP201)
    rejected = await csms.call("CP1", "CustomerInformation",
                               ask(5, report=False, clear=False, idToken=CARD))
    invalid = await csms.call("CP1", "CustomerInformation", ask(6, report=True, clear=True))
    nobody = await csms.call("CP1", "CustomerInformation", ask(
        13, report=True, clear=False, idToken={"idToken": "", "type": "NoAuthorization"}))
    assert rejected["status"] == "Rejected"
    assert invalid["status"] == nobody["status"] == "Invalid"
    await asyncio.sleep(0.2)  # nothing follows either
    assert sent(csms, "NotifyCustomerInformation") == []


async def test_tc_n_30_clear_and_report_removes_the_cache_entry_and_the_sessions_id(
        csms, start_station):
    station = await start_station(ocpp=OCPP201)
    await charge_once(station, csms)
    await list_card(csms, LISTED)
    authorization = station.station.access.authorization
    assert authorization.cached(card(CARD)) is not None

    answer = await csms.call("CP1", "CustomerInformation",
                             ask(7, report=True, clear=True, idToken=CARD))

    assert answer == {"status": "Accepted"}
    text = await report_of(csms, 7)
    assert "AuthorizationCache: idToken" in text and "Session on EVSE 1" in text
    assert "Cleared: the AuthorizationCache entry, the id of 1 ended session(s)." in text
    assert authorization.cached(card(CARD)) is None
    assert station.store.sessions_of(CARD["idToken"]) == []
    [kept] = station.store.sessions()
    assert kept.id_token == CLEARED_ID_TOKEN and kept.energy_wh >= 0, "the bill keeps it"
    assert CARD["idToken"] not in str(station.store.state("authorization_cache")), \
        "the cache on disk forgot it too"

    # The list and the reservations are the CSMS's: reported, not cleared.
    reserved = await csms.call("CP1", "ReserveNow", {
        "id": 5, "evseId": 1, "expiryDateTime": "2099-01-01T00:00:00Z", "idToken": LISTED})
    assert reserved["status"] == "Accepted"
    await csms.call("CP1", "CustomerInformation", ask(8, report=True, clear=True,
                                                      idToken=LISTED))
    listed = await report_of(csms, 8)
    assert "LocalAuthorizationList: idToken 04B0B0B0 (ISO14443): Accepted" in listed
    assert "Reservation 5 on EVSE 1 until 2099-01-01T00:00:00Z" in listed
    assert "Kept: the LocalAuthorizationList entry" in listed
    assert "Kept: 1 reservation(s)" in listed
    assert authorization.list_entry(card(LISTED)) is not None
    assert [r.reservation_id for r in station.station.access.reservations.all] == [5]


async def test_tc_n_31_clear_and_report_without_data(csms, start_station):
    await start_station(ocpp=OCPP201)
    await csms.call("CP1", "CustomerInformation",
                    ask(9, report=True, clear=True, idToken=STRANGER))
    text = await report_of(csms, 9)
    assert text.startswith("No data found for idToken 04DEAD00")
    assert "Cleared: nothing was held." in text


async def test_tc_n_32_clear_without_report_still_tells_what_was_cleared(csms, start_station):
    station = await start_station(ocpp=OCPP201)
    await charge_once(station, csms)
    answer = await csms.call("CP1", "CustomerInformation",
                             ask(10, report=False, clear=True, idToken=CARD))
    assert answer == {"status": "Accepted"}
    text = await report_of(csms, 10)
    assert text.startswith("Cleared: the AuthorizationCache entry, the id of 1 ended session")
    assert "Session on EVSE" not in text, "no report was asked for"
    assert station.store.sessions_of(CARD["idToken"]) == []


async def test_a_session_going_on_keeps_its_id_through_a_clear(csms, start_station):
    station = await start_station(ocpp=OCPP201)
    sim = station.hardware.simulated
    sim.evs[1].set_state("C")
    sim.reader.present(CARD["idToken"])
    await eventually(lambda: sim.boards[1].contactor_closed, what="charging")

    await csms.call("CP1", "CustomerInformation",
                    ask(11, report=True, clear=True, idToken=CARD))
    text = await report_of(csms, 11)
    assert "ongoing" in text and "Kept: 1 session(s) going on" in text
    assert sim.boards[1].contactor_closed, "the clear does not touch the charging"
    sim.evs[1].set_state("A")
    await eventually(lambda: any(e["eventType"] == "Ended"
                                 for e in sent(csms, "TransactionEvent")), what="Ended")
    assert station.store.sessions_of(CARD["idToken"])[0].ended_at is not None


async def test_tc_n_62_a_customer_identifier_names_no_data_held_here(csms, start_station):
    await start_station(ocpp=OCPP201)
    answer = await csms.call("CP1", "CustomerInformation",
                             ask(12, report=True, clear=True, customerIdentifier="C-42"))
    assert answer == {"status": "Accepted"}
    text = await report_of(csms, 12)
    assert text.startswith("No data found for customerIdentifier C-42")


def test_a_long_report_is_split_into_messages_of_at_most_512_characters() -> None:
    lines = [f"Session {n}: " + "x" * 90 for n in range(30)] + ["y" * 1300]
    messages = notify_customer_information(lines, 5, 0.0)
    assert len(messages) > 2
    assert all(len(m.data) <= MAX_DATA for m in messages)
    assert [m.seq_no for m in messages] == list(range(len(messages)))
    assert [m.tbc for m in messages] == [True] * (len(messages) - 1) + [False]
    joined = "".join(m.data for m in messages)
    assert joined.replace("\n", "") == "".join(lines), "nothing left out, in order"
