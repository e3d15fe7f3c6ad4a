"""OCPP 1.6J Core and RemoteTrigger commands from the CSMS, end to end over websockets."""

from __future__ import annotations

import pytest

from pievse.app.daemon import ExitReason
from tests.conftest import eventually
from tests.station_process import StationProcess
from tests.test_ocpp16_sessions import (
    TAG,
    charging_session,
    next_one,
    received,
    sent_at,
    status_now,
)

pytestmark = pytest.mark.asyncio


async def test_get_configuration_returns_every_core_key_with_its_access(csms, start_station):
    await start_station()
    answer = await csms.get_configuration("CP1")
    keys = {k["key"]: k for k in answer["configurationKey"]}
    for required in (
        "ClockAlignedDataInterval", "ConnectionTimeOut", "GetConfigurationMaxKeys",
        "HeartbeatInterval", "LocalAuthorizeOffline", "LocalPreAuthorize",
        "MeterValuesAlignedData", "MeterValuesSampledData", "MeterValueSampleInterval",
        "NumberOfConnectors", "ResetRetries", "ConnectorPhaseRotation",
        "StopTransactionOnEVSideDisconnect", "StopTransactionOnInvalidId", "StopTxnAlignedData",
        "StopTxnSampledData", "SupportedFeatureProfiles", "TransactionMessageAttempts",
        "TransactionMessageRetryInterval", "UnlockConnectorOnEVSideDisconnect",
        "AuthorizeRemoteTxRequests",
    ):
        assert required in keys, required
    assert keys["NumberOfConnectors"] == {"key": "NumberOfConnectors", "readonly": True,
                                          "value": "1"}
    assert keys["SupportedFeatureProfiles"]["value"] == (
        "Core,FirmwareManagement,LocalAuthListManagement,RemoteTrigger,Reservation,SmartCharging")


async def test_get_configuration_names_unknown_keys(csms, start_station):
    await start_station()
    answer = await csms.get_configuration("CP1", ["HeartbeatInterval", "NoSuchKey"])
    assert [k["key"] for k in answer["configurationKey"]] == ["HeartbeatInterval"]
    assert answer["unknownKey"] == ["NoSuchKey"]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("MeterValueSampleInterval", "30", "Accepted"),
        ("MeterValueSampleInterval", "-5", "Rejected"),
        ("MeterValueSampleInterval", "soon", "Rejected"),
        ("StopTransactionOnInvalidId", "maybe", "Rejected"),
        ("StopTransactionOnInvalidId", "false", "Accepted"),
        ("MeterValuesSampledData", "Energy.Active.Import.Register,Voltage", "Accepted"),
        ("MeterValuesSampledData", "Energy.Active.Import.Register,Temperature", "Rejected"),
        ("NumberOfConnectors", "2", "Rejected"),
        ("SupportedFeatureProfiles", "Core", "Rejected"),
        ("NoSuchKey", "1", "NotSupported"),
    ],
)
async def test_change_configuration_answers_as_the_specification_asks(
    csms, start_station, key, value, expected
):
    await start_station()
    answer = await csms.change_configuration("CP1", key, value)
    assert answer["status"] == expected
    shown = await csms.get_configuration("CP1", [key])
    if expected == "Accepted":
        assert shown["configurationKey"][0]["value"] == value


async def test_change_configuration_steers_the_station(csms, start_station):
    daemon = await start_station()
    answer = await csms.change_configuration("CP1", "MeterValueSampleInterval", "1")
    assert answer["status"] == "Accepted"
    assert daemon.station.settings.meter_value_sample_interval_s == 1.0
    tx_id = await charging_session(csms, daemon)
    await eventually(lambda: [m for m in received(csms, "MeterValues")
                              if m.get("transactionId") == tx_id], what="periodic MeterValues")


async def test_heartbeat_interval_change_takes_effect(csms, start_station, fake_clock):
    await start_station()
    registered = sent_at(csms, "StatusNotification")[-1]
    assert (await csms.change_configuration("CP1", "HeartbeatInterval", "20"))["status"] == \
        "Accepted"
    # The new interval counts from the last message the station sent, not from the change.
    beats = [await next_one(fake_clock, csms, "Heartbeat", 20) for _ in range(2)]
    assert len(received(csms, "Heartbeat")) >= 2
    assert beats == [registered + 20, registered + 40]
    assert (await csms.change_configuration("CP1", "HeartbeatInterval", "0"))["status"] == \
        "Accepted"
    await fake_clock.advance(600)
    assert len(received(csms, "Heartbeat")) == 2, "HeartbeatInterval 0: no heartbeat"


async def test_change_availability_inoperative_and_back(csms, start_station):
    daemon = await start_station()
    answer = await csms.change_availability("CP1", 1, "Inoperative")
    assert answer["status"] == "Accepted"
    await eventually(lambda: status_now(csms) == "Unavailable", what="Unavailable")
    daemon.hardware.simulated.evs[1].set_state("C")
    daemon.hardware.simulated.reader.present("04A1B2C3")
    await eventually(lambda: status_now(csms) == "Unavailable")
    assert received(csms, "StartTransaction") == []
    assert (await csms.change_availability("CP1", 1, "Operative"))["status"] == "Accepted"
    await eventually(lambda: status_now(csms) == "Preparing", what="Preparing")


async def test_change_availability_during_a_transaction_is_scheduled(csms, start_station):
    daemon = await start_station()
    tx_id = await charging_session(csms, daemon)
    answer = await csms.change_availability("CP1", 0, "Inoperative")
    assert answer["status"] == "Scheduled"
    assert status_now(csms) == "Charging"
    await csms.remote_stop("CP1", tx_id)
    await eventually(lambda: status_now(csms) == "Unavailable", what="Unavailable after the end")
    await eventually(lambda: status_now(csms, 0) == "Unavailable", what="connector 0 Unavailable")


async def test_soft_reset_stops_the_transaction_then_restarts(csms, start_station):
    daemon = await start_station()
    tx_id = await charging_session(csms, daemon)
    assert (await csms.reset("CP1", "Soft"))["status"] == "Accepted"
    await eventually(lambda: received(csms, "StopTransaction"), what="StopTransaction")
    stop = received(csms, "StopTransaction")[0]
    assert stop["transactionId"] == tx_id and stop["reason"] == "SoftReset"
    await eventually(lambda: daemon.exit_reason is ExitReason.SOFT_RESET, what="restart asked")
    assert not daemon.hardware.simulated.boards[1].contactor_closed


async def test_hard_reset_without_a_transaction_restarts_at_once(csms, start_station):
    daemon = await start_station()
    assert (await csms.reset("CP1", "Hard"))["status"] == "Accepted"
    await eventually(lambda: daemon.exit_reason is ExitReason.HARD_RESET, what="restart asked")


async def test_unlock_connector_is_not_supported_without_a_cable_lock_driver(
        csms, start_station):
    """A fixed cable (``[board] has_lock = false``, the default) has no lock to drive: OCPP 1.6
    answers NotSupported for a charge point without a connector lock."""
    await start_station()
    assert (await csms.unlock_connector("CP1", 1))["status"] == "NotSupported"


async def test_unlock_connector_during_a_session_stops_it_with_unlock_command_and_unlocks(
        csms, start_station):
    daemon = await start_station(board={"has_lock": True})
    lock = daemon.hardware.simulated.boards[1].cable_lock
    await charging_session(csms, daemon)
    assert lock.locked

    assert (await csms.unlock_connector("CP1", 1))["status"] == "Unlocked"
    await eventually(lambda: received(csms, "StopTransaction"), what="StopTransaction")
    assert received(csms, "StopTransaction")[-1]["reason"] == "UnlockCommand"
    assert not lock.locked and not daemon.hardware.simulated.boards[1].contactor_closed


async def test_unlock_connector_on_a_lock_stuck_locked_answers_unlock_failed(
        csms, start_station):
    daemon = await start_station(board={"has_lock": True})
    lock = daemon.hardware.simulated.boards[1].cable_lock
    await charging_session(csms, daemon)
    lock.jam()
    assert (await csms.unlock_connector("CP1", 1))["status"] == "UnlockFailed"
    await eventually(lambda: received(csms, "StopTransaction"), what="StopTransaction")
    assert received(csms, "StopTransaction")[-1]["reason"] == "UnlockCommand"
    assert lock.locked and not daemon.hardware.simulated.boards[1].contactor_closed
    await eventually(lambda: received(csms, "StatusNotification")[-1]["errorCode"]
                     == "ConnectorLockFailure", what="ConnectorLockFailure")


async def test_a_jammed_lock_gives_connector_lock_failure_and_no_contactor(csms, start_station):
    daemon = await start_station(board={"has_lock": True})
    sim = daemon.hardware.simulated
    sim.boards[1].cable_lock.jam()
    sim.evs[1].set_state("B")
    sim.reader.present(TAG)
    await eventually(lambda: any(s["errorCode"] == "ConnectorLockFailure"
                                 for s in received(csms, "StatusNotification")),
                     what="ConnectorLockFailure")
    sim.evs[1].set_state("C")
    await eventually(lambda: received(csms, "StopTransaction"), what="StopTransaction")
    assert not sim.boards[1].contactor_closed
    assert not any(s["status"] == "Charging" for s in received(csms, "StatusNotification"))


async def test_clear_cache_is_accepted(csms, start_station):
    await start_station()
    assert (await csms.clear_cache("CP1"))["status"] == "Accepted"


async def test_data_transfer_is_unknown_vendor_id_as_pievse_has_no_vendor_extension(
        csms, start_station):
    """No DataTransfer vendor extension is implemented: every vendorId is one pievse does not
    know, and UnknownVendorId is OCPP 1.6's answer for that."""
    await start_station()
    answer = await csms.call("CP1", "DataTransfer", {"vendorId": "com.example", "data": "x"})
    assert answer["status"] == "UnknownVendorId"


@pytest.mark.parametrize(
    ("message", "action"),
    [
        ("StatusNotification", "StatusNotification"),
        ("Heartbeat", "Heartbeat"),
        ("BootNotification", "BootNotification"),
        ("DiagnosticsStatusNotification", "DiagnosticsStatusNotification"),
        ("FirmwareStatusNotification", "FirmwareStatusNotification"),
    ],
)
async def test_trigger_message_sends_the_requested_message(
    csms, start_station, message, action
):
    await start_station()
    before = len(received(csms, action))
    answer = await csms.trigger_message("CP1", message)
    assert answer["status"] == "Accepted"
    await eventually(lambda: len(received(csms, action)) > before, what=action)


async def test_trigger_message_meter_values_during_a_transaction(csms, start_station):
    daemon = await start_station()
    tx_id = await charging_session(csms, daemon)
    assert (await csms.trigger_message("CP1", "MeterValues", 1))["status"] == "Accepted"
    await eventually(lambda: [m for m in received(csms, "MeterValues")
                              if m["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"],
                     what="triggered MeterValues")
    triggered = [m for m in received(csms, "MeterValues")
                 if m["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"][0]
    assert triggered["transactionId"] == tx_id


async def test_trigger_message_for_an_unknown_connector_is_rejected(csms, start_station):
    await start_station()
    assert (await csms.trigger_message("CP1", "StatusNotification", 5))["status"] == "Rejected"


async def test_change_availability_inoperative_outlives_kill_9(csms, tmp_path):
    """A connector the CSMS took out of service stays out after a power cut (the same record in
    the store as under 2.0.1), until the CSMS brings it back."""
    station = StationProcess(tmp_path, csms.url)
    try:
        await station.start()
        await eventually(lambda: csms.connected("CP1"), timeout=30, what="connected")
        answer = await csms.call("CP1", "ChangeAvailability",
                                 {"connectorId": 1, "type": "Inoperative"})
        assert answer["status"] == "Accepted"
        await station.kill()
        since = len(csms.messages)
        await station.start()

        def statuses() -> list[str]:
            return [m.payload["status"] for m in csms.messages[since:]
                    if m.direction == "in" and m.action == "StatusNotification"
                    and m.payload["connectorId"] == 1]

        await eventually(statuses, timeout=30, what="the status after the restart")
        assert statuses()[-1] == "Unavailable"
        assert (await station.status())["connectors"][0]["status"] == "Unavailable"
    finally:
        await station.stop()
