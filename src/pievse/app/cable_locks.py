"""The sockets' cable locks, driven as the station decides (``LockCable``).

A lock takes its travel time to move, so each command runs as a task; the commands of one
connector run one after the other, in the order the station gave them, and each reports where
the feedback reads the lock afterwards (``Station.cable_lock_changed``). The contactor waits for
that report: the station closes it only once the lock reads locked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from pievse.core.effects import LockCable
from pievse.drivers.contracts import CableLock

__all__ = ["CableLocks"]

log = logging.getLogger(__name__)

#: Told where the lock of a connector reads now, and whether it missed its position.
Report = Callable[[int, bool, bool], None]


class CableLocks:
    def __init__(self, lock_of: Callable[[int], CableLock | None], report: Report) -> None:
        # Asked at each command: a board makes its lock when it starts.
        self._lock_of = lock_of
        self._report = report
        self._turns: dict[int, asyncio.Lock] = {}
        self._moving: set[asyncio.Task[None]] = set()

    def drive(self, effect: LockCable) -> None:
        task = asyncio.get_running_loop().create_task(self._drive(effect))
        self._moving.add(task)
        task.add_done_callback(self._moving.discard)

    async def settle(self, timeout: float) -> None:
        """Let the strokes under way end (an unlock at shutdown releases the plug, and reports
        while the station and its store are still there); past ``timeout``, stop them."""
        if not self._moving:
            return
        _, late = await asyncio.wait(set(self._moving), timeout=timeout)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def _drive(self, effect: LockCable) -> None:
        n = effect.connector_id
        async with self._turns.setdefault(n, asyncio.Lock()):
            lock = self._lock_of(n)
            if lock is None:
                log.error("connector %s: no cable lock to %s", n,
                          "lock" if effect.locked else "unlock", extra={"CONNECTOR_ID": n})
                self._report(n, False, True)
                return
            try:
                reached = await (lock.lock() if effect.locked else lock.unlock())
                where = lock.locked
            except Exception as exc:  # a released pin, a driver error: a failure to report
                log.error("connector %s: cable lock: %s", n, exc, extra={"CONNECTOR_ID": n})
                # Taken as not moved: no contactor closes on a lock that may be open.
                reached, where = False, not effect.locked
            log.log(logging.INFO if reached else logging.ERROR, "connector %s: cable %s%s", n,
                    "locked" if where else "unlocked",
                    "" if reached else " (lock failure)", extra={"CONNECTOR_ID": n})
            self._report(n, where, not reached)
