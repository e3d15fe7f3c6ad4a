"""The OCPP 2.0.1 adapter: translates between the station core and a 2.0.1 CSMS.

It knows the wire and the CSMS and decides nothing about charging: what a transaction is, who
may charge and what a connector shows are decided by the core, as under 1.6. It is the
functional blocks of :mod:`pievse.protocol.v201.blocks` composed over one
:class:`~pievse.protocol.v201.context.Context`: one route map of every block's handlers (an
action routed by two blocks is refused), one device model assembled from the variables each
block declares, and the station's effects handed to the blocks that registered for them.

The session (registration, then the outbox, the redelivery queue, the ordinary messages and
the heartbeat) is the common one (:mod:`pievse.protocol.common.adapter_session`), spoken over
the subprotocol ``ocpp2.0.1`` with every frame checked against the 2.0.1 schemas both ways and
2.0.1's CALLERROR codes. Each configured connector is one EVSE (evseId = the connector's number)
with one connector (connectorId 1).
"""

from __future__ import annotations

import logging

from pievse.aio import SystemClock
from pievse.core.station import Station
from pievse.protocol.common.adapter_session import AdapterSession, BlockAdapter
from pievse.protocol.common.charge_point_parts import ChargePointParts
from pievse.protocol.common.notifications import RedeliveryQueue
from pievse.protocol.common.outbox import Outbox
from pievse.protocol.common.rpc import route_map
from pievse.protocol.common.security_events import SecurityEvent, SecurityEvents
from pievse.protocol.common.transport_security import TransportSecurity
from pievse.protocol.v201.blocks import Block
from pievse.protocol.v201.blocks.authorization import AuthorizationBlock
from pievse.protocol.v201.blocks.availability import AvailabilityBlock
from pievse.protocol.v201.blocks.certificates import CertificatesBlock
from pievse.protocol.v201.blocks.customer_information import CustomerInformationBlock
from pievse.protocol.v201.blocks.diagnostics import DiagnosticsBlock
from pievse.protocol.v201.blocks.fault_events import FaultEventsBlock
from pievse.protocol.v201.blocks.firmware import FirmwareBlock
from pievse.protocol.v201.blocks.iso15118 import ISO15118Block
from pievse.protocol.v201.blocks.local_list import LocalListBlock
from pievse.protocol.v201.blocks.network_profiles import NetworkProfilesBlock
from pievse.protocol.v201.blocks.provisioning import ProvisioningBlock
from pievse.protocol.v201.blocks.remote_control import RemoteControlBlock
from pievse.protocol.v201.blocks.reservation import ReservationBlock
from pievse.protocol.v201.blocks.security import SecurityBlock
from pievse.protocol.v201.blocks.smart_charging import SmartChargingBlock
from pievse.protocol.v201.blocks.transactions import TransactionsBlock
from pievse.protocol.v201.codec.words import security_event_notification
from pievse.protocol.v201.context import Context, Dispatch
from pievse.protocol.v201.device_model import DeviceModel

__all__ = ["MAX_MESSAGE_SIZE", "ChargePoint201"]

log = logging.getLogger("pievse.ocpp")

#: The largest message a 2.0.1 CSMS may need to send here (SetVariables at its BytesPerMessage).
MAX_MESSAGE_SIZE = 2**16


class ChargePoint201(BlockAdapter):
    """One charging station on OCPP 2.0.1. ``run_session`` is given to the websocket link.

    ``parts`` (:class:`ChargePointParts`) names it and gives it its services, as under 1.6; its
    security events go to the security log of ``parts.logs`` too. ``boot_reason`` is the
    BootNotification's reason (PowerUp, RemoteReset ...); ``phases`` and ``max_power_w`` describe
    its EVSEs.
    """

    version = "2.0.1"
    #: The websocket subprotocol this adapter speaks.
    subprotocol = "ocpp2.0.1"
    max_message_size = MAX_MESSAGE_SIZE

    def __init__(
        self,
        station: Station,
        dispatch: Dispatch,
        parts: ChargePointParts,
        *,
        boot_reason: str = "PowerUp",
        phases: int = 3,
        max_power_w: float | None = None,
    ) -> None:
        self.station = station
        self.clock = parts.clock or SystemClock()
        self.certificates = parts.certificates
        self.security_state = parts.security_state
        self.device_model = DeviceModel()
        self.outbox = parts.outbox if parts.outbox is not None else Outbox(clock=self.clock)
        notifications = RedeliveryQueue(self.clock, logger=log)
        logs = parts.logs
        #: Security events: to the security log and, through the redelivery queue, the CSMS.
        self.security_events = SecurityEvents(
            notifications, self.clock, security_event_notification,
            logs.security_log if logs is not None else None)
        self.context = Context(
            station, dispatch, device_model=self.device_model, clock=self.clock,
            outbox=self.outbox, notifications=notifications, log=log, firmware=parts.firmware,
            diagnostics=parts.diagnostics, logs=logs, certificates=parts.certificates,
            security_state=parts.security_state, security_events=self.security_events)
        context = self.context
        if parts.firmware is not None and parts.firmware.restarted_by_update():
            boot_reason = "FirmwareUpdate"
        #: The hooks a board with an ISO 15118 stack calls (Plug & Charge's OCPP side).
        self.iso15118 = ISO15118Block(context, identity=parts.charge_point_id)
        self._provisioning = ProvisioningBlock(
            context, vendor=parts.vendor, model=parts.model, serial_number=parts.serial_number,
            boot_reason=boot_reason, message_timeout=parts.timeout_in_force,
            on_ping_interval=parts.on_ping_interval, on_csms_time=parts.on_csms_time)
        self.blocks: list[Block] = [
            self._provisioning, AvailabilityBlock(context, phases=phases,
                                                  max_power_w=max_power_w),
            AuthorizationBlock(context), TransactionsBlock(context), RemoteControlBlock(context),
            LocalListBlock(context, bytes_per_message=MAX_MESSAGE_SIZE), ReservationBlock(context),
            SmartChargingBlock(context), FaultEventsBlock(context),
            FirmwareBlock(context),
            DiagnosticsBlock(context),
            CustomerInformationBlock(context, history=parts.history),
            SecurityBlock(context, identity=parts.charge_point_id,
                          organization_name=parts.organization_name,
                          on_security_change=parts.on_security_change),
            CertificatesBlock(context, identity=parts.charge_point_id, key_type=parts.key_type,
                              on_security_change=parts.on_security_change),
            NetworkProfilesBlock(context, profiles=parts.network_profiles),
            self.iso15118,
        ]
        self.device_model.declare(self.blocks)
        self.routes = route_map(*self.blocks)
        self.sessions = AdapterSession(
            context, self.routes, version=self.version, register=self._provisioning.register,
            response_timeout=parts.timeout_in_force, log=log,
            on_connection_change=parts.on_connection_change)

    @property
    def configuration(self) -> DeviceModel:
        """The device model, as the daemon sees configuration keys (by their stored names)."""
        return self.device_model

    # --- security ------------------------------------------------------------------------------

    def report_security_event(self, event: SecurityEvent | str,
                              tech_info: str | None = None) -> None:
        """Log a security event and tell the CSMS (SecurityEventNotification, A04)."""
        self.security_events.report(event, tech_info)

    def transport_security(self) -> TransportSecurity:
        """The settings of the next connection: the security state and certificates in force."""
        if self.security_state is None or self.certificates is None:
            raise RuntimeError("this charging station runs without a security state")
        return TransportSecurity.current(self.security_state, self.certificates)
