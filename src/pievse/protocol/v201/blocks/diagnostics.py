"""N Diagnostics, the log part: GetLog (N01) and LogStatusNotification, translated to
:mod:`pievse.services.log_upload` as under 1.6 (:mod:`pievse.protocol.common.log_requests`).

GetLog asks for the DiagnosticsLog (the diagnostics bundle) or the SecurityLog (the security
events) of a time window; the answer (Accepted, AcceptedCanceled when it cut an upload short,
Rejected when that log is not kept here or the location is no http, https or ftp URL) names the
file, and the upload starts once it is on the wire. LogStatusNotification carries the request's
requestId through Uploading to its end; the upload that a newer request cut short hears
AcceptedCanceled. TriggerMessage(LogStatusNotification) hears Uploading with its requestId, or
Idle.
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import after, on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from pievse.protocol.common.log_requests import LOG_STATUS, LogAnswer, LogRequests
from pievse.protocol.v201.codec.charging_profiles import status_info
from pievse.protocol.v201.codec.firmware import log_canceled_notification, log_status_notification
from pievse.protocol.v201.context import Context
from pievse.protocol.v201.device_model import Variable

__all__ = ["DiagnosticsBlock"]


class DiagnosticsBlock:
    def __init__(self, context: Context) -> None:
        self.context = context
        self.logs = LogRequests(context, log_status_notification)
        self._answer: LogAnswer | None = None
        context.triggers.register(
            "LogStatusNotification",
            lambda evse_id: context.send(self.logs.status_message()))

    def variables(self) -> list[Variable]:
        return []

    @on(Action.get_log)
    def on_get_log(self, log: dict[str, Any], log_type: str, request_id: int,
                   retries: int | None = None, retry_interval: int | None = None,
                   **_: Any) -> call_result.GetLog:
        answer = self._answer = self.logs.ask(log, log_type, request_id, retries,
                                              retry_interval)
        return call_result.GetLog(
            status=answer.status, filename=answer.filename,
            status_info=status_info("NotSupported", answer.why) if answer.why else None)

    @after(Action.get_log)
    def after_get_log(self, **_: Any) -> None:
        answer, self._answer = self._answer, None
        if answer is not None and answer.cancelled is not None:
            self.context.notifications.put(LOG_STATUS, log_canceled_notification(
                answer.cancelled))
        self.logs.start()
