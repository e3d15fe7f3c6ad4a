"""What the answer to one of our CALLs becomes: the frame that answers it read as an
:data:`~pievse.protocol.common.rpc_waiting.Answer`, and that answer as the caller's result (the
payload, or the response dataclass of the action) or as the :class:`RpcError` it stands for.
"""

from __future__ import annotations

import importlib
from typing import Any

from ocpp.exceptions import OCPPError

from pievse.protocol.common.frames import CALLRESULT, Frame
from pievse.protocol.common.payloads import camel_to_snake_case
from pievse.protocol.common.rpc_errors import (
    CallErrorReceived,
    ConnectionLost,
    InvalidResponse,
    ResponseTimeout,
)
from pievse.protocol.common.rpc_waiting import Answer, Pending
from pievse.protocol.common.schemas import SchemaValidator

__all__ = ["ResultClasses", "answer_of", "payload_of_answer"]


def answer_of(frame: Frame, codes: Any) -> Answer:
    """The answer a CALLRESULT or CALLERROR ``frame`` carries (``codes``: the session's
    version's error codes, which name what is wrong with a broken CALLRESULT)."""
    if frame.message_type == CALLRESULT:
        if frame.fault is not None:
            kind, reason = frame.fault
            return "invalid", (reason, getattr(codes, kind).code, frame.payload)
        return "result", frame.payload
    error = frame.payload
    code = error["errorCode"] if isinstance(error["errorCode"], str) else ""
    description = error["errorDescription"]
    return "error", CallErrorReceived(
        code or "GenericError", description if isinstance(description, str) else "",
        error["errorDetails"])


def payload_of_answer(pending: Pending, answer: Answer, validator: SchemaValidator | None
                      ) -> dict[str, Any]:
    """The payload of the peer's answer to ``pending`` (checked against the response schema
    unless ``validator`` is None), or the RpcError that ended its wait, raised."""
    kind, value = answer
    action = pending.action
    if kind == "result":
        if validator is not None:
            try:
                validator.validate_result(action, value)
            except OCPPError as error:
                raise InvalidResponse(f"{action} answer: {error.description}", error.code,
                                      value) from None
        return value
    if kind in ("error", "failed"):
        raise value
    if kind == "timeout":
        raise ResponseTimeout(f"no answer to {action} within {pending.timeout:g} s")
    if kind == "lost":
        raise ConnectionLost(value or f"the connection closed before {action} was answered")
    reason, code, payload = value
    raise InvalidResponse(f"{action} answer: {reason}", code, payload)


class ResultClasses:
    """The response dataclasses of one OCPP version (``ocpp.v16.call_result`` ...), by action."""

    __slots__ = ("_module", "version")

    def __init__(self, version: str) -> None:
        self.version = version
        self._module: Any = None

    def response(self, action: str, answer: dict[str, Any]) -> Any:
        """``answer`` (a camelCase payload) as the response dataclass of ``action``."""
        result_class = self._class(action)
        try:
            return result_class(**camel_to_snake_case(answer))
        except TypeError as error:
            raise InvalidResponse(f"{action} answer does not fit {result_class.__name__}: "
                                  f"{error}", payload=answer) from None

    def _class(self, action: str) -> type:
        if self._module is None:
            package = "v16" if self.version == "1.6" else "v201"
            self._module = importlib.import_module(f"ocpp.{package}.call_result")
        found = getattr(self._module, action, None) or getattr(
            self._module, f"{action}Payload", None
        )
        if found is None:
            raise InvalidResponse(f"no response class for {action} in OCPP {self.version}")
        return found
