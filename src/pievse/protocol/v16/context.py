"""What the OCPP 1.6 functional blocks share, given to each of them by the adapter.

The common part (:class:`~pievse.protocol.common.adapter_context.AdapterContext`: the station
and its effects, the clock, the outbox, the redelivery queue, ordinary CALLs, the registered
state, the triggers, hooks and session tasks the blocks register) plus what is 1.6's own: the
configuration keys, the registry of ExtendedTriggerMessage, and the services that are there
(firmware updater, diagnostics and log uploaders, certificate store, security state, security
events), None where they are not.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pievse.aio import AsyncClock
from pievse.protocol.common.adapter_context import (
    AdapterContext,
    Dispatch,
    OnResponse,
    SessionTask,
    Trigger,
    Triggers,
)
from pievse.protocol.common.notifications import RedeliveryQueue
from pievse.protocol.common.outbox import Outbox
from pievse.protocol.v16.configuration import Configuration

if TYPE_CHECKING:
    from pievse.core.station import Station
    from pievse.protocol.common.transport_security import SecurityState
    from pievse.protocol.common.security_events import SecurityEvents
    from pievse.services.certificates import CertificateStore
    from pievse.services.diagnostics import DiagnosticsUploader
    from pievse.services.firmware import FirmwareUpdater
    from pievse.services.log_upload import LogUploader

__all__ = ["Context", "Dispatch", "OnResponse", "SessionTask", "Trigger", "Triggers"]


class Context(AdapterContext):
    """The parts of a 1.6 charge point its functional blocks share."""

    def __init__(
        self,
        station: Station,
        dispatch: Dispatch,
        *,
        configuration: Configuration,
        clock: AsyncClock,
        outbox: Outbox,
        notifications: RedeliveryQueue,
        log: logging.Logger,
        firmware: FirmwareUpdater | None = None,
        diagnostics: DiagnosticsUploader | None = None,
        logs: LogUploader | None = None,
        certificates: CertificateStore | None = None,
        security_state: SecurityState | None = None,
        security_events: SecurityEvents | None = None,
    ) -> None:
        super().__init__(station, dispatch, clock=clock, outbox=outbox,
                         notifications=notifications, log=log)
        self.configuration = configuration
        self.extended_triggers = Triggers()
        self.firmware = firmware
        self.diagnostics = diagnostics
        self.logs = logs
        self.certificates = certificates
        self.security_state = security_state
        self.security_events = security_events
