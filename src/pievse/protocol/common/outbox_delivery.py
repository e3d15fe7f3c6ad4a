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

from collections.abc import Callable
from typing import Any

from pievse.protocol.common.adapter_context import AdapterContext
from pievse.protocol.common.notifications import Call
from pievse.protocol.common.outbox import OutboxEntry
from pievse.protocol.common.rpc import (
    CallErrorReceived,
    ConnectionLost,
    InvalidResponse,
    ResponseTimeout,
)

__all__ = ["SLOW_RETRY_S", "OutboxDelivery"]

#: Start and stop are never given up; past the attempts they are retried at this slow pace.
SLOW_RETRY_S = 600.0


class OutboxDelivery:
    """Sends the context's outbox while registered (a session task of the transactions block).

    ``build(entry)`` makes the request (None: nothing to send, the entry is dropped),
    ``delivered(entry, answer)`` takes the CSMS's answer in (and acknowledges the entry),
    ``attempts()`` and ``retry_interval()`` read the version's settings, ``name(entry)`` says
    what the entry is in the version's words, for the log.
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
        context.while_registered("ocpp-outbox", self.run)

    async def run(self, call_csms: Call) -> None:
        outbox = self.context.outbox
        while True:
            entry = await outbox.next_ready()
            request = self._build(entry)
            if request is None:
                outbox.ack(entry)
                continue
            try:
                response = await call_csms(request)
            except (CallErrorReceived, ResponseTimeout, InvalidResponse) as error:
                self._retry_later(entry, error)
                continue
            except ConnectionLost:
                return
            self._delivered(entry, response)

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
