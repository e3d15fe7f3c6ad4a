"""OCPP 2.0.1 G05/N07: the station's faults as NotifyEvent next to StatusNotification Faulted,
end to end over websockets against the bench CSMS: the component and variable each fault
concerns turn true and, when the fault clears, false (cleared); an event made while the CSMS is
away is delivered once it is back; every eventId is unique. The variables are in the device
model."""

from __future__ import annotations

import pytest

from pievse.core.hardware import FaultKind
from tests.conftest import eventually
from tests.ocpp201 import OCPP201, get_variable, sent

pytestmark = pytest.mark.asyncio


def all_events(csms) -> list[dict]:
    return [event for message in sent(csms, "NotifyEvent") for event in message["eventData"]]


def fault_events(csms) -> list[dict]:
    """The events of faults (the connector's AvailabilityState goes with every status too)."""
    return [e for e in all_events(csms) if e["variable"]["name"] != "AvailabilityState"]


def last_status(csms) -> str | None:
    shown = [s["connectorStatus"] for s in sent(csms, "StatusNotification")]
    return shown[-1] if shown else None


async def test_tc_g_05_lock_failure_and_an_rcd_trip_are_notify_events_while_faulted(
        csms, start_station):
    station = await start_station(ocpp=OCPP201)
    board = station.hardware.simulated.boards[1]
    await eventually(lambda: last_status(csms) == "Available", what="Available")
    board.inject_fault(FaultKind.RCD, True)
    await eventually(lambda: last_status(csms) == "Faulted", what="Faulted")
    await eventually(lambda: fault_events(csms), what="the NotifyEvent")
    [tripped] = fault_events(csms)
    assert tripped["component"] == {"name": "RCD", "evse": {"id": 1}}
    assert tripped["variable"] == {"name": "Tripped"}
    assert tripped["actualValue"] == "true" and tripped["trigger"] == "Delta"
    assert "residual current" in tripped["techInfo"] and "cleared" not in tripped
    assert (await get_variable(csms, "RCD", "Tripped", evse=1))["attributeValue"] == "true"
    board.inject_fault(FaultKind.RCD, False)
    await eventually(lambda: len(fault_events(csms)) == 2, what="the fault cleared")
    cleared = fault_events(csms)[1]
    assert cleared["actualValue"] == "false" and cleared["cleared"] is True
    await eventually(lambda: last_status(csms) == "Available", what="Available again")
    message = sent(csms, "NotifyEvent")[0]
    assert message["seqNo"] == 0 and message["tbc"] is False and message["generatedAt"]
    ids = [e["eventId"] for e in all_events(csms)]
    assert len(set(ids)) == len(ids), "eventIds unique among faults and availability alike"
    states = [e["actualValue"] for e in all_events(csms)
              if e["variable"]["name"] == "AvailabilityState"]
    assert states[-3:] == ["Available", "Faulted", "Available"]


async def test_a_fault_while_the_csms_is_away_is_told_when_it_is_back(csms, start_station):
    station = await start_station(ocpp=OCPP201)
    await eventually(lambda: last_status(csms) == "Available", what="Available")
    csms.refuse_connections = True
    await csms.drop_connection("CP1")
    await eventually(lambda: not station.protocol.registered, what="offline")
    station.hardware.simulated.boards[1].inject_fault(FaultKind.EMERGENCY_STOP, True)
    await eventually(lambda: station.status()["connectors"][0]["status"] == "Faulted",
                     what="Faulted offline")
    csms.refuse_connections = False
    await eventually(lambda: fault_events(csms), timeout=30, what="the event delivered")
    [event] = fault_events(csms)
    assert event["component"]["name"] == "EmergencyStopSensor"
    assert event["variable"]["name"] == "Active" and event["actualValue"] == "true"
