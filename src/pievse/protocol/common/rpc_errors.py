"""What :meth:`~pievse.protocol.common.rpc.RpcSession.call` raises when a CALL does not get its
answer: one family, so that callers (the outbox, the blocks, the bench CSMS) tell a refusal from
a timeout from a lost connection without knowing the session's insides."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["CallErrorReceived", "ConnectionLost", "InvalidRequest", "InvalidResponse",
           "ResponseTimeout", "RpcError"]


class RpcError(Exception):
    """Base of the errors :meth:`RpcSession.call` raises."""


class CallErrorReceived(RpcError):
    """The peer answered our CALL with a CALLERROR."""

    def __init__(self, code: str, description: str = "", details: Any = None) -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description
        self.details = details if details is not None else {}


class ResponseTimeout(RpcError, asyncio.TimeoutError):
    """No answer to our CALL arrived within the response timeout."""


class ConnectionLost(RpcError, ConnectionError):
    """The connection closed before (or while) our CALL could be answered."""


class InvalidResponse(RpcError):
    """The peer's CALLRESULT does not fit the response schema of the action it answers."""

    def __init__(self, reason: str, code: str | None = None, payload: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        #: The CALLERROR code the failure would have had, had it been a request.
        self.code = code
        #: The answer's payload as received.
        self.payload = payload


class InvalidRequest(RpcError, ValueError):
    """A CALL we were asked to send breaks its schema: a bug on our side, never sent."""
