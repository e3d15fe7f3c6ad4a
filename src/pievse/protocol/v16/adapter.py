"""The OCPP 1.6J adapter: translates between the station core and a 1.6 CSMS.

It knows the wire and the CSMS, and decides nothing about charging. It is the functional blocks
of :mod:`pievse.protocol.v16.blocks` composed over one
:class:`~pievse.protocol.v16.context.Context`: one route map of every block's handlers (an action
routed by two blocks is refused), one set of configuration keys assembled from what each block
declares, and the station's effects handed to the blocks that registered for them.

The session itself is the common one (:mod:`pievse.protocol.common.adapter_session`), as are
registration and the heartbeat (:mod:`pievse.protocol.common.registration`) and the delivery of
the outbox (:mod:`pievse.protocol.common.outbox_delivery`). Per connection it registers the
charge point (the provisioning block's BootNotification), runs
the hooks the blocks registered for that moment (the current status of every connector, how a
firmware update went), and for as long as the session lasts drains three queues:

* the outbox (StartTransaction, StopTransaction, transaction MeterValues): in order, each until the
  CSMS has answered it, kept across connection losses (the transactions block);
* the redelivery queue (:mod:`pievse.protocol.common.notifications`): the notifications the CSMS
  must hear even if the link drops (firmware, diagnostics and log statuses, security events),
  kept while offline and retried at a set pace;
* everything else (StatusNotification, Authorize, MeterValues outside a transaction, Heartbeat),
  which is only worth sending while connected.

Every interval (heartbeat, retries, response timeouts) is measured on the injected clock.

Inbound handlers answer at once (the RPC layer reads nothing while a handler runs); follow-up
messages, such as the one a TriggerMessage asks for, are queued and sent afterwards.

Given a certificate store and a security state, the charge point speaks the security extension
("Improved security for OCPP 1.6-J": the security block, SignedUpdateFirmware, GetLog,
ExtendedTriggerMessage and the security events); without them it speaks plain OCPP 1.6J.
"""

from __future__ import annotations

import logging

from ocpp.v16.enums import Action

from pievse.aio import SystemClock
from pievse.core.station import Station
from pievse.protocol.common.notifications import RedeliveryQueue
from pievse.protocol.common.outbox import Outbox
from pievse.protocol.common.adapter_session import AdapterSession, BlockAdapter
from pievse.protocol.common.charge_point_parts import ChargePointParts
from pievse.protocol.common.rpc import route_map
from pievse.protocol.common.transport_security import TransportSecurity
from pievse.protocol.v16.blocks import Block
from pievse.protocol.v16.blocks.authorization import AuthorizationBlock
from pievse.protocol.v16.blocks.availability import AvailabilityBlock
from pievse.protocol.v16.blocks.diagnostics import DiagnosticsBlock
from pievse.protocol.v16.blocks.firmware import FirmwareBlock
from pievse.protocol.v16.blocks.local_list import LocalListBlock
from pievse.protocol.v16.blocks.meter_values import MeterValuesBlock
from pievse.protocol.v16.blocks.provisioning import ProvisioningBlock
from pievse.protocol.v16.blocks.remote_control import RemoteControlBlock
from pievse.protocol.v16.blocks.reservation import ReservationBlock
from pievse.protocol.v16.blocks.security import SecurityBlock
from pievse.protocol.v16.blocks.smart_charging import SmartChargingBlock
from pievse.protocol.v16.blocks.transactions import TransactionsBlock
from pievse.protocol.v16.codec.authorization import send_local_list_frame_size
from pievse.protocol.v16.configuration import Configuration
from pievse.protocol.v16.context import Context, Dispatch
from pievse.protocol.common.security_events import SecurityEvent, SecurityEvents
from pievse.protocol.v16.security_events import security_event_notification
from pievse.services.certificates import KeyType

__all__ = ["SECURITY_EXTENSION", "ChargePoint16"]

log = logging.getLogger("pievse.ocpp")

#: The CSMS's commands of the white paper "Improved security for OCPP 1.6-J": offered only by a
#: charge point given the security services.
SECURITY_EXTENSION = frozenset({
    Action.extended_trigger_message, Action.certificate_signed, Action.install_certificate,
    Action.get_installed_certificate_ids, Action.delete_certificate,
    Action.signed_update_firmware, Action.get_log,
})


class ChargePoint16(BlockAdapter):
    """One charge point on OCPP 1.6J. ``run_session`` is given to the websocket link.

    ``parts`` (:class:`ChargePointParts`) names it and gives it its services: ``firmware``,
    ``diagnostics`` and ``logs`` are behind UpdateFirmware and SignedUpdateFirmware,
    GetDiagnostics, and GetLog (without them these are refused); ``certificates`` and
    ``security_state`` turn the security extension on, whose certificate signing requests carry
    the ``charge_point_id`` and ``organization_name`` (CpoName) and a key of ``key_type``.
    """

    version = "1.6"
    #: The websocket subprotocol this adapter speaks.
    subprotocol = "ocpp1.6"

    def __init__(self, station: Station, dispatch: Dispatch, parts: ChargePointParts) -> None:
        certificates, security_state = parts.certificates, parts.security_state
        if (certificates is None) != (security_state is None):
            raise TypeError("the security extension needs both certificates and security_state")
        self.station = station
        #: The largest message a 1.6 CSMS may need to send: a SendLocalList as long as the
        #: station advertises (SendLocalListMaxLength).
        self.max_message_size = send_local_list_frame_size(
            station.access.authorization.send_list_max_length)
        #: What the heartbeat, the retries and the response timeouts are measured on.
        self.clock = parts.clock or SystemClock()
        self.charge_point_id = parts.charge_point_id
        self.certificates = certificates
        self.security_state = security_state
        self.configuration = Configuration()
        self.outbox = parts.outbox if parts.outbox is not None else Outbox(clock=self.clock)
        notifications = RedeliveryQueue(self.clock, logger=log)
        secured = certificates is not None
        logs = parts.logs
        security_events = (SecurityEvents(notifications, self.clock, security_event_notification,
                                          logs.security_log if logs is not None else None)
                           if secured else None)
        self.context = Context(
            station, dispatch, configuration=self.configuration, clock=self.clock,
            outbox=self.outbox, notifications=notifications, log=log, firmware=parts.firmware,
            diagnostics=parts.diagnostics, logs=logs, certificates=certificates,
            security_state=security_state, security_events=security_events)

        context = self.context
        self._provisioning = ProvisioningBlock(
            context, vendor=parts.vendor, model=parts.model, serial_number=parts.serial_number,
            on_ping_interval=parts.on_ping_interval, on_csms_time=parts.on_csms_time)
        self._security = (SecurityBlock(context, charge_point_id=parts.charge_point_id,
                                        cpo_name=parts.organization_name,
                                        key_type=parts.key_type or KeyType.EC_P256,
                                        on_security_change=parts.on_security_change)
                          if secured else None)
        self.blocks: list[Block] = [
            self._provisioning, AuthorizationBlock(context), TransactionsBlock(context),
            MeterValuesBlock(context), RemoteControlBlock(context), AvailabilityBlock(context),
            SmartChargingBlock(context), FirmwareBlock(context), DiagnosticsBlock(context),
            LocalListBlock(context), ReservationBlock(context),
            *([self._security] if self._security is not None else []),
        ]
        for block in self.blocks:
            self.configuration.declare(block.keys())
        self.routes = {action: route for action, route in route_map(*self.blocks).items()
                       if secured or action not in SECURITY_EXTENSION}
        self.sessions = AdapterSession(
            context, self.routes, version=self.version, register=self._provisioning.register,
            response_timeout=parts.timeout_in_force, log=log,
            on_connection_change=parts.on_connection_change)

    # --- the security extension ----------------------------------------------------------------

    def report_security_event(self, event: SecurityEvent | str,
                              tech_info: str | None = None) -> None:
        """Log a security event and tell the CSMS (with the security extension only)."""
        if self.context.security_events is not None:
            self.context.security_events.report(event, tech_info)

    def transport_security(self) -> TransportSecurity:
        """The settings of the next connection (see the security block)."""
        if self._security is None:
            raise RuntimeError("this charge point runs without the security extension")
        return self._security.transport_security()
