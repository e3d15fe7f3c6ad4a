"""OCPP 2.0.1 G05/N07: the station's faults as NotifyEvent next to StatusNotification Faulted,
end to end over websockets against the bench CSMS: the component and variable each fault
concerns turn true and, when the fault clears, false (cleared); an event made while the CSMS is
away is delivered once it is back; every eventId is unique. The variables are in the device
model."""

from __future__ import annotations


from pievse.core.hardware import FaultKind
from tests.conftest import eventually
from tests.ocpp201 import OCPP201, get_variable, sent



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
    tripped, problem = fault_events(csms)
    assert tripped["component"] == {"name": "RCD", "evse": {"id": 1}}
    assert tripped["variable"] == {"name": "Tripped"}
    assert tripped["actualValue"] == "true" and tripped["trigger"] == "Delta"
    assert "residual current" in tripped["techInfo"] and "cleared" not in tripped
    assert (await get_variable(csms, "RCD", "Tripped", evse=1))["attributeValue"] == "true"
    # The station's roll-up, in the same NotifyEvent.
    assert problem["component"] == {"name": "ChargingStation"}
    assert problem["variable"] == {"name": "Problem"} and problem["actualValue"] == "true"
    assert problem["techInfo"] == "a fault on EVSE 1"
    assert (await get_variable(csms, "ChargingStation", "Problem"))["attributeValue"] == "true"
    board.inject_fault(FaultKind.RCD, False)
    await eventually(lambda: len(fault_events(csms)) == 4, what="the fault cleared")
    cleared, no_problem = fault_events(csms)[2:]
    assert cleared["actualValue"] == "false" and cleared["cleared"] is True
    assert no_problem["variable"] == {"name": "Problem"} and no_problem["cleared"] is True
    assert no_problem["actualValue"] == "false"
    assert (await get_variable(csms, "ChargingStation", "Problem"))["attributeValue"] == "false"
    await eventually(lambda: last_status(csms) == "Available", what="Available again")
    message = sent(csms, "NotifyEvent")[0]
    assert message["seqNo"] == 0 and message["tbc"] is False and message["generatedAt"]
    ids = [e["eventId"] for e in all_events(csms)]
    assert len(set(ids)) == len(ids), "eventIds unique among faults and availability alike"
    states = [e["actualValue"] for e in all_events(csms)
              if e["variable"]["name"] == "AvailabilityState"]
    assert states[-3:] == ["Available", "Faulted", "Available"]


async def test_the_station_has_a_problem_while_any_evse_has_one_and_says_so_once(
        csms, start_station):
    station = await start_station(ocpp=OCPP201, charge_point={"connectors": 2})
    boards = station.hardware.simulated.boards
    await eventually(lambda: len([s for s in sent(csms, "StatusNotification")
                                  if s["connectorStatus"] == "Available"]) >= 2, what="Available")

    def station_problem() -> list[str]:
        return [e["actualValue"] for e in fault_events(csms)
                if e["component"]["name"] == "ChargingStation"]

    boards[1].inject_fault(FaultKind.EMERGENCY_STOP, True)
    await eventually(lambda: station_problem() == ["true"], what="the station's problem")
    boards[2].inject_fault(FaultKind.RCD, True)
    await eventually(lambda: any(e["component"]["name"] == "RCD" for e in fault_events(csms)),
                     what="EVSE 2's RCD")
    boards[1].inject_fault(FaultKind.EMERGENCY_STOP, False)
    await eventually(lambda: [e["actualValue"] for e in fault_events(csms)
                              if e["component"]["name"] == "EmergencyStopSensor"]
                     == ["true", "false"], what="EVSE 1 cleared")
    assert station_problem() == ["true"]  # EVSE 2 still has its fault
    assert (await get_variable(csms, "ChargingStation", "Problem"))["attributeValue"] == "true"
    boards[2].inject_fault(FaultKind.RCD, False)
    await eventually(lambda: station_problem() == ["true", "false"], what="no problem left")


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
    event, problem = fault_events(csms)
    assert problem["component"]["name"] == "ChargingStation"
    assert event["component"]["name"] == "EmergencyStopSensor"
    assert event["variable"]["name"] == "Active" and event["actualValue"] == "true"


def test_every_fault_is_reported_on_a_standardized_component_and_variable() -> None:
    """A CSMS knows the components and variables the specification standardizes (the ``ocpp``
    package lists them): a fault reported under a name of our own would mean nothing to it."""
    from ocpp.v201.enums import (
        ControllerComponentName,
        PhysicalComponentName,
        StandardizedVariableName,
    )

    from pievse.protocol.v201.blocks.fault_events import FAULT_VARIABLES, STATION

    components = {c.value for c in PhysicalComponentName} | {
        c.value for c in ControllerComponentName}
    variables = {v.value for v in StandardizedVariableName}
    assert set(FAULT_VARIABLES) == set(FaultKind)
    for kind, (component, variable, _) in FAULT_VARIABLES.items():
        assert component in components, (kind, component)
        assert variable in variables, (kind, variable)
    assert STATION in components and "Problem" in variables  # the station's roll-up
