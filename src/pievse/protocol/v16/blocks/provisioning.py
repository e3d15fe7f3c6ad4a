"""Provisioning: registering with the CSMS, the heartbeat, Reset, the configuration keys
(GetConfiguration, ChangeConfiguration) and DataTransfer.

Registration sends BootNotification until the CSMS accepts it; Pending and Rejected wait the
interval the CSMS gives (a TriggerMessage(BootNotification) cuts the wait short). A reconnect is
not a reboot: once the CSMS has accepted a BootNotification from this process, a new connection
goes straight to the current statuses and the queued messages (CSMSs such as Home Assistant's
report each BootNotification as a reboot). A BootNotification is sent again when the CSMS asks
for one, and on the next connection when it answered one with Pending or Rejected. The heartbeat
goes every HeartbeatInterval seconds of silence: any message the CSMS answered stands for one.
A key that feeds a station setting passes a change on to the station.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from pievse import __version__
from pievse.protocol.common.datetimes import parse_datetime
from pievse.protocol.common.notifications import Call
from pievse.protocol.common.rpc import (
    CallErrorReceived,
    ConnectionLost,
    InvalidResponse,
    ResponseTimeout,
)
from pievse.protocol.v16.codec.answers import encode_reset_status
from pievse.protocol.v16.configuration import KeyDefinition, KeyType, csl
from pievse.protocol.v16.context import Context

__all__ = ["SUPPORTED_FEATURE_PROFILES", "ProvisioningBlock"]

SUPPORTED_FEATURE_PROFILES = ("Core", "FirmwareManagement", "LocalAuthListManagement",
                              "RemoteTrigger", "Reservation", "SmartCharging")

#: How long a BootNotification that failed (error, no answer) waits before the next.
BOOT_RETRY_S = 30
#: How long Pending or Rejected wait when the CSMS gives no interval.
BOOT_INTERVAL_S = 60


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
        self._on_csms_time = on_csms_time
        #: The CSMS accepted this process's BootNotification (and no later one was refused).
        self._accepted = False
        self._boot_now = asyncio.Event()
        self._heartbeat_changed = asyncio.Event()
        context.configuration.on_change(self._configuration_changed)
        context.while_registered("ocpp-heartbeat", self._heartbeat)
        for triggers in (context.triggers, context.extended_triggers):
            triggers.register("BootNotification", self._boot_triggered)
            triggers.register("Heartbeat", lambda connector_id: context.send(call.Heartbeat()))

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

    # --- registration --------------------------------------------------------------------------

    async def register(self, call_csms: Call) -> bool:
        """BootNotification until Accepted (True); False if the connection closed first.
        Registered at once when the CSMS has accepted this process already."""
        if self._accepted:
            self.log.info("reconnected to the CSMS (registered since this start: no "
                          "BootNotification)")
            return True
        while True:
            try:
                response = await call_csms(self.boot)
            except (CallErrorReceived, ResponseTimeout, InvalidResponse) as error:
                self.log.warning("BootNotification failed (%s); retrying in %s s", error,
                                 BOOT_RETRY_S)
                await self._wait_boot_retry(BOOT_RETRY_S)
                continue
            except ConnectionLost:
                return False
            if self._answered(response):
                return True
            interval = int(response.interval)
            retry = interval if interval > 0 else BOOT_INTERVAL_S
            self.log.warning(
                "BootNotification %s by the CSMS; trying again in %s s", response.status, retry
            )
            await self._wait_boot_retry(retry)

    def _answered(self, response: Any) -> bool:
        """Take in the CSMS's answer to a BootNotification; True when it is Accepted."""
        if self._on_csms_time is not None:
            try:
                csms_time = parse_datetime(response.current_time)
            except (ValueError, OverflowError) as error:
                self.log.warning("BootNotification: the CSMS's currentTime is unusable (%s)",
                                 error)
            else:
                self._on_csms_time(csms_time)
        self._accepted = response.status == "Accepted"
        if self._accepted:
            interval = int(response.interval)
            if interval > 0:
                self.context.configuration.set_initial("HeartbeatInterval", interval)
            self.log.info("registered with the CSMS (heartbeat every %s s)", interval)
        return self._accepted

    def _triggered_boot_answered(self, response: Any) -> None:
        # No answer (the link dropped) leaves things as they were.
        if response is not None and not self._answered(response):
            self.log.warning("BootNotification %s by the CSMS; it is sent again on the next "
                             "connection", response.status)

    async def _wait_boot_retry(self, seconds: float) -> None:
        self._boot_now.clear()
        await self.context.clock.wait(self._boot_now, seconds)

    def _boot_triggered(self, connector_id: int | None) -> None:
        self._boot_now.set()
        if self.context.registered:
            self.context.send(self.boot, self._triggered_boot_answered)

    async def _heartbeat(self, _: Call) -> None:
        context = self.context
        while True:
            interval = int(context.configuration["HeartbeatInterval"])
            if interval <= 0:
                self._heartbeat_changed.clear()
                await self._heartbeat_changed.wait()
                continue
            idle = context.clock.monotonic() - context.last_sent
            if idle < interval:
                self._heartbeat_changed.clear()
                await context.clock.wait(self._heartbeat_changed, interval - idle)
                continue
            context.last_sent = context.clock.monotonic()
            context.send(call.Heartbeat())

    # --- configuration -------------------------------------------------------------------------

    def _configuration_changed(self, name: str, value: Any) -> None:
        context = self.context
        definition = context.configuration.definition(name)
        if definition.setting is not None:
            converted = definition.to_setting(value) if definition.to_setting else value
            context.dispatch(context.station.update_settings(**{definition.setting: converted}))
        elif name == "HeartbeatInterval":
            self._heartbeat_changed.set()
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
