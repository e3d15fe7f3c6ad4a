"""The clocks everything waits on: the fake one the tests move by hand, and the system's."""

from __future__ import annotations

import asyncio
import time

import pytest

from pievse.aio import FakeClock, SystemClock

pytestmark = pytest.mark.asyncio


async def test_sleepers_wake_in_time_order_each_at_its_own_instant():
    clock = FakeClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.monotonic()))

    tasks = [asyncio.create_task(sleeper(name, seconds))
             for name, seconds in (("late", 30.0), ("early", 10.0), ("middle", 20.0))]
    await clock.settle()
    assert clock.next_timer == 10.0

    await clock.advance(15)
    assert woke == [("early", 10.0)]
    await clock.advance(100)
    assert woke == [("early", 10.0), ("middle", 20.0), ("late", 30.0)]
    assert clock.monotonic() == 115.0 and clock.next_timer is None
    await asyncio.gather(*tasks)


async def test_a_loop_that_sleeps_again_keeps_its_cadence_over_one_long_advance():
    clock = FakeClock()
    beats: list[float] = []

    async def heartbeat() -> None:
        while True:
            await clock.sleep(10)
            beats.append(clock.monotonic())

    task = asyncio.create_task(heartbeat())
    await clock.advance(35)
    task.cancel()
    assert beats == [10.0, 20.0, 30.0]


async def test_wall_time_moves_with_the_monotonic_clock():
    clock = FakeClock(start=1_000_000.0)
    await clock.advance(2.5)
    assert clock.now() == 1_000_002.5 and clock.monotonic() == 2.5
    with pytest.raises(ValueError):
        await clock.advance(-1)


async def test_a_timeout_fires_when_the_clock_passes_it_and_not_before():
    clock = FakeClock()
    event = asyncio.Event()
    waiting = asyncio.create_task(clock.wait(event, 5))
    await clock.advance(4.9)
    assert not waiting.done()
    await clock.advance(0.1)
    assert waiting.done() and waiting.result() is False

    setting = asyncio.create_task(clock.wait(event, 5))
    await clock.settle()
    event.set()
    assert await setting is True


async def test_wait_for_cancels_what_it_waited_for_on_timeout():
    clock = FakeClock()
    answer = asyncio.get_running_loop().create_future()
    waiting = asyncio.create_task(clock.wait_for(answer, 30))
    await clock.advance(30)
    with pytest.raises(TimeoutError):
        await waiting
    assert answer.cancelled()

    answered = asyncio.get_running_loop().create_future()
    waiting = asyncio.create_task(clock.wait_for(answered, 30))
    await clock.settle()
    answered.set_result("Accepted")
    assert await waiting == "Accepted"
    assert clock.next_timer is None, "the timeout of an answered wait is gone"


async def test_cancelling_a_waiter_is_a_cancellation_not_a_timeout():
    clock = FakeClock()
    waiting = asyncio.create_task(clock.wait(asyncio.Event(), 30))
    await clock.settle()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert clock.next_timer is None


async def test_call_later_runs_at_its_time_unless_cancelled():
    clock = FakeClock()
    called: list[str] = []
    clock.call_later(120, lambda: called.append("confirm"))
    clock.call_later(60, lambda: called.append("cancelled")).cancel()
    await clock.advance(119)
    assert called == []
    await clock.advance(1)
    assert called == ["confirm"]


async def test_the_system_clock_waits_in_real_seconds():
    clock = SystemClock()
    started = clock.monotonic()
    assert await clock.wait(asyncio.Event(), 0.05) is False
    assert clock.monotonic() - started >= 0.05
    with pytest.raises(TimeoutError):
        await clock.wait_for(asyncio.sleep(10), 0.01)
    assert abs(clock.now() - time.time()) < 1.0


@pytest.mark.parametrize("pause", ["wait", "sleep"])
@pytest.mark.parametrize("clock_kind", ["system", "fake"])
async def test_a_cancellation_a_library_swallowed_is_honoured_at_the_next_wait(clock_kind, pause):
    """A loop that waits on the clock ends when cancelled, even after something it awaited
    swallowed the cancellation (seen with an MQTT client's publish and connect: the bridge's
    loops then went on for ever and the daemon's stop hung)."""
    clock = SystemClock() if clock_kind == "system" else FakeClock()
    changed = asyncio.Event()
    rounds = 0
    swallowed = False

    async def publish_swallowing_a_cancellation_once() -> None:
        nonlocal swallowed
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if swallowed:
                raise
            swallowed = True

    async def publish_loop() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            await publish_swallowing_a_cancellation_once()
            if pause == "wait":
                await clock.wait(changed, 0.01)
            else:  # a reconnect loop's pause
                await clock.sleep(0.01)

    task = asyncio.create_task(publish_loop())
    await asyncio.sleep(0.01)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    if task not in done:  # the bug: let the test end, then say what happened
        task.cancel()
        await asyncio.wait({task}, timeout=2)
    assert task in done, "the loop went on after it was cancelled"
    assert task.cancelled() and rounds == 1
