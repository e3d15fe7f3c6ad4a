"""What the functional blocks of any OCPP version's adapter share, given to each by the adapter.

A block gets a context and nothing else of the adapter or of another block: the station core
and the dispatch of its effects, the clock, the outbox and the redelivery queue, a way to send an
ordinary CALL, and whether the CSMS has accepted the charge point. Each version's context adds
what is its own (1.6's configuration keys, 2.0.1's device model). The services behind the
firmware update, the diagnostics and log uploads and the certificates are the same for both
versions, None where the charge point runs without them.

A block registers what it takes part in rather than being called by name:

* :meth:`AdapterContext.on_effect`: the station effects it turns into messages;
* :attr:`AdapterContext.triggers`: the messages it sends when the CSMS triggers them;
* :meth:`AdapterContext.on_registered`: what it does once the CSMS has accepted the charge point;
* :meth:`AdapterContext.while_registered`: the tasks it runs for as long as that lasts.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pievse.aio import AsyncClock
from pievse.core.effects import Effect
from pievse.protocol.common.notifications import Call, RedeliveryQueue
from pievse.protocol.common.outbox import Outbox

if TYPE_CHECKING:
    from pievse.core.authorization import AuthorizationResult, IdToken
    from pievse.core.station import Station
    from pievse.protocol.common.security_events import SecurityEvents
    from pievse.protocol.common.transport_security import SecurityState
    from pievse.services.certificates import CertificateStore
    from pievse.services.diagnostics import DiagnosticsUploader
    from pievse.services.firmware import FirmwareUpdater
    from pievse.services.log_upload import LogUploader

__all__ = ["AdapterContext", "Dispatch", "OnResponse", "SessionTask", "Trigger", "Triggers"]

Dispatch = Callable[[list[Effect]], None]
#: Given the CSMS's answer to a CALL, or None when none came (error, timeout, link lost).
OnResponse = Callable[[Any], None]
#: A task of a registered session, given the session's call().
SessionTask = Callable[[Call], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Trigger:
    #: Sends the message (for the connector or EVSE asked for, None for all); may be a coroutine.
    send: Callable[[int | None], Any]
    #: The status to answer instead of Accepted when the message cannot be sent now (it
    #: logs why).
    refusal: Callable[[], str | None] | None = None


class Triggers:
    """What each block can send when the CSMS triggers it: requested message -> how."""

    def __init__(self) -> None:
        self._triggers: dict[str, Trigger] = {}

    def register(self, message: str, send: Callable[[int | None], Any], *,
                 refusal: Callable[[], str | None] | None = None) -> None:
        if message in self._triggers:
            raise ValueError(f"two blocks send {message} when triggered")
        self._triggers[message] = Trigger(send, refusal)

    def status(self, message: str) -> str:
        """The answer to a trigger of ``message`` (the connector checked already)."""
        trigger = self._triggers.get(message)
        if trigger is None:
            return "NotImplemented"
        refused = trigger.refusal() if trigger.refusal is not None else None
        return refused or "Accepted"

    async def send(self, message: str, connector_id: int | None) -> None:
        """Send what a trigger asks for, once the answer has gone out (a sender whose trigger
        can be refused checks again that it still can)."""
        trigger = self._triggers.get(message)
        if trigger is None:
            return
        sent = trigger.send(connector_id)
        if inspect.isawaitable(sent):
            await sent


class AdapterContext:
    """The parts of a charge point its functional blocks share, whatever the OCPP version."""

    def __init__(
        self,
        station: Station,
        dispatch: Dispatch,
        *,
        clock: AsyncClock,
        outbox: Outbox,
        notifications: RedeliveryQueue,
        log: logging.Logger,
        firmware: FirmwareUpdater | None = None,
        diagnostics: DiagnosticsUploader | None = None,
        logs: LogUploader | None = None,
        certificates: CertificateStore | None = None,
        security_state: SecurityState | None = None,
        security_events: SecurityEvents | None = None,
    ) -> None:
        self.station = station
        self.firmware = firmware
        self.diagnostics = diagnostics
        self.logs = logs
        self.certificates = certificates
        self.security_state = security_state
        self.security_events = security_events
        self.dispatch = dispatch
        self.clock = clock
        self.outbox = outbox
        self.log = log
        #: Notifications the CSMS must hear even if the link drops on their way.
        self.notifications = notifications
        self.triggers = Triggers()
        #: Connected and accepted by the CSMS (BootNotification Accepted); set by the adapter.
        self.registered = False
        #: When the last message went out (the clock's monotonic time): the heartbeat counts
        #: from it, since a message the CSMS answered stands for a Heartbeat.
        self.last_sent = clock.monotonic()
        self._messages: asyncio.Queue[tuple[Any, OnResponse | None]] = asyncio.Queue()
        self._replies: asyncio.Queue[tuple[Any, OnResponse | None]] = asyncio.Queue()
        self._effect_handlers: dict[type, list[Callable[[Any], None]]] = {}
        self._registered_hooks: list[Callable[[], None]] = []
        self._session_tasks: list[tuple[str, SessionTask]] = []

    # --- sending -------------------------------------------------------------------------------

    def send(self, request: Any, on_response: OnResponse | None = None) -> None:
        """Queue an ordinary CALL (one worth sending only while connected). Never blocks."""
        self._messages.put_nowait((request, on_response))

    async def next_message(self) -> tuple[Any, OnResponse | None]:
        return await self._messages.get()

    def reply(self, request: Any, on_response: OnResponse | None = None) -> None:
        """Queue a CALL the CSMS asked for (a report, a triggered message): it goes out as soon
        as the session is open, even before the CSMS has accepted the charge point, when
        nothing else may be sent. Never blocks."""
        self._replies.put_nowait((request, on_response))

    async def next_reply(self) -> tuple[Any, OnResponse | None]:
        return await self._replies.get()

    def drop_unsent(self) -> None:
        """Ordinary messages do not outlive a connection: those still queued are dropped, and
        whoever waits for an answer hears None (an Authorize, say: the card holder is not left
        waiting)."""
        for queue in (self._messages, self._replies):
            while not queue.empty():
                _, on_response = queue.get_nowait()
                if on_response is not None:
                    on_response(None)

    def answer(self, answer: Any) -> Any:
        """Carry out what a command caused; its status, in the core's words, is left to the
        block to say in its version's."""
        self.dispatch(answer.effects)
        return answer.status

    def later(self, step: Callable[[], list[Effect]]) -> None:
        """Feed an answer back to the station outside the current call stack (a block's effect
        handler runs inside the daemon's dispatch of the station's effects)."""
        asyncio.get_running_loop().call_soon(lambda: self.dispatch(step()))

    def ask_authorization(self, id_token: IdToken, request: Any,
                          decode: Callable[[Any], AuthorizationResult]) -> None:
        """Send an Authorize (``request``) for ``id_token`` and hand the CSMS's verdict
        (``decode(answer)``) to the station; without a registered CSMS or an answer, the
        station hears "CSMS not reachable" (None) and applies its offline rules."""
        station = self.station
        if not self.registered:
            self.log.info("Authorize %s: CSMS not reachable", id_token.value)
            self.later(lambda: station.authorization_result(id_token, None))
            return

        def answered(response: Any) -> None:
            result = decode(response) if response is not None else None
            self.later(lambda: station.authorization_result(id_token, result))

        self.send(request, answered)

    def setting_changed(self, definition: Any, value: Any) -> bool:
        """A key or variable the CSMS changed: if it feeds a station setting (its ``setting``,
        converted by its ``to_setting``), the station hears of it. True if it did."""
        if definition.setting is None:
            return False
        converted = definition.to_setting(value) if definition.to_setting else value
        self.dispatch(self.station.update_settings(**{definition.setting: converted}))
        return True

    # --- what the blocks register --------------------------------------------------------------

    def on_effect(self, kind: type[Effect], handler: Callable[[Any], None]) -> None:
        self._effect_handlers.setdefault(kind, []).append(handler)

    def effect_handlers(self, effect: Effect) -> list[Callable[[Any], None]]:
        return self._effect_handlers.get(type(effect), [])

    def on_registered(self, hook: Callable[[], None]) -> None:
        self._registered_hooks.append(hook)

    def registered_hooks(self) -> list[Callable[[], None]]:
        return list(self._registered_hooks)

    def while_registered(self, name: str, task: SessionTask) -> None:
        self._session_tasks.append((name, task))

    def session_tasks(self) -> list[tuple[str, SessionTask]]:
        return list(self._session_tasks)
