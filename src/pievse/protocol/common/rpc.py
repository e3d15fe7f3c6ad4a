"""OCPP-J remote procedure calls over one open websocket.

OCPP-J (the JSON flavour of OCPP) sends three kinds of frames, each a JSON array:

* CALL ``[2, "<uniqueId>", "<Action>", {payload}]``: a request;
* CALLRESULT ``[3, "<uniqueId>", {payload}]``: its answer;
* CALLERROR ``[4, "<uniqueId>", "<errorCode>", "<errorDescription>", {errorDetails}]``: its refusal.

Both ends send CALLs: the charge point sends BootNotification, StatusNotification, StartTransaction;
the central system (CSMS) sends RemoteStartTransaction, SetChargingProfile, Reset. Each end may
have only one CALL of its own waiting for an answer at a time.

:class:`RpcSession` is one such conversation. It routes inbound CALLs to the ``@on`` handlers of
a handler object (the convention of the ``ocpp`` package), validates every payload in both
directions against the official schemas, answers every CALL (or unreadable frame) it cannot
use with a CALLERROR carrying the code of the session's OCPP version, and never lets a bad frame
end the session. A stray CALLRESULT or CALLERROR is only logged: answering an answer could start
an endless error ping-pong between two strict peers.

The same class serves both ends: give it a charge point handler on the charge point and a central
system handler on the CSMS.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
import uuid
from dataclasses import dataclass, is_dataclass
from typing import Any, Protocol

from ocpp.charge_point import (
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, CallResult
from ocpp.routing import create_route_map
from websockets.exceptions import ConnectionClosed

from pievse.aio import AsyncClock, SystemClock
from pievse.protocol.common.schemas import SchemaValidator, validator_for

__all__ = [
    "CallErrorReceived",
    "Connection",
    "ConnectionLost",
    "InvalidRequest",
    "InvalidResponse",
    "ResponseTimeout",
    "RpcError",
    "RpcSession",
]

CALL, CALLRESULT, CALLERROR = 2, 3, 4

#: What a receive raises when the websocket is gone (websockets raises ConnectionClosed).
_CLOSED = (ConnectionClosed, ConnectionError, EOFError)

#: Frames quoted in log lines are cut to this many characters.
_QUOTE = 200


class Connection(Protocol):
    """What a session needs from a connection: a websockets connection has it."""

    async def send(self, message: str) -> None: ...

    async def recv(self) -> str | bytes: ...


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

    def __init__(self, reason: str, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        #: The CALLERROR code the failure would have had, had it been a request.
        self.code = code


class InvalidRequest(RpcError, ValueError):
    """A CALL we were asked to send breaks its schema: a bug on our side, never sent."""


@dataclass(slots=True)
class _Pending:
    unique_id: str
    action: str
    #: Resolves to ("result", payload), ("error", CallErrorReceived), ("invalid", reason) or
    #: ("lost", None): values rather than exceptions, so an abandoned wait logs nothing.
    answer: asyncio.Future[tuple[str, Any]]


class RpcSession:
    """One OCPP-J session over one open connection.

    ``handler`` is an object whose methods carry ``@on(Action.x)`` / ``@after(Action.x)`` from
    ``ocpp.routing``. An ``@on`` handler receives the payload as snake_case keyword arguments
    (plus ``call_unique_id`` if its signature names it), may be sync or async, and returns the
    response dataclass from ``ocpp.v16.call_result`` (or a dict). It runs inside the receive loop,
    so nothing else is read while it runs: answer at once. An ``@after`` handler runs afterwards as
    its own task, once the CALLRESULT is sent; that is where follow-up CALLs belong.

    Run :meth:`run` as a task for the life of the connection, and :meth:`call` to send requests.
    The response timeout runs on ``clock``.
    """

    def __init__(
        self,
        connection: Connection,
        handler: object,
        *,
        version: str = "1.6",
        response_timeout: float = 30.0,
        logger: logging.Logger | None = None,
        validator: SchemaValidator | None = None,
        clock: AsyncClock | None = None,
    ) -> None:
        self.connection = connection
        self.handler = handler
        self.version = version
        self.response_timeout = response_timeout
        self.clock = clock or SystemClock()
        self.log = logger or logging.getLogger("pievse.ocpp.rpc")
        self.validator = validator or validator_for(version)
        self._codes = self.validator.codes
        self._routes: dict[str, dict[str, Any]] = (
            create_route_map(handler) if handler is not None else {}
        )
        self._wants_unique_id: dict[Any, bool] = {}
        self._call_lock = asyncio.Lock()
        self._pending: _Pending | None = None
        self._closed = False
        self._reader: asyncio.Task | None = None
        self._after_tasks: set[asyncio.Task] = set()
        self._result_module: Any = None

    @property
    def closed(self) -> bool:
        """True once :meth:`run` has ended: every later :meth:`call` raises ConnectionLost."""
        return self._closed

    # --- receiving -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Read and handle frames until the connection closes (then return, clean close or not)."""
        self._reader = asyncio.current_task()
        try:
            while True:
                try:
                    frame = await self.connection.recv()
                except _CLOSED as closed:
                    self.log.debug("connection closed: %s", closed)
                    return
                await self._receive(frame)
        finally:
            self._closed = True
            self._answer_pending(("lost", None))

    async def _receive(self, frame: str | bytes) -> None:
        self.log.debug("recv %s", frame)
        if isinstance(frame, (bytes, bytearray, memoryview)):
            # OCPP-J uses text frames only; a binary frame holding UTF-8 JSON is read anyway.
            try:
                frame = bytes(frame).decode("utf-8")
            except UnicodeDecodeError:
                await self._refuse_frame(self._codes.framing, "-1", "a binary frame", frame)
                return
        try:
            message = json.loads(frame)
        except ValueError:
            await self._refuse_frame(self._codes.framing, "-1", "not valid JSON", frame)
            return
        if not isinstance(message, list):
            await self._refuse_frame(
                self._codes.framing, "-1", "an OCPP-J message must be a JSON array", frame
            )
            return
        unique_id = message[1] if len(message) > 1 and isinstance(message[1], str) else None
        message_type = message[0] if message else None
        if message_type == CALL and type(message_type) is int:
            await self._receive_call(message, unique_id, frame)
        elif message_type in (CALLRESULT, CALLERROR) and type(message_type) is int:
            self._receive_answer(message, unique_id, frame)
        elif not message:
            await self._refuse_frame(
                self._codes.incomplete_frame, "-1", "an empty array has no MessageTypeId", frame
            )
        else:
            await self._refuse_frame(
                self._codes.message_type,
                unique_id or "-1",
                f"MessageTypeId {message_type!r} is not 2 (CALL), 3 (CALLRESULT) or 4 (CALLERROR)",
                frame,
            )

    async def _receive_call(self, message: list[Any], unique_id: str | None, frame: str) -> None:
        if unique_id is None:
            await self._refuse_frame(
                self._codes.incomplete_frame, "-1", "a CALL's unique id must be a string", frame
            )
            return
        if len(message) < 4:
            await self._refuse_frame(
                self._codes.incomplete_frame,
                unique_id,
                "a CALL has 4 elements: [2, uniqueId, action, payload]",
                frame,
            )
            return
        if len(message) > 4:
            await self._refuse_frame(
                self._codes.framing, unique_id, "a CALL has only 4 elements", frame
            )
            return
        _, _, action, payload = message
        if not isinstance(action, str):
            await self._refuse_frame(
                self._codes.incomplete_frame, unique_id, "a CALL's action must be a string", frame
            )
            return
        if not isinstance(payload, dict):
            await self._refuse_frame(
                self._codes.formation, unique_id, f"the payload of {action} must be an object",
                frame,
            )
            return
        await self._handle_call(unique_id, action, payload)

    async def _handle_call(self, unique_id: str, action: str, payload: dict[str, Any]) -> None:
        routes = self._routes.get(action, {})
        on_handler = routes.get("_on_action")
        if on_handler is None:
            if self.validator.knows(action):
                error = self._codes.not_supported(f"{action} is not supported here")
            else:
                error = self._codes.not_implemented(
                    f"{action} is not an OCPP {self.version} action"
                )
            self.log.info("answering %s %s with %s", action, unique_id, error.code)
            await self._send_error(unique_id, error)
            return

        validate = not routes.get("_skip_schema_validation", False)
        if validate:
            try:
                self.validator.validate_call(action, payload)
            except OCPPError as error:
                self.log.warning("refused %s %s: %s %s", action, unique_id, error.code,
                                 error.description)
                await self._send_error(unique_id, error)
                return

        arguments = camel_to_snake_case(payload)
        try:
            result = on_handler(**self._arguments(on_handler, arguments, unique_id))
            if inspect.isawaitable(result):
                result = await result
        except OCPPError as error:
            self.log.info("%s %s refused by its handler: %s %s", action, unique_id, error.code,
                          error.description)
            await self._send_error(unique_id, error)
            return
        except Exception as error:
            self.log.exception("the handler of %s %s failed", action, unique_id)
            await self._send_error(
                unique_id,
                self._codes.internal(f"handling {action} failed: {type(error).__name__}"),
            )
            return

        try:
            answer = self._payload_of(result)
            if validate:
                self.validator.validate_result(action, answer)
        except (OCPPError, TypeError, ValueError) as error:
            # Our own answer is wrong: the peer gets an honest InternalError, not bad data.
            reason = error.description if isinstance(error, OCPPError) else str(error)
            self.log.error("the answer to %s %s breaks its schema (%s): sending InternalError",
                           action, unique_id, reason)
            await self._send_error(
                unique_id, self._codes.internal(f"could not build the answer to {action}")
            )
            return
        await self._send(CallResult(unique_id, answer).to_json())

        after = routes.get("_after_action")
        if after is not None:
            task = asyncio.create_task(
                self._run_after(after, self._arguments(after, arguments, unique_id), action),
                name=f"ocpp-after-{action}",
            )
            self._after_tasks.add(task)
            task.add_done_callback(self._after_tasks.discard)

    async def _run_after(self, after: Any, arguments: dict[str, Any], action: str) -> None:
        try:
            result = after(**arguments)
            if inspect.isawaitable(result):
                await result
        except Exception:
            self.log.exception("the @after handler of %s failed", action)

    def _arguments(self, function: Any, arguments: dict[str, Any],
                   unique_id: str) -> dict[str, Any]:
        wants = self._wants_unique_id.get(function)
        if wants is None:
            wants = "call_unique_id" in inspect.signature(function).parameters
            self._wants_unique_id[function] = wants
        return {**arguments, "call_unique_id": unique_id} if wants else dict(arguments)

    @staticmethod
    def _payload_of(result: Any) -> dict[str, Any]:
        """The camelCase payload of a handler's answer (a dataclass, a dict or None for {})."""
        if result is None:
            return {}
        if is_dataclass(result) and not isinstance(result, type):
            return snake_to_camel_case(remove_nones(serialize_as_dict(result)))
        if isinstance(result, dict):
            return snake_to_camel_case(remove_nones(result))
        raise TypeError(f"a handler returned {type(result).__name__}, not a dataclass or dict")

    def _receive_answer(self, message: list[Any], unique_id: str | None, frame: str) -> None:
        pending = self._pending
        kind = "CALLRESULT" if message[0] == CALLRESULT else "CALLERROR"
        if pending is None or unique_id != pending.unique_id or pending.answer.done():
            # A late answer to a CALL that timed out, or a peer confused about ids. Answering it
            # with a CALLERROR could start an error ping-pong, so it is only logged.
            self.log.warning("dropped a %s for unique id %r: no CALL of ours waits for it: %s",
                             kind, unique_id, _quote(frame))
            return
        if message[0] == CALLRESULT:
            if len(message) != 3:
                answer: tuple[str, Any] = ("invalid", "a CALLRESULT has 3 elements")
            else:
                answer = ("result", message[2])
        else:
            code = message[2] if len(message) > 2 and isinstance(message[2], str) else ""
            description = message[3] if len(message) > 3 and isinstance(message[3], str) else ""
            details = message[4] if len(message) > 4 else {}
            answer = ("error", CallErrorReceived(code or "GenericError", description, details))
        pending.answer.set_result(answer)

    async def _refuse_frame(self, error_class: type[OCPPError], unique_id: str, reason: str,
                            frame: Any) -> None:
        error = error_class(reason)
        self.log.warning("refused a malformed frame (%s, %s): %s", error.code, reason,
                         _quote(frame))
        await self._send_error(unique_id, error)

    # --- sending -------------------------------------------------------------------------------

    async def _send_error(self, unique_id: str, error: OCPPError) -> None:
        details = error.details if isinstance(error.details, dict) else {}
        await self._send(
            CallError(unique_id, error.code, error.description or "", details).to_json()
        )

    async def _send(self, frame: str) -> None:
        """Send one frame; a connection that closed meanwhile is noticed by the receive loop."""
        self.log.debug("send %s", frame)
        try:
            await self.connection.send(frame)
        except _CLOSED as closed:
            self.log.debug("could not send, connection closed: %s", closed)

    async def call(self, request: Any, *, timeout: float | None = None) -> Any:
        """Send ``request`` (an ``ocpp.v16.call`` dataclass) and return the peer's answer.

        The answer is the ``ocpp.v16.call_result`` dataclass of the same name, validated. Calls
        queue behind each other, since OCPP-J allows one outstanding CALL per direction. Raises
        :class:`InvalidRequest` (nothing sent), :class:`CallErrorReceived`,
        :class:`ResponseTimeout`, :class:`InvalidResponse` or :class:`ConnectionLost`.
        """
        if not is_dataclass(request) or isinstance(request, type):
            raise TypeError(f"call() takes a request dataclass, not {request!r}")
        if self._reader is not None and asyncio.current_task() is self._reader:
            raise RuntimeError(
                "call() from an @on handler would wait for an answer nobody reads: "
                "send follow-up CALLs from an @after handler"
            )
        action = type(request).__name__
        if action.endswith("Payload"):
            action = action[: -len("Payload")]
        payload = snake_to_camel_case(remove_nones(serialize_as_dict(request)))
        try:
            self.validator.validate_call(action, payload)
        except OCPPError as error:
            raise InvalidRequest(f"refusing to send {action}: {error.description}") from error

        async with self._call_lock:
            if self._closed:
                raise ConnectionLost(f"cannot send {action}: the connection is closed")
            unique_id = str(uuid.uuid4())
            pending = _Pending(unique_id, action, asyncio.get_running_loop().create_future())
            self._pending = pending
            try:
                frame = Call(unique_id, action, payload).to_json()
                self.log.debug("send %s", frame, extra={"OCPP_ACTION": action})
                try:
                    await self.connection.send(frame)
                except _CLOSED as closed:
                    raise ConnectionLost(f"could not send {action}: {closed}") from None
                wait = self.response_timeout if timeout is None else timeout
                try:
                    kind, value = await self.clock.wait_for(pending.answer, wait)
                except TimeoutError:
                    raise ResponseTimeout(f"no answer to {action} within {wait:g} s") from None
            finally:
                self._pending = None
        return self._result(action, kind, value)

    def _result(self, action: str, kind: str, value: Any) -> Any:
        if kind == "error":
            raise value
        if kind == "lost":
            raise ConnectionLost(f"the connection closed before {action} was answered")
        if kind == "invalid":
            raise InvalidResponse(f"{action} answer: {value}", self._codes.framing.code)
        try:
            self.validator.validate_result(action, value)
        except OCPPError as error:
            raise InvalidResponse(f"{action} answer: {error.description}", error.code) from None
        result_class = self._result_class(action)
        try:
            return result_class(**camel_to_snake_case(value))
        except TypeError as error:
            raise InvalidResponse(f"{action} answer does not fit {result_class.__name__}: "
                                  f"{error}") from None

    def _result_class(self, action: str) -> type:
        if self._result_module is None:
            package = "v16" if self.version == "1.6" else "v201"
            self._result_module = importlib.import_module(f"ocpp.{package}.call_result")
        found = getattr(self._result_module, action, None) or getattr(
            self._result_module, f"{action}Payload", None
        )
        if found is None:
            raise InvalidResponse(f"no response class for {action} in OCPP {self.version}")
        return found

    def _answer_pending(self, answer: tuple[str, Any]) -> None:
        pending = self._pending
        if pending is not None and not pending.answer.done():
            pending.answer.set_result(answer)


def _quote(frame: Any) -> str:
    text = frame if isinstance(frame, str) else repr(frame)
    return text if len(text) <= _QUOTE else text[:_QUOTE] + "…"
