"""Diagnostics and logs: GetDiagnostics, the security extension's GetLog, and their status
notifications, translated to :mod:`pievse.services.diagnostics` and
:mod:`pievse.services.log_upload`, which do the work.

* **GetDiagnostics** answers with the file name at once (NotSupported without an uploader); the
  upload starts once the answer is on the wire, and DiagnosticsStatusNotification follows it.
* **GetLog** is answered and carried out as under 2.0.1
  (:mod:`pievse.protocol.common.log_requests`); ExtendedTriggerMessage(LogStatusNotification)
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
from pievse.protocol.common.log_requests import LOG_STATUS, LogRequests
from pievse.protocol.common.transfer_requests import request_retries, request_time
from pievse.services.diagnostics import DiagnosticsRequest, DiagnosticsStatus
from pievse.services.log_upload import UploadLogStatus

__all__ = ["DIAGNOSTICS_STATUS", "LOG_STATUS", "DiagnosticsBlock"]

#: The kind in the redelivery queue: only the latest is worth sending again.
DIAGNOSTICS_STATUS = "diagnostics status"


class DiagnosticsBlock:
    def __init__(self, context: Context) -> None:
        self.context = context
        self.log = context.log
        self._diagnostics_asked: tuple[DiagnosticsRequest, str] | None = None
        context.notifications.rule(DIAGNOSTICS_STATUS, Rule(latest_only=True))
        if context.diagnostics is not None:
            context.diagnostics.notify = self._diagnostics_status_changed
        context.triggers.register(
            "DiagnosticsStatusNotification",
            lambda connector_id: context.send(self.diagnostics_status_notification()))
        self.logs = LogRequests(context, _log_status)
        if context.logs is not None:
            context.extended_triggers.register(
                "LogStatusNotification",
                lambda connector_id: context.send(self.logs.status_message()))

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
        answer = self.logs.ask(log, log_type, request_id, retries, retry_interval)
        return call_result.GetLog(status=answer.status, filename=answer.filename)

    @after(Action.get_log)
    def after_get_log(self, **_: Any) -> None:
        self.logs.start()


def _log_status(status: UploadLogStatus, request_id: int | None) -> call.LogStatusNotification:
    return call.LogStatusNotification(status=status.value, request_id=request_id)
