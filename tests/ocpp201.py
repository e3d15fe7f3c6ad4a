"""What the OCPP 2.0.1 end-to-end tests share: the station started on 2.0.1, the CALLs it sent,
a device model variable read and written through the bench CSMS."""

from __future__ import annotations

from typing import Any

from pievse.csms.server import CentralSystem

OCPP201 = {"version": "2.0.1"}
CARD = {"idToken": "04A1B2C3", "type": "ISO14443"}


def sent(csms: CentralSystem, action: str, cp_id: str = "CP1") -> list[dict[str, Any]]:
    """The payloads of the CALLs of ``action`` the station sent, in order."""
    return [m.payload for m in csms.messages
            if m.cp_id == cp_id and m.direction == "in" and m.message_type == 2
            and m.action == action]


def calls_sent(csms: CentralSystem, cp_id: str = "CP1") -> list[str]:
    return [m.action for m in csms.messages
            if m.cp_id == cp_id and m.direction == "in" and m.message_type == 2]


def numbered_without_gaps(events: list[dict[str, Any]]) -> None:
    """A transaction's events as the CSMS got them are numbered 0, 1, 2 ... in order; an event
    sent again (its answer was lost with the link) keeps its number and is the same event."""
    first: dict[int, dict[str, Any]] = {}
    for event in events:
        number = event["seqNo"]
        if number in first:
            assert event == first[number], f"seqNo {number} used by two different events"
        else:
            assert number == len(first), f"seqNo {number} after {len(first) - 1}"
            first[number] = event


def item(component: str, variable: str, *, instance: str | None = None,
         evse: int | None = None, **more: Any) -> dict[str, Any]:
    """A GetVariableData or SetVariableData entry."""
    shown: dict[str, Any] = {"component": {"name": component}, "variable": {"name": variable}}
    if instance is not None:
        shown["variable"]["instance"] = instance
    if evse is not None:
        shown["component"]["evse"] = {"id": evse}
    return {**shown, **more}


async def get_variable(csms: CentralSystem, component: str, variable: str,
                       **where: Any) -> dict[str, Any]:
    answer = await csms.call("CP1", "GetVariables", {"getVariableData": [
        item(component, variable, **where)]})
    [result] = answer["getVariableResult"]
    return result


async def set_variable(csms: CentralSystem, component: str, variable: str, value: str,
                       **where: Any) -> str:
    answer = await csms.call("CP1", "SetVariables", {"setVariableData": [
        item(component, variable, attributeValue=value, **where)]})
    [result] = answer["setVariableResult"]
    return result["attributeStatus"]
