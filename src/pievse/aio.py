"""Waiting on the charge point's clock: the system's, or a fake one that tests move by hand.

The station core only *reads* its clock (:mod:`pievse.core.clock`). Everything that waits (the
heartbeat, retries, reconnect backoff, response timeouts, a firmware update scheduled for later,
the daemon's own timers) waits on an :class:`AsyncClock`, the same clock with the means to wait
added. The composition root builds one and hands it to every part, so a test that builds the
daemon on a :class:`FakeClock` decides when time passes, and can check *when* a heartbeat or a
retry went out, not only that it did.
"""

from __future__ import annotations

import abc
import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, TypeVar

from pievse.core import clock as core_clock
from pievse.core.clock import Clock

__all__ = ["AsyncClock", "Cancellable", "FakeClock", "SystemClock"]

T = TypeVar("T")


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class AsyncClock(Clock, Protocol):
    """A clock that can also be waited on; every delay is in seconds of :meth:`monotonic`."""

    def timeout(self, delay: float | None) -> AbstractAsyncContextManager[None]:
        """Like ``asyncio.timeout``: TimeoutError if the block is still running after ``delay``
        (None: no limit)."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    def call_later(self, delay: float, callback: Callable[[], object]) -> Cancellable: ...

    async def wait(self, event: asyncio.Event, timeout: float | None) -> bool:
        """Wait for ``event`` at most ``timeout`` (None: for ever); True if it was set."""
        ...

    async def wait_for(self, awaitable: Awaitable[T], timeout: float | None) -> T:
        """The result of ``awaitable``, or TimeoutError (it is then cancelled)."""
        ...


def honour_cancellation() -> None:
    """Raise the cancellation of the current task if one was asked for and swallowed by
    something it awaited (an MQTT client's connect or publish turns it into its own error).
    Every wait and sleep of the clocks starts here: left pending, a timeout would take it for its
    own, a reconnect loop would go on, and the daemon's stop would hang."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class WaitingClock(abc.ABC):
    """What every clock that can be waited on derives from its ``timeout``."""

    @abc.abstractmethod
    def timeout(self, delay: float | None) -> AbstractAsyncContextManager[None]: ...

    async def wait(self, event: asyncio.Event, timeout: float | None) -> bool:
        # A timeout block, not asyncio.wait_for: on Python 3.11 wait_for can swallow a
        # cancellation that arrives while the event is being set (CPython gh-86296), and a loop
        # built on it then never stops, which hangs the daemon's shutdown. For the same reason
        # a cancellation that a library swallowed is honoured here (see honour_cancellation).
        honour_cancellation()
        try:
            async with self.timeout(timeout):
                await event.wait()
        except TimeoutError:
            return False
        return True

    async def wait_for(self, awaitable: Awaitable[T], timeout: float | None) -> T:
        async with self.timeout(timeout):
            return await awaitable


class SystemClock(core_clock.SystemClock, WaitingClock):
    """The real clock: the core's wall time, asyncio's monotonic timers."""

    def timeout(self, delay: float | None) -> AbstractAsyncContextManager[None]:
        return asyncio.timeout(delay)

    async def sleep(self, seconds: float) -> None:
        honour_cancellation()
        await asyncio.sleep(seconds)

    def call_later(self, delay: float, callback: Callable[[], object]) -> Cancellable:
        return asyncio.get_running_loop().call_later(delay, callback)


# --- the tests' clock -------------------------------------------------------------------------


@dataclass(order=True)
class _Timer:
    when: float
    seq: int
    callback: Callable[[], object] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock(WaitingClock):
    """A clock that moves only when told to, and wakes whoever waits on it in time order.

    Sockets, threads and the event loop run for real; only time is fake. :meth:`advance` steps
    from one due timer to the next: at each it sets the clock to that instant, fires what is due
    and lets the event loop run until nothing is ready any more, so that a heartbeat woken at
    ``t`` is sent at ``t`` and waits for ``t + interval`` before the clock moves on. Wall time
    (:meth:`now`) and :meth:`monotonic` move together.
    """

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._start = float(start)
        self._elapsed = 0.0
        self._timers: list[_Timer] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._start + self._elapsed

    def monotonic(self) -> float:
        return self._elapsed

    def timeout(self, delay: float | None) -> AbstractAsyncContextManager[None]:
        return _FakeTimeout(self, delay)

    async def sleep(self, seconds: float) -> None:
        honour_cancellation()
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        woken = asyncio.get_running_loop().create_future()
        timer = self.call_later(seconds, lambda: woken.done() or woken.set_result(None))
        try:
            await woken
        finally:
            timer.cancel()

    def call_later(self, delay: float, callback: Callable[[], object]) -> _Timer:
        timer = _Timer(self._elapsed + max(0.0, delay), next(self._seq), callback)
        heapq.heappush(self._timers, timer)
        return timer

    @property
    def next_timer(self) -> float | None:
        """When (in :meth:`monotonic` seconds) the next waiter wakes; None if nobody waits."""
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0].when if self._timers else None

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass, waking every waiter due on the way at its own instant."""
        if seconds < 0:
            raise ValueError("a fake clock only moves forwards")
        target = self._elapsed + seconds
        await self.settle()
        while (due := self.next_timer) is not None and due <= target:
            self._elapsed = max(self._elapsed, due)
            while (due := self.next_timer) is not None and due <= self._elapsed:
                heapq.heappop(self._timers).callback()
            await self.settle()
        self._elapsed = target
        await self.settle()

    @staticmethod
    async def settle(quiet_rounds: int = 3) -> None:
        """Run the event loop until, ``quiet_rounds`` times in a row, nothing else was ready
        (what already arrived on a socket is read in between)."""
        ready = getattr(asyncio.get_running_loop(), "_ready", None)  # asyncio's own loop only
        quiet = 0
        for _ in range(100_000):
            await asyncio.sleep(0)
            quiet = quiet + 1 if ready is None or not ready else 0
            if quiet >= (quiet_rounds if ready is not None else 100):
                return


class _FakeTimeout:
    """``asyncio.timeout`` on a fake clock: the block is cancelled when the clock passes its
    deadline, and the cancellation comes out as TimeoutError."""

    def __init__(self, clock: FakeClock, delay: float | None) -> None:
        self._clock = clock
        self._delay = delay
        self._task: asyncio.Task | None = None
        self._timer: Cancellable | None = None
        self._cancelling = 0
        self._expired = False
        self._left = False

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a timeout needs a task")
        self._task, self._cancelling = task, task.cancelling()
        if self._delay is not None:
            self._timer = (self._clock.call_later(self._delay, self._expire) if self._delay > 0
                           else asyncio.get_running_loop().call_soon(self._expire))

    def _expire(self) -> None:
        if not self._left and self._task is not None:
            self._expired = True
            self._task.cancel()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        self._left = True
        if self._timer is not None:
            self._timer.cancel()
        if self._expired and self._task is not None:
            if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
                raise TimeoutError from exc
