"""Provisioning: registering with the CSMS, the heartbeat, Reset, the configuration keys
(GetConfiguration, ChangeConfiguration) and DataTransfer.

Registration and the heartbeat are the common ones
(:mod:`pievse.protocol.common.registration`), over the keys HeartbeatInterval.
A key that feeds a station setting passes a change on to the station.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from pievse import __version__
from pievse.protocol.common.notifications import Call
from pievse.protocol.common.registration import Registration
from pievse.protocol.v16.codec.answers import encode_reset_status
from pievse.protocol.v16.configuration import KeyDefinition, KeyType, csl
from pievse.protocol.v16.context import Context

__all__ = ["SUPPORTED_FEATURE_PROFILES", "ProvisioningBlock"]

SUPPORTED_FEATURE_PROFILES = ("Core", "FirmwareManagement", "LocalAuthListManagement",
                              "RemoteTrigger", "Reservation", "SmartCharging")

class ProvisioningBlock:
    def __init__(self, context: Context, *, vendor: str, model: str,
                 serial_number: str | None = None,
                 on_ping_interval: Callable[[int], None] | None = None,
                 on_csms_time: Callable[[float], None] | None = None) -> None:
        self.context = context
        self.log = context.log
        self.boot = call.BootNotification(
            charge_point_vendor=vendor,
            charge_point_model=model,
            charge_point_serial_number=serial_number or None,
            firmware_version=f"pievse {__version__}",
        )
        self._on_ping_interval = on_ping_interval
        configuration = context.configuration
        self.registration = Registration(
            context, boot=lambda: self.boot, heartbeat=call.Heartbeat,
            heartbeat_interval=lambda: configuration["HeartbeatInterval"],
            set_heartbeat_interval=lambda s: configuration.set_initial("HeartbeatInterval", s),
            on_csms_time=on_csms_time)
        configuration.on_change(self._configuration_changed)
        context.extended_triggers.register("BootNotification",
                                           self.registration.boot_triggered)
        context.extended_triggers.register(
            "Heartbeat", lambda connector_id: context.send(call.Heartbeat()))

    def keys(self) -> list[KeyDefinition]:
        """The Core profile's keys about the charge point and its link (OCPP 1.6 section 9.1)."""
        connectors = len(self.context.station.connectors)
        return [
            KeyDefinition("GetConfigurationMaxKeys", KeyType.INT, 50, readonly=True),
            KeyDefinition("HeartbeatInterval", KeyType.INT, 300, minimum=0, maximum=86400),
            KeyDefinition("NumberOfConnectors", KeyType.INT, connectors, readonly=True),
            # A Reset is the daemon starting itself afresh (exec, or systemd): there is no reset
            # that half fails and could be tried again, so no retries, and nothing to change.
            KeyDefinition("ResetRetries", KeyType.INT, 0, readonly=True),
            KeyDefinition("SupportedFeatureProfiles", KeyType.CSL,
                          csl(SUPPORTED_FEATURE_PROFILES), readonly=True),
            KeyDefinition("SupportedFeatureProfilesMaxLength", KeyType.INT, 6, readonly=True),
            KeyDefinition("WebSocketPingInterval", KeyType.INT, 60, minimum=0, maximum=3600),
        ]

    async def register(self, call_csms: Call) -> bool:
        """BootNotification until Accepted (see :mod:`pievse.protocol.common.registration`)."""
        return await self.registration.register(call_csms)

    # --- configuration -------------------------------------------------------------------------

    def _configuration_changed(self, name: str, value: Any) -> None:
        context = self.context
        if context.setting_changed(context.configuration.definition(name), value):
            return
        if name == "HeartbeatInterval":
            self.registration.heartbeat_changed()
        elif name == "WebSocketPingInterval" and self._on_ping_interval is not None:
            self._on_ping_interval(int(value))

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None,
                             **_: Any) -> call_result.GetConfiguration:
        known, unknown = self.context.configuration.get(key)
        return call_result.GetConfiguration(
            configuration_key=known or None, unknown_key=unknown or None
        )

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str,
                                **_: Any) -> call_result.ChangeConfiguration:
        configuration = self.context.configuration
        result, why = configuration.change(key, value)
        self.log.info("ChangeConfiguration %s = %s: %s (%s)", key, configuration.shown(key, value),
                      result.value, why)
        return call_result.ChangeConfiguration(status=result.value)

    @after(Action.change_configuration)
    def after_change_configuration(self, key: str, **_: Any) -> None:
        self.context.configuration.answered(key)

    # --- Reset, DataTransfer -------------------------------------------------------------------

    @on(Action.reset)
    def on_reset(self, type: str, **_: Any) -> call_result.Reset:
        self.log.warning("%s reset requested by the CSMS", type)
        answer = self.context.station.reset(hard=type == "Hard")
        return call_result.Reset(status=encode_reset_status(self.context.answer(answer)))

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status="UnknownVendorId")
