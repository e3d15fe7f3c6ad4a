"""Diagnostics and logs: GetDiagnostics, the security extension's GetLog, and their status
notifications, translated to :mod:`pievse.services.diagnostics` and
:mod:`pievse.services.log_upload`, which do the work.

* **GetDiagnostics** answers with the file name at once (NotSupported without an uploader); the
  upload starts once the answer is on the wire, and DiagnosticsStatusNotification follows it.
* **GetLog** answers Accepted with the file name (AcceptedCanceled when it cancelled an upload
  under way, Rejected when that log is not kept here); LogStatusNotification then carries the
  request's requestId through Uploading to its end. ExtendedTriggerMessage(LogStatusNotification)
  hears Idle when nothing is under way, NotImplemented without a log uploader.

The status notifications go through the redelivery queue, the latest of each kind kept while
offline.
"""

from __future__ import annotations

from typing import Any

from ocpp.exceptions import NotSupportedError
from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from pievse.protocol.common.notifications import Rule
from pievse.protocol.v16.configuration import KeyDefinition
from pievse.protocol.v16.context import Context
from pievse.protocol.v16.messages import request_retries, request_time
from pievse.services.diagnostics import DiagnosticsRequest, DiagnosticsStatus
from pievse.services.log_upload import LogRequest, LogType, UploadLogStatus

__all__ = ["DIAGNOSTICS_STATUS", "LOG_STATUS", "DiagnosticsBlock"]

#: Kinds in the redelivery queue: only the latest of each is worth sending again.
DIAGNOSTICS_STATUS = "diagnostics status"
LOG_STATUS = "log status"


class DiagnosticsBlock:
    def __init__(self, context: Context) -> None:
        self.context = context
        self.log = context.log
        self._diagnostics_asked: tuple[DiagnosticsRequest, str] | None = None
        self._log_asked: tuple[LogRequest, str] | None = None
        context.notifications.rule(DIAGNOSTICS_STATUS, Rule(latest_only=True))
        if context.diagnostics is not None:
            context.diagnostics.notify = self._diagnostics_status_changed
        context.triggers.register(
            "DiagnosticsStatusNotification",
            lambda connector_id: context.send(self.diagnostics_status_notification()))
        if context.logs is not None:
            context.notifications.rule(LOG_STATUS, Rule(latest_only=True))
            context.logs.notify = self._log_status_changed
            context.extended_triggers.register("LogStatusNotification",
                                               lambda connector_id: self._send_log_status())

    def keys(self) -> list[KeyDefinition]:
        return []

    # --- GetDiagnostics ------------------------------------------------------------------------

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, location: str, retries: int | None = None,
                           retry_interval: int | None = None, start_time: str | None = None,
                           stop_time: str | None = None,
                           **_: Any) -> call_result.GetDiagnostics:
        uploader = self.context.diagnostics
        if uploader is None:
            raise NotSupportedError("diagnostics are not set up on this charge point")
        request = DiagnosticsRequest(
            location, *request_retries(retries, retry_interval),
            request_time(start_time, "startTime"), request_time(stop_time, "stopTime"))
        file_name = uploader.file_name()
        self._diagnostics_asked = (request, file_name)
        return call_result.GetDiagnostics(file_name=file_name)

    @after(Action.get_diagnostics)
    def after_get_diagnostics(self, **_: Any) -> None:
        asked, self._diagnostics_asked = self._diagnostics_asked, None
        if self.context.diagnostics is not None and asked is not None:
            self.context.diagnostics.start(*asked)

    def diagnostics_status_notification(self) -> call.DiagnosticsStatusNotification:
        uploader = self.context.diagnostics
        status = uploader.status if uploader is not None else DiagnosticsStatus.IDLE
        return call.DiagnosticsStatusNotification(status=status.value)

    def _diagnostics_status_changed(self, status: DiagnosticsStatus) -> None:
        self.context.notifications.put(DIAGNOSTICS_STATUS,
                                       call.DiagnosticsStatusNotification(status=status.value))

    # --- GetLog --------------------------------------------------------------------------------

    @on(Action.get_log)
    def on_get_log(self, log: dict[str, Any], log_type: str, request_id: int,
                   retries: int | None = None, retry_interval: int | None = None,
                   **_: Any) -> call_result.GetLog:
        kind = LogType(log_type)
        location = log["remote_location"]
        oldest = request_time(log.get("oldest_timestamp"), "oldestTimestamp")
        latest = request_time(log.get("latest_timestamp"), "latestTimestamp")
        logs = self.context.logs
        why = ("GetLog is not set up on this charge point" if logs is None
               else logs.why_not(kind, location))
        if why or logs is None:
            self.log.warning("GetLog %s %s rejected: %s", request_id, kind.value, why)
            return call_result.GetLog(status="Rejected")
        name = logs.file_name(kind)
        request = LogRequest(request_id, kind, location,
                             *request_retries(retries, retry_interval), oldest, latest)
        self._log_asked = (request, name)
        # Cancelled here, not when the new one starts: the answer must say whether it was.
        cancelled = logs.cancel()
        return call_result.GetLog(status="AcceptedCanceled" if cancelled else "Accepted",
                                  filename=name)

    @after(Action.get_log)
    def after_get_log(self, **_: Any) -> None:
        asked, self._log_asked = self._log_asked, None
        if self.context.logs is not None and asked is not None:
            self.context.logs.start(*asked)

    def _send_log_status(self) -> None:
        """What ExtendedTriggerMessage(LogStatusNotification) sends: Uploading with the
        upload's requestId, or Idle."""
        status, request_id = (self.context.logs.status if self.context.logs is not None
                              else (UploadLogStatus.IDLE, None))
        self.context.send(call.LogStatusNotification(status=status.value, request_id=request_id))

    def _log_status_changed(self, status: UploadLogStatus, request_id: int) -> None:
        self.context.notifications.put(
            LOG_STATUS, call.LogStatusNotification(status=status.value, request_id=request_id))
