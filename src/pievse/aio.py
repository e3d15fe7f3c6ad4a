"""asyncio helpers that the long-running loops share."""

from __future__ import annotations

import asyncio

__all__ = ["wait_event"]


async def wait_event(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait for ``event`` at most ``timeout`` seconds (None: for ever); True if it was set.

    Not ``asyncio.wait_for``: on Python 3.11 it can swallow a cancellation that arrives while
    the event is being set (CPython gh-86296), and a loop built on it then never stops, which
    hangs the daemon's shutdown. ``asyncio.timeout`` does not.
    """
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
