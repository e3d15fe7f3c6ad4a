"""What the OCPP 2.0.1 functional blocks share, given to each of them by the adapter.

The common part (:class:`~pievse.protocol.common.adapter_context.AdapterContext`: the station
and its effects, the clock, the outbox, the redelivery queue, ordinary CALLs and the replies the
CSMS asked for, the registered state, the triggers, hooks and session tasks the blocks register,
the services that are there) plus what is 2.0.1's own: the device model.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from pievse.protocol.common.adapter_context import AdapterContext, Dispatch
from pievse.protocol.v201.device_model import DeviceModel

if TYPE_CHECKING:
    from pievse.core.station import Station

__all__ = ["Context", "Dispatch"]


class Context(AdapterContext):
    """The parts of a 2.0.1 charging station its functional blocks share."""

    def __init__(self, station: Station, dispatch: Dispatch, *, device_model: DeviceModel,
                 **common: Any) -> None:
        """``common``: what every version's context takes (see :class:`AdapterContext`)."""
        super().__init__(station, dispatch, **common)
        self.device_model = device_model
        # NotifyEvent's eventIds, one counter for every block that sends events: unique across
        # restarts as long as the clock moves on (an id per millisecond of start-up time is
        # more than a station makes events).
        self._event_ids = itertools.count(int(self.clock.now() * 1000) % 2**31)

    def next_event_id(self) -> int:
        return next(self._event_ids)

    def evse_ids(self) -> list[int]:
        """Each configured connector is one EVSE with one connector (connectorId 1)."""
        return sorted(self.station.connectors)
