"""OCPP-J frames: reading one off the wire, and saying what is wrong with it when it is broken.

OCPP-J (the JSON flavour of OCPP) sends three kinds of frames, each a JSON array:

* CALL ``[2, "<uniqueId>", "<Action>", {payload}]``: a request;
* CALLRESULT ``[3, "<uniqueId>", {payload}]``: its answer;
* CALLERROR ``[4, "<uniqueId>", "<errorCode>", "<errorDescription>", {errorDetails}]``: its refusal.

:func:`read_frame` is the one reader of frames, for both ends of a connection. It never raises:
a frame that is not a well-formed message comes back with a ``fault`` naming the kind of failure
(an :class:`~pievse.protocol.common.errors.ErrorCodes` field) and why, for the session to answer
with its version's code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["CALL", "CALLERROR", "CALLRESULT", "Frame", "read_frame"]

CALL, CALLRESULT, CALLERROR = 2, 3, 4


@dataclass(frozen=True, slots=True)
class Frame:
    """One OCPP-J frame, as read.

    ``message_type`` is the MessageTypeId the frame states (2, 3 or 4), None if it states none
    of them. ``unique_id`` is None unless the frame carries one as a string. ``action`` is a
    CALL's action; for an answer, the action of the CALL it answers, when the session knows it.
    ``payload`` is a CALL's or CALLRESULT's payload, a CALLERROR's ``{"errorCode",
    "errorDescription", "errorDetails"}``, and for anything else the JSON value (or the text).
    ``fault`` is None for a well-formed message, else ``(ErrorCodes field, reason)``.
    """

    text: str
    message_type: int | None
    unique_id: str | None = None
    action: str | None = None
    payload: Any = None
    fault: tuple[str, str] | None = None

    @property
    def well_formed(self) -> bool:
        return self.fault is None

    def answering(self, action: str | None) -> Frame:
        """This answer labelled with the action of the CALL it answers."""
        return replace(self, action=action)


def read_frame(data: str | bytes) -> Frame:
    """The frame ``data`` holds, well-formed or not."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        # OCPP-J uses text frames only; a binary frame holding UTF-8 JSON is read anyway.
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            text = bytes(data).decode("utf-8", "replace")
            return Frame(text, None, payload=text, fault=("framing", "a binary frame"))
    try:
        message = json.loads(data)
    except ValueError:
        return Frame(data, None, payload=data, fault=("framing", "not valid JSON"))
    if not isinstance(message, list):
        return Frame(data, None, payload=message,
                     fault=("framing", "an OCPP-J message must be a JSON array"))
    if not message:
        return Frame(data, None, payload=message,
                     fault=("incomplete_frame", "an empty array has no MessageTypeId"))
    unique_id = message[1] if len(message) > 1 and isinstance(message[1], str) else None
    message_type = message[0]
    if type(message_type) is not int or message_type not in (CALL, CALLRESULT, CALLERROR):
        return Frame(data, None, unique_id, payload=message, fault=(
            "message_type",
            f"MessageTypeId {message_type!r} is not 2 (CALL), 3 (CALLRESULT) or 4 (CALLERROR)"))
    if message_type == CALL:
        return _call(data, message, unique_id)
    if message_type == CALLRESULT:
        payload = message[2] if len(message) > 2 else None
        fault = None
        if len(message) != 3 or unique_id is None:
            fault = ("framing", "a CALLRESULT has 3 elements: [3, uniqueId, payload]")
        elif not isinstance(payload, dict):
            fault = ("formation", "a CALLRESULT's payload must be an object")
        return Frame(data, CALLRESULT, unique_id, payload=payload, fault=fault)
    code, description, details = (message[2:5] + [None, None, None])[:3]
    fault = None
    if len(message) != 5 or unique_id is None or not isinstance(code, str):
        fault = ("framing", "a CALLERROR has 5 elements: [4, uniqueId, errorCode, "
                 "errorDescription, errorDetails]")
    return Frame(data, CALLERROR, unique_id, payload={
        "errorCode": code, "errorDescription": description, "errorDetails": details,
    }, fault=fault)


def _call(text: str, message: list[Any], unique_id: str | None) -> Frame:
    def broken(kind: str, reason: str) -> Frame:
        return Frame(text, CALL, unique_id, payload=message, fault=(kind, reason))

    if unique_id is None:
        return broken("incomplete_frame", "a CALL's unique id must be a string")
    if len(message) < 4:
        return broken("incomplete_frame", "a CALL has 4 elements: [2, uniqueId, action, payload]")
    if len(message) > 4:
        return broken("framing", "a CALL has only 4 elements")
    _, _, action, payload = message
    if not isinstance(action, str):
        return broken("incomplete_frame", "a CALL's action must be a string")
    if not isinstance(payload, dict):
        return broken("formation", f"the payload of {action} must be an object")
    return Frame(text, CALL, unique_id, action, payload)
