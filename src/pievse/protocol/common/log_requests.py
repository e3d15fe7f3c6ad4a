"""GetLog as every OCPP version answers it (the 1.6 security extension's and 2.0.1's have the
same fields), over :mod:`pievse.services.log_upload`, which does the work; each version only
says the statuses in its own message.

GetLog is answered Accepted with the file name (AcceptedCanceled when it cancelled an upload
under way, Rejected when that log is not kept here or the location is not one the uploader
takes); the upload starts once the answer is on the wire, and LogStatusNotification then carries
the request's requestId through Uploading to its end, through the redelivery queue (the latest
kept while offline).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pievse.protocol.common.notifications import Rule
from pievse.protocol.common.transfer_requests import request_retries, request_time
from pievse.services.log_upload import LogRequest, LogType, UploadLogStatus

if TYPE_CHECKING:
    from pievse.protocol.common.adapter_context import AdapterContext

__all__ = ["LOG_STATUS", "LogAnswer", "LogRequests"]

#: The kind of LogStatusNotification in the redelivery queue: only the latest is worth sending
#: again.
LOG_STATUS = "log status"

#: Builds the version's LogStatusNotification of a status and its requestId (None: Idle).
StatusMessage = Callable[[UploadLogStatus, "int | None"], Any]


@dataclass(frozen=True, slots=True)
class LogAnswer:
    """What GetLog is answered: Accepted, AcceptedCanceled or Rejected, and the file name."""

    status: str
    filename: str | None = None
    #: The requestId of the upload this request cancelled.
    cancelled: int | None = None
    why: str | None = None


class LogRequests:
    def __init__(self, context: AdapterContext, message: StatusMessage) -> None:
        self.context = context
        self._message = message
        self._asked: tuple[LogRequest, str] | None = None
        if context.logs is not None:
            context.notifications.rule(LOG_STATUS, Rule(latest_only=True))
            context.logs.notify = self.status_changed

    def ask(self, log: dict[str, Any], log_type: str, request_id: int,
            retries: int | None = None, retry_interval: int | None = None) -> LogAnswer:
        """Answer a GetLog (``log`` with snake_case keys); :meth:`start` once it is on the
        wire."""
        kind = LogType(log_type)
        location = log["remote_location"]
        oldest = request_time(log.get("oldest_timestamp"), "oldestTimestamp")
        latest = request_time(log.get("latest_timestamp"), "latestTimestamp")
        logs = self.context.logs
        why = ("GetLog is not set up on this charge point" if logs is None
               else logs.why_not(kind, location))
        if why or logs is None:
            self.context.log.warning("GetLog %s %s rejected: %s", request_id, kind.value, why)
            return LogAnswer("Rejected", why=why)
        name = logs.file_name(kind)
        self._asked = (LogRequest(request_id, kind, location,
                                  *request_retries(retries, retry_interval), oldest, latest),
                       name)
        # Cancelled here, not when the new one starts: the answer must say whether it was.
        under_way = logs.status[1]
        if logs.cancel():
            return LogAnswer("AcceptedCanceled", name, under_way)
        return LogAnswer("Accepted", name)

    def start(self) -> None:
        """Start the upload the last GetLog accepted."""
        asked, self._asked = self._asked, None
        if self.context.logs is not None and asked is not None:
            self.context.logs.start(*asked)

    def status_message(self) -> Any:
        """What a triggered LogStatusNotification sends: Uploading with the upload's requestId,
        or Idle."""
        status, request_id = (self.context.logs.status if self.context.logs is not None
                              else (UploadLogStatus.IDLE, None))
        return self._message(status, request_id)

    def status_changed(self, status: UploadLogStatus, request_id: int | None) -> None:
        self.context.notifications.put(LOG_STATUS, self._message(status, request_id))
