"""OCPP 2.0.1 G Availability, end to end over websockets against the bench CSMS: the station,
an EVSE or its connector taken out of service and back, Scheduled while a transaction runs. Each
test is named after the OCTT test case it plays."""

from __future__ import annotations

import pytest

from tests.conftest import eventually
from tests.ocpp201 import CARD, OCPP201, sent
from tests.station_process import StationProcess

pytestmark = pytest.mark.asyncio


def last_status(csms, evse_id: int = 1) -> str | None:
    shown = [s["connectorStatus"] for s in sent(csms, "StatusNotification")
             if s["evseId"] == evse_id]
    return shown[-1] if shown else None


async def change(csms, status: str, evse: dict | None = None) -> str:
    payload: dict = {"operationalStatus": status}
    if evse is not None:
        payload["evse"] = evse
    return (await csms.call("CP1", "ChangeAvailability", payload))["status"]


async def test_tc_g_03_change_availability_evse_operative_to_inoperative(csms, start_station):
    await start_station(ocpp=OCPP201, charge_point={"connectors": 2})
    assert await change(csms, "Inoperative", {"id": 1}) == "Accepted"
    await eventually(lambda: last_status(csms, 1) == "Unavailable", what="EVSE 1 Unavailable")
    assert last_status(csms, 2) == "Available"
    assert await change(csms, "Operative", {"id": 1}) == "Accepted"
    await eventually(lambda: last_status(csms, 1) == "Available", what="EVSE 1 back")


async def test_tc_g_05_change_availability_charging_station_operative_to_inoperative(
        csms, start_station):
    station = await start_station(ocpp=OCPP201, charge_point={"connectors": 2})
    assert await change(csms, "Inoperative") == "Accepted"
    await eventually(lambda: last_status(csms, 1) == last_status(csms, 2) == "Unavailable",
                     what="every EVSE Unavailable")
    answer = await csms.call("CP1", "GetVariables", {"getVariableData": [
        {"component": {"name": "ChargingStation"}, "variable": {"name": "AvailabilityState"}}]})
    assert answer["getVariableResult"][0]["attributeValue"] == "Unavailable"
    station.hardware.simulated.evs[1].set_state("C")
    station.hardware.simulated.reader.present("04A1B2C3")
    assert not station.hardware.simulated.boards[1].contactor_closed


async def test_tc_g_07_change_availability_connector_operative_to_inoperative(
        csms, start_station):
    await start_station(ocpp=OCPP201)
    assert await change(csms, "Inoperative", {"id": 1, "connectorId": 1}) == "Accepted"
    await eventually(lambda: last_status(csms) == "Unavailable", what="Unavailable")
    assert await change(csms, "Inoperative", {"id": 1, "connectorId": 2}) == "Rejected"
    assert await change(csms, "Inoperative", {"id": 7}) == "Rejected"


async def test_tc_g_09_change_availability_evse_operative_to_operative(csms, start_station):
    await start_station(ocpp=OCPP201)
    assert await change(csms, "Operative", {"id": 1}) == "Accepted"
    assert last_status(csms) == "Available"


async def test_tc_g_11_change_availability_evse_with_ongoing_transaction(csms, start_station):
    station = await start_station(ocpp=OCPP201)
    sim = station.hardware.simulated
    sim.evs[1].set_state("C")
    sim.reader.present("04A1B2C3")
    await eventually(lambda: sim.boards[1].contactor_closed, what="charging")
    assert await change(csms, "Inoperative", {"id": 1}) == "Scheduled"
    assert sim.boards[1].contactor_closed, "the session goes on"
    sim.reader.present("04A1B2C3")
    await eventually(lambda: any(e["eventType"] == "Ended"
                                 for e in sent(csms, "TransactionEvent")), what="Ended")
    sim.evs[1].set_state("A")
    await eventually(lambda: last_status(csms) == "Unavailable",
                     what="Unavailable once the transaction ended")


async def test_tc_f_06_remote_unlock_connector_without_ongoing_transaction_accepted(
        csms, start_station):
    station = await start_station(ocpp=OCPP201, board={"has_lock": True})
    station.hardware.simulated.evs[1].set_state("B")
    answer = await csms.call("CP1", "UnlockConnector", {"evseId": 1, "connectorId": 1})
    assert answer["status"] == "Unlocked"


async def test_tc_f_07_remote_unlock_connector_without_ongoing_transaction_no_cable_connected(
        csms, start_station):
    await start_station(ocpp=OCPP201, board={"has_lock": True})
    answer = await csms.call("CP1", "UnlockConnector", {"evseId": 1, "connectorId": 1})
    assert answer["status"] == "Unlocked"
    answer = await csms.call("CP1", "UnlockConnector", {"evseId": 3, "connectorId": 1})
    assert answer["status"] == "UnknownConnector"


async def test_an_unlock_during_a_transaction_is_refused_and_the_session_goes_on(
        csms, start_station):
    station = await start_station(ocpp=OCPP201, board={"has_lock": True})
    sim = station.hardware.simulated
    sim.evs[1].set_state("C")
    sim.reader.present("04A1B2C3")
    await eventually(lambda: sim.boards[1].contactor_closed, what="charging")
    answer = await csms.call("CP1", "UnlockConnector", {"evseId": 1, "connectorId": 1})
    assert answer["status"] == "OngoingAuthorizedTransaction"
    assert sim.boards[1].contactor_closed


async def test_a_fixed_cable_has_nothing_to_unlock(csms, start_station):
    from pievse.csms.server import CallErrorResponse

    await start_station(ocpp=OCPP201)
    with pytest.raises(CallErrorResponse) as refused:
        await csms.call("CP1", "UnlockConnector", {"evseId": 1, "connectorId": 1})
    assert refused.value.code == "NotSupported"


async def _restarted_after_kill_9(csms, station: StationProcess) -> None:
    """kill -9, then a start on the same store: the statuses sent after it are the new ones."""
    await station.kill()
    csms.messages.clear()
    await station.start()
    await eventually(lambda: csms.connected("CP1") and sent(csms, "StatusNotification"),
                     timeout=30, what="registered again")


@pytest.mark.parametrize("evse", [{"id": 1}, None, {"id": 1, "connectorId": 1}],
                         ids=["EVSE", "station", "connector"])
async def test_tc_g_18_19_20_change_availability_state_persists_across_reboot(
        csms, tmp_path, evse):
    """TC_G_18_CS (an EVSE), TC_G_19_CS (the Charging Station), TC_G_20_CS (a connector):
    Inoperative holds through a power cut, and Operative brings it back for good."""
    station = StationProcess(tmp_path, csms.url, ocpp=OCPP201,
                             charge_point={"connectors": 2})
    try:
        await station.start()
        await eventually(lambda: csms.connected("CP1") and sent(csms, "StatusNotification"),
                         timeout=30, what="registered")
        assert await change(csms, "Inoperative", evse) == "Accepted"
        await eventually(lambda: last_status(csms, 1) == "Unavailable", what="Unavailable")
        await _restarted_after_kill_9(csms, station)
        await eventually(lambda: last_status(csms, 1) == "Unavailable", timeout=20,
                         what="still Unavailable after the restart")
        other = "Unavailable" if evse is None else "Available"
        await eventually(lambda: last_status(csms, 2) == other, what=f"EVSE 2 {other}")
        assert await change(csms, "Operative", evse) == "Accepted"
        await eventually(lambda: last_status(csms, 1) == "Available", what="back in service")
        await _restarted_after_kill_9(csms, station)
        await eventually(lambda: last_status(csms, 1) == "Available", timeout=20,
                         what="in service after the restart")
    finally:
        await station.stop()


async def test_a_scheduled_inoperative_applies_after_a_power_cut_ended_the_transaction(
        csms, tmp_path):
    """G03.FR.05/G04: Scheduled while charging; the daemon dies before the transaction ends:
    after the restart the transaction ends (PowerLoss) and the EVSE is Unavailable."""
    station = StationProcess(tmp_path, csms.url, ocpp=OCPP201)
    try:
        await station.start()
        await eventually(lambda: csms.connected("CP1") and sent(csms, "StatusNotification"),
                         timeout=30, what="registered")
        await station.tap(CARD["idToken"])
        await station.ev("C")
        await eventually(lambda: sent(csms, "TransactionEvent"), timeout=20, what="Started")
        assert await change(csms, "Inoperative", {"id": 1}) == "Scheduled"
        await _restarted_after_kill_9(csms, station)
        await eventually(lambda: any(e["eventType"] == "Ended"
                                     for e in sent(csms, "TransactionEvent")), timeout=20,
                         what="the transaction ended")
        await eventually(lambda: last_status(csms, 1) == "Unavailable", timeout=20,
                         what="Unavailable once it ended")
    finally:
        await station.stop()
