"""OCPP-J frames: reading one off the wire, saying what is wrong with it when it is broken, and
writing one.

OCPP-J (the JSON flavour of OCPP) sends three kinds of frames, each a JSON array:

* CALL ``[2, "<uniqueId>", "<Action>", {payload}]``: a request;
* CALLRESULT ``[3, "<uniqueId>", {payload}]``: its answer;
* CALLERROR ``[4, "<uniqueId>", "<errorCode>", "<errorDescription>", {errorDetails}]``: its refusal.

:func:`read_frame` is the one reader of frames, for both ends of a connection. It never raises:
a frame that is not a well-formed message comes back with a ``fault`` naming the kind of failure
(an :class:`~pievse.protocol.common.errors.ErrorCodes` field) and why, for the session to answer
with its version's code.

Numbers are bounded here, before any handler sees them: JSON allows integers of any length and
Python's reader accepts ``NaN``, ``Infinity`` and floats past 1.8e308 (read as infinite), all of
which the schemas let through and which break deep inside (``OverflowError`` from a timedelta, a
SQLite integer or a formatted date). An integer outside a signed 64-bit integer or a float that
is not finite is a value out of range (PropertyConstraintViolation); a ``NaN`` or ``Infinity``
literal is not a JSON number at all (TypeConstraintViolation). A CALL carrying one is refused
before it is handled; a CALLRESULT carrying one is an invalid answer.

Nesting is bounded too: no OCPP message nests beyond a dozen levels, and a frame nested a
thousand deep would exhaust Python's stack in the reader or in whatever walks the payload next.
Such a frame is refused as a FormationViolation, still answering its unique id when it has one.

So are strings that are not text: JSON lets a peer escape a lone UTF-16 surrogate (``"\\ud800"``),
which no UTF-8 writer takes, so an id tag holding one would break the station's store, its log
and every frame that repeats it, long after the CALL was accepted.

:class:`Call`, :class:`CallResult` and :class:`CallError` are the frames this end writes, in the
compact form peers expect (no spaces between elements).
"""

from __future__ import annotations

import json
import math
import re
import threading
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["CALL", "CALLERROR", "CALLRESULT", "Call", "CallError", "CallResult", "Frame",
           "read_frame"]

CALL, CALLRESULT, CALLERROR = 2, 3, 4

#: The deepest nesting of arrays and objects a frame may have (the frame's array is level 1).
MAX_DEPTH = 32
# The unique id of a CALL too deep to be read as JSON.
_CALL_ID = re.compile(r'\s*\[\s*2\s*,\s*"([^"\\]{1,36})"')

#: The integers every part of the station can hold (SQLite's INTEGER is a signed 64-bit one).
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
# Longer than this, a JSON integer is out of range whatever its digits (and Python refuses to
# convert strings of more than 4300 digits, which would read as "not valid JSON").
_INT_DIGITS = len(str(INT_MAX))


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
    numbers, decoder = _reader()
    numbers.fault = None
    try:
        message = decoder.decode(data)
    except RecursionError:
        return _too_deep(data)
    except ValueError:
        return Frame(data, None, payload=data, fault=("framing", "not valid JSON"))
    # Nesting cannot go deeper than the brackets the text opens: most frames (an answer, a
    # MeterValues) are short of the limit by that count alone and need no walk.
    if data.count("[") + data.count("{") > MAX_DEPTH and _depth(message) > MAX_DEPTH:
        return _too_deep(data)
    frame = _frame(data, message)
    if frame.well_formed and frame.message_type != CALLERROR:
        if numbers.fault is not None:
            return replace(frame, fault=numbers.fault)
        if _holds_lone_surrogate(data, message):
            return replace(frame, fault=("formation", "a string holds a lone UTF-16 surrogate "
                                         "(U+D800 to U+DFFF), which is not a character"))
    return frame


def _holds_lone_surrogate(text: str, message: Any) -> bool:
    # A frame off the wire is valid UTF-8, so a surrogate can only come from a \u escape: the
    # common frame, ASCII with no \u in it, is cleared without a walk.
    if text.isascii() and "\\u" not in text:
        return False
    try:
        _encode_unicode(message).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _depth(value: Any) -> int:
    """How deep arrays and objects nest in ``value``, counted without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                stack.extend((child, level + 1) for child in item)
    return deepest


def _too_deep(text: str) -> Frame:
    found = _CALL_ID.match(text)
    unique_id = found.group(1) if found else None
    return Frame(text, CALL if found else None, unique_id, payload=text, fault=(
        "formation", f"a frame may nest arrays and objects {MAX_DEPTH} levels deep at most"))


class _Numbers:
    """The JSON reader's number hooks: each number out of bounds is read as 0 and the first one
    noted as the frame's fault, so the frame itself (its unique id) stays readable."""

    def __init__(self) -> None:
        self.fault: tuple[str, str] | None = None

    def _refuse(self, kind: str, reason: str) -> int:
        if self.fault is None:
            self.fault = (kind, reason)
        return 0

    def integer(self, text: str) -> int:
        if len(text.lstrip("-")) <= _INT_DIGITS:
            value = int(text)
            if INT_MIN <= value <= INT_MAX:
                return value
        return self._refuse("property_constraint",
                            f"the integer {_shorten(text)} is out of range (64 bits)")

    def real(self, text: str) -> float:
        value = float(text)
        if math.isfinite(value):
            return value
        return float(self._refuse("property_constraint",
                                  f"the number {_shorten(text)} is out of range"))

    def constant(self, text: str) -> float:
        return float(self._refuse("type_constraint", f"{text} is not a JSON number"))


_readers = threading.local()


def _reader() -> tuple[_Numbers, json.JSONDecoder]:
    """This thread's number hooks and the JSON decoder that calls them (``json.loads`` with
    hooks builds a new decoder per frame)."""
    try:
        return _readers.pair
    except AttributeError:
        numbers = _Numbers()
        _readers.pair = numbers, json.JSONDecoder(
            parse_int=numbers.integer, parse_float=numbers.real,
            parse_constant=numbers.constant)
        return _readers.pair


def _shorten(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:12]}…({len(text)} characters)"


def _frame(data: str, message: Any) -> Frame:
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


# --- writing ----------------------------------------------------------------------------------


#: One encoder for every frame: ``json.dumps`` with separators makes a new one per call.
_encode = json.JSONEncoder(separators=(",", ":")).encode
_encode_unicode = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode

try:  # the fleet's extra: several times faster on a MeterValues, a fleet's most common frame
    import orjson
except ImportError:  # pragma: no cover - the standard library's encoder writes the same JSON
    orjson = None


def _written(message: list[Any]) -> str:
    if orjson is not None:
        try:
            text = orjson.dumps(message).decode()
        except TypeError:  # beyond what orjson writes (an integer past 64 bits): the slow way
            pass
        else:
            # orjson writes other characters as they are, the standard encoder (and the ocpp
            # package, and so most CSMS test suites) as \u escapes: keep one spelling on the wire.
            if text.isascii():
                return text
    return _encode(message)


@dataclass(frozen=True, slots=True)
class Call:
    """A request: ``[2, uniqueId, action, payload]``."""

    unique_id: str
    action: str
    payload: dict[str, Any]

    def to_json(self) -> str:
        return _written([CALL, self.unique_id, self.action, self.payload])


@dataclass(frozen=True, slots=True)
class CallResult:
    """The answer to a request: ``[3, uniqueId, payload]``."""

    unique_id: str
    payload: dict[str, Any]

    def to_json(self) -> str:
        return _written([CALLRESULT, self.unique_id, self.payload])


@dataclass(frozen=True, slots=True)
class CallError:
    """A refused request: ``[4, uniqueId, errorCode, errorDescription, errorDetails]``."""

    unique_id: str
    error_code: str
    error_description: str
    error_details: dict[str, Any]

    def to_json(self) -> str:
        return _written([CALLERROR, self.unique_id, self.error_code, self.error_description,
                         self.error_details])
