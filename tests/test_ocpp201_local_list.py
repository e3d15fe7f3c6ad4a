"""OCPP 2.0.1 D Local authorization list, end to end over websockets against the bench CSMS:
SendLocalList Full and Differential with typed id tokens, VersionMismatch, GetLocalListVersion,
and a listed card that charges while the CSMS is unreachable."""

from __future__ import annotations

import pytest

from tests.conftest import eventually
from tests.ocpp201 import CARD, OCPP201, get_variable, set_variable

pytestmark = pytest.mark.asyncio

OTHER = {"idToken": "04B0B0B0", "type": "ISO14443"}


def entry(token: dict, status: str | None = "Accepted") -> dict:
    return {"idToken": token, **({"idTokenInfo": {"status": status}} if status else {})}


async def send(csms, version: int, kind: str, entries: list[dict]) -> str:
    return (await csms.call("CP1", "SendLocalList", {
        "versionNumber": version, "updateType": kind, "localAuthorizationList": entries}))[
        "status"]


async def version(csms) -> int:
    return (await csms.call("CP1", "GetLocalListVersion", {}))["versionNumber"]


async def test_a_full_list_then_differential_updates_and_their_versions(csms, start_station):
    await start_station(ocpp=OCPP201)
    assert await version(csms) == 0
    assert await send(csms, 2, "Full", [entry(CARD)]) == "Accepted"
    assert await version(csms) == 2
    assert await send(csms, 5, "Differential", [entry(OTHER, "Blocked")]) == "Accepted"
    assert (await get_variable(csms, "LocalAuthListCtrlr", "Entries"))["attributeValue"] == "2"
    assert await send(csms, 5, "Differential", [entry(OTHER, None)]) == "VersionMismatch"
    assert await send(csms, 6, "Differential", [entry(OTHER, None)]) == "Accepted"
    assert (await get_variable(csms, "LocalAuthListCtrlr", "Entries"))["attributeValue"] == "1"
    assert await version(csms) == 6


async def test_a_full_list_may_not_remove_and_fails_whole(csms, start_station):
    await start_station(ocpp=OCPP201)
    assert await send(csms, 1, "Full", [entry(CARD), entry(OTHER, None)]) == "Failed"
    assert await version(csms) == 0


async def test_a_listed_card_charges_while_the_csms_is_unreachable(csms, start_station):
    station = await start_station(ocpp=OCPP201)
    assert await set_variable(csms, "AuthCtrlr", "LocalAuthorizeOffline", "true") == "Accepted"
    assert await send(csms, 1, "Full", [entry(CARD)]) == "Accepted"
    csms.refuse_connections = True
    await csms.drop_connection("CP1")
    await eventually(lambda: not station.protocol.registered, what="offline")
    sim = station.hardware.simulated
    sim.evs[1].set_state("C")
    sim.reader.present(OTHER["idToken"])
    sim.reader.present(CARD["idToken"])
    await eventually(lambda: sim.boards[1].contactor_closed, what="charging offline")
    assert station.status()["connectors"][0]["transaction"]["id_tag"] == CARD["idToken"]
