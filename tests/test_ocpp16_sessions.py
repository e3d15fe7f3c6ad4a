"""OCPP 1.6J Core scenarios end to end: a real daemon with simulated hardware, real websockets on
127.0.0.1, the embedded CSMS on the other side. Each test is named after the scenario it plays.
Those about intervals run on a fake clock (shared by the daemon and the CSMS) and check when each
message went out, in the clock's seconds."""

from __future__ import annotations

import pytest

from pievse.aio import FakeClock
from tests.conftest import eventually

pytestmark = pytest.mark.asyncio

TAG = "04A1B2C3"


def received(csms, action: str, cp_id: str = "CP1") -> list[dict]:
    """Payloads of the CALLs the CSMS received from the charge point, in order."""
    return [
        m.payload
        for m in csms.messages
        if m.cp_id == cp_id and m.direction == "in" and m.action == action and m.message_type == 2
    ]


def sent_at(csms, action: str, cp_id: str = "CP1") -> list[float]:
    """When (the CSMS's clock, epoch seconds) each ``action`` CALL from the charge point came."""
    return [m.time.timestamp() for m in csms.messages
            if m.cp_id == cp_id and m.direction == "in" and m.action == action
            and m.message_type == 2]


async def nothing_new(csms, action: str, count: int) -> None:
    """Let the event loop run until it is quiet (what was sent has been read by then), and
    check that the station sent no further ``action``."""
    await FakeClock.settle()
    assert len(received(csms, action)) == count, f"a {action} came early"


async def next_one(clock: FakeClock, csms, action: str, wait: float) -> float:
    """``wait`` seconds pass: nothing before they are up, the next ``action`` when they are.
    Returns when it came."""
    count = len(received(csms, action))
    await clock.advance(wait - 1)
    await nothing_new(csms, action, count)
    await clock.advance(1)
    await eventually(lambda: len(received(csms, action)) > count, what=f"the next {action}")
    return sent_at(csms, action)[count]


def statuses(csms, connector_id: int, cp_id: str = "CP1") -> list[str]:
    return [p["status"] for p in received(csms, "StatusNotification", cp_id)
            if p["connectorId"] == connector_id]


def status_now(csms, connector_id: int = 1, cp_id: str = "CP1") -> str | None:
    cp = csms.charge_points.get(cp_id)
    return cp.statuses.get(connector_id) if cp else None


async def charging_session(csms, daemon, tag: str = TAG) -> int:
    """Plug in, present a card, ask for power: returns the CSMS's transactionId once Charging."""
    sim = daemon.hardware.simulated
    sim.evs[1].set_state("B")
    await eventually(lambda: status_now(csms) == "Preparing", what="Preparing")
    sim.reader.present(tag)
    await eventually(lambda: received(csms, "StartTransaction"), what="StartTransaction")
    sim.evs[1].set_state("C")
    await eventually(lambda: status_now(csms) == "Charging", what="Charging")
    await eventually(lambda: daemon.station.connector(1).transaction.transaction_id,
                     what="transactionId known")
    return daemon.station.connector(1).transaction.transaction_id


async def test_boot_notification_accepted_then_status_of_connector_0_and_every_connector(
    csms, start_station
):
    daemon = await start_station(charge_point={"connectors": 2, "vendor": "ACME",
                                               "model": "Wallbox"})
    boot = received(csms, "BootNotification")[0]
    assert boot["chargePointVendor"] == "ACME" and boot["chargePointModel"] == "Wallbox"
    await eventually(lambda: {0, 1, 2} <= set(csms.charge_points["CP1"].statuses))
    assert csms.charge_points["CP1"].statuses == {0: "Available", 1: "Available", 2: "Available"}
    assert daemon.protocol.registered


async def test_boot_notification_pending_holds_back_until_accepted(
        csms, start_station, fake_clock):
    csms.boot_status = "Pending"
    csms.heartbeat_interval = 30  # the retry interval given with Pending
    daemon = await start_station(wait_registered=False)
    await eventually(lambda: received(csms, "BootNotification"), what="BootNotification")
    first = sent_at(csms, "BootNotification")[0]
    assert await next_one(fake_clock, csms, "BootNotification", 30) == first + 30, "boot retry"
    assert not daemon.protocol.registered
    assert received(csms, "StatusNotification") == []  # nothing else while Pending
    csms.boot_status = "Accepted"
    assert await next_one(fake_clock, csms, "BootNotification", 30) == first + 60
    await eventually(lambda: daemon.protocol.registered, what="registered")
    await eventually(lambda: status_now(csms) == "Available")


async def test_boot_notification_rejected_is_retried_after_the_interval(
        csms, start_station, fake_clock):
    csms.boot_status = "Rejected"
    csms.heartbeat_interval = 45
    daemon = await start_station(wait_registered=False)
    await eventually(lambda: received(csms, "BootNotification"), what="BootNotification")
    first = sent_at(csms, "BootNotification")[0]
    assert await next_one(fake_clock, csms, "BootNotification", 45) == first + 45, "boot retry"
    assert not daemon.protocol.registered
    assert received(csms, "Heartbeat") == [] and received(csms, "StatusNotification") == []
    csms.boot_status = "Accepted"
    await next_one(fake_clock, csms, "BootNotification", 45)
    await eventually(lambda: daemon.protocol.registered, what="registered")


async def test_heartbeat_at_the_interval_the_csms_gave(csms, start_station, fake_clock):
    csms.heartbeat_interval = 60
    await start_station()
    registered = sent_at(csms, "StatusNotification")[-1]
    beats = [await next_one(fake_clock, csms, "Heartbeat", 60) for _ in range(3)]
    assert len(received(csms, "Heartbeat")) >= 2
    assert beats == [registered + 60, registered + 120, registered + 180]


async def test_heartbeat_on_the_wall_clock(csms, start_station):
    """The same on the system clock, without a fake one: heartbeats do come."""
    csms.heartbeat_interval = 1
    await start_station()
    await eventually(lambda: len(received(csms, "Heartbeat")) >= 2, what="two heartbeats")


async def test_start_transaction_plug_in_first_then_present_card(csms, start_station):
    daemon = await start_station(keys={"MeterValueSampleInterval": 1})
    tx_id = await charging_session(csms, daemon)
    board = daemon.hardware.simulated.boards[1]
    assert board.contactor_closed and board.pwm_on
    assert received(csms, "Authorize") == [{"idTag": TAG}]
    start = received(csms, "StartTransaction")[0]
    assert start["connectorId"] == 1 and start["idTag"] == TAG
    # MeterValues carry the transactionId the CSMS assigned, and a growing energy register.
    await eventually(lambda: len([m for m in received(csms, "MeterValues")
                                  if m.get("transactionId") == tx_id]) >= 2, what="MeterValues")
    values = [m for m in received(csms, "MeterValues") if m.get("transactionId") == tx_id]
    measurands = {v["measurand"] for v in values[-1]["meterValue"][0]["sampledValue"]}
    assert {"Energy.Active.Import.Register", "Power.Active.Import", "Current.Import",
            "Current.Offered", "Voltage"} <= measurands

    daemon.hardware.simulated.evs[1].set_state("A")
    await eventually(lambda: received(csms, "StopTransaction"), what="StopTransaction")
    stop = received(csms, "StopTransaction")[0]
    assert stop["transactionId"] == tx_id
    assert stop["reason"] == "EVDisconnected"
    assert stop["meterStop"] >= start["meterStart"]
    contexts = [v["sampledValue"][0]["context"] for v in stop["transactionData"]]
    assert contexts[0] == "Transaction.Begin" and contexts[-1] == "Transaction.End"
    assert not board.contactor_closed
    await eventually(lambda: status_now(csms) == "Available")
    sequence = statuses(csms, 1)
    assert sequence[:2] == ["Available", "Preparing"]
    assert "Charging" in sequence and sequence[-1] == "Available"
    recorded = csms.transactions[tx_id]
    assert recorded.meter_stop == stop["meterStop"] and recorded.stop_reason == "EVDisconnected"


async def test_start_transaction_card_first_then_plug_in(csms, start_station):
    daemon = await start_station()
    sim = daemon.hardware.simulated
    sim.reader.present(TAG)
    await eventually(lambda: status_now(csms) == "Preparing", what="Preparing after the card")
    assert received(csms, "StartTransaction") == []
    sim.evs[1].set_state("C")
    await eventually(lambda: status_now(csms) == "Charging", what="Charging")
    assert received(csms, "StartTransaction")[0]["idTag"] == TAG


async def test_connection_timeout_cancels_the_authorisation_when_no_car_arrives(
    csms, start_station
):
    daemon = await start_station(keys={"ConnectionTimeOut": 1})
    daemon.hardware.simulated.reader.present(TAG)
    await eventually(lambda: status_now(csms) == "Preparing")
    await eventually(lambda: status_now(csms) == "Available", what="back to Available")
    daemon.hardware.simulated.evs[1].set_state("C")
    await eventually(lambda: status_now(csms) == "Preparing")
    assert received(csms, "StartTransaction") == []


async def test_unknown_id_tag_is_refused_and_no_transaction_starts(csms, start_station):
    csms.accept_id_tags = {TAG}
    daemon = await start_station()
    sim = daemon.hardware.simulated
    sim.evs[1].set_state("C")
    sim.reader.present("DEADBEEF")
    await eventually(lambda: received(csms, "Authorize"), what="Authorize")
    await eventually(lambda: not daemon.station.id_tags.deciding, what="answer processed")
    assert received(csms, "StartTransaction") == []
    assert not sim.boards[1].contactor_closed


async def test_the_same_card_stops_its_session_and_another_card_does_not(csms, start_station):
    csms.accept_id_tags = {TAG, "11223344"}
    daemon = await start_station()
    await charging_session(csms, daemon)
    sim = daemon.hardware.simulated
    # Cards are handled in the order presented: if the other card could stop the session, the
    # StopTransaction below would carry its id tag.
    sim.reader.present("11223344")
    sim.reader.present(TAG)
    await eventually(lambda: received(csms, "StopTransaction"), what="StopTransaction")
    stop = received(csms, "StopTransaction")[0]
    assert stop["reason"] == "Local" and stop["idTag"] == TAG
    assert len(received(csms, "StopTransaction")) == 1
    # PWM off first; the car goes to B; then the contactor opens; the car is still plugged.
    await eventually(lambda: status_now(csms) == "Finishing")
    assert not sim.boards[1].contactor_closed


async def test_remote_start_with_authorize_remote_tx_requests_asks_the_csms_first(
    csms, start_station
):
    daemon = await start_station(keys={"AuthorizeRemoteTxRequests": True})
    daemon.hardware.simulated.evs[1].set_state("C")
    answer = await csms.remote_start("CP1", TAG, connector_id=1)
    assert answer["status"] == "Accepted"
    await eventually(lambda: status_now(csms) == "Charging", what="Charging")
    assert received(csms, "Authorize") == [{"idTag": TAG}]


async def test_remote_start_without_authorize_remote_tx_requests_starts_at_once(
    csms, start_station
):
    daemon = await start_station(keys={"AuthorizeRemoteTxRequests": False})
    daemon.hardware.simulated.evs[1].set_state("C")
    answer = await csms.remote_start("CP1", TAG)
    assert answer["status"] == "Accepted"
    await eventually(lambda: status_now(csms) == "Charging", what="Charging")
    assert received(csms, "Authorize") == []


async def test_remote_start_on_a_busy_or_unknown_connector_is_rejected(csms, start_station):
    daemon = await start_station()
    await charging_session(csms, daemon)
    assert (await csms.remote_start("CP1", "AABBCCDD", connector_id=1))["status"] == "Rejected"
    assert (await csms.remote_start("CP1", "AABBCCDD", connector_id=7))["status"] == "Rejected"


async def test_remote_stop_transaction(csms, start_station):
    daemon = await start_station()
    tx_id = await charging_session(csms, daemon)
    assert (await csms.remote_stop("CP1", tx_id + 1000))["status"] == "Rejected"
    assert (await csms.remote_stop("CP1", tx_id))["status"] == "Accepted"
    await eventually(lambda: received(csms, "StopTransaction"), what="StopTransaction")
    assert received(csms, "StopTransaction")[0]["reason"] == "Remote"


async def test_stop_transaction_on_invalid_id_when_the_csms_refuses_the_start(
    csms, start_station
):
    async def start_refused(cp_id, action, payload):
        if action == "StartTransaction":
            return {"transactionId": 99, "idTagInfo": {"status": "Blocked"}}
        return None

    csms.on_call = start_refused
    daemon = await start_station()
    sim = daemon.hardware.simulated
    sim.evs[1].set_state("C")
    sim.reader.present(TAG)
    await eventually(lambda: received(csms, "StopTransaction"), what="StopTransaction")
    stop = received(csms, "StopTransaction")[0]
    assert stop["transactionId"] == 99 and stop["reason"] == "DeAuthorized"
    assert not sim.boards[1].contactor_closed


async def test_rcd_trip_opens_the_contactor_reports_ground_failure_and_stops(
    csms, start_station
):
    daemon = await start_station()
    await charging_session(csms, daemon)
    board = daemon.hardware.simulated.boards[1]
    daemon.sim_fault(1, "rcd", True)
    await eventually(lambda: not board.contactor_closed, what="contactor open")
    await eventually(lambda: status_now(csms) == "Faulted", what="Faulted")
    faulted = [p for p in received(csms, "StatusNotification") if p["status"] == "Faulted"][-1]
    assert faulted["errorCode"] == "GroundFailure"
    await eventually(lambda: received(csms, "StopTransaction"))
    assert received(csms, "StopTransaction")[0]["reason"] == "Other"
    daemon.sim_fault(1, "rcd", False)
    await eventually(lambda: status_now(csms) in ("Finishing", "Preparing"), what="fault cleared")


async def test_emergency_stop_ends_the_session_with_reason_emergency_stop(csms, start_station):
    daemon = await start_station()
    await charging_session(csms, daemon)
    daemon.sim_fault(1, "emergency_stop", True)
    await eventually(lambda: received(csms, "StopTransaction"))
    assert received(csms, "StopTransaction")[0]["reason"] == "EmergencyStop"
    assert not daemon.hardware.simulated.boards[1].contactor_closed


async def test_ev_stops_asking_for_power_suspended_ev_and_contactor_open(csms, start_station):
    daemon = await start_station()
    await charging_session(csms, daemon)
    daemon.hardware.simulated.evs[1].set_state("B")
    await eventually(lambda: status_now(csms) == "SuspendedEV", what="SuspendedEV")
    assert not daemon.hardware.simulated.boards[1].contactor_closed
    assert daemon.station.connector(1).transaction is not None


async def test_stop_transaction_on_ev_side_disconnect_false_keeps_the_transaction(
    csms, start_station
):
    daemon = await start_station(keys={"StopTransactionOnEVSideDisconnect": False})
    await charging_session(csms, daemon)
    daemon.hardware.simulated.evs[1].set_state("A")
    await eventually(lambda: status_now(csms) == "SuspendedEV", what="SuspendedEV")
    assert received(csms, "StopTransaction") == []
    assert not daemon.hardware.simulated.boards[1].contactor_closed
    daemon.hardware.simulated.evs[1].set_state("C")
    await eventually(lambda: status_now(csms) == "Charging", what="charging again")


async def test_clock_aligned_meter_values_and_stop_txn_aligned_data(csms, start_station):
    daemon = await start_station(keys={"ClockAlignedDataInterval": 1,
                                       "MeterValuesAlignedData": "Energy.Active.Import.Register",
                                       "StopTxnAlignedData": "Energy.Active.Import.Register",
                                       "MeterValueSampleInterval": 0})

    def aligned() -> list[dict]:
        return [m for m in received(csms, "MeterValues")
                if m["meterValue"][0]["sampledValue"][0].get("context") == "Sample.Clock"]

    # Aligned readings come whether or not a transaction runs, on whole seconds of the clock.
    await eventually(lambda: aligned(), what="clock-aligned MeterValues while idle")
    assert "transactionId" not in aligned()[0]
    tx_id = await charging_session(csms, daemon)
    await eventually(lambda: [m for m in aligned() if m.get("transactionId") == tx_id],
                     what="clock-aligned MeterValues of the transaction")
    for message in aligned():
        stamp = message["meterValue"][0]["timestamp"]
        assert stamp.endswith("Z") and ("." not in stamp or ".000" in stamp), stamp
    assert not [m for m in received(csms, "MeterValues")
                if m["meterValue"][0]["sampledValue"][0].get("context") == "Sample.Periodic"]

    daemon.hardware.simulated.evs[1].set_state("A")
    await eventually(lambda: received(csms, "StopTransaction"), what="StopTransaction")
    contexts = {v["sampledValue"][0]["context"]
                for v in received(csms, "StopTransaction")[0]["transactionData"]}
    assert "Sample.Clock" in contexts
