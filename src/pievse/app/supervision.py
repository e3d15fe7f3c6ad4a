"""The daemon's long-running parts keep running: a part that fails is reported and restarted.

A meter driver that raises something unforeseen, a card reader whose event loop dies, an OCPP
link that trips over a bug: none of these is a reason to stop charging on the other connectors,
nor to exit and have systemd restart the whole daemon every two seconds (a crash loop that ends
every session each time). Each part runs under a supervisor instead. When it fails (or ends,
which for a part meant to run forever is a failure too), the supervisor logs why (with the
traceback the first time, and again whenever the reason changes), tells the part's owner so the
station can act on it (the board's connector turns Faulted and opens its contactor, the meter's
reports PowerMeterFailure, ...) and starts it again after a pause that doubles up to a minute, so
that a part failing at once on every try neither floods the journal nor spins the CPU. A part
that ran a while before failing starts again with the short pause.

The station core's own timer is not supervised: an exception there means the core's state is
not what it should be, and the daemon stops (contactors open) to start again from the store.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable

from pievse.aio import AsyncClock

log = logging.getLogger("pievse")


@dataclasses.dataclass(frozen=True)
class Backoff:
    """Pauses before a failed part starts again."""

    first_s: float = 1.0
    longest_s: float = 60.0
    #: A part that ran this long before failing is taken to have worked: the next pause is short.
    settled_s: float = 60.0


class Supervisor:
    """Starts parts as tasks that restart after a failure; ``cancel`` the task to stop one."""

    def __init__(self, clock: AsyncClock, backoff: Backoff = Backoff()) -> None:
        self._clock = clock
        self._backoff = backoff
        #: Failures in a row, per part, for the status and the tests.
        self.failures: dict[str, int] = {}

    def start(
        self,
        name: str,
        run: Callable[[], Awaitable[None]],
        *,
        failed: Callable[[str], None] | None = None,
    ) -> asyncio.Task[None]:
        """Run ``run()`` as the part called ``name`` (e.g. "meter of connector 1").
        ``failed(why)`` is called after each failure, before the pause."""
        return asyncio.create_task(self._supervise(name, run, failed), name=name)

    async def _supervise(
        self,
        name: str,
        run: Callable[[], Awaitable[None]],
        failed: Callable[[str], None] | None,
    ) -> None:
        pause = self._backoff.first_s
        last_why: str | None = None
        self.failures[name] = 0
        while True:
            started = self._clock.monotonic()
            error: Exception | None = None
            try:
                await run()
                why = "stopped on its own"
            except Exception as exc:  # noqa: BLE001 - the reason this module exists
                error, why = exc, f"{type(exc).__name__}: {exc}"
            if self._clock.monotonic() - started >= self._backoff.settled_s:
                pause, self.failures[name] = self._backoff.first_s, 0
            self.failures[name] += 1
            if why != last_why:
                log.critical("%s failed (%s); starting it again in %.0f s", name, why, pause,
                             exc_info=error)
            else:
                log.error("%s failed again (%d times in a row: %s); next try in %.0f s",
                          name, self.failures[name], why, pause)
            last_why = why
            if failed is not None:
                try:
                    failed(why)
                except Exception:  # noqa: BLE001 - reporting must not stop the restarts
                    log.critical("%s: could not report its failure", name, exc_info=True)
            await self._clock.sleep(pause)
            pause = min(pause * 2, self._backoff.longest_s)
