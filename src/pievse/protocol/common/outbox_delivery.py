"""Delivering the outbox: the transaction messages, in order, each until the CSMS answered it.

The same rules in 1.6 (StartTransaction, StopTransaction, MeterValues) and 2.0.1
(TransactionEvent): a message that fails (CALLERROR, no answer, an answer that does not fit) is
tried again after the retry interval times the attempts so far, up to the attempts configured
(TransactionMessageAttempts / RetryInterval in 1.6, MessageAttempts / MessageAttemptInterval
of OCPPCommCtrlr in 2.0.1). Past them a meter value is given up; a start or a stop never is (a
CPO bills from them): it is retried at the slow pace of :data:`SLOW_RETRY_S`, each failure
logged. A connection lost leaves the head in place for the next connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pievse.aio import Cancellable
from pievse.protocol.common.adapter_context import AdapterContext
from pievse.protocol.common.adapter_session import SessionCalls
from pievse.protocol.common.outbox import OutboxEntry
from pievse.protocol.common.rpc import ConnectionLost, RpcError

__all__ = ["SLOW_RETRY_S", "OutboxDelivery"]

#: Start and stop are never given up; past the attempts they are retried at this slow pace.
SLOW_RETRY_S = 600.0


class OutboxDelivery:
    """Sends the context's outbox while registered (a session task of the transactions block).

    ``build(entry)`` makes the request (None: nothing to send, the entry is dropped),
    ``delivered(entry, answer)`` takes the CSMS's answer in (and acknowledges the entry),
    ``attempts()`` and ``retry_interval()`` read the version's settings, ``name(entry)`` says
    what the entry is in the version's words, for the log.

    The session task waits only for the session's end: the delivery itself runs on callbacks.
    A change of the outbox (an entry put, the last one answered) schedules a look at its head
    (soon, not at once: the station's step that put it finishes first, and with it the store's
    write); the head goes out as the session's next CALL, in its turn; its answer, read by the
    session, hands it over to ``delivered`` and looks at the next. No task is woken per message
    (a delivery task woken to send and again by the answer cost a fleet of thousands of stations
    a measurable part of its CPU per message).
    """

    def __init__(self, context: AdapterContext, *, build: Callable[[OutboxEntry], Any],
                 delivered: Callable[[OutboxEntry, Any], None], attempts: Callable[[], int],
                 retry_interval: Callable[[], float],
                 name: Callable[[OutboxEntry], str]) -> None:
        self.context = context
        self.log = context.log
        self._build = build
        self._delivered = delivered
        self._attempts = attempts
        self._retry_interval = retry_interval
        self._name = name
        #: The session's CALLs while a session runs, and what its task awaits (its end).
        self._calls: SessionCalls | None = None
        self._ended: asyncio.Future[None] | None = None
        #: The entry sent and not yet answered (one at a time, in order).
        self._in_flight: OutboxEntry | None = None
        self._looking = False
        self._retry: Cancellable | None = None
        context.while_registered("ocpp-outbox", self.run)

    async def run(self, call_csms: SessionCalls) -> None:
        """Deliver over one session until it ends (the connection lost: the head stays for the
        next); what fails on the way is raised here, ending the session."""
        outbox = self.context.outbox
        ended = self._ended = asyncio.get_running_loop().create_future()
        self._calls, self._in_flight, self._looking = call_csms, None, False
        outbox.on_change = self._look_soon
        self._look_soon()
        try:
            await ended
        finally:
            if outbox.on_change == self._look_soon:
                outbox.on_change = None
            if self._ended is ended:
                self._calls = self._ended = self._in_flight = None
                self._cancel_retry()

    def _look_soon(self) -> None:
        # Nothing to look at while an entry is in flight (its answer looks next) or none waits.
        if (not self._looking and self._calls is not None and self._in_flight is None
                and len(self.context.outbox)):
            self._looking = True
            asyncio.get_running_loop().call_soon(self._look)

    def _look(self) -> None:
        self._looking = False
        try:
            self._send_head()
        except Exception as error:  # noqa: BLE001 - it ends the session, as a task's failure
            self._end(error)

    def _send_head(self) -> None:
        calls = self._calls
        if calls is None or self._in_flight is not None:
            return
        outbox = self.context.outbox
        while (entry := outbox.head()) is not None:
            delay = entry.not_before - self.context.clock.monotonic()
            if delay > 0:
                self._cancel_retry()
                self._retry = self.context.clock.call_later(delay, self._look_soon)
                return
            request = self._build(entry)
            if request is None:
                outbox.ack(entry)
                continue
            self._in_flight = entry
            calls.start(request, lambda response, error: self._answered(
                calls, entry, response, error))
            return

    def _answered(self, calls: SessionCalls, entry: OutboxEntry, response: Any,
                  error: Exception | None) -> None:
        if calls is not self._calls or entry is not self._in_flight:
            return  # a session that has ended
        self._in_flight = None
        try:
            if error is None:
                self._delivered(entry, response)
            elif isinstance(error, ConnectionLost):
                self._end(None)
                return
            elif isinstance(error, RpcError):
                self._retry_later(entry, error)
            else:
                raise error
        except Exception as failure:  # noqa: BLE001 - it ends the session, as a task's failure
            self._end(failure)
            return
        self._look_soon()

    def _end(self, error: BaseException | None) -> None:
        ended = self._ended
        if ended is not None and not ended.done():
            if error is None:
                ended.set_result(None)
            else:
                ended.set_exception(error)

    def _cancel_retry(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None

    def _retry_later(self, entry: OutboxEntry, error: Exception) -> None:
        outbox = self.context.outbox
        entry.attempts += 1
        outbox.attempted(entry)
        if entry.attempts >= int(self._attempts()):
            if entry.kind == "meter":
                self.log.error("%s of transaction %s given up after %s attempts: %s",
                               self._name(entry), entry.transaction_ref, entry.attempts, error)
                outbox.ack(entry)
                return
            delay = SLOW_RETRY_S
        else:
            # The retry interval times the number of attempts so far (OCPP 1.6 4.7, 2.0.1 E13).
            delay = float(self._retry_interval()) * entry.attempts
        self.log.warning("%s of transaction %s failed (%s); attempt %s, next in %.0f s",
                         self._name(entry), entry.transaction_ref, error, entry.attempts, delay)
        outbox.postpone(entry, delay)
