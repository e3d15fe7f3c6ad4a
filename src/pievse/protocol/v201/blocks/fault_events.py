"""G05/N07: the station's faults as NotifyEvent, alongside the StatusNotification Faulted the
availability block sends.

Each fault the core knows (:class:`~pievse.core.hardware.FaultKind`) concerns one component of
the EVSE it happened on, and one of its variables: the residual current device has tripped, the
emergency stop is active, the power contactor, the control pilot or the plug's retention lock
has a problem, the board's driver (the EVSE) has one. When the core says a fault became active,
the CSMS gets a NotifyEvent of that variable turning ``true`` (trigger Delta, the fault's
report as techInfo); when it clears, one turning ``false`` with ``cleared``. The station's own
ChargingStation.Problem rolls them up: true while any EVSE has a fault, so that a CSMS watching
one variable per station learns of every fault. The events go
through the redelivery queue, so one made while the CSMS is away arrives once it is back, in
order; each has an eventId of its own (the context's count). The variables are in the device
model, read-only, reading the faults as they are.
"""

from __future__ import annotations

from typing import Any

from ocpp.v201 import call

from pievse.core.effects import FaultsChanged
from pievse.core.fault_reports import FAULT_REPORT
from pievse.core.hardware import FaultKind
from pievse.protocol.common.datetimes import format_datetime
from pievse.protocol.common.notifications import Rule
from pievse.protocol.v201.context import Context
from pievse.protocol.v201.device_model import DataType, Mutability, Variable, calling

__all__ = ["FAULT_EVENT", "FAULT_VARIABLES", "FaultEventsBlock"]

#: The redelivery queue's kind for these events.
FAULT_EVENT = "NotifyEvent"

#: The component and variable each fault concerns (the specification's standardized names, as
#: the ``ocpp`` package lists them: the pilot is the EVSE's CPPWMController), and whether the
#: component is the connector's (else the EVSE's). Two faults of one contactor share its Problem.
FAULT_VARIABLES: dict[FaultKind, tuple[str, str, bool]] = {
    FaultKind.RCD: ("RCD", "Tripped", False),
    FaultKind.EMERGENCY_STOP: ("EmergencyStopSensor", "Active", False),
    FaultKind.WELDED: ("PowerContactor", "Problem", False),
    FaultKind.CONTACTOR_OPEN: ("PowerContactor", "Problem", False),
    FaultKind.PILOT: ("CPPWMController", "Problem", False),
    FaultKind.CABLE_LOCK: ("ConnectorPlugRetentionLock", "Problem", True),
    FaultKind.BOARD_DRIVER: ("EVSE", "Problem", False),
}

#: The component of the station as a whole.
STATION = "ChargingStation"

#: Each EVSE has one connector.
CONNECTOR_ID = 1


class FaultEventsBlock:
    def __init__(self, context: Context) -> None:
        self.context = context
        #: The faults last told for each EVSE.
        self._told: dict[int, frozenset[FaultKind]] = {}
        context.notifications.rule(FAULT_EVENT, Rule(attempts=10, limit=200))
        context.on_effect(FaultsChanged, self._changed)

    def variables(self) -> list[Variable]:
        result = [Variable(STATION, "Problem", DataType.BOOLEAN, False, Mutability.READ_ONLY,
                           persistent=False, read=FaultEventsBlock._station_problem)]
        seen = set()
        for n in self.context.evse_ids():
            for component, name, on_connector in FAULT_VARIABLES.values():
                if (n, component, name) in seen:
                    continue
                seen.add((n, component, name))
                result.append(Variable(
                    component, name, DataType.BOOLEAN, False, Mutability.READ_ONLY, evse=n,
                    connector=CONNECTOR_ID if on_connector else None, persistent=False,
                    read=calling(FaultEventsBlock._active, n, component, name)))
        return result

    def _active(self, evse_id: int, component: str, name: str) -> bool:
        faults = self.context.station.connector(evse_id).faults
        return any(FAULT_VARIABLES[kind][:2] == (component, name) for kind in faults)

    def _station_problem(self) -> bool:
        station = self.context.station
        return any(station.connector(n).faults for n in self.context.evse_ids())

    def _changed(self, effect: FaultsChanged) -> None:
        station_before = self._faulted_evses()
        before = self._told.get(effect.connector_id, frozenset())
        self._told[effect.connector_id] = effect.faults
        data = []
        for address in sorted({FAULT_VARIABLES[k] for k in before | effect.faults}):
            was = any(FAULT_VARIABLES[k] == address for k in before)
            now = [k for k in effect.faults if FAULT_VARIABLES[k] == address]
            if was != bool(now):
                data.append(self._event(effect, address, now))
        station_now = self._faulted_evses()
        if bool(station_before) != bool(station_now):
            data.append(self._station_event(effect, station_now))
        if data:
            self.context.notifications.put(FAULT_EVENT, call.NotifyEvent(
                generated_at=format_datetime(effect.timestamp), seq_no=0, tbc=False,
                event_data=data))

    def _faulted_evses(self) -> list[int]:
        return sorted(n for n, faults in self._told.items() if faults)

    def _station_event(self, effect: FaultsChanged, faulted: list[int]) -> dict[str, Any]:
        event: dict[str, Any] = {
            "eventId": self.context.next_event_id(), "timestamp": format_datetime(effect.timestamp),
            "trigger": "Delta", "actualValue": "true" if faulted else "false",
            "eventNotificationType": "HardWiredNotification",
            "component": {"name": STATION}, "variable": {"name": "Problem"}}
        if faulted:
            event["techInfo"] = "a fault on EVSE " + ", ".join(map(str, faulted))
        else:
            event["cleared"] = True
        return event

    def _event(self, effect: FaultsChanged, address: tuple[str, str, bool],
               active: list[FaultKind]) -> dict[str, Any]:
        component, name, on_connector = address
        evse: dict[str, Any] = {"id": effect.connector_id}
        if on_connector:
            evse["connectorId"] = CONNECTOR_ID
        event: dict[str, Any] = {
            "eventId": self.context.next_event_id(), "timestamp": format_datetime(effect.timestamp),
            "trigger": "Delta", "actualValue": "true" if active else "false",
            "eventNotificationType": "HardWiredNotification",
            "component": {"name": component, "evse": evse}, "variable": {"name": name}}
        if active:
            event["techInfo"] = "; ".join(FAULT_REPORT[k][2] for k in sorted(active))[:500]
        else:
            event["cleared"] = True
        return event
