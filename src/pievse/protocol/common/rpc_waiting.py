"""Our CALLs: the one waiting for its answer, those waiting their turn behind it, and the response
timeout, kept by one timer per session rather than one per CALL.

OCPP-J lets each end have one CALL of its own waiting for an answer at a time. Whoever sends
(the outbox, the heartbeat, a block's message) hands its CALL to :class:`Turns`: it goes out at
once if nothing is in flight, else when the CALLs before it have been answered, in the order they
came. A CALL is told of its answer by a callback (:attr:`Pending.on_answer`), called by whatever
ends its wait: the session reading the answer, the timer, the connection closing. So a sender
that needs no task of its own (the outbox) waits for nothing: a fleet of thousands of stations
paid two task wake-ups per message for that, a good part of its CPU per message.

A charge point sends a CALL every few seconds and nearly every one is answered within
milliseconds. A timer per CALL (``asyncio.timeout``) is armed and cancelled again each time:
thousands of stations in one process paid for that on every message. Here the session's timer is
armed at the first CALL's deadline and left alone while later CALLs come and go; when it fires it
times out the CALL still waiting if that one's deadline has come, and otherwise moves on to it.
A station sending every 10 s with the default 30 s timeout arms it about once in three CALLs.

Unique ids need only be unique within the connection (OCPP-J: no two CALLs of one side with the
same id): a random prefix per session and a counter make them, without a random UUID per CALL.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from typing import Any

from pievse.aio import AsyncClock, Cancellable

__all__ = ["Answer", "CallIds", "Pending", "ResponseTimer", "Turns"]

#: A timer that fires this much before a deadline (the loop's own resolution) counts it as due.
_EARLY_S = 0.001

#: ("result", payload), ("error", CallErrorReceived), ("invalid", (reason, code, payload)),
#: ("timeout", None), ("lost", why or None) or ("failed", what the send raised besides the
#: connection's loss): values rather than exceptions, so an abandoned wait logs nothing.
Answer = tuple[str, Any]


class Pending:
    """One CALL of ours, from the moment it is handed over until its wait ends."""

    __slots__ = ("action", "deadline", "done", "on_answer", "payload", "timeout", "unique_id")

    def __init__(self, action: str, payload: dict[str, Any], timeout: float,
                 on_answer: Callable[[Answer], None]) -> None:
        self.action = action
        #: Until it is sent; then None (the frame is written).
        self.payload: dict[str, Any] | None = payload
        self.timeout = timeout
        #: Called once with the :data:`Answer`, unless the wait was abandoned.
        self.on_answer = on_answer
        #: Given when it is sent.
        self.unique_id = ""
        #: The clock's monotonic time when it times out (set once the CALL is sent).
        self.deadline = float("inf")
        #: Its wait is over (answered, timed out, lost or abandoned).
        self.done = False


class Turns:
    """The CALL in flight and those waiting their turn, oldest first."""

    __slots__ = ("in_flight", "_waiting")

    def __init__(self) -> None:
        self.in_flight: Pending | None = None
        # A list, not a deque: rarely more than one waits, and an empty deque costs a fleet of
        # thousands of sessions 600 bytes each.
        self._waiting: list[Pending] = []

    def take(self, pending: Pending) -> bool:
        """True if ``pending`` may go out now (it is in flight); else it waits its turn."""
        if self.in_flight is None and not self._waiting:
            self.in_flight = pending
            return True
        self._waiting.append(pending)
        return False

    def finish(self, pending: Pending) -> Pending | None:
        """``pending``'s wait is over: the next CALL to send now (in flight from now), if any."""
        if self.in_flight is not pending:
            if pending in self._waiting:
                self._waiting.remove(pending)
            return None
        self.in_flight = None
        while self._waiting:
            following = self._waiting.pop(0)
            if not following.done:
                self.in_flight = following
                return following
        return None

    def clear(self) -> list[Pending]:
        """Every CALL still waiting, the one in flight first; none is in flight afterwards."""
        pending = [self.in_flight] if self.in_flight is not None else []
        pending.extend(self._waiting)
        self.in_flight = None
        self._waiting.clear()
        return pending


class CallIds:
    """Unique ids for one session's CALLs: ``<8 random hex digits>-<counter>``."""

    __slots__ = ("_counter", "_prefix")

    def __init__(self) -> None:
        self._prefix = os.urandom(4).hex() + "-"
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter)}"


class ResponseTimer:
    """Times out the CALL a session waits for, on ``clock``, with one timer at a time:
    ``on_due(pending)`` when its deadline has come and it is not done."""

    __slots__ = ("_at", "_clock", "_handle", "_on_due", "_watched")

    def __init__(self, clock: AsyncClock, on_due: Callable[[Pending], None]) -> None:
        self._clock = clock
        self._on_due = on_due
        self._handle: Cancellable | None = None
        self._at = 0.0
        self._watched: Pending | None = None

    def watch(self, pending: Pending) -> None:
        """``pending`` was sent: it times out ``pending.timeout`` seconds from now unless
        answered."""
        pending.deadline = self._clock.monotonic() + pending.timeout
        self._watched = pending
        if self._handle is None or self._at > pending.deadline:
            self._arm(pending.deadline)

    def stop(self) -> None:
        self._watched = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _arm(self, at: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._at = at
        self._handle = self._clock.call_later(max(0.0, at - self._clock.monotonic()), self._due)

    def _due(self) -> None:
        self._handle = None
        pending = self._watched
        if pending is None or pending.done:
            self._watched = None
            return
        if self._clock.monotonic() >= pending.deadline - _EARLY_S:
            self._watched = None
            self._on_due(pending)
        else:
            self._arm(pending.deadline)
