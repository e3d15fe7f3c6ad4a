"""Our CALL waiting for its answer: its unique id, the answer when it comes, and the response
timeout, kept by one timer per session rather than one per CALL.

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

import asyncio
import itertools
import os
from dataclasses import dataclass
from typing import Any

from pievse.aio import AsyncClock, Cancellable

__all__ = ["CallIds", "Pending", "ResponseTimer"]

#: A timer that fires this much before a deadline (the loop's own resolution) counts it as due.
_EARLY_S = 0.001


@dataclass(slots=True)
class Pending:
    unique_id: str
    action: str
    #: Resolves to ("result", payload), ("error", CallErrorReceived), ("invalid", (reason, code,
    #: payload)), ("timeout", None) or ("lost", None): values rather than exceptions, so an
    #: abandoned wait logs nothing.
    answer: asyncio.Future[tuple[str, Any]]
    #: The clock's monotonic time when it times out (set once the CALL is sent).
    deadline: float = float("inf")


class CallIds:
    """Unique ids for one session's CALLs: ``<8 random hex digits>-<counter>``."""

    __slots__ = ("_counter", "_prefix")

    def __init__(self) -> None:
        self._prefix = os.urandom(4).hex() + "-"
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter)}"


class ResponseTimer:
    """Times out the CALL a session waits for, on ``clock``, with one timer at a time."""

    __slots__ = ("_at", "_clock", "_handle", "_watched")

    def __init__(self, clock: AsyncClock) -> None:
        self._clock = clock
        self._handle: Cancellable | None = None
        self._at = 0.0
        self._watched: Pending | None = None

    def watch(self, pending: Pending, timeout: float) -> None:
        """``pending`` was sent: it times out ``timeout`` seconds from now unless answered."""
        pending.deadline = self._clock.monotonic() + timeout
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
        if pending is None or pending.answer.done():
            self._watched = None
            return
        if self._clock.monotonic() >= pending.deadline - _EARLY_S:
            self._watched = None
            pending.answer.set_result(("timeout", None))
        else:
            self._arm(pending.deadline)
