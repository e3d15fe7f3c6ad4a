"""OCPP 2.0.1 E Transactions, C Authorization and F Remote control, end to end over websockets
against the bench CSMS: TransactionEvent Started/Updated/Ended with the station's own
transactionId, seqNo from 0 without gaps, evse only in the first event, offline events replayed
through the outbox, nothing lost through kill -9; Authorize with the token's type; remote start
and stop. Each test is named after the OCTT test case it plays."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import eventually
from tests.ocpp201 import CARD, OCPP201, numbered_without_gaps, sent, set_variable
from tests.station_process import StationProcess

pytestmark = pytest.mark.asyncio

TAG = CARD["idToken"]


def events(csms, kind: str | None = None) -> list[dict]:
    return [e for e in sent(csms, "TransactionEvent") if kind is None or e["eventType"] == kind]


def connector(daemon) -> dict:
    return daemon.status()["connectors"][0]


async def charging(csms, daemon) -> dict:
    """Card, then the car asks: the Started event."""
    sim = daemon.hardware.simulated
    sim.reader.present(TAG)
    sim.evs[1].set_state("B")
    sim.evs[1].set_state("C")
    await eventually(lambda: events(csms, "Started"), what="Started")
    await eventually(lambda: daemon.hardware.simulated.boards[1].contactor_closed,
                     what="charging")
    return events(csms, "Started")[0]


async def ended(csms) -> dict:
    await eventually(lambda: events(csms, "Ended"), what="Ended")
    [event] = events(csms, "Ended")
    return event


async def test_tc_e_01_start_transaction_options_powerpathclosed(csms, start_station):
    station = await start_station(ocpp=OCPP201)
    assert (await csms.call("CP1", "GetVariables", {"getVariableData": [
        {"component": {"name": "TxCtrlr"}, "variable": {"name": "TxStartPoint"}}]}))[
        "getVariableResult"][0]["attributeValue"] == "PowerPathClosed"
    started = await charging(csms, station)
    assert started["seqNo"] == 0 and started["triggerReason"] == "Authorized"
    assert started["evse"] == {"id": 1, "connectorId": 1}
    assert started["idToken"] == CARD
    transaction_id = started["transactionInfo"]["transactionId"]
    assert 0 < len(transaction_id) <= 36
    # GET /api/status names the transaction as the CSMS knows it.
    await eventually(lambda: (connector(station)["transaction"] or {}).get("id") ==
                     transaction_id, what="the transactionId in the status")
    [authorize] = sent(csms, "Authorize")
    assert authorize["idToken"] == CARD
    await eventually(lambda: sent(csms, "StatusNotification")[-1]["connectorStatus"] ==
                     "Occupied", what="Occupied")


async def test_tc_e_04_local_start_transaction_authorization_first_success(
        csms, start_station):
    station = await start_station(ocpp=OCPP201)
    station.hardware.simulated.reader.present(TAG)
    await eventually(lambda: sent(csms, "Authorize"), what="Authorize")
    assert not events(csms), "no transaction before the car is connected"
    station.hardware.simulated.evs[1].set_state("C")
    await eventually(lambda: events(csms, "Started"), what="Started")
    await eventually(lambda: station.hardware.simulated.boards[1].contactor_closed,
                     what="energy transfer")


async def test_tc_e_07_stop_transaction_options_powerpathclosed_local_stop(
        csms, start_station):
    station = await start_station(ocpp=OCPP201)
    started = await charging(csms, station)
    station.hardware.simulated.reader.present(TAG)
    event = await ended(csms)
    assert event["triggerReason"] == "StopAuthorized"
    assert event["transactionInfo"]["stoppedReason"] == "Local"
    assert event["transactionInfo"]["transactionId"] == \
        started["transactionInfo"]["transactionId"]
    assert event["idToken"] == CARD and "evse" not in event


async def test_tc_e_35_stop_transaction_options_powerpathclosed_remote_stop(
        csms, start_station):
    station = await start_station(ocpp=OCPP201)
    started = await charging(csms, station)
    answer = await csms.call("CP1", "RequestStopTransaction", {
        "transactionId": started["transactionInfo"]["transactionId"]})
    assert answer["status"] == "Accepted"
    event = await ended(csms)
    assert event["triggerReason"] == "RemoteStop"
    assert event["transactionInfo"]["stoppedReason"] == "Remote"
    assert "idToken" not in event
    assert (await csms.call("CP1", "RequestStopTransaction", {"transactionId": "nope"}))[
        "status"] == "Rejected"


async def test_tc_e_37_stop_transaction_options_powerpathclosed_ev_side_disconnect(
        csms, start_station):
    station = await start_station(ocpp=OCPP201)
    await charging(csms, station)
    station.hardware.simulated.evs[1].set_state("A")
    event = await ended(csms)
    assert event["triggerReason"] == "EVCommunicationLost"
    assert event["transactionInfo"]["chargingState"] == "Idle"
    assert event["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    await eventually(lambda: sent(csms, "StatusNotification")[-1]["connectorStatus"] ==
                     "Available", what="Available")


async def test_seq_no_counts_from_0_without_gaps_and_evse_goes_only_in_the_first_event(
        csms, start_station):
    station = await start_station(ocpp=OCPP201)
    assert await set_variable(csms, "SampledDataCtrlr", "TxUpdatedInterval", "1") == "Accepted"
    started = await charging(csms, station)
    await eventually(lambda: len(events(csms, "Updated")) >= 2, what="two Updated events")
    station.hardware.simulated.evs[1].set_state("A")
    await ended(csms)
    sequence = events(csms)
    numbered_without_gaps(sequence)
    assert {e["transactionInfo"]["transactionId"] for e in sequence} == {
        started["transactionInfo"]["transactionId"]}
    assert [e["eventType"] for e in sequence if "evse" in e] == ["Started"]
    # What the car does travels as ChargingStateChanged events, in order with the rest.
    states = [e["transactionInfo"]["chargingState"] for e in sequence
              if e["triggerReason"] == "ChargingStateChanged"]
    assert states and states[-1] == "Charging"
    assert all(a != b for a, b in zip(states, states[1:])), "only changes are sent"
    for update in events(csms, "Updated"):
        if update["triggerReason"] == "ChargingStateChanged":
            continue
        assert update["triggerReason"] == "MeterValuePeriodic"
        values = update["meterValue"][0]["sampledValue"]
        assert any(v["measurand"] == "Energy.Active.Import.Register"
                   and v["unitOfMeasure"]["unit"] == "Wh" for v in values)
    # The session as the CSMS bills it: the meter's energy between the two registers.
    [billed] = csms.transactions.values()
    assert billed.energy_wh == pytest.approx(
        connector(station)["meter"]["energy_wh"] - billed.meter_start, abs=1.0)


async def _offline(csms, station) -> None:
    csms.refuse_connections = True
    await csms.drop_connection("CP1")
    await eventually(lambda: not station.protocol.registered, what="offline")


async def test_tc_e_40_offline_behaviour_connection_loss_during_transaction(
        csms, start_station):
    station = await start_station(ocpp=OCPP201)
    assert await set_variable(csms, "SampledDataCtrlr", "TxUpdatedInterval", "1") == "Accepted"
    await charging(csms, station)
    online = len(events(csms))
    await _offline(csms, station)
    await asyncio.sleep(2.5)  # samples taken while offline
    csms.refuse_connections = False
    await eventually(lambda: any(e.get("offline") for e in events(csms)), timeout=30,
                     what="the queued events delivered")
    # One made just before the link dropped may still arrive unflagged, and those made after
    # the reconnection follow unflagged: the ones made offline come in one run, in order.
    later = events(csms)[online:]
    flagged = [n for n, e in enumerate(later) if e.get("offline")]
    assert flagged == list(range(flagged[0], flagged[-1] + 1))
    assert {(later[n]["eventType"], later[n]["triggerReason"]) for n in flagged} == {
        ("Updated", "MeterValuePeriodic")}
    numbered_without_gaps(events(csms))


async def test_tc_e_43_offline_behaviour_transaction_during_offline_period(
        csms, start_station):
    station = await start_station(ocpp=OCPP201)
    assert await set_variable(csms, "AuthCtrlr", "OfflineTxForUnknownIdEnabled", "true") == \
        "Accepted"
    await _offline(csms, station)
    sim = station.hardware.simulated
    sim.evs[1].set_state("C")
    sim.reader.present(TAG)
    await eventually(lambda: sim.boards[1].contactor_closed, what="charging offline")
    sim.evs[1].set_state("A")
    await eventually(lambda: connector(station)["transaction"] is None, what="ended offline")
    csms.refuse_connections = False
    await eventually(lambda: events(csms, "Ended"), timeout=30, what="the queue emptied")
    kinds = [e["eventType"] for e in events(csms)]
    assert kinds[0] == "Started" and kinds[-1] == "Ended"
    assert all(e["offline"] for e in events(csms))


async def test_tc_e_44_offline_behaviour_stop_transaction_during_offline_period(
        csms, start_station):
    station = await start_station(ocpp=OCPP201)
    await charging(csms, station)
    await _offline(csms, station)
    station.hardware.simulated.reader.present(TAG)
    await eventually(lambda: connector(station)["transaction"] is None, what="stopped offline")
    station.hardware.simulated.evs[1].set_state("A")
    csms.refuse_connections = False
    event = await ended(csms)
    assert event["offline"] and event["triggerReason"] == "StopAuthorized"
    assert event["transactionInfo"]["stoppedReason"] == "Local"
    assert "offline" not in events(csms, "Started")[0]


async def test_tc_f_01_remote_start_transaction_cable_plugin_first(csms, start_station):
    station = await start_station(ocpp=OCPP201)
    station.hardware.simulated.evs[1].set_state("B")
    answer = await csms.call("CP1", "RequestStartTransaction", {
        "idToken": CARD, "evseId": 1, "remoteStartId": 42})
    assert answer["status"] == "Accepted"
    await eventually(lambda: events(csms, "Started"), what="Started")
    [started] = events(csms, "Started")
    assert started["triggerReason"] == "RemoteStart"
    assert started["transactionInfo"]["remoteStartId"] == 42
    [authorize] = sent(csms, "Authorize")  # AuthorizeRemoteStart is true by default
    assert authorize["idToken"] == CARD
    station.hardware.simulated.evs[1].set_state("C")
    await eventually(lambda: station.hardware.simulated.boards[1].contactor_closed,
                     what="energy transfer")


async def test_tc_f_03_remote_start_transaction_remote_start_first_authorizeremotestart_false(
        csms, start_station):
    station = await start_station(ocpp=OCPP201)
    assert await set_variable(csms, "AuthCtrlr", "AuthorizeRemoteStart", "false") == "Accepted"
    answer = await csms.call("CP1", "RequestStartTransaction", {
        "idToken": CARD, "evseId": 1, "remoteStartId": 7})
    assert answer["status"] == "Accepted"
    station.hardware.simulated.evs[1].set_state("C")
    await eventually(lambda: events(csms, "Started"), what="Started")
    await eventually(lambda: station.hardware.simulated.boards[1].contactor_closed,
                     what="energy transfer")
    assert not sent(csms, "Authorize")
    assert events(csms, "Started")[0]["transactionInfo"]["remoteStartId"] == 7


async def test_tc_c_56_local_start_transaction_authorization_unknown(csms, start_station):
    async def unknown(cp_id, action, payload):
        if action == "Authorize":
            return {"idTokenInfo": {"status": "Unknown"}}
        return None

    csms.on_call = unknown
    station = await start_station(ocpp=OCPP201)
    station.hardware.simulated.evs[1].set_state("B")
    station.hardware.simulated.reader.present(TAG)
    await csms.wait_for_message("CP1", "Authorize", "out")
    await asyncio.sleep(1)
    assert not events(csms), "no TransactionEvent after a refused token"
    assert not station.hardware.simulated.boards[1].contactor_closed


async def test_a_transaction_outlives_kill_9_with_its_id_and_its_sequence(csms, tmp_path):
    """A power cut while charging: after the restart the transaction ends with PowerLoss, under
    the id the station gave it, its seqNo going on where the CSMS's count stopped."""
    station = StationProcess(tmp_path, csms.url, ocpp=OCPP201)
    try:
        await station.start()
        await eventually(lambda: csms.connected("CP1") and sent(csms, "StatusNotification"),
                         timeout=30, what="registered")
        await station.tap(TAG)
        await station.ev("C")
        await eventually(lambda: events(csms, "Started"), timeout=20, what="Started")
        [started] = events(csms, "Started")
        await station.kill()
        await station.start()
        event = await ended(csms)
        assert event["transactionInfo"]["transactionId"] == \
            started["transactionInfo"]["transactionId"]
        assert event["transactionInfo"]["stoppedReason"] == "PowerLoss"
        # The Started event may have gone out again, unchanged, if the kill came before the
        # CSMS's answer was written down: one transaction, its events numbered without gaps.
        numbered_without_gaps(events(csms))
    finally:
        await station.stop()


async def _status_while_replaying(csms, station, transaction_id: str | None) -> dict:
    """GetTransactionStatus asked as the first queued event arrives after a reconnection, the
    event still unanswered: the queue as it stands then."""
    asked: list[dict] = []

    async def ask_first(cp_id, action, payload):
        if action == "TransactionEvent" and payload.get("offline") and not asked:
            request = {} if transaction_id is None else {"transactionId": transaction_id}
            asked.append(await csms.call("CP1", "GetTransactionStatus", request))
        return None

    csms.on_call = ask_first
    csms.refuse_connections = False
    await eventually(lambda: asked, timeout=30, what="GetTransactionStatus answered")
    return asked[0]


async def test_tc_e_29_check_transaction_status_transaction_with_id_ongoing_with_message_in_queue(
        csms, start_station):
    station = await start_station(ocpp=OCPP201)
    assert await set_variable(csms, "SampledDataCtrlr", "TxUpdatedInterval", "1") == "Accepted"
    started = await charging(csms, station)
    await _offline(csms, station)
    await asyncio.sleep(1.5)
    answer = await _status_while_replaying(csms, station,
                                           started["transactionInfo"]["transactionId"])
    assert answer == {"messagesInQueue": True, "ongoingIndicator": True}


async def test_tc_e_31_check_transaction_status_transaction_with_id_ended_with_message_in_queue(
        csms, start_station):
    station = await start_station(ocpp=OCPP201)
    started = await charging(csms, station)
    await _offline(csms, station)
    station.hardware.simulated.evs[1].set_state("A")
    await eventually(lambda: connector(station)["transaction"] is None, what="ended offline")
    answer = await _status_while_replaying(csms, station,
                                           started["transactionInfo"]["transactionId"])
    assert answer == {"messagesInQueue": True, "ongoingIndicator": False}


async def test_tc_e_33_check_transaction_status_without_transactionid_with_message_in_queue(
        csms, start_station):
    station = await start_station(ocpp=OCPP201)
    await charging(csms, station)
    await _offline(csms, station)
    station.hardware.simulated.evs[1].set_state("A")
    await eventually(lambda: connector(station)["transaction"] is None, what="ended offline")
    assert await _status_while_replaying(csms, station, None) == {"messagesInQueue": True}


async def test_tc_e_34_check_transaction_status_without_transactionid_without_message_in_queue(
        csms, start_station):
    await start_station(ocpp=OCPP201)
    assert await csms.call("CP1", "GetTransactionStatus", {}) == {"messagesInQueue": False}


@pytest.mark.parametrize("evse", [{"id": 1}, None], ids=["specific EVSE", "all EVSE"])
async def test_tc_f_13_14_trigger_message_transactionevent(csms, start_station, evse):
    """TC_F_13_CS (a specific EVSE) and TC_F_14_CS (all EVSE)."""
    station = await start_station(ocpp=OCPP201)
    await charging(csms, station)
    await eventually(lambda: any(e["transactionInfo"].get("chargingState") == "Charging"
                                 for e in events(csms)), what="Charging")
    before = len(events(csms))
    payload = {"requestedMessage": "TransactionEvent", **({"evse": evse} if evse else {})}
    assert (await csms.call("CP1", "TriggerMessage", payload))["status"] == "Accepted"
    await eventually(lambda: any(e["triggerReason"] == "Trigger" for e in events(csms)),
                     what="the triggered event")
    [event] = [e for e in events(csms)[before:] if e["triggerReason"] == "Trigger"]
    assert event["eventType"] == "Updated"
    assert event["transactionInfo"]["chargingState"] == "Charging"
    assert event["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
    assert not [m for m in sent(csms, "MeterValues")], "a TransactionEvent, not MeterValues"
    numbered_without_gaps(events(csms))


async def test_e05_an_id_token_refused_after_the_start_takes_max_energy_then_energy_limit_reached(
        csms, start_station):
    """E05 (StopTxOnInvalidId false): the transaction goes on until it has taken
    MaxEnergyOnInvalidId, then the station suspends it and says why (EnergyLimitReached)."""
    async def refused(cp_id, action, payload):
        if action == "TransactionEvent" and payload["eventType"] == "Started":
            return {"idTokenInfo": {"status": "Invalid"}}
        return None

    station = await start_station(ocpp=OCPP201)
    assert await set_variable(csms, "TxCtrlr", "StopTxOnInvalidId", "false") == "Accepted"
    assert await set_variable(csms, "TxCtrlr", "MaxEnergyOnInvalidId", "1") == "Accepted"
    csms.on_call = refused
    await charging(csms, station)
    await eventually(lambda: any(e["triggerReason"] == "EnergyLimitReached"
                                 for e in events(csms, "Updated")),
                     timeout=30, what="EnergyLimitReached")
    [limit] = [e for e in events(csms, "Updated") if e["triggerReason"] == "EnergyLimitReached"]
    assert limit["transactionInfo"]["chargingState"] == "SuspendedEVSE"
    assert not station.hardware.simulated.boards[1].contactor_closed
    assert not events(csms, "Ended"), "suspended, not ended: the driver ends it"
