"""OCPP-J remote procedure calls over one open websocket, for both ends of a connection.

OCPP-J frames (CALL, CALLRESULT, CALLERROR; see :mod:`pievse.protocol.common.frames`) go both
ways: the charge point sends BootNotification, StatusNotification, StartTransaction; the central
system (CSMS) sends RemoteStartTransaction, SetChargingProfile, Reset. Each end may have only one
CALL of its own waiting for an answer at a time.

:class:`RpcSession` is one such conversation. It routes inbound CALLs to the ``@on`` handlers of
a handler object (the convention of the ``ocpp`` package), validates every payload in both
directions against the official schemas, answers every CALL (or unreadable frame) it cannot
use with a CALLERROR carrying the code of the session's OCPP version, and never lets a bad frame
end the session. A stray CALLRESULT or CALLERROR is only logged: answering an answer could start
an endless error ping-pong between two strict peers.

The same class serves both ends: the charge point gives it the route map of its adapter's
functional blocks (:func:`route_map`), the bench CSMS (``pievse.csms``) its default answers,
plus what a test CSMS needs: every frame shown to an observer, a hook that may answer any CALL
first, each CALL answered in a task of its own, and raw frames sent as they are.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import is_dataclass
from typing import Any, Literal, Protocol

from ocpp.exceptions import OCPPError
from ocpp.routing import create_route_map
from websockets.exceptions import ConnectionClosed

from pievse.aio import AsyncClock, SystemClock
from pievse.protocol.common.direct_frames import direct_taker
from pievse.protocol.common.frames import (
    CALL,
    CALLERROR,
    CALLRESULT,
    CallError,
    CallResult,
    Frame,
    read_frame,
)
from pievse.protocol.common.payloads import WireRequest, action_of, camel_to_snake_case, payload_of
from pievse.protocol.common.rpc_errors import (
    CallErrorReceived,
    ConnectionLost,
    InvalidRequest,
    InvalidResponse,
    ResponseTimeout,
    RpcError,
)
from pievse.protocol.common.rpc_calls import OnAnswer, OwnCalls
from pievse.protocol.common.rpc_waiting import Pending
from pievse.protocol.common.schemas import SchemaValidator, validator_for

__all__ = [
    "CallErrorReceived",
    "Connection",
    "ConnectionLost",
    "Direction",
    "InvalidRequest",
    "InvalidResponse",
    "OnAnswer",
    "OnCall",
    "OnFrame",
    "ResponseTimeout",
    "RpcError",
    "RpcSession",
    "Routes",
    "route_map",
]

#: "in" for a frame the peer sent, "out" for one this end sent.
Direction = Literal["in", "out"]
#: Sees every frame, both ways, before it is handled or sent.
OnFrame = Callable[[Direction, Frame], None]
#: May answer a CALL before the handlers: (action, payload) -> the answer payload, or None to
#: leave it to the handlers; an OCPPError it raises is sent as the CALLERROR.
OnCall = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any] | None] | dict[str, Any] | None]

#: Action -> its ``@on`` and ``@after`` handlers, as ``ocpp.routing.create_route_map`` makes it.
Routes = dict[str, dict[str, Any]]

#: What a receive raises when the websocket is gone (websockets raises ConnectionClosed).
_CLOSED = (ConnectionClosed, ConnectionError, EOFError)

#: How a CALLRESULT or CALLERROR begins (a guess, settled by reading the frame).
_ANSWER_HEAD = re.compile(r"\s*\[\s*[34]\b")

#: Frames quoted in log lines are cut to this many characters.
_QUOTE = 200


class Connection(Protocol):
    """What a session needs from a connection: a websockets connection has it."""

    async def send(self, message: str) -> None: ...

    async def recv(self) -> str | bytes: ...


def route_map(*handlers: object) -> Routes:
    """One route map of several handler objects (an adapter's functional blocks). An action has
    one owner, its ``@on`` and its ``@after`` in the same object: one that two objects route is
    a mistake, refused with ValueError."""
    routes: Routes = {}
    owners: dict[str, str] = {}
    for handler in handlers:
        name = type(handler).__name__
        for action, route in create_route_map(handler).items():
            if action in routes:
                raise ValueError(f"{action} is routed by both {owners[action]} and {name}")
            routes[action], owners[action] = route, name
    return routes


class RpcSession:
    """One OCPP-J session over one open connection.

    ``handler`` is an object whose methods carry ``@on(Action.x)`` / ``@after(Action.x)`` from
    ``ocpp.routing``; or ``routes`` is the route map of several (:func:`route_map`). An ``@on``
    handler receives the payload as snake_case keyword arguments (plus ``call_unique_id`` if its
    signature names it), may be sync or async, and returns the response dataclass from
    ``ocpp.v16.call_result`` (or a dict). It runs inside the receive loop, so nothing else is read
    while it runs: answer at once. An ``@after`` handler runs afterwards as its own task, once the
    CALLRESULT is sent; that is where follow-up CALLs belong.

    For a test CSMS: ``on_frame`` sees every frame both ways (an answer labelled with the action
    it answers); ``on_call`` may answer a CALL before the handlers (its answer is sent as it is,
    unchecked); ``concurrent`` answers each CALL in a task of its own, so a slow answer holds
    back only itself and may even await a CALL to the peer, while the default answers, which
    never wait, still go out in the order the CALLs came.

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
        on_frame: OnFrame | None = None,
        on_call: OnCall | None = None,
        concurrent: bool = False,
        clock: AsyncClock | None = None,
        routes: Routes | None = None,
        validate_outbound: bool = True,
    ) -> None:
        self.connection = connection
        self.handler = handler
        self.version = version
        self.response_timeout = response_timeout
        self.clock = clock or SystemClock()
        self.log = logger or logging.getLogger("pievse.ocpp.rpc")
        self.validator = validator or validator_for(version)
        self.on_frame = on_frame
        self.on_call = on_call
        self.concurrent = concurrent
        self._codes = self.validator.codes
        if routes is not None and handler is not None:
            raise TypeError("give a handler or a route map, not both")
        self._routes: Routes = (
            routes if routes is not None else route_map(handler) if handler is not None else {}
        )
        self._wants_unique_id: dict[Any, bool] = {}
        self._closed = False
        self._reader: asyncio.Task | None = None
        self._after_tasks: set[asyncio.Task] = set()
        self._answering: set[asyncio.Task] = set()
        # Raw frames sent, each waiting for the frame that answers it, oldest first.
        self._raw_waiters: list[tuple[str | None, asyncio.Future[str | None]]] = []
        # The actions of our CALLs by unique id, to label their answers for ``on_frame``.
        self._called: dict[str, str] = {}
        self._calls = OwnCalls(
            connection, version=version, clock=self.clock, log=self.log,
            validator=self.validator, response_timeout=response_timeout,
            validate_outbound=validate_outbound, show_sent=self._show_sent,
            called=self._called, closed_errors=_CLOSED)

    @property
    def validate_outbound(self) -> bool:
        """False: our own CALLs go unchecked (a fleet checks them in its tests, not per send);
        what the peer sends is validated whatever this says."""
        return self._calls.validate_outbound

    @validate_outbound.setter
    def validate_outbound(self, validate: bool) -> None:
        self._calls.validate_outbound = validate

    @property
    def closed(self) -> bool:
        """True once :meth:`run` has ended or :meth:`close` was called: every later :meth:`call`
        raises ConnectionLost."""
        return self._closed

    def close(self) -> None:
        """Give up on this connection now, without waiting for it to close: the CALL waiting for
        an answer raises ConnectionLost, raw sends get None, CALLs being answered are dropped."""
        self._closed = True
        self._calls.close()
        for _, waiter in self._raw_waiters:
            if not waiter.done():
                waiter.set_result(None)
        for task in self._answering:
            if task is not asyncio.current_task():
                task.cancel()

    # --- receiving -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Read and handle frames until the connection closes (then return, clean close or not)."""
        self._reader = asyncio.current_task()
        # Answers to our CALLs are taken as they arrive, without waking this task for each.
        direct_taker(self.connection)(self._take_answer)
        try:
            while True:
                try:
                    frame = await self.connection.recv()
                except _CLOSED as closed:
                    self.log.debug("connection closed: %s", closed)
                    return
                await self._receive(frame)
        finally:
            self.close()

    def _take_answer(self, text: str) -> bool:
        """Take ``text`` in as it arrives if it answers a CALL (ours or not: a stray answer is
        only logged); False, left to the reader, if it is anything else."""
        if _ANSWER_HEAD.match(text) is None:
            return False
        frame = read_frame(text)
        if frame.message_type not in (CALLRESULT, CALLERROR):
            return False
        try:
            self.log.debug("recv %s", text)
            self._answer_received(frame)
        except Exception:
            # As a failure in the reader would: the session ends, and the link reconnects.
            self.log.exception("taking in an answer failed: closing the session")
            if self._reader is not None:
                self._reader.cancel()
        return True

    async def _receive(self, data: str | bytes) -> None:
        self.log.debug("recv %s", data)
        frame = read_frame(data)
        if frame.message_type in (CALLRESULT, CALLERROR):
            self._answer_received(frame)
            return
        if self.on_frame is not None:
            self.on_frame("in", frame)
        if frame.fault is not None:
            self._give_to_raw_sender(frame)
            kind, reason = frame.fault
            unique_id = "-1" if frame.unique_id is None else frame.unique_id
            await self._refuse_frame(getattr(self._codes, kind), unique_id, reason, frame.text)
        elif self.concurrent:
            task = asyncio.create_task(
                self._handle_call(frame.unique_id, frame.action, frame.payload),
                name=f"ocpp-answer-{frame.action}",
            )
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)
        else:
            await self._handle_call(frame.unique_id, frame.action, frame.payload)

    async def _handle_call(self, unique_id: str, action: str, payload: dict[str, Any]) -> None:
        """Answer one CALL. Whatever fails on the way is this CALL's InternalError: one bad CALL
        never ends the session that other CALLs and our own requests share."""
        try:
            await self._answer_call(unique_id, action, payload)
        except Exception as error:
            self.log.exception("answering %s %s failed", action, unique_id)
            await self._send_error(
                unique_id,
                self._codes.internal(f"handling {action} failed: {type(error).__name__}"),
                action,
            )

    async def _answer_call(self, unique_id: str, action: str, payload: dict[str, Any]) -> None:
        if self.on_call is not None and await self._answered_first(unique_id, action, payload):
            return
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
            await self._send_error(unique_id, error, action)
            return

        validate = not routes.get("_skip_schema_validation", False)
        if validate:
            try:
                self.validator.validate_call(action, payload)
            except OCPPError as error:
                self.log.warning("refused %s %s: %s %s", action, unique_id, error.code,
                                 error.description)
                await self._send_error(unique_id, error, action)
                return

        arguments = camel_to_snake_case(payload)
        ran, result = await self._answer_with(
            "its handler", unique_id, action,
            lambda: on_handler(**self._arguments(on_handler, arguments, unique_id)))
        if not ran:
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
                unique_id, self._codes.internal(f"could not build the answer to {action}"),
                action,
            )
            return
        await self._send(CallResult(unique_id, answer).to_json(), action)

        after = routes.get("_after_action")
        if after is not None:
            task = asyncio.create_task(
                self._run_after(after, self._arguments(after, arguments, unique_id), action),
                name=f"ocpp-after-{action}",
            )
            self._after_tasks.add(task)
            task.add_done_callback(self._after_tasks.discard)

    async def _answered_first(self, unique_id: str, action: str, payload: dict[str, Any]) -> bool:
        """Let ``on_call`` answer the CALL; True if it did (with a CALLRESULT or a CALLERROR)."""
        on_call = self.on_call
        assert on_call is not None
        ran, answer = await self._answer_with("on_call", unique_id, action,
                                              lambda: on_call(action, payload))
        if ran and answer is not None:
            await self._send(CallResult(unique_id, answer).to_json(), action)
        return not ran or answer is not None

    async def _answer_with(self, who: str, unique_id: str, action: str,
                           function: Callable[[], Any]) -> tuple[bool, Any]:
        """Run a handler (sync or async) for a CALL: (True, what it returned), or (False, None)
        once the CALLERROR its failure earns is sent."""
        try:
            result = function()
            if inspect.isawaitable(result):
                result = await result
        except OCPPError as error:
            self.log.info("%s %s refused by %s: %s %s", action, unique_id, who, error.code,
                          error.description)
            await self._send_error(unique_id, error, action)
            return False, None
        except ConnectionClosed:
            return False, None  # the peer left: nobody to answer
        except Exception as error:
            self.log.exception("%s failed on %s %s", who, action, unique_id)
            await self._send_error(
                unique_id,
                self._codes.internal(f"handling {action} failed: {type(error).__name__}"),
                action,
            )
            return False, None
        return True, result

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
        if isinstance(result, dict) or is_dataclass(result) and not isinstance(result, type):
            return payload_of(result)
        raise TypeError(f"a handler returned {type(result).__name__}, not a dataclass or dict")

    def _answer_received(self, frame: Frame) -> None:
        if self.on_frame is not None:
            label = self._called.pop(frame.unique_id, None) if frame.unique_id else None
            self.on_frame("in", frame.answering(label))
        if not self._calls.answer(frame):
            if self._give_to_raw_sender(frame):
                return
            # A late answer to a CALL that timed out, or a peer confused about ids. Answering it
            # with a CALLERROR could start an error ping-pong, so it is only logged.
            kind = "CALLRESULT" if frame.message_type == CALLRESULT else "CALLERROR"
            self.log.warning("dropped a %s for unique id %r: no CALL of ours waits for it: %s",
                             kind, frame.unique_id, _quote(frame.text))

    def _give_to_raw_sender(self, frame: Frame) -> bool:
        """Hand ``frame`` to the raw send it answers: the one with its unique id, or for a
        CALLERROR or a broken frame (whose id may be unreadable), the oldest. True if taken."""
        waiting = [(key, waiter) for key, waiter in self._raw_waiters if not waiter.done()]
        for key, waiter in waiting:
            if key is not None and key == frame.unique_id:
                waiter.set_result(frame.text)
                return True
        if waiting and (frame.message_type == CALLERROR or frame.fault is not None):
            waiting[0][1].set_result(frame.text)
            return True
        return False

    async def _refuse_frame(self, error_class: type[OCPPError], unique_id: str, reason: str,
                            frame: Any) -> None:
        error = error_class(reason)
        self.log.warning("refused a malformed frame (%s, %s): %s", error.code, reason,
                         _quote(frame))
        await self._send_error(unique_id, error)

    # --- sending -------------------------------------------------------------------------------

    async def _send_error(self, unique_id: str, error: OCPPError,
                          action: str | None = None) -> None:
        details = error.details if isinstance(error.details, dict) else {}
        await self._send(
            CallError(unique_id, error.code, error.description or "", details).to_json(), action
        )

    async def _send(self, frame: str, action: str | None = None) -> None:
        """Send one frame (an answer to a CALL for ``action``); a connection that closed
        meanwhile is noticed by the receive loop."""
        self.log.debug("send %s", frame)
        self._show_sent(frame, action)
        write_now = self._calls.write_now
        if write_now is not None and write_now(frame):
            return
        try:
            await self.connection.send(frame)
        except _CLOSED as closed:
            self.log.debug("could not send, connection closed: %s", closed)

    def _show_sent(self, text: str, action: str | None = None) -> None:
        """Show ``on_frame`` a frame about to be sent (before it leaves: its answer may be read
        before ``send()`` returns), and note the action of a CALL to label its answer."""
        if self.on_frame is None:
            return
        frame = read_frame(text)
        if frame.message_type == CALL and frame.unique_id is not None:
            if frame.action is not None:
                self._called[frame.unique_id] = frame.action
        elif frame.message_type in (CALLRESULT, CALLERROR):
            frame = frame.answering(action)
        self.on_frame("out", frame)

    async def call(self, request: Any, *, timeout: float | None = None) -> Any:
        """Send ``request`` (an ``ocpp.v16.call`` dataclass, or a ``WireRequest``) and return the
        peer's answer.

        The answer is the ``ocpp.v16.call_result`` dataclass of the same name, validated. Calls
        queue behind each other, since OCPP-J allows one outstanding CALL per direction. Raises
        :class:`InvalidRequest` (nothing sent), :class:`CallErrorReceived`,
        :class:`ResponseTimeout`, :class:`InvalidResponse` or :class:`ConnectionLost`.
        """
        action, payload = _wire(request)
        answer = await self.call_payload(action, payload, timeout=timeout)
        return self._calls.results.response(action, answer)

    def start_call(self, request: Any, on_answer: OnAnswer, *,
                   timeout: float | None = None) -> Pending:
        """Send ``request`` as :meth:`call` does, without waiting: ``on_answer(response, None)``
        or ``on_answer(None, error)`` (an RpcError, or what the send raised) is called once its
        wait is over, by whatever ends it (the answer read, the timer, the connection closing;
        at once if the session is closed already). It goes out now if no CALL of ours is in
        flight, else in its turn. Raises :class:`InvalidRequest` (nothing sent)."""
        action, payload = _wire(request)
        return self._calls.start(action, payload, on_answer, timeout=timeout)

    async def call_payload(self, action: str, payload: dict[str, Any], *,
                           timeout: float | None = None, validate: bool = True,
                           validate_response: bool = True) -> dict[str, Any]:
        """Send a CALL for ``action`` with a camelCase ``payload``; return the answer's payload.

        As :meth:`call`, in the wire's own terms. ``validate=False`` sends a payload (or an
        action) the schemas refuse, for a test of the peer; ``validate_response=False`` returns
        whatever object the peer answers.
        """
        if self._reader is not None and asyncio.current_task() is self._reader:
            raise RuntimeError(
                "call() from an @on handler would wait for an answer nobody reads: "
                "send follow-up CALLs from an @after handler"
            )
        return await self._calls.call_payload(action, payload, timeout=timeout,
                                              validate=validate,
                                              validate_response=validate_response)

    async def send_raw(self, text: str, timeout: float) -> str | None:
        """Send ``text`` as one frame, whatever it is, beside the CALLs of :meth:`call` (a test
        of how the peer copes with a broken or unexpected frame).

        Returns the frame that answers it: the one carrying its unique id, or if it has none
        that can be read, the next CALLERROR (or broken frame) the peer sends; None if nothing
        answers within ``timeout`` or the connection closes first. Raises ConnectionLost if the
        connection is closed already.
        """
        unique_id = read_frame(text).unique_id
        waiter: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        entry = (unique_id, waiter)
        self._raw_waiters.append(entry)
        try:
            if self._closed:
                raise ConnectionLost("cannot send a raw frame: the connection is closed")
            self.log.debug("send %s", text)
            self._show_sent(text)
            try:
                await self.connection.send(text)
            except _CLOSED as closed:
                raise ConnectionLost(f"could not send a raw frame: {closed}") from None
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return None
        finally:
            self._raw_waiters.remove(entry)


def _wire(request: Any) -> tuple[str, dict[str, Any]]:
    """The action and camelCase payload of a request dataclass or a ``WireRequest``."""
    if type(request) is WireRequest:
        return request
    if not is_dataclass(request) or isinstance(request, type):
        raise TypeError(f"call() takes a request dataclass, not {request!r}")
    return action_of(request), payload_of(request)


def _quote(frame: Any) -> str:
    text = frame if isinstance(frame, str) else repr(frame)
    return text if len(text) <= _QUOTE else text[:_QUOTE] + "…"
