"""UnlockConnector, as every OCPP version carries it out: ask the station to release a
connector's cable lock, and wait for the lock's own report of where it ended up.

The station stops what runs on the connector first (1.6 asks for that; a 2.0.1 adapter refuses
an unlock during a transaction before it gets here), opens the contactor, then drives the lock;
its ``CableLockSettled`` effect says whether it opened. The wait allows the car its grace to stop
drawing plus the lock's travel.
"""

from __future__ import annotations

import asyncio

from pievse.core.answers import UnlockStatus
from pievse.core.effects import CableLockSettled
from pievse.protocol.common.adapter_context import AdapterContext

__all__ = ["UNLOCK_TRAVEL_MARGIN_S", "Unlocking"]

#: How long UnlockConnector waits for the lock beyond the stop of the session there (the car
#: is given ``stop_grace_s`` to stop drawing): the lock's travel, with room to spare.
UNLOCK_TRAVEL_MARGIN_S = 10.0


class Unlocking:
    def __init__(self, context: AdapterContext) -> None:
        self.context = context
        #: UnlockConnector calls waiting for the lock of a connector to settle.
        self._waiting: dict[int, list[asyncio.Future[bool]]] = {}
        context.on_effect(CableLockSettled, self._settled)

    def _settled(self, effect: CableLockSettled) -> None:
        # A lock still travelling to locked when the unlock came settles first: not the answer.
        if effect.locked and not effect.failed:
            return
        for waiting in self._waiting.pop(effect.connector_id, []):
            if not waiting.done():
                waiting.set_result(not effect.locked)

    async def unlock(self, connector_id: int) -> UnlockStatus | bool:
        """The station's answer when it cannot unlock (NOT_SUPPORTED, UNKNOWN_CONNECTOR), else
        whether the lock opened."""
        station = self.context.station
        waiting = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(connector_id, []).append(waiting)
        try:
            status = self.context.answer(station.unlock_connector(connector_id))
            if status is not UnlockStatus.UNLOCKING:
                return status
            try:
                return await asyncio.wait_for(
                    waiting, station.settings.stop_grace_s + UNLOCK_TRAVEL_MARGIN_S)
            except TimeoutError:
                return False
        finally:
            pending = self._waiting.get(connector_id, [])
            if waiting in pending:
                pending.remove(waiting)
