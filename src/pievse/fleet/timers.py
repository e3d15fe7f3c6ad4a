"""The stations' timers of a fleet in one heap, under one asyncio timer.

Each station has one deadline at a time (its core's next one). Thousands of them as asyncio
timer handles make every arm and every wake-up a walk of asyncio's heap, whose entries compare
in Python (``TimerHandle.__lt__``): a good part of a fleet's CPU per message. Here a deadline is
a ``[when, sequence, callback]`` list, compared in C, and the event loop holds one timer: the
earliest deadline. A cancelled deadline stays in the heap without its callback until it is due.

The deadlines also run in batches: the loop's timer is set to the end of the slot of
:data:`BATCH_S` that holds the earliest deadline, and every deadline of that slot runs then, at
most that late (never early: a station stepped before its deadline would find nothing due).
Each wake-up of an idle event loop costs far more than a station's step (the process is put to
sleep and woken, on a cold cache: 50-150 us of CPU on a small VM, measured), so a fleet whose
samples are spread over the interval paid one or two wake-ups per message; in slots of 50 ms,
a thousand stations sending every 10 s share a wake-up five at a time, and their answers come
back together too.

The stations' other timers (their sessions' response timeouts, the outbox's retries) run here
too, through :class:`SlotClock`: a response timer is armed about once every three MeterValues,
and each arm and each firing of an asyncio timer among ten thousand others walks asyncio's
heap in Python.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Callable

from pievse.aio import SystemClock

__all__ = ["Deadline", "Deadlines", "SlotClock"]

#: Deadlines this close are due together, as the loop's own timers are.
_RESOLUTION = time.get_clock_info("monotonic").resolution
#: The deadlines of one slot this long run together, at its end (seconds).
BATCH_S = 0.05


class Deadline(list):
    """[loop time, sequence (ties never compare callbacks), callback or None once cancelled]:
    compared in C as a list, cancelled as a loop's timer handle."""

    __slots__ = ()

    def cancel(self) -> None:
        self[2] = None



class Deadlines:
    """Callbacks at loop times, for many stations of one event loop."""

    def __init__(self, batch: float = BATCH_S) -> None:
        self.batch = batch
        self._heap: list[Deadline] = []
        self._sequence = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._firing = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return len(self._heap)

    def call_later(self, delay: float, callback: Callable[[], object]) -> Deadline:
        """Run ``callback`` in ``delay`` seconds (as the loop's ``call_later``)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A new loop (a fleet run again): what was due on the last one can never run.
            self._loop = loop
            self._heap.clear()
            self._timer = self._timer_at = None
        deadline = Deadline((loop.time() + delay, next(self._sequence), callback))
        heapq.heappush(self._heap, deadline)
        # While the due ones run (and re-arm theirs), the timer is set once, at the end.
        if not self._firing and (self._timer_at is None
                                 or self._slot_end(deadline[0]) < self._timer_at):
            self._arm(loop)
        return deadline

    @staticmethod
    def cancel(deadline: Deadline) -> None:
        deadline.cancel()

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timer_at = None
        heap = self._heap
        while heap and heap[0][2] is None:
            heapq.heappop(heap)
        if heap:
            self._timer_at = self._slot_end(heap[0][0])
            self._timer = loop.call_at(self._timer_at, self._fire)

    def _slot_end(self, when: float) -> float:
        batch = self.batch
        return math.ceil(when / batch) * batch if batch > 0 else when

    def _fire(self) -> None:
        self._timer = self._timer_at = None
        loop = asyncio.get_running_loop()
        heap = self._heap
        now = loop.time() + _RESOLUTION
        self._firing = True
        try:
            while heap and heap[0][0] <= now:
                callback = heapq.heappop(heap)[2]
                if callback is None:
                    continue
                try:
                    callback()
                except Exception as error:  # one station's failure stops no other station
                    loop.call_exception_handler({
                        "message": f"Exception in fleet timer {callback!r}",
                        "exception": error})
        finally:
            self._firing = False
            self._arm(loop)


class SlotClock(SystemClock):
    """The real clock, its timers (``call_later``) run by ``deadlines``: at most one slot late,
    never early."""

    def __init__(self, deadlines: Deadlines) -> None:
        super().__init__()
        self.deadlines = deadlines

    def call_later(self, delay: float, callback: Callable[[], object]) -> Deadline:
        return self.deadlines.call_later(delay, callback)
