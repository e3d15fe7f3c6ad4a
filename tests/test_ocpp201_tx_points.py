"""OCPP 2.0.1 E01/E06 transaction start and stop options (TxStartPoint, TxStopPoint) and
EVConnectionTimeOut, end to end over websockets against the bench CSMS: the CSMS chooses the
points with SetVariables, the station core begins and ends the transaction there, and the
TransactionEvents say why (triggerReason), what the car does (chargingState) and how it ended
(stoppedReason). Each test is named after the OCTT test case it plays."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import eventually
from tests.ocpp201 import CARD, OCPP201, get_variable, numbered_without_gaps, sent, set_variable
from tests.station_process import StationProcess

pytestmark = pytest.mark.asyncio

TAG = CARD["idToken"]


def events(csms, kind: str | None = None) -> list[dict]:
    return [e for e in sent(csms, "TransactionEvent") if kind is None or e["eventType"] == kind]


async def points(csms, start: str | None = None, stop: str | None = None) -> None:
    if start is not None:
        assert await set_variable(csms, "TxCtrlr", "TxStartPoint", start) == "Accepted"
    if stop is not None:
        assert await set_variable(csms, "TxCtrlr", "TxStopPoint", stop) == "Accepted"


async def one(csms, kind: str) -> dict:
    await eventually(lambda: events(csms, kind), what=kind)
    return events(csms, kind)[0]


async def charging_with_stop_point(csms, start_station, stop: str, station=None):
    """The station (started here unless given) with TxStopPoint ``stop``, charging a card's
    session: its simulated parts."""
    station = station or await start_station(ocpp=OCPP201)
    await points(csms, stop=stop)
    sim = station.hardware.simulated
    sim.reader.present(TAG)
    sim.evs[1].set_state("C")
    await one(csms, "Started")
    await eventually(lambda: sim.boards[1].contactor_closed, what="energy transfer")
    return sim


async def test_tc_e_09_start_transaction_options_evconnected(csms, start_station):
    station = await start_station(ocpp=OCPP201)
    await points(csms, start="EVConnected")
    sim = station.hardware.simulated
    sim.evs[1].set_state("B")
    started = await one(csms, "Started")
    assert started["triggerReason"] == "CablePluggedIn"
    assert started["transactionInfo"]["chargingState"] == "EVConnected"
    assert "idToken" not in started and started["evse"] == {"id": 1, "connectorId": 1}
    def occupied_events() -> list[dict]:
        return [e for m in sent(csms, "NotifyEvent") for e in m["eventData"]
                if e["actualValue"] == "Occupied"]

    await eventually(occupied_events, what="the NotifyEvent of Occupied")
    [occupied] = occupied_events()
    assert occupied["trigger"] == "Delta" and occupied["component"] == {
        "name": "Connector", "evse": {"id": 1, "connectorId": 1}}
    assert occupied["variable"] == {"name": "AvailabilityState"}
    sim.evs[1].set_state("C")
    assert not sim.boards[1].contactor_closed, "no energy before anyone is authorised"
    sim.reader.present(TAG)
    await eventually(lambda: any(e["triggerReason"] == "Authorized"
                                 for e in events(csms, "Updated")), what="Authorized")
    [authorized] = [e for e in events(csms, "Updated") if e["triggerReason"] == "Authorized"]
    assert authorized["idToken"] == CARD
    await eventually(lambda: sim.boards[1].contactor_closed, what="energy transfer")
    assert len(events(csms, "Started")) == 1
    numbered_without_gaps(events(csms))


async def test_tc_e_10_start_transaction_options_authorized_local(csms, start_station):
    station = await start_station(ocpp=OCPP201)
    await points(csms, start="Authorized")
    station.hardware.simulated.reader.present(TAG)
    started = await one(csms, "Started")
    assert started["triggerReason"] == "Authorized" and started["idToken"] == CARD
    assert started["transactionInfo"]["chargingState"] == "Idle", "no car yet"
    station.hardware.simulated.evs[1].set_state("C")
    await eventually(lambda: station.hardware.simulated.boards[1].contactor_closed,
                     what="energy transfer")
    await eventually(lambda: any(e["transactionInfo"].get("chargingState") == "Charging"
                                 for e in events(csms, "Updated")), what="Charging")


async def test_tc_e_05_local_start_transaction_authorization_first_cable_plugin_timeout(
        csms, start_station):
    station = await start_station(ocpp=OCPP201)
    await points(csms, start="Authorized")
    assert await set_variable(csms, "TxCtrlr", "EVConnectionTimeOut", "2") == "Accepted"
    station.hardware.simulated.reader.present(TAG)
    started = await one(csms, "Started")
    ended = await one(csms, "Ended")
    assert ended["triggerReason"] == "EVConnectTimeout"
    assert ended["transactionInfo"]["stoppedReason"] == "Timeout"
    assert ended["transactionInfo"]["chargingState"] == "Idle"
    assert ended["transactionInfo"]["transactionId"] == \
        started["transactionInfo"]["transactionId"]


async def test_e01_start_transaction_options_energy_transfer(csms, start_station):
    station = await start_station(ocpp=OCPP201)
    await points(csms, start="EnergyTransfer")
    sim = station.hardware.simulated
    sim.evs[1].set_state("B")
    sim.reader.present(TAG)
    await eventually(lambda: sent(csms, "Authorize"), what="Authorize")
    assert not events(csms), "authorised and plugged in, but no energy asked for yet"
    sim.evs[1].set_state("C")
    started = await one(csms, "Started")
    assert started["triggerReason"] == "ChargingStateChanged"
    assert started["transactionInfo"]["chargingState"] == "Charging"
    assert started["idToken"] == CARD


async def test_tc_e_12_parking_bay_occupancy_is_refused_without_a_sensor(csms, start_station):
    """TC_E_12/TC_E_19 do not apply: there is no parking bay detector. TxStartPoint and
    TxStopPoint are ReadWrite, their valuesList leaves ParkingBayOccupancy out and a value
    with it is Rejected, the points unchanged."""
    await start_station(ocpp=OCPP201)
    for name in ("TxStartPoint", "TxStopPoint"):
        assert await set_variable(csms, "TxCtrlr", name,
                                  "ParkingBayOccupancy,EVConnected") == "Rejected"
        assert (await get_variable(csms, "TxCtrlr", name))["attributeValue"] == \
            "PowerPathClosed"
    report = await csms.call("CP1", "GetVariables", {"getVariableData": [
        {"component": {"name": "TxCtrlr"}, "variable": {"name": "TxStartPoint"},
         "attributeType": "Actual"}]})
    assert report["getVariableResult"][0]["attributeStatus"] == "Accepted"


async def test_tc_e_22_stop_transaction_options_energy_transfer_stopped_suspendedev(
        csms, start_station):
    sim = await charging_with_stop_point(csms, start_station, "EnergyTransfer")
    sim.evs[1].set_state("B")  # the EV suspends the energy transfer
    ended = await one(csms, "Ended")
    assert ended["triggerReason"] == "ChargingStateChanged"
    assert ended["transactionInfo"]["stoppedReason"] == "StoppedByEV"
    assert ended["transactionInfo"]["chargingState"] == "EVConnected"


async def test_tc_e_14_stop_transaction_options_evdisconnected_charging_station_side(
        csms, start_station):
    sim = await charging_with_stop_point(csms, start_station, "EVConnected")
    sim.reader.present(TAG)  # the driver ends the authorisation: EVConnectedPostSession
    await eventually(lambda: any(e["triggerReason"] == "StopAuthorized"
                                 for e in events(csms, "Updated")), what="StopAuthorized")
    await eventually(lambda: not sim.boards[1].contactor_closed, what="energy stopped")
    assert not events(csms, "Ended"), "the transaction waits for the cable"
    sim.evs[1].set_state("A")
    ended = await one(csms, "Ended")
    assert ended["triggerReason"] == "EVCommunicationLost"
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    await eventually(lambda: sent(csms, "StatusNotification")[-1]["connectorStatus"] ==
                     "Available", what="Available")
    numbered_without_gaps(events(csms))


async def test_tc_f_02_remote_start_transaction_cable_plugin_first_evconnected(
        csms, start_station):
    """The cable first with TxStartPoint EVConnected: the transaction runs already; the remote
    start authorises it (Updated, RemoteStart, its remoteStartId) and the answer names it."""
    station = await start_station(ocpp=OCPP201)
    await points(csms, start="EVConnected")
    station.hardware.simulated.evs[1].set_state("B")
    started = await one(csms, "Started")
    answer = await csms.call("CP1", "RequestStartTransaction", {
        "idToken": CARD, "evseId": 1, "remoteStartId": 17})
    assert answer["status"] == "Accepted"
    assert answer["transactionId"] == started["transactionInfo"]["transactionId"]
    await eventually(lambda: any(e["triggerReason"] == "RemoteStart"
                                 for e in events(csms, "Updated")), what="RemoteStart")
    [remote] = [e for e in events(csms, "Updated") if e["triggerReason"] == "RemoteStart"]
    assert remote["transactionInfo"]["remoteStartId"] == 17 and remote["idToken"] == CARD


async def test_tc_f_03_the_remote_start_id_outlives_kill_9_with_its_started_event(
        csms, tmp_path):
    """F01/F03: the remote start accepted, the transaction begun while the CSMS is away, the
    daemon killed before its Started event went out: after the restart the event carries the
    remoteStartId the CSMS gave (it is on disk with the transaction, not in the adapter)."""
    station = StationProcess(tmp_path, csms.url, ocpp=OCPP201)
    try:
        await station.start()
        await eventually(lambda: csms.connected("CP1") and sent(csms, "StatusNotification"),
                         timeout=30, what="registered")
        assert await set_variable(csms, "AuthCtrlr", "AuthorizeRemoteStart", "false") == \
            "Accepted"
        answer = await csms.call("CP1", "RequestStartTransaction", {
            "idToken": CARD, "evseId": 1, "remoteStartId": 4711})
        assert answer["status"] == "Accepted"
        csms.refuse_connections = True
        await csms.drop_connection("CP1")
        await station.ev("C")

        async def begun() -> bool:
            return (await station.status())["connectors"][0]["transaction"] is not None

        for _ in range(200):
            if await begun():
                break
            await asyncio.sleep(0.1)
        assert await begun(), "the transaction began offline"
        assert not events(csms)
        await station.kill()
        csms.refuse_connections = False
        await station.start()
        started = await one(csms, "Started")
        assert started["transactionInfo"]["remoteStartId"] == 4711
        # Begun when the car came, after the remote start: the cable is what made it begin.
        assert started["triggerReason"] == "CablePluggedIn" and started["offline"]
    finally:
        await station.stop()


async def test_tc_e_26_disconnect_cable_on_ev_side_suspend_transaction(csms, start_station):
    """TxStopPoint Authorized, StopTxOnEVSideDisconnect false: unplugged, the transaction is
    suspended (EVCommunicationLost, Idle; the connector Available); plugged in again, it goes on
    (CablePluggedIn) and charges."""
    station = await start_station(ocpp=OCPP201)
    assert await set_variable(csms, "TxCtrlr", "StopTxOnEVSideDisconnect", "false") == \
        "Accepted"
    sim = await charging_with_stop_point(csms, start_station=None, stop="Authorized",
                                         station=station)
    sim.evs[1].set_state("A")
    await eventually(lambda: any(e["triggerReason"] == "EVCommunicationLost"
                                 for e in events(csms, "Updated")), what="EVCommunicationLost")
    [lost] = [e for e in events(csms) if e["triggerReason"] == "EVCommunicationLost"]
    assert lost["transactionInfo"]["chargingState"] == "Idle"
    await eventually(lambda: sent(csms, "StatusNotification")[-1]["connectorStatus"] ==
                     "Available", what="Available")
    assert not events(csms, "Ended")
    sim.evs[1].set_state("C")
    await eventually(lambda: any(e["triggerReason"] == "CablePluggedIn"
                                 for e in events(csms, "Updated")), what="CablePluggedIn")
    await eventually(lambda: sim.boards[1].contactor_closed, what="charging again")
    assert not events(csms, "Ended") and len(events(csms, "Started")) == 1
    numbered_without_gaps(events(csms))
    states = [e["transactionInfo"].get("chargingState") for e in events(csms)]
    assert "SuspendedEV" not in states[states.index("Idle"):states.index("Idle") + 2]


async def test_tc_e_27_disconnect_cable_on_ev_side_suspend_transaction_connection_timeout(
        csms, start_station):
    station = await start_station(ocpp=OCPP201)
    assert await set_variable(csms, "TxCtrlr", "StopTxOnEVSideDisconnect", "false") == \
        "Accepted"
    assert await set_variable(csms, "TxCtrlr", "EVConnectionTimeOut", "2") == "Accepted"
    sim = await charging_with_stop_point(csms, start_station=None, stop="Authorized",
                                         station=station)
    sim.evs[1].set_state("A")
    ended = await one(csms, "Ended")
    assert ended["triggerReason"] == "EVConnectTimeout"
    assert ended["transactionInfo"]["stoppedReason"] == "Timeout"
    assert any(e["triggerReason"] == "EVCommunicationLost" for e in events(csms, "Updated"))


async def test_the_start_point_the_csms_chose_holds_after_a_restart(csms, tmp_path):
    station = StationProcess(tmp_path, csms.url, ocpp=OCPP201)
    try:
        await station.start()
        await eventually(lambda: csms.connected("CP1") and sent(csms, "StatusNotification"),
                         timeout=30, what="registered")
        await points(csms, start="EVConnected,Authorized")
        await station.kill()
        await station.start()
        await eventually(lambda: csms.connected("CP1"), timeout=30, what="back")
        await eventually(lambda: len(sent(csms, "BootNotification")) == 2, timeout=30,
                         what="registered again")
        assert (await get_variable(csms, "TxCtrlr", "TxStartPoint"))["attributeValue"] == \
            "EVConnected,Authorized"
        await station.ev("B")
        started = await one(csms, "Started")
        assert started["triggerReason"] == "CablePluggedIn" and "idToken" not in started
    finally:
        await station.stop()
