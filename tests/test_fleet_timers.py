"""The fleet's shared station timers: due callbacks run in deadline order, a cancelled one never
runs, one that fails stops no other, and a callback may arm a deadline again while they run; the
stations' clock runs its timers (response timeouts, retries) there, never early."""

from __future__ import annotations

import asyncio

from pievse.fleet.timers import Deadlines, SlotClock


def test_deadlines_run_in_order_without_the_cancelled_and_past_a_failure() -> None:
    ran: list[str] = []
    failures: list[BaseException] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: failures.append(context["exception"]))
        timers = Deadlines()
        done = asyncio.Event()

        def again() -> None:
            ran.append("again")
            done.set()

        def first() -> None:
            ran.append("first")
            timers.call_later(0.0, again)  # re-armed from inside a due callback

        def fail() -> None:
            ran.append("fail")
            raise RuntimeError("a station's tick failed")

        timers.call_later(0.03, lambda: ran.append("third"))
        timers.call_later(0.01, first)
        cancelled = timers.call_later(0.02, lambda: ran.append("cancelled"))
        timers.call_later(0.015, fail)
        timers.cancel(cancelled)
        await asyncio.wait_for(done.wait(), 10)
        while "third" not in ran:
            await asyncio.sleep(0.01)

    asyncio.run(main())
    assert ran.index("first") < ran.index("fail") < ran.index("third")
    assert "again" in ran and "cancelled" not in ran
    assert [str(error) for error in failures] == ["a station's tick failed"]


def test_a_new_loop_starts_afresh() -> None:
    timers = Deadlines()
    ran: list[int] = []

    async def once(n: int) -> None:
        done = asyncio.Event()
        timers.call_later(0.0, lambda: (ran.append(n), done.set()))
        await asyncio.wait_for(done.wait(), 10)

    asyncio.run(once(1))
    asyncio.run(once(2))
    assert ran == [1, 2]


def test_the_slot_clock_runs_its_timers_in_the_slots_never_early_and_cancels_them() -> None:
    timers = Deadlines()
    clock = SlotClock(timers)
    ran: list[tuple[str, float]] = []

    async def main() -> float:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        start = loop.time()
        clock.call_later(0.12, lambda: (ran.append(("due", loop.time())), done.set()))
        clock.call_later(0.05, lambda: ran.append(("cancelled", loop.time()))).cancel()
        await asyncio.wait_for(done.wait(), 10)
        return start

    start = asyncio.run(main())
    [(what, when)] = ran
    assert what == "due" and when >= start + 0.12 - 0.001  # the loop's own resolution
    assert len(timers) == 0
