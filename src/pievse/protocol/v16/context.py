"""What the OCPP 1.6 functional blocks share, given to each of them by the adapter.

The common part (:class:`~pievse.protocol.common.adapter_context.AdapterContext`: the station
and its effects, the clock, the outbox, the redelivery queue, ordinary CALLs, the registered
state, the triggers, hooks and session tasks the blocks register, the services that are there)
plus what is 1.6's own: the configuration keys and the registry of ExtendedTriggerMessage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pievse.protocol.common.adapter_context import (
    AdapterContext,
    Dispatch,
    OnResponse,
    SessionTask,
    Trigger,
    Triggers,
)
from pievse.protocol.v16.configuration import Configuration

if TYPE_CHECKING:
    from pievse.core.station import Station

__all__ = ["Context", "Dispatch", "OnResponse", "SessionTask", "Trigger", "Triggers"]


class Context(AdapterContext):
    """The parts of a 1.6 charge point its functional blocks share."""

    def __init__(self, station: Station, dispatch: Dispatch, *,
                 configuration: Configuration, **common: Any) -> None:
        """``common``: what every version's context takes (see :class:`AdapterContext`)."""
        super().__init__(station, dispatch, **common)
        self.configuration = configuration
        self.extended_triggers = Triggers()
