"""B Provisioning: BootNotification, Heartbeat, the device model (GetVariables, SetVariables,
GetBaseReport and GetReport and the NotifyReports they ask for), Reset and DataTransfer, and the
variables of the communication controller, the device-data controller and the clock.

Registration and the heartbeat are the common ones (:mod:`pievse.protocol.common.registration`).
While the CSMS has not accepted the charging station (Pending, Rejected) it sends nothing of
its own; what the CSMS asks for (a report, a triggered BootNotification) goes out as replies.
A variable that feeds a station setting passes a change on to the station.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ocpp.routing import after, on
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from pievse import __version__
from pievse.core.answers import ResetStatus
from pievse.core.effects import TransactionStopped
from pievse.protocol.common.datetimes import format_datetime
from pievse.protocol.common.payloads import snake_to_camel_case
from pievse.protocol.common.notifications import Call
from pievse.protocol.common.registration import Registration
from pievse.protocol.v201.codec.words import encode_evse_reset_status, encode_reset_status
from pievse.protocol.v201.context import Context
from pievse.protocol.v201.device_model import DataType, Mutability, SetResult, Variable

__all__ = ["BOOT_REASONS", "ProvisioningBlock"]

#: BootReasonEnumType.
BOOT_REASONS = ("ApplicationReset", "FirmwareUpdate", "LocalReset", "PowerUp", "RemoteReset",
                "ScheduledReset", "Triggered", "Unknown", "Watchdog")

RO = Mutability.READ_ONLY
INTEGER, STRING, BOOLEAN = DataType.INTEGER, DataType.STRING, DataType.BOOLEAN

#: How many items of a GetVariables or SetVariables, and of each NotifyReport, at most.
ITEMS_PER_MESSAGE = {"GetReport": 50, "GetVariables": 50, "SetVariables": 50}
#: The largest message of each (characters of the whole frame).
BYTES_PER_MESSAGE = {"GetReport": 16_000, "GetVariables": 65_000, "SetVariables": 65_000}

#: What GetBaseReport(SummaryInventory) reports: the availability of each component.
SUMMARY_VARIABLES = frozenset({"AvailabilityState", "Available"})


class ProvisioningBlock:
    def __init__(self, context: Context, *, vendor: str, model: str,
                 serial_number: str | None = None, boot_reason: str = "PowerUp",
                 message_timeout: Callable[[], float] = lambda: 30.0,
                 on_ping_interval: Callable[[int], None] | None = None,
                 on_csms_time: Callable[[float], None] | None = None) -> None:
        self.context = context
        self.log = context.log
        station = {"model": model, "vendorName": vendor,
                   "firmwareVersion": f"pievse {__version__}"}
        if serial_number:
            station["serialNumber"] = serial_number
        self.boot_reason = boot_reason
        self._station = station
        self._message_timeout = message_timeout
        self._on_ping_interval = on_ping_interval
        model_ = context.device_model
        self.registration = Registration(
            context, boot=self._boot, heartbeat=call.Heartbeat,
            heartbeat_interval=lambda: model_["HeartbeatInterval"],
            set_heartbeat_interval=lambda s: model_.set_initial("HeartbeatInterval", s),
            on_csms_time=on_csms_time)
        model_.on_change(self._variable_changed)
        #: An OnIdle reset waiting for the last transaction to end.
        self._reset_when_idle = False
        context.on_effect(TransactionStopped, lambda _: self._transaction_ended())

    def _message_timeout_in_force(self) -> int:
        return max(1, round(self._message_timeout()))

    def _boot(self) -> Any:
        return call.BootNotification(charging_station=self._station, reason=self.boot_reason)

    def variables(self) -> list[Variable]:
        comm, data = "OCPPCommCtrlr", "DeviceDataCtrlr"
        return [
            Variable(comm, "HeartbeatInterval", INTEGER, 300, unit="s", minimum=0,
                     maximum=86400, key="HeartbeatInterval"),
            Variable(comm, "WebSocketPingInterval", INTEGER, 60, unit="s", minimum=0,
                     maximum=3600, key="WebSocketPingInterval"),
            Variable(comm, "MessageTimeout", INTEGER, 30, RO, instance="Default", unit="s",
                     persistent=False, read=ProvisioningBlock._message_timeout_in_force),
            Variable(comm, "MessageAttempts", INTEGER, 3, instance="TransactionEvent",
                     minimum=1, maximum=100, key="TransactionMessageAttempts"),
            Variable(comm, "MessageAttemptInterval", INTEGER, 30, instance="TransactionEvent",
                     unit="s", minimum=1, maximum=86400,
                     key="TransactionMessageRetryInterval"),
            Variable(comm, "FileTransferProtocols", DataType.MEMBER_LIST, "HTTP,HTTPS,FTP", RO),
            # Every reconnection sends the status of every connector, which any threshold
            # allows: the CSMS may set one, it changes nothing.
            Variable(comm, "OfflineThreshold", INTEGER, 300, unit="s", minimum=0,
                     maximum=86400),
            # A Reset is the daemon starting afresh: nothing that half fails to try again.
            Variable(comm, "ResetRetries", INTEGER, 0, RO, key="ResetRetries"),
            # The link's backoff: full jitter between 0 and a ceiling doubling from 1 s to 60 s.
            Variable(comm, "RetryBackOffWaitMinimum", INTEGER, 1, RO, unit="s"),
            Variable(comm, "RetryBackOffRandomRange", INTEGER, 60, RO, unit="s"),
            Variable(comm, "RetryBackOffRepeatTimes", INTEGER, 6, RO),
            # A cable lock opens when the transaction ends, never on the unplug alone.
            Variable(comm, "UnlockOnEVSideDisconnect", BOOLEAN, False, RO),
            *(Variable(data, "ItemsPerMessage", INTEGER, n, RO, instance=what)
              for what, n in ITEMS_PER_MESSAGE.items()),
            *(Variable(data, "BytesPerMessage", INTEGER, n, RO, instance=what)
              for what, n in BYTES_PER_MESSAGE.items()),
            Variable("ClockCtrlr", "DateTime", DataType.DATE_TIME, "", RO, persistent=False,
                     read=ProvisioningBlock.date_time),
            Variable("ClockCtrlr", "TimeSource", DataType.SEQUENCE_LIST, "NTP,Heartbeat", RO),
        ]

    def date_time(self) -> str:
        return format_datetime(self.context.clock.now())

    async def register(self, call_csms: Call) -> bool:
        """BootNotification until Accepted (see :mod:`pievse.protocol.common.registration`)."""
        return await self.registration.register(call_csms)

    # --- the device model ----------------------------------------------------------------------

    def _variable_changed(self, name: str, value: Any) -> None:
        context = self.context
        if context.setting_changed(context.device_model.definition(name), value):
            return
        if name == "HeartbeatInterval":
            self.registration.heartbeat_changed()
        elif name == "WebSocketPingInterval" and self._on_ping_interval is not None:
            self._on_ping_interval(int(value))

    def _items_allowed(self, what: str) -> int:
        """How many items of a GetVariables or SetVariables are answered; the rest are
        Rejected (B06.FR.05)."""
        return int(self.context.device_model[f"DeviceDataCtrlr.ItemsPerMessage.{what}"])

    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data: list[dict[str, Any]],
                         **_: Any) -> call_result.GetVariables:
        allowed = self._items_allowed("GetVariables")
        results = []
        for n, item in enumerate(get_variable_data):
            status, value = self.context.device_model.get(
                item["component"], item["variable"], item.get("attribute_type")
            ) if n < allowed else ("Rejected", None)
            result = {"attributeStatus": status,
                      "attributeType": item.get("attribute_type", "Actual"),
                      "component": snake_to_camel_case(item["component"]),
                      "variable": snake_to_camel_case(item["variable"])}
            if value is not None:
                result["attributeValue"] = value
            results.append(result)
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data: list[dict[str, Any]],
                         **_: Any) -> call_result.SetVariables:
        allowed = self._items_allowed("SetVariables")
        results = []
        for n, item in enumerate(set_variable_data):
            status, why = self.context.device_model.set(
                item["component"], item["variable"], item.get("attribute_type"),
                item["attribute_value"]) if n < allowed else (
                SetResult.REJECTED, f"past ItemsPerMessageSetVariables ({allowed})")
            self.log.info("SetVariables %s.%s = %s: %s (%s)", item["component"]["name"],
                          item["variable"]["name"], self.context.device_model.shown(
                              item["component"], item["variable"], item["attribute_value"]),
                          status.value, why)
            results.append({"attributeStatus": status.value,
                            "attributeType": item.get("attribute_type", "Actual"),
                            "component": snake_to_camel_case(item["component"]),
                            "variable": snake_to_camel_case(item["variable"])})
        return call_result.SetVariables(set_variable_result=results)

    @after(Action.set_variables)
    def after_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> None:
        for item in set_variable_data:
            self.context.device_model.answered(item["component"], item["variable"])

    # --- reports ---------------------------------------------------------------------------------

    def _base_report(self, report_base: str) -> list[dict[str, Any]]:
        model = self.context.device_model
        if report_base == "ConfigurationInventory":
            chosen = [v for v in model if v.mutability is not Mutability.READ_ONLY]
        elif report_base == "SummaryInventory":
            chosen = [v for v in model if v.name in SUMMARY_VARIABLES]
        else:
            chosen = list(model)
        return [model.report_data(v) for v in chosen]

    @on(Action.get_base_report)
    def on_get_base_report(self, request_id: int, report_base: str,
                           **_: Any) -> call_result.GetBaseReport:
        status = "Accepted" if self._base_report(report_base) else "EmptyResultSet"
        return call_result.GetBaseReport(status=status)

    @after(Action.get_base_report)
    def after_get_base_report(self, request_id: int, report_base: str, **_: Any) -> None:
        for report in self.notify_reports(request_id, self._base_report(report_base)):
            self.context.reply(report)

    def _report(self, component_variable: list[dict[str, Any]] | None,
                component_criteria: list[str] | None) -> list[dict[str, Any]]:
        """GetReport: the variables of the components named (and of the variables named, where
        one is), of the components whose variables of the criteria (Active, Available, Enabled,
        Problem) are true."""
        model = self.context.device_model
        chosen = list(model)
        if component_variable:
            chosen = [v for v in chosen if any(_names(v, wanted) for wanted in component_variable)]
        if component_criteria:
            meeting = {v.address()[:4] for v in model
                       if v.name in component_criteria and model.value(v) is True}
            chosen = [v for v in chosen if v.address()[:4] in meeting]
        return [model.report_data(v) for v in chosen]

    @on(Action.get_report)
    def on_get_report(self, request_id: int,
                      component_variable: list[dict[str, Any]] | None = None,
                      component_criteria: list[str] | None = None,
                      **_: Any) -> call_result.GetReport:
        found = self._report(component_variable, component_criteria)
        return call_result.GetReport(status="Accepted" if found else "EmptyResultSet")

    @after(Action.get_report)
    def after_get_report(self, request_id: int,
                         component_variable: list[dict[str, Any]] | None = None,
                         component_criteria: list[str] | None = None, **_: Any) -> None:
        for report in self.notify_reports(
                request_id, self._report(component_variable, component_criteria)):
            self.context.reply(report)

    def notify_reports(self, request_id: int, data: list[dict[str, Any]]) -> list[Any]:
        """``data`` as NotifyReports of at most ItemsPerMessageGetReport items and
        BytesPerMessageGetReport characters each, numbered from 0, all but the last ``tbc``."""
        model = self.context.device_model
        items = int(model["DeviceDataCtrlr.ItemsPerMessage.GetReport"])
        size = int(model["DeviceDataCtrlr.BytesPerMessage.GetReport"])
        generated_at = format_datetime(self.context.clock.now())
        # The frame around the report data: [2,"<uuid>","NotifyReport",{...}] with its fields.
        overhead = 200
        parts: list[list[dict[str, Any]]] = [[]]
        used = overhead
        for entry in data:
            length = len(json.dumps(entry, separators=(",", ":"))) + 1
            if parts[-1] and (len(parts[-1]) >= items or used + length > size):
                parts.append([])
                used = overhead
            parts[-1].append(entry)
            used += length
        return [call.NotifyReport(request_id=request_id, generated_at=generated_at,
                                  seq_no=n, report_data=part or None,
                                  tbc=n < len(parts) - 1)
                for n, part in enumerate(parts)]

    # --- Reset, DataTransfer ---------------------------------------------------------------------

    @on(Action.reset)
    def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> call_result.Reset:
        station = self.context.station
        if evse_id is not None:
            # One EVSE: its session ends, the daemon and the other EVSEs go on (B11/B12).
            self.log.warning("%s reset of EVSE %d requested by the CSMS", type, evse_id)
            answer = station.reset_evse(evse_id, immediate=type == "Immediate")
            return call_result.Reset(status=encode_evse_reset_status(self.context.answer(answer)))
        if type == "OnIdle" and station.transactions():
            self.log.warning("Reset OnIdle requested by the CSMS: once every transaction ended")
            self._reset_when_idle = True
            return call_result.Reset(status="Scheduled")
        self.log.warning("%s reset requested by the CSMS", type)
        return call_result.Reset(status=encode_reset_status(self._reset()))

    def _reset(self) -> ResetStatus:
        return self.context.answer(self.context.station.reset(hard=False))

    def _transaction_ended(self) -> None:
        """A transaction ended: an OnIdle reset goes ahead once none is left."""
        if self._reset_when_idle and not self.context.station.transactions():
            self._reset_when_idle = False
            self.context.later(lambda: self.context.station.reset(hard=False).effects)

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status="UnknownVendorId")


def _names(variable: Variable, wanted: dict[str, Any]) -> bool:
    """Whether a ComponentVariableType (as the RPC layer gives it) names ``variable``: its
    component (and EVSE, connector, instance where given), and its variable where one is."""
    component, evse = wanted["component"], wanted["component"].get("evse") or {}
    if component["name"] != variable.component or any(
            given is not None and given != ours for given, ours in (
                (evse.get("id"), variable.evse), (evse.get("connector_id"), variable.connector),
                (component.get("instance"), variable.component_instance))):
        return False
    named = wanted.get("variable")
    return named is None or (named["name"] == variable.name and named.get("instance") in (
        None, variable.instance))
