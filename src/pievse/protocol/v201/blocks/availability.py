"""G Availability: StatusNotification of each EVSE's connector, ChangeAvailability,
UnlockConnector (F05), and the components that describe the station (ChargingStation, each
EVSE, each Connector) with their availability.

UnlockConnector does not end a transaction in 2.0.1: during one it is refused
(OngoingAuthorizedTransaction). A fixed cable has no lock: NotSupported.

A status is sent when 2.0.1's word for it changes (Preparing to Charging is Occupied either
way), and only while the CSMS is there: after a reconnection the current status of every
connector is sent instead of a stale history. With each change goes the NotifyEvent of the
Connector's AvailabilityState (trigger Delta), as the device model tells it. The station as a
whole (1.6's connector 0) has no StatusNotification in 2.0.1: its availability is the
ChargingStation's AvailabilityState.
"""

from __future__ import annotations

from typing import Any

from ocpp.exceptions import NotSupportedError
from ocpp.routing import on
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from pievse.core.answers import UnlockStatus
from pievse.core.effects import StatusChanged
from pievse.core.vocabulary import ConnectorStatus
from pievse.protocol.common.datetimes import format_datetime
from pievse.protocol.common.unlocking import Unlocking
from pievse.protocol.v201.codec.words import connector_status, encode_availability_status
from pievse.protocol.v201.context import Context
from pievse.protocol.v201.device_model import DataType, Mutability, Variable

__all__ = ["CONNECTOR_ID", "AvailabilityBlock"]

#: Each EVSE has one connector.
CONNECTOR_ID = 1

RO = Mutability.READ_ONLY


class AvailabilityBlock:
    def __init__(self, context: Context, *, phases: int = 3, max_power_w: float | None = None,
                 connector_type: str = "cType2") -> None:
        self.context = context
        self._phases = phases
        self._max_power_w = max_power_w
        self._connector_type = connector_type
        #: The status last sent for each EVSE.
        self._sent: dict[int, str] = {}
        self.unlocking = Unlocking(context)
        context.on_effect(StatusChanged, self._status_changed)
        context.on_registered(self._send_all)
        context.triggers.register("StatusNotification", self._send_statuses)

    def _status(self, evse_id: int) -> str:
        for status in self.context.station.statuses():
            if status.connector_id == evse_id:
                return self._word(evse_id, status.status)
        return "Unavailable"

    def _word(self, evse_id: int, status: ConnectorStatus) -> str:
        """2.0.1's word for a connector's status: Occupied is a car plugged in, so a
        transaction that waits for its car (unplugged from, or begun at the authorisation)
        leaves the connector Available."""
        connector = self.context.station.connectors.get(evse_id)
        if (status is ConnectorStatus.SUSPENDED_EV and connector is not None
                and not connector.pilot.vehicle_connected):
            return "Available"
        return connector_status(status)

    def _station_status(self) -> str:
        status = self.context.station.statuses()[0].status
        return "Unavailable" if status is ConnectorStatus.UNAVAILABLE else "Available"

    def variables(self) -> list[Variable]:
        context = self.context
        phases = DataType.INTEGER
        result = [
            Variable("ChargingStation", "AvailabilityState", DataType.OPTION_LIST, "", RO,
                     persistent=False, read=self._station_status),
            Variable("ChargingStation", "Available", DataType.BOOLEAN, True, RO),
            Variable("ChargingStation", "SupplyPhases", phases, self._phases, RO),
        ]
        for n in context.evse_ids():
            result += [
                Variable("EVSE", "AvailabilityState", DataType.OPTION_LIST, "", RO, evse=n,
                         persistent=False, read=lambda n=n: self._status(n)),
                Variable("EVSE", "Available", DataType.BOOLEAN, True, RO, evse=n),
                Variable("EVSE", "SupplyPhases", phases, self._phases, RO, evse=n),
                Variable("Connector", "AvailabilityState", DataType.OPTION_LIST, "", RO,
                         evse=n, connector=CONNECTOR_ID, persistent=False,
                         read=lambda n=n: self._status(n)),
                Variable("Connector", "Available", DataType.BOOLEAN, True, RO, evse=n,
                         connector=CONNECTOR_ID),
                Variable("Connector", "ConnectorType", DataType.STRING, self._connector_type,
                         RO, evse=n, connector=CONNECTOR_ID),
                Variable("Connector", "SupplyPhases", phases, self._phases, RO, evse=n,
                         connector=CONNECTOR_ID),
            ]
            if self._max_power_w is not None:
                result.append(Variable("EVSE", "Power", DataType.DECIMAL, self._max_power_w, RO,
                                       evse=n, unit="W", maximum=self._max_power_w))
        return result

    def _status_changed(self, effect: StatusChanged) -> None:
        if effect.connector_id == 0 or not self.context.registered:
            return
        status = self._word(effect.connector_id, effect.status)
        if self._sent.get(effect.connector_id) != status:
            self._send(effect.connector_id, status, effect.timestamp)

    def _send(self, evse_id: int, status: str, timestamp: float, *, event: bool = True) -> None:
        self._sent[evse_id] = status
        at = format_datetime(timestamp)
        self.context.send(call.StatusNotification(
            timestamp=at, connector_status=status, evse_id=evse_id, connector_id=CONNECTOR_ID))
        if event:
            self.context.send(call.NotifyEvent(generated_at=at, seq_no=0, tbc=False, event_data=[{
                "eventId": self.context.next_event_id(), "timestamp": at, "trigger": "Delta",
                "actualValue": status, "eventNotificationType": "HardWiredNotification",
                "component": {"name": "Connector",
                              "evse": {"id": evse_id, "connectorId": CONNECTOR_ID}},
                "variable": {"name": "AvailabilityState"}}]))

    @on(Action.change_availability)
    def on_change_availability(self, operational_status: str, evse: dict[str, Any] | None = None,
                               **_: Any) -> call_result.ChangeAvailability:
        """The whole station (no evse), an EVSE, or its one connector: the core decides, and a
        connector in use changes once its transaction has ended (Scheduled)."""
        evse_id = (evse or {}).get("id", 0)
        connector_id = (evse or {}).get("connector_id")
        if connector_id not in (None, CONNECTOR_ID) or (evse_id == 0 and evse is not None
                                                          and connector_id is not None):
            return call_result.ChangeAvailability(status="Rejected")
        answer = self.context.station.change_availability(evse_id,
                                                          operational_status == "Operative")
        return call_result.ChangeAvailability(
            status=encode_availability_status(self.context.answer(answer)))

    @on(Action.unlock_connector)
    async def on_unlock_connector(self, evse_id: int, connector_id: int,
                                  **_: Any) -> call_result.UnlockConnector:
        station = self.context.station
        if connector_id != CONNECTOR_ID or evse_id not in station.connectors:
            return call_result.UnlockConnector(status="UnknownConnector")
        if station.connector(evse_id).transaction is not None:
            return call_result.UnlockConnector(status="OngoingAuthorizedTransaction")
        outcome = await self.unlocking.unlock(evse_id)
        if outcome is UnlockStatus.NOT_SUPPORTED:
            raise NotSupportedError("a fixed cable has no lock to release")
        if isinstance(outcome, UnlockStatus):
            return call_result.UnlockConnector(status="UnknownConnector")
        return call_result.UnlockConnector(status="Unlocked" if outcome else "UnlockFailed")

    def _send_all(self) -> None:
        self._sent.clear()
        self._send_statuses(None, event=True)

    def _send_statuses(self, evse_id: int | None, *, event: bool = False) -> None:
        """The current status of ``evse_id`` (None: of every EVSE); ``event``: its NotifyEvent
        too (at a new session, not for a TriggerMessage, which asks for the status alone)."""
        for status in self.context.station.statuses():
            n = status.connector_id
            if n != 0 and (evse_id is None or n == evse_id):
                self._send(n, self._word(n, status.status), status.timestamp, event=event)
