"""OCPP 2.0.1 B Provisioning, end to end over websockets against the bench CSMS: booting
(Accepted, Pending, Rejected), the device model (GetVariables, SetVariables, GetBaseReport and
its NotifyReports), Reset. Each test is named after the OCTT test case it plays."""

from __future__ import annotations

import json

import pytest

from pievse.app.daemon import Daemon, ExitReason
from pievse.protocol.v201.blocks.provisioning import ITEMS_PER_MESSAGE
from tests.conftest import eventually, station_config
from tests.ocpp201 import OCPP201, calls_sent, get_variable, item, sent, set_variable
from tests.test_ocpp16_sessions import next_one, sent_at

pytestmark = pytest.mark.asyncio


async def test_tc_b_01_cold_boot_charging_station_accepted(csms, start_station):
    station = await start_station(ocpp=OCPP201)
    [boot] = sent(csms, "BootNotification")
    assert boot["reason"] == "PowerUp"
    assert boot["chargingStation"]["vendorName"] and boot["chargingStation"]["model"]
    [status] = sent(csms, "StatusNotification")
    assert status["evseId"] == 1 and status["connectorId"] == 1
    assert status["connectorStatus"] == "Available"
    assert station.status()["ocpp"]["version"] == "2.0.1"
    assert csms.session("CP1").websocket.subprotocol == "ocpp2.0.1"


async def test_heartbeat_at_the_interval_the_csms_gave_and_set_variables_changes_it(
        csms, start_station, fake_clock):
    csms.heartbeat_interval = 60
    await start_station(ocpp=OCPP201)
    registered = sent_at(csms, "StatusNotification")[-1]
    beats = [await next_one(fake_clock, csms, "Heartbeat", 60) for _ in range(2)]
    assert beats == [registered + 60, registered + 120]
    assert (await get_variable(csms, "OCPPCommCtrlr", "HeartbeatInterval"))[
        "attributeValue"] == "60"
    assert await set_variable(csms, "OCPPCommCtrlr", "HeartbeatInterval", "20") == "Accepted"
    assert await next_one(fake_clock, csms, "Heartbeat", 20) > beats[-1]


async def test_tc_b_02_cold_boot_charging_station_pending(csms, start_station):
    csms.boot_status, csms.boot_retry_interval = "Pending", 3600
    station = await start_station(ocpp=OCPP201, wait_registered=False)
    await csms.wait_for_message("CP1", "BootNotification", "out")
    # While Pending the CSMS may ask; the station answers, and reports what it was asked for.
    answer = await csms.call("CP1", "GetBaseReport", {"requestId": 5,
                                                      "reportBase": "ConfigurationInventory"})
    assert answer["status"] == "Accepted"
    await eventually(lambda: any(not r.get("tbc") for r in sent(csms, "NotifyReport")),
                     what="the whole report")
    assert not station.protocol.registered
    assert set(calls_sent(csms)) == {"BootNotification", "NotifyReport"}, \
        "nothing but what the CSMS asked for while Pending"
    csms.boot_status = "Accepted"
    answer = await csms.call("CP1", "TriggerMessage", {"requestedMessage": "BootNotification"})
    assert answer["status"] == "Accepted"
    await eventually(lambda: station.protocol.registered, what="Accepted")
    await eventually(lambda: sent(csms, "StatusNotification"), what="the statuses")


async def test_tc_b_03_cold_boot_charging_station_rejected(csms, start_station):
    csms.boot_status, csms.boot_retry_interval = "Rejected", 1
    station = await start_station(ocpp=OCPP201, wait_registered=False)
    await eventually(lambda: len(sent(csms, "BootNotification")) >= 2, what="a second boot")
    assert set(calls_sent(csms)) == {"BootNotification"}, "nothing else while Rejected"
    csms.boot_status = "Accepted"
    await eventually(lambda: station.protocol.registered, what="Accepted at a later boot")
    await eventually(lambda: sent(csms, "StatusNotification"), what="the statuses")


async def test_tc_b_06_get_variables_single_value(csms, start_station):
    await start_station(ocpp=OCPP201)
    assert await set_variable(csms, "OCPPCommCtrlr", "OfflineThreshold", "300") == "Accepted"
    result = await get_variable(csms, "OCPPCommCtrlr", "OfflineThreshold",
                                attributeType="Actual")
    assert result == {"attributeStatus": "Accepted", "attributeType": "Actual",
                      "attributeValue": "300", "component": {"name": "OCPPCommCtrlr"},
                      "variable": {"name": "OfflineThreshold"}}


async def test_tc_b_07_get_variables_multiple_values(csms, start_station):
    await start_station(ocpp=OCPP201)
    answer = await csms.call("CP1", "GetVariables", {"getVariableData": [
        item("OCPPCommCtrlr", "OfflineThreshold", attributeType="Actual"),
        item("AuthCtrlr", "LocalAuthorizeOffline", attributeType="Actual")]})
    results = {r["variable"]["name"]: r for r in answer["getVariableResult"]}
    assert results["OfflineThreshold"]["attributeStatus"] == "Accepted"
    assert results["LocalAuthorizeOffline"]["attributeValue"] == "true"


async def test_tc_b_08_get_variables_limit_to_maximum_number_of_values(csms, start_station):
    await start_station(ocpp=OCPP201)
    limit = ITEMS_PER_MESSAGE["GetVariables"]
    assert (await get_variable(csms, "DeviceDataCtrlr", "ItemsPerMessage",
                               instance="GetVariables"))["attributeValue"] == str(limit)
    answer = await csms.call("CP1", "GetVariables", {"getVariableData": [
        item("OCPPCommCtrlr", "HeartbeatInterval") for _ in range(limit + 1)]})
    statuses = [r["attributeStatus"] for r in answer["getVariableResult"]]
    assert statuses == ["Accepted"] * limit + ["Rejected"]


async def test_tc_b_09_set_variables_single_value(csms, start_station):
    station = await start_station(ocpp=OCPP201)
    assert await set_variable(csms, "TxCtrlr", "EVConnectionTimeOut", "90") == "Accepted"
    # The station's own setting follows: the same one the 1.6 key ConnectionTimeOut feeds.
    assert station.station.settings.connection_timeout_s == 90.0


async def test_tc_b_10_set_variables_multiple_values(csms, start_station):
    station = await start_station(ocpp=OCPP201)
    answer = await csms.call("CP1", "SetVariables", {"setVariableData": [
        item("OCPPCommCtrlr", "OfflineThreshold", attributeValue="300", attributeType="Actual"),
        item("AuthCtrlr", "LocalAuthorizeOffline", attributeValue="false",
             attributeType="Actual")]})
    assert [r["attributeStatus"] for r in answer["setVariableResult"]] == ["Accepted"] * 2
    assert station.station.settings.local_authorize_offline is False


async def test_tc_b_33_get_variables_unknown_variable(csms, start_station):
    await start_station(ocpp=OCPP201)
    result = await get_variable(csms, "OCPPCommCtrlr", "UnknownVariable")
    assert result["attributeStatus"] == "UnknownVariable"
    assert result["component"] == {"name": "OCPPCommCtrlr"}


async def test_tc_b_35_set_variables_unknown_component(csms, start_station):
    await start_station(ocpp=OCPP201)
    assert await set_variable(csms, "UnknownComponent", "OfflineThreshold", "1") == \
        "UnknownComponent"


async def test_set_variables_read_only_wrong_attribute_type_and_bad_values_are_refused(
        csms, start_station):
    await start_station(ocpp=OCPP201)
    assert await set_variable(csms, "SampledDataCtrlr", "TxEndedInterval", "10") == "Rejected"
    assert await set_variable(csms, "OCPPCommCtrlr", "HeartbeatInterval", "soon") == "Rejected"
    assert await set_variable(csms, "OCPPCommCtrlr", "HeartbeatInterval", "60",
                              attributeType="Target") == "NotSupportedAttributeType"
    assert (await get_variable(csms, "EVSE", "AvailabilityState", evse=9))[
        "attributeStatus"] == "UnknownComponent"


async def _report(csms, request_id: int, base: str) -> list[dict]:
    answer = await csms.call("CP1", "GetBaseReport", {"requestId": request_id,
                                                      "reportBase": base})
    assert answer["status"] == "Accepted"
    await eventually(lambda: any(r["requestId"] == request_id and not r.get("tbc")
                                 for r in sent(csms, "NotifyReport")), what=f"{base} report")
    reports = [r for r in sent(csms, "NotifyReport") if r["requestId"] == request_id]
    assert [r["seqNo"] for r in reports] == list(range(len(reports)))
    assert all(r["tbc"] for r in reports[:-1])
    return [entry for r in reports for entry in r.get("reportData", [])]


def _names(data: list[dict]) -> set[tuple[str, str]]:
    return {(e["component"]["name"], e["variable"]["name"]) for e in data}


async def test_tc_b_12_get_base_report_configuration_inventory(csms, start_station):
    await start_station(ocpp=OCPP201)
    data = await _report(csms, 12, "ConfigurationInventory")
    attributes = [e["variableAttribute"][0] for e in data]
    assert {a["mutability"] for a in attributes} <= {"ReadWrite", "WriteOnly"}
    assert all("value" not in a for a in attributes if a["mutability"] == "WriteOnly")
    assert ("OCPPCommCtrlr", "HeartbeatInterval") in _names(data)


async def test_tc_b_13_get_base_report_full_inventory(csms, start_station):
    await start_station(ocpp=OCPP201)
    data = await _report(csms, 13, "FullInventory")
    assert {"ReadOnly", "ReadWrite"} <= {e["variableAttribute"][0]["mutability"] for e in data}
    # Split by ItemsPerMessageGetReport and BytesPerMessageGetReport.
    reports = [r for r in sent(csms, "NotifyReport") if r["requestId"] == 13]
    assert len(reports) > 1
    assert all(len(r["reportData"]) <= ITEMS_PER_MESSAGE["GetReport"] for r in reports)


async def test_tc_b_14_get_base_report_summary_inventory(csms, start_station):
    await start_station(ocpp=OCPP201)
    data = await _report(csms, 14, "SummaryInventory")
    assert ("EVSE", "AvailabilityState") in _names(data)
    assert {e["variable"]["name"] for e in data} <= {"AvailabilityState", "Available"}


async def test_tc_b_53_get_base_report_mandatory_dm_variables_via_full_inventory(
        csms, start_station):
    await start_station(ocpp=OCPP201)
    names = _names(await _report(csms, 53, "FullInventory"))
    required = {
        ("ChargingStation", "AvailabilityState"), ("ChargingStation", "Available"),
        ("ChargingStation", "SupplyPhases"), ("EVSE", "AvailabilityState"),
        ("EVSE", "Available"), ("EVSE", "Power"), ("EVSE", "SupplyPhases"),
        ("Connector", "Available"), ("Connector", "ConnectorType"),
        ("Connector", "SupplyPhases"),
        *(("OCPPCommCtrlr", v) for v in (
            "FileTransferProtocols", "MessageTimeout", "MessageAttempts",
            "MessageAttemptInterval", "NetworkConfigurationPriority",
            "NetworkProfileConnectionAttempts", "OfflineThreshold", "ResetRetries",
            "RetryBackOffRandomRange", "RetryBackOffRepeatTimes", "RetryBackOffWaitMinimum",
            "UnlockOnEVSideDisconnect", "WebSocketPingInterval", "HeartbeatInterval")),
        *(("AuthCtrlr", v) for v in ("AuthorizeRemoteStart", "LocalAuthorizeOffline",
                                     "LocalPreAuthorize")),
        *(("TxCtrlr", v) for v in ("EVConnectionTimeOut", "StopTxOnEVSideDisconnect",
                                   "StopTxOnInvalidId", "TxStartPoint", "TxStopPoint")),
        *(("SampledDataCtrlr", v) for v in ("TxStartedMeasurands", "TxUpdatedMeasurands",
                                            "TxUpdatedInterval", "TxEndedMeasurands",
                                            "TxEndedInterval")),
        *(("AlignedDataCtrlr", v) for v in ("Interval", "Measurands", "TxEndedInterval",
                                            "TxEndedMeasurands")),
        *(("DeviceDataCtrlr", v) for v in ("ItemsPerMessage", "BytesPerMessage")),
        *(("SecurityCtrlr", v) for v in ("Identity", "SecurityProfile", "OrganizationName")),
        ("ClockCtrlr", "DateTime"), ("ClockCtrlr", "TimeSource"),
    }
    assert required <= names, sorted(required - names)


async def test_a_notify_report_stays_within_bytes_per_message(csms, start_station):
    await start_station(ocpp=OCPP201)
    limit = int((await get_variable(csms, "DeviceDataCtrlr", "BytesPerMessage",
                                    instance="GetReport"))["attributeValue"])
    await _report(csms, 7, "FullInventory")
    frames = [m.raw for m in csms.messages if m.action == "NotifyReport" and m.direction == "in"
              and m.message_type == 2]
    assert frames and all(len(frame) <= limit for frame in frames)
    assert all(json.loads(frame)[3]["requestId"] == 7 for frame in frames)


async def test_tc_b_20_reset_charging_station_without_ongoing_transaction_onidle(
        csms, start_station, tmp_path):
    storage = {"path": str(tmp_path / "pievse.sqlite3")}
    station = await start_station(ocpp=OCPP201, storage=storage)
    answer = await csms.call("CP1", "Reset", {"type": "OnIdle"})
    assert answer["status"] == "Accepted"
    await eventually(lambda: station.exit_reason is ExitReason.SOFT_RESET, what="the restart")
    station.stop()
    await eventually(lambda: not csms.connected("CP1"), what="gone")
    # Started again (as the service does): it says why.
    await start_station(ocpp=OCPP201, storage=storage)
    assert [b["reason"] for b in sent(csms, "BootNotification")] == ["PowerUp", "RemoteReset"]


async def test_tc_b_21_reset_charging_station_with_ongoing_transaction_onidle(
        csms, start_station):
    station = await start_station(ocpp=OCPP201)
    sim = station.hardware.simulated
    sim.evs[1].set_state("C")
    sim.reader.present("04A1B2C3")
    await eventually(lambda: sent(csms, "TransactionEvent"), what="a transaction")
    answer = await csms.call("CP1", "Reset", {"type": "OnIdle"})
    assert answer["status"] == "Scheduled"
    assert station.exit_reason is ExitReason.STOPPED and station.station.transactions()
    sim.evs[1].set_state("A")
    await eventually(lambda: station.exit_reason is ExitReason.SOFT_RESET,
                     what="the restart once idle")
    [ended] = [e for e in sent(csms, "TransactionEvent") if e["eventType"] == "Ended"]
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"


async def test_tc_b_22_reset_charging_station_with_ongoing_transaction_immediate(
        csms, start_station):
    station = await start_station(ocpp=OCPP201)
    sim = station.hardware.simulated
    sim.evs[1].set_state("C")
    sim.reader.present("04A1B2C3")
    await eventually(lambda: sent(csms, "TransactionEvent"), what="a transaction")
    answer = await csms.call("CP1", "Reset", {"type": "Immediate"})
    assert answer["status"] == "Accepted"
    await eventually(lambda: any(e["eventType"] == "Ended"
                                 for e in sent(csms, "TransactionEvent")), what="Ended")
    [ended] = [e for e in sent(csms, "TransactionEvent") if e["eventType"] == "Ended"]
    assert ended["triggerReason"] == "ResetCommand"
    assert ended["transactionInfo"]["stoppedReason"] == "ImmediateReset"
    assert ended["transactionInfo"]["chargingState"] == "EVConnected"
    await eventually(lambda: station.exit_reason is ExitReason.SOFT_RESET, what="the restart")


async def _sessions(start_station, evses: int = 2):
    """A station with ``evses`` EVSEs, a session charging on each."""
    station = await start_station(ocpp=OCPP201, charge_point={"connectors": evses})
    sim = station.hardware.simulated
    for evse, card in list(zip((1, 2), ("04A1B2C3", "04D4E5F6")))[:evses]:
        sim.evs[evse].set_state("C")
        sim.reader.present(card)
        await eventually(lambda: sim.boards[evse].contactor_closed, what=f"EVSE {evse} charging")
    return station


def _ended(csms) -> list[dict]:
    return [e for e in sent(csms, "TransactionEvent") if e["eventType"] == "Ended"]


def _evse_of(csms, transaction_id: str) -> int:
    [started] = [e for e in sent(csms, "TransactionEvent") if e["eventType"] == "Started"
                 and e["transactionInfo"]["transactionId"] == transaction_id]
    return started["evse"]["id"]


async def test_tc_b_25_reset_evse_without_ongoing_transaction(csms, start_station):
    station = await start_station(ocpp=OCPP201, charge_point={"connectors": 2})
    for kind in ("OnIdle", "Immediate"):
        answer = await csms.call("CP1", "Reset", {"type": kind, "evseId": 2})
        assert answer["status"] == "Accepted"
    assert station.exit_reason is ExitReason.STOPPED, "an EVSE reset restarts no daemon"
    assert [b["reason"] for b in sent(csms, "BootNotification")] == ["PowerUp"]


async def test_tc_b_26_reset_evse_with_ongoing_transaction_onidle(csms, start_station):
    station = await _sessions(start_station)
    sim = station.hardware.simulated
    answer = await csms.call("CP1", "Reset", {"type": "OnIdle", "evseId": 1})
    assert answer["status"] == "Scheduled"
    assert sim.boards[1].contactor_closed and not _ended(csms)
    sim.evs[1].set_state("A")  # the session ends its own way; the reset follows it
    await eventually(lambda: _ended(csms), what="the transaction on EVSE 1 ended")
    [ended] = _ended(csms)
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    assert _evse_of(csms, ended["transactionInfo"]["transactionId"]) == 1
    assert sim.boards[2].contactor_closed and len(station.station.transactions()) == 1
    assert station.exit_reason is ExitReason.STOPPED


async def test_tc_b_27_reset_evse_with_ongoing_transaction_immediate(csms, start_station):
    station = await _sessions(start_station)
    sim = station.hardware.simulated
    answer = await csms.call("CP1", "Reset", {"type": "Immediate", "evseId": 1})
    assert answer["status"] == "Accepted"
    sim.evs[1].set_state("B")  # the car sees the pilot drop and stops drawing
    await eventually(lambda: _ended(csms), what="the transaction on EVSE 1 ended")
    [ended] = _ended(csms)
    assert ended["triggerReason"] == "ResetCommand"
    assert ended["transactionInfo"]["stoppedReason"] == "ImmediateReset"
    assert _evse_of(csms, ended["transactionInfo"]["transactionId"]) == 1
    assert not sim.boards[1].contactor_closed
    # EVSE 1 shows what the car says (still plugged in); EVSE 2 charges on, nothing restarts.
    await eventually(lambda: [s["connectorStatus"] for s in sent(csms, "StatusNotification")
                              if s["evseId"] == 1][-1] == "Occupied", what="EVSE 1 Occupied")
    assert sim.boards[2].contactor_closed and len(station.station.transactions()) == 1
    assert station.exit_reason is ExitReason.STOPPED
    assert [b["reason"] for b in sent(csms, "BootNotification")] == ["PowerUp"]


async def test_reset_of_an_evse_the_station_lacks_is_rejected(csms, start_station):
    sim = (await _sessions(start_station, evses=1)).hardware.simulated
    for evse in (2, 0, -5):
        answer = await csms.call("CP1", "Reset", {"type": "Immediate", "evseId": evse})
        assert answer["status"] == "Rejected"
    assert sim.boards[1].contactor_closed and not _ended(csms)


async def test_every_variable_kept_under_a_16_key_feeds_what_that_key_feeds(tmp_path):
    """One meaning, one stored name, one station setting: the 2.0.1 variable and the 1.6 key
    of the same name agree on the setting and on the kind of value (the security keys
    included)."""
    from pievse.core.station import Station
    from pievse.protocol.common.charge_point_parts import ChargePointParts
    from pievse.protocol.common.security_state import SecurityProfile, SecurityState
    from pievse.services.certificates import CertificateStore
    from pievse.protocol.v16.adapter import ChargePoint16
    from pievse.protocol.v16.configuration import KeyType
    from pievse.protocol.v201.adapter import ChargePoint201
    from pievse.protocol.v201.device_model import DataType

    kinds = {KeyType.INT: {DataType.INTEGER}, KeyType.BOOL: {DataType.BOOLEAN},
             KeyType.CSL: {DataType.MEMBER_LIST, DataType.SEQUENCE_LIST},
             KeyType.STRING: {DataType.STRING}}
    parts = ChargePointParts(
        vendor="v", model="m", certificates=CertificateStore(tmp_path / "certificates"),
        security_state=SecurityState(tmp_path / "security.json", profile=SecurityProfile(0)))
    keys = ChargePoint16(Station(1), lambda effects: None, parts).configuration
    model = ChargePoint201(Station(1), lambda effects: None, parts).device_model
    shared = [v for v in model if v.key is not None]
    assert len(shared) >= 15
    for variable in shared:
        assert variable.key in keys, variable.key
        key = keys.definition(variable.key)
        assert variable.setting == key.setting, variable.key
        assert variable.data_type in kinds[key.type], variable.key
        assert variable.default == key.default, variable.key
    fed = {v.setting for v in shared if v.setting}
    assert fed == {keys.definition(v.key).setting for v in shared} - {None}


async def test_a_value_set_under_one_version_holds_under_the_other(csms, tmp_path):
    """The device model keeps a variable that means what a 1.6 key means under that key's name:
    the CSMS's change survives a restart on the other version, and feeds the same setting."""
    store = str(tmp_path / "pievse.sqlite3")

    async def run(version: str, step) -> None:
        import asyncio
        config = station_config(csms.url, "CP1", ocpp={"version": version},
                                storage={"path": store})
        daemon = Daemon(config)
        task = asyncio.create_task(daemon.run())
        try:
            await eventually(lambda: daemon.protocol.registered, what=f"{version} registered")
            await step(daemon)
        finally:
            daemon.stop()
            await asyncio.wait_for(task, 10)

    async def set_under_201(daemon) -> None:
        assert await set_variable(csms, "SampledDataCtrlr", "TxUpdatedInterval", "15") == \
            "Accepted"
        assert await set_variable(csms, "AuthCtrlr", "AuthorizeRemoteStart", "false") == \
            "Accepted"

    async def read_under_16(daemon) -> None:
        answer = await csms.call("CP1", "GetConfiguration", {
            "key": ["MeterValueSampleInterval", "AuthorizeRemoteTxRequests"]})
        values = {k["key"]: k["value"] for k in answer["configurationKey"]}
        assert values == {"MeterValueSampleInterval": "15", "AuthorizeRemoteTxRequests": "false"}
        assert daemon.station.settings.meter_value_sample_interval_s == 15.0
        assert (await csms.call("CP1", "ChangeConfiguration", {
            "key": "ConnectionTimeOut", "value": "45"}))["status"] == "Accepted"

    async def read_under_201(daemon) -> None:
        assert (await get_variable(csms, "TxCtrlr", "EVConnectionTimeOut"))[
            "attributeValue"] == "45"
        assert daemon.station.settings.connection_timeout_s == 45.0
        assert daemon.station.settings.authorize_remote_tx_requests is False

    await run("2.0.1", set_under_201)
    await run("1.6", read_under_16)
    await run("2.0.1", read_under_201)


async def _custom_report(csms, request_id: int, **criteria) -> list[dict]:
    answer = await csms.call("CP1", "GetReport", {"requestId": request_id, **criteria})
    if answer["status"] != "Accepted":
        return []
    await eventually(lambda: any(r["requestId"] == request_id and not r.get("tbc")
                                 for r in sent(csms, "NotifyReport")), what="the report")
    return [e for r in sent(csms, "NotifyReport") if r["requestId"] == request_id
            for e in r.get("reportData", [])]


async def test_get_report_by_component_variable_and_by_criteria(csms, start_station):
    await start_station(ocpp=OCPP201, charge_point={"connectors": 2})
    data = await _custom_report(csms, 21, componentVariable=[
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
        {"component": {"name": "EVSE", "evse": {"id": 2}}}])
    assert ("OCPPCommCtrlr", "HeartbeatInterval") in _names(data)
    assert {e["component"].get("evse", {}).get("id") for e in data
            if e["component"]["name"] == "EVSE"} == {2}
    assert ("OCPPCommCtrlr", "OfflineThreshold") not in _names(data)
    available = await _custom_report(csms, 22, componentCriteria=["Available"])
    assert {"ChargingStation", "EVSE", "Connector"} <= {e["component"]["name"]
                                                        for e in available}
    answer = await csms.call("CP1", "GetReport", {"requestId": 23, "componentVariable": [
        {"component": {"name": "NoSuchComponent"}}]})
    assert answer["status"] == "EmptyResultSet"
