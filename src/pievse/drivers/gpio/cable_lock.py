"""A socket's cable lock on GPIO: an H-bridge's two inputs drive the actuator's motor one way or
the other, and a feedback contact says where the bolt is.

Type 2 socket actuators are driven for a fixed travel time (a few hundred milliseconds) and then
left unpowered: they hold their position by themselves, so a Pi that dies leaves the plug as it
was. The feedback is a contact switched to GND while the bolt is locked, read against the Pi's
pull-up: a broken wire reads "unlocked", which is what fails safe for a car that must be able to
leave (the station then reports a lock failure rather than charge an unlocked plug).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

__all__ = ["GpioCableLock", "LockPins"]

#: How long the motor is driven for one stroke; Type 2 actuators need 0.3-0.6 s.
DEFAULT_TRAVEL_S = 0.6


@dataclass(frozen=True, slots=True)
class LockPins:
    """BCM pins of the lock: the H-bridge input that drives it locked, the one that drives it
    unlocked, and the feedback contact."""

    lock_drive: int
    unlock_drive: int
    feedback: int


class GpioCableLock:
    """The lock on claimed gpiozero devices: two outputs (never on together) and an input."""

    def __init__(self, lock_drive: Any, unlock_drive: Any, feedback: Any,
                 travel_s: float = DEFAULT_TRAVEL_S) -> None:
        if not travel_s > 0:
            raise ValueError(f"the travel time must be positive, not {travel_s!r}")
        self._lock_drive, self._unlock_drive, self._feedback = lock_drive, unlock_drive, feedback
        self._travel_s = travel_s
        self._stroke = asyncio.Lock()  # one stroke at a time: both drives on is a short

    async def lock(self) -> bool:
        await self._drive(self._lock_drive)
        return self.locked

    async def unlock(self) -> bool:
        await self._drive(self._unlock_drive)
        return not self.locked

    @property
    def locked(self) -> bool:
        return bool(self._feedback.is_active)

    async def _drive(self, drive: Any) -> None:
        async with self._stroke:
            self._lock_drive.off()
            self._unlock_drive.off()
            drive.on()
            try:
                await asyncio.sleep(self._travel_s)
            finally:
                drive.off()  # also when cancelled: the motor never stays powered

    def __repr__(self) -> str:
        return f"GpioCableLock({'locked' if self.locked else 'unlocked'})"
