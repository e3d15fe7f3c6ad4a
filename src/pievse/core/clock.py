"""Time for the station core, injected so that tests can run a day in milliseconds.

The core never reads the system clock and never sleeps: it asks a ``Clock`` what time it is and
tells the daemon when it next needs to be woken (``Station.next_deadline()``). The layers that do
sleep (protocol, services, daemon) take the same clock with the means to wait added
(:mod:`pievse.aio`), so that one clock, real or fake, drives the whole charge point.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start that never run backwards: what intervals (heartbeat,
        retries, timeouts) are measured in, untouched by a step of the wall time."""
        ...


class SystemClock:
    """Wall-clock seconds that never run backwards.

    The wall time is read once and then advanced with the monotonic clock, so that a step of the
    system time (NTP setting the clock of a Pi that has no RTC) cannot fire or starve the core's
    timers. ``resync()`` adopts the new wall time once the daemon knows it is right (for example
    after the CSMS sent its time in a BootNotification response).
    """

    def __init__(self) -> None:
        self.resync()

    def resync(self, wall_time: float | None = None) -> None:
        """Adopt ``wall_time`` (seconds since the epoch, now), else the system's wall time."""
        self._wall_anchor = time.time() if wall_time is None else wall_time
        self._mono_anchor = time.monotonic()

    def now(self) -> float:
        return self._wall_anchor + (time.monotonic() - self._mono_anchor)

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that only moves when told to: the tests' time machine."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a manual clock only moves forwards")
        self._now += seconds
        return self._now

    def set(self, timestamp: float) -> None:
        if timestamp < self._now:
            raise ValueError("a manual clock only moves forwards")
        self._now = float(timestamp)
