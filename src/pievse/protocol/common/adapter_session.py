"""One OCPP session of a charge point, whatever its version: register, then drain the queues.

Per connection the adapter's session registers the charge point (the version's
BootNotification, through ``register``), runs the hooks the blocks registered for that moment,
and for as long as the session lasts runs the blocks' session tasks (the outbox, the heartbeat
...), the redelivery queue, and the ordinary messages (StatusNotification, Authorize ...), which
are only worth sending while connected. A task that fails ends the session, so that the link
logs why and reconnects and everything starts afresh.

Inbound handlers answer at once (the RPC layer reads nothing while a handler runs); follow-up
messages are queued and sent afterwards. What the CSMS asked for (``AdapterContext.reply``)
goes out from the start of the session, while registering too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pievse.core.effects import Effect
from pievse.protocol.common.adapter_context import AdapterContext, OnResponse
from pievse.protocol.common.notifications import Call
from pievse.protocol.common.payloads import action_of
from pievse.protocol.common.rpc import (
    CallErrorReceived,
    ConnectionLost,
    InvalidResponse,
    OnAnswer,
    ResponseTimeout,
    Routes,
    RpcSession,
)

__all__ = ["AdapterSession", "BlockAdapter", "Register", "SessionCalls"]

#: Registers the charge point over a session's call(): True once the CSMS accepted it, False if
#: the connection closed first.
Register = Callable[[Call], Awaitable[bool]]


class AdapterSession:
    """Runs the sessions of one adapter, one connection after another."""

    def __init__(self, context: AdapterContext, routes: Routes, *, version: str,
                 register: Register, response_timeout: Callable[[], float],
                 log: logging.Logger,
                 on_connection_change: Callable[[], None] | None = None) -> None:
        self.context = context
        self.routes = routes
        self.version = version
        self._register = register
        self._response_timeout = response_timeout
        self.log = log
        self._on_connection_change = on_connection_change or (lambda: None)
        #: Check our own CALLs against the schemas before sending.
        self.validate_outbound = True
        self._session: RpcSession | None = None

    @property
    def connected(self) -> bool:
        return self._session is not None

    @property
    def registered(self) -> bool:
        """Connected and accepted by the CSMS (BootNotification Accepted)."""
        return self._session is not None and self.context.registered

    async def run(self, connection: Any) -> None:
        """Run the whole OCPP session over one open websocket, until it closes."""
        context = self.context
        session = RpcSession(
            connection, None, routes=self.routes, version=self.version,
            response_timeout=self._response_timeout(), logger=self.log, clock=context.clock,
            validate_outbound=self.validate_outbound)
        reader = asyncio.create_task(session.run(), name="ocpp-reader")
        self._session = session
        context.registered = False
        self._link_changed()
        context.drop_unsent()
        call_csms = SessionCalls(session, context)
        tasks = [asyncio.create_task(self._send_messages(call_csms, context.next_reply),
                                     name="ocpp-replies")]
        try:
            booting = asyncio.create_task(self._register(session.call))
            done, _ = await asyncio.wait({reader, booting}, return_when=asyncio.FIRST_COMPLETED)
            if booting in done and booting.result():
                context.registered = True
                self._link_changed()
                tasks += [
                    asyncio.create_task(self._send_messages(call_csms, context.next_message),
                                        name="ocpp-messages"),
                    *(asyncio.create_task(task(call_csms), name=name)
                      for name, task in context.session_tasks()),
                    asyncio.create_task(context.notifications.deliver(call_csms),
                                        name="ocpp-notifications"),
                ]
                await _until_closed_or_failed(reader, tasks)
            else:
                booting.cancel()
        finally:
            self._session = None
            context.registered = False
            self._link_changed()
            for task in tasks:
                task.cancel()
            reader.cancel()
            await asyncio.gather(reader, *tasks, return_exceptions=True)
            context.drop_unsent()

    def _link_changed(self) -> None:
        # The station pre-authorises cards locally (LocalPreAuthorize) only while the CSMS is
        # there to hear of the start. This runs in the session's clean-up as well, while the
        # daemon may be cancelling its tasks: an empty batch is not dispatched, as dispatching
        # wakes the daemon's timer, and a wake-up racing its cancellation can swallow it.
        effects = self.context.station.csms_connection_changed(self.registered)
        if effects:
            self.context.dispatch(effects)
        if self.registered:
            for hook in self.context.registered_hooks():
                hook()
        self._on_connection_change()

    async def _send_messages(
            self, call_csms: SessionCalls,
            next_message: Callable[[], Awaitable[tuple[Any, OnResponse | None]]]) -> None:
        while True:
            request, on_response = await next_message()
            response = None
            try:
                response = await call_csms(request)
            except (CallErrorReceived, ResponseTimeout, InvalidResponse) as error:
                self.log.warning("%s failed: %s", action_of(request), error)
            except ConnectionLost:
                if on_response is not None:
                    on_response(None)
                return
            except asyncio.CancelledError:
                # The session ended while this message waited for its turn (one CALL at a time)
                # or for its answer: whoever waits for the answer hears "no answer" now.
                if on_response is not None:
                    on_response(None)
                raise
            if on_response is not None:
                try:
                    on_response(response)
                except Exception:
                    # Whoever waited for this answer failed on it; the next message still goes.
                    self.log.exception("handling the answer to %s failed",
                                       action_of(request))


class SessionCalls:
    """A registered session's CALLs to the CSMS, as the blocks' session tasks send them: awaited
    (``await calls(request)``: the answer, or the RpcError raised) or called back
    (:meth:`start`). An answered message stands for a Heartbeat (``context.last_sent``)."""

    __slots__ = ("_context", "_session")

    def __init__(self, session: RpcSession, context: AdapterContext) -> None:
        self._session = session
        self._context = context

    async def __call__(self, request: Any) -> Any:
        response = await self._session.call(request)
        self._context.last_sent = self._context.clock.monotonic()
        return response

    def start(self, request: Any, on_answer: OnAnswer) -> None:
        """Send ``request`` in its turn, without waiting: ``on_answer(response, None)`` or
        ``on_answer(None, error)`` once its wait is over (at once if the session has closed)."""
        context = self._context

        def answered(response: Any, error: Exception | None) -> None:
            if error is None:
                context.last_sent = context.clock.monotonic()
            on_answer(response, error)

        self._session.start_call(request, answered)


class BlockAdapter:
    """What an adapter of any version does the same: its blocks' effects handed on, its route
    map, its sessions. A version's adapter sets ``context``, ``routes`` and ``sessions``."""

    context: AdapterContext
    routes: Routes
    sessions: AdapterSession

    @property
    def connected(self) -> bool:
        return self.sessions.connected

    @property
    def validate_outbound(self) -> bool:
        """Check our own CALLs against the schemas before sending (a fleet turns this off;
        what comes in is always checked)."""
        return self.sessions.validate_outbound

    @validate_outbound.setter
    def validate_outbound(self, validate: bool) -> None:
        self.sessions.validate_outbound = validate

    @property
    def registered(self) -> bool:
        """Connected and accepted by the CSMS (BootNotification Accepted)."""
        return self.sessions.registered

    def handler(self, action: str) -> Callable[..., Any]:
        """The ``@on`` handler of ``action``, as the RPC layer calls it."""
        return self.routes[action]["_on_action"]

    def handle(self, effect: Effect) -> None:
        """Turn one station effect into a message (or an outbox entry). Never blocks."""
        for handler in self.context.effect_handlers(effect):
            handler(effect)

    async def run_session(self, connection: Any) -> None:
        """Run the whole OCPP session over one open websocket, until it closes."""
        await self.sessions.run(connection)


async def _until_closed_or_failed(reader: asyncio.Task, tasks: list[asyncio.Task]) -> None:
    """Wait until the connection closes (``reader`` ends). A session task that fails instead
    raises here, ending the session: the link logs why and reconnects, and every task starts
    afresh, rather than heartbeats or deliveries stopping without a word."""
    waiting = {reader, *tasks}
    while reader in waiting:
        done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not reader and not task.cancelled() and task.exception() is not None:
                raise task.exception()
