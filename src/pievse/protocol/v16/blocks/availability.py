"""Availability: StatusNotification, ChangeAvailability and UnlockConnector, and the keys about
how the connectors are built.

A status change is worth sending only while the CSMS is there: after a reconnection the current
status of every connector is sent instead of a stale history.
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from pievse.core.answers import UnlockStatus
from pievse.core.effects import StatusChanged
from pievse.protocol.common.unlocking import Unlocking
from pievse.protocol.v16 import messages
from pievse.protocol.v16.codec.answers import (
    encode_availability_status,
    encode_unlock_outcome,
    encode_unlock_status,
)
from pievse.protocol.v16.configuration import KeyDefinition, KeyType, csl
from pievse.protocol.v16.context import Context

__all__ = ["PHASE_ROTATION_NOT_APPLICABLE", "PHASE_ROTATION_UNKNOWN", "AvailabilityBlock",
           "connector_phase_rotation"]

#: ConnectorPhaseRotation's words besides the six orders (RST, RTS, SRT, STR, TRS, TSR).
PHASE_ROTATION_UNKNOWN = "Unknown"
PHASE_ROTATION_NOT_APPLICABLE = "NotApplicable"  # a single-phase (or DC) station

def connector_phase_rotation(number_of_connectors: int, rotation: str) -> str:
    """ConnectorPhaseRotation's value: the same rotation for the grid connection (connector 0)
    and every connector, e.g. "0.RST,1.RST"."""
    return csl(f"{n}.{rotation}" for n in range(number_of_connectors + 1))


class AvailabilityBlock:
    def __init__(self, context: Context) -> None:
        self.context = context
        self.unlocking = Unlocking(context)
        context.on_effect(StatusChanged, self._status_changed)
        context.on_registered(lambda: self._send_statuses(None))
        for triggers in (context.triggers, context.extended_triggers):
            triggers.register("StatusNotification", self._send_statuses)

    def keys(self) -> list[KeyDefinition]:
        """The Core profile's keys about the connectors (OCPP 1.6 section 9.1)."""
        connectors = len(self.context.station.connectors)
        return [
            # How the phases are wired is the installer's to say ([charge_point] phase_rotation):
            # the station cannot measure it and acts on no value a CSMS would write, so
            # read-only.
            KeyDefinition("ConnectorPhaseRotation", KeyType.CSL,
                          connector_phase_rotation(connectors, PHASE_ROTATION_UNKNOWN),
                          readonly=True),
            KeyDefinition("ConnectorPhaseRotationMaxLength", KeyType.INT, connectors + 1,
                          readonly=True),
            # A cable lock opens when the transaction ends, never on the unplug alone.
            KeyDefinition("UnlockConnectorOnEVSideDisconnect", KeyType.BOOL, False,
                          readonly=True),
        ]

    def _status_changed(self, effect: StatusChanged) -> None:
        if self.context.registered:
            self.context.send(messages.status_notification(effect))

    def _send_statuses(self, connector_id: int | None) -> None:
        """The current status of ``connector_id`` (None: of every connector)."""
        for status in self.context.station.statuses():
            if connector_id is None or status.connector_id == connector_id:
                self.context.send(messages.status_notification(status))

    @on(Action.change_availability)
    def on_change_availability(self, connector_id: int, type: str,
                               **_: Any) -> call_result.ChangeAvailability:
        answer = self.context.station.change_availability(connector_id, type == "Operative")
        return call_result.ChangeAvailability(
            status=encode_availability_status(self.context.answer(answer)))

    @on(Action.unlock_connector)
    async def on_unlock_connector(self, connector_id: int,
                                  **_: Any) -> call_result.UnlockConnector:
        outcome = await self.unlocking.unlock(connector_id)
        if isinstance(outcome, UnlockStatus):
            return call_result.UnlockConnector(status=encode_unlock_status(outcome))
        return call_result.UnlockConnector(status=encode_unlock_outcome(outcome))
