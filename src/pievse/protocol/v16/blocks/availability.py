"""Availability: StatusNotification, ChangeAvailability and UnlockConnector, and the keys about
how the connectors are built.

A status change is worth sending only while the CSMS is there: after a reconnection the current
status of every connector is sent instead of a stale history.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from pievse.core.answers import UnlockStatus
from pievse.core.effects import CableLockSettled, StatusChanged
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

#: How long UnlockConnector waits for the lock beyond the stop of the session there (the car
#: is given ``stop_grace_s`` to stop drawing): the lock's travel, with room to spare.
UNLOCK_TRAVEL_MARGIN_S = 10.0


def connector_phase_rotation(number_of_connectors: int, rotation: str) -> str:
    """ConnectorPhaseRotation's value: the same rotation for the grid connection (connector 0)
    and every connector, e.g. "0.RST,1.RST"."""
    return csl(f"{n}.{rotation}" for n in range(number_of_connectors + 1))


class AvailabilityBlock:
    def __init__(self, context: Context) -> None:
        self.context = context
        #: UnlockConnector calls waiting for the lock of a connector to settle.
        self._unlocking: dict[int, list[asyncio.Future[bool]]] = {}
        context.on_effect(StatusChanged, self._status_changed)
        context.on_effect(CableLockSettled, self._lock_settled)
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

    def _lock_settled(self, effect: CableLockSettled) -> None:
        # A lock still travelling to locked when the unlock came settles first: not the answer.
        if effect.locked and not effect.failed:
            return
        for waiting in self._unlocking.pop(effect.connector_id, []):
            if not waiting.done():
                waiting.set_result(not effect.locked)

    @on(Action.unlock_connector)
    async def on_unlock_connector(self, connector_id: int,
                                  **_: Any) -> call_result.UnlockConnector:
        station = self.context.station
        waiting = asyncio.get_running_loop().create_future()
        self._unlocking.setdefault(connector_id, []).append(waiting)
        try:
            status = self.context.answer(station.unlock_connector(connector_id))
            if status is not UnlockStatus.UNLOCKING:
                return call_result.UnlockConnector(status=encode_unlock_status(status))
            try:
                unlocked = await asyncio.wait_for(
                    waiting, station.settings.stop_grace_s + UNLOCK_TRAVEL_MARGIN_S)
            except TimeoutError:
                unlocked = False
            return call_result.UnlockConnector(status=encode_unlock_outcome(unlocked))
        finally:
            pending = self._unlocking.get(connector_id, [])
            if waiting in pending:
                pending.remove(waiting)
