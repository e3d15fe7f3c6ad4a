"""The redelivery queue: notifications the CSMS must hear even when the link drops on the way.

Some notifications tell the CSMS how something ended that it asked for or must know about: where
a firmware update stands, whether a diagnostics or log upload arrived, a security event. They
are put here rather than sent and forgotten: sent in order while the charge point is registered,
kept while it is not, and tried again every ``retry_interval`` seconds (of the charge point's
clock) when the CSMS answers with a CALLERROR or not at all. Each kind has its :class:`Rule`:

* ``latest_only``: only the newest of the kind is worth sending *again* (the CSMS needs to know
  where an update ended, not every step it missed). While connected every one is sent; but one
  that failed, or that waits while offline, gives way to a newer one of its kind.
* ``must_arrive(request)``: retried until delivered (a critical security event); the others are
  given up after ``attempts`` failed attempts, so that one the CSMS keeps refusing does not hold
  up those behind it for ever.
* ``limit``: at most that many of the kind wait; past it the oldest that need not arrive give
  way first.

A CSMS that answers NotImplemented or NotSupported does not take that message at all: it is
dropped at once, whatever its rule.

This is not the outbox (:mod:`pievse.protocol.common.outbox`): transaction messages are written
through to disk, name their transaction by a reference that the CSMS's answer to the start turns
into its id, and follow the OCPP keys TransactionMessageAttempts and RetryInterval. Notifications
live in memory; what must outlive a restart (the report of a firmware update) is kept on disk by
its service and put here again after the restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pievse.aio import AsyncClock
from pievse.protocol.common.rpc import (
    CallErrorReceived,
    ConnectionLost,
    InvalidResponse,
    ResponseTimeout,
)

__all__ = ["DEFAULT_RETRY_INTERVAL_S", "Notification", "RedeliveryQueue", "Rule"]

#: How long a notification the CSMS refused or left unanswered waits before it is sent again.
DEFAULT_RETRY_INTERVAL_S = 60.0

#: CALLERROR codes that say the CSMS does not take the message at all: sending it again is futile.
REFUSED_FOR_GOOD = frozenset({"NotImplemented", "NotSupported"})


def _never(request: Any) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class Rule:
    """How one kind of notification is kept and retried (see the module's doc)."""

    latest_only: bool = False
    must_arrive: Callable[[Any], bool] = _never
    attempts: int = 3
    limit: int | None = None


@dataclass(slots=True, eq=False)
class Notification:
    kind: str
    request: Any  # what the session's call() sends
    on_delivered: Callable[[Any], None] | None = None  # given the CSMS's answer
    attempts: int = 0
    not_before: float = field(default=0.0)  # the clock's monotonic time of the next attempt


#: Sends one request and returns the answer, raising the RPC layer's errors.
Call = Callable[[Any], Awaitable[Any]]


class RedeliveryQueue:
    def __init__(self, clock: AsyncClock, *, retry_interval: float = DEFAULT_RETRY_INTERVAL_S,
                 logger: logging.Logger | None = None) -> None:
        self.clock = clock
        self.retry_interval = retry_interval
        self.log = logger or logging.getLogger("pievse.ocpp.notifications")
        self._rules: dict[str, Rule] = {}
        self._waiting: deque[Notification] = deque()
        self._sending: Notification | None = None
        self._delivering = False
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._waiting)

    def rule(self, kind: str, rule: Rule) -> None:
        """How ``kind`` is kept and retried (the default: :class:`Rule`'s)."""
        self._rules[kind] = rule

    def requests(self, kind: str | None = None) -> list[Any]:
        """What waits (``kind``'s only, if given), in the order it will be sent."""
        return [n.request for n in self._waiting if kind is None or n.kind == kind]

    def holds(self, kind: str) -> bool:
        """Something of ``kind`` waits or is on its way."""
        return any(n.kind == kind for n in self._waiting)

    def put(self, kind: str, request: Any,
            on_delivered: Callable[[Any], None] | None = None) -> None:
        """Send ``request`` after what already waits; ``on_delivered(answer)`` once the CSMS
        has answered it."""
        rule = self._rules.get(kind, Rule())
        if rule.latest_only:
            for older in self._others(kind):
                if older.attempts or not self._delivering:  # it would be a re-send
                    self._waiting.remove(older)
        self._waiting.append(Notification(kind, request, on_delivered))
        same = self._others(kind)
        if rule.limit is not None and len(same) > rule.limit:
            self._waiting.remove(next((n for n in same if not rule.must_arrive(n.request)),
                                      same[0]))
        self._changed.set()

    def _others(self, kind: str) -> list[Notification]:
        """The waiting notifications of ``kind``, but not the one on its way."""
        return [n for n in self._waiting if n.kind == kind and n is not self._sending]

    async def deliver(self, call: Call) -> None:
        """Send what waits, in order, through ``call``; return when the connection is lost (what
        was on its way is sent first over the next one)."""
        self._delivering = True
        try:
            await self._deliver(call)
        finally:
            self._delivering = False
            self._keep_latest()

    async def _deliver(self, call: Call) -> None:
        while True:
            notification = await self._next_due()
            self._sending = notification
            try:
                answer = await call(notification.request)
            except (CallErrorReceived, ResponseTimeout, InvalidResponse) as error:
                self._failed(notification, error)
                continue
            except ConnectionLost:
                self._give_way(notification)
                return
            finally:
                self._sending = None
            self._drop(notification)
            if notification.on_delivered is not None:
                notification.on_delivered(answer)

    async def _next_due(self) -> Notification:
        while True:
            self._changed.clear()
            if not self._waiting:
                await self._changed.wait()
                continue
            head = self._waiting[0]
            delay = head.not_before - self.clock.monotonic()
            if delay <= 0:
                return head
            await self.clock.wait(self._changed, delay)

    def _failed(self, notification: Notification, error: Exception) -> None:
        notification.attempts += 1
        rule = self._rules.get(notification.kind, Rule())
        what = f"{type(notification.request).__name__} ({error})"
        if isinstance(error, CallErrorReceived) and error.code in REFUSED_FOR_GOOD:
            self.log.error("%s: the CSMS does not take it; not sent again", what)
        elif self._give_way(notification):
            self.log.warning("%s: a newer one is sent instead", what)
            return
        elif rule.must_arrive(notification.request) or notification.attempts < rule.attempts:
            notification.not_before = self.clock.monotonic() + self.retry_interval
            self.log.warning("%s: attempt %d failed, next in %.0f s", what,
                             notification.attempts, self.retry_interval)
            return
        else:
            self.log.error("%s: given up after %d attempts", what, notification.attempts)
        self._drop(notification)

    def _keep_latest(self) -> None:
        """Offline from now on: of each kind whose latest only counts, only that one waits."""
        latest: dict[str, Notification] = {}
        for notification in self._waiting:
            if self._rules.get(notification.kind, Rule()).latest_only:
                latest[notification.kind] = notification
        self._waiting = deque(n for n in self._waiting
                              if latest.get(n.kind, n) is n)

    def _give_way(self, notification: Notification) -> bool:
        """Drop a notification that failed if a newer one of its kind waits and only the
        latest counts; True if it was dropped."""
        rule = self._rules.get(notification.kind, Rule())
        if rule.latest_only and self._others(notification.kind):
            self._drop(notification)
            return True
        return False

    def _drop(self, notification: Notification) -> None:
        if notification in self._waiting:
            self._waiting.remove(notification)
