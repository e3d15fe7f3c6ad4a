"""The house fuse: how much current the cars may draw, from what the grid connection measures.

A second meter at the house's grid connection (the site meter) measures the current on each
phase; the station's own meters measure what its cars draw. What the rest of the house draws on
a phase is the difference, and what is left for the cars under the main fuse, with a margin::

    room = main fuse - margin - (site current - the cars' current)      on the worst phase

The result is the station-wide ``site`` local limit, which the station shares between its
sessions (see ``local_limits.py``). How it moves:

* **Down at once.** A reading with less room than the limit cuts the limit to the room on that
  very reading: the offer falls within one poll of the site meter, and the car follows within
  the 5 s IEC 61851-1 gives it. (Only for those 5 s after a raise, a dip no deeper than the raise
  is taken for the car's own ramp, which the site meter may see before the car's meter does.)
* **Up slowly, in steps.** The limit goes up only once the room has stayed above it for
  ``hold_s`` (a load hovering at the limit then cuts once to its peaks and stays there instead
  of pumping the car), by ``step_a`` at a time and no more often than every ``raise_interval_s``
  (the car's time to follow a new duty cycle: a faster offer only makes the load oscillate).
* **Pause and resume.** Room under 6 A pauses the cars (the station's rule for any limit); they
  resume at 6 A once there has been that much room for ``hold_s``.
* **Blind: the safe current.** When the site meter fails, or has given no reading for
  ``silence_s``, the limit becomes ``safe_current_a``, the current the cars may draw whatever the
  rest of the house does; it is said why, and the control starts again from there with the next
  reading.

Readings come with the estimated draw of the cars per phase: a site meter that reads a current's
size and not its direction (most do) makes the house seem to draw more when the house exports,
never less, so the estimate errs on the fuse's side. Nothing here reads a clock: time comes in
with each call.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence
from dataclasses import dataclass

from pievse.core.iec61851 import MIN_CURRENT_A

__all__ = ["SiteFuse", "SiteLoad"]


@dataclass(frozen=True, slots=True)
class SiteFuse:
    """The grid connection and the rules of the control (amps are per phase)."""

    main_fuse_a: float
    margin_a: float
    safe_current_a: float
    hold_s: float = 30.0
    step_a: float = 2.0
    raise_interval_s: float = 5.0
    silence_s: float = 5.0

    @property
    def ceiling_a(self) -> float:
        """The most the house may draw on a phase."""
        return self.main_fuse_a - self.margin_a


class SiteLoad:
    """The control of the ``site`` limit: fed readings and failures, it says the limit."""

    def __init__(self, fuse: SiteFuse, now: float) -> None:
        self.fuse = fuse
        #: The current the cars may draw together now (A per phase); safe until measured.
        self.limit_a = fuse.safe_current_a
        #: Why the site meter gives no readings now; None while it does.
        self.blind: str | None = "no reading yet"
        #: The rest of the house's current on each phase, and the room, at the last reading.
        self.house_a: tuple[float, ...] = ()
        self.room_a: float | None = None
        #: When the site meter gave its last reading (None: never).
        self.last_reading_at: float | None = None
        self._last_change_at = now
        self._last_cut_at = now
        self._raised_by = 0.0
        self._rooms: collections.deque[tuple[float, float]] = collections.deque()

    # --- inputs: each returns the new limit when it moved, else None -----------------------------

    def reading(self, now: float, site_a: Sequence[float],
                cars_a: Sequence[float]) -> float | None:
        """A reading of the site meter (current per phase) and what the cars draw on each phase
        now (missing phases count as 0)."""
        if not site_a:
            return self.failed(now, "the site meter gives no current per phase")
        cars = list(cars_a) + [0.0] * (len(site_a) - len(cars_a))
        self.house_a = tuple(max(0.0, site - car) for site, car in zip(site_a, cars))
        # Whole amps, after a tenth's rounding: a meter's float32 10.0 A reads 9.9999990 A.
        room = max(0.0, math.floor(round(self.fuse.ceiling_a - max(self.house_a), 1)))
        self.room_a = room
        self.last_reading_at = now
        if self.blind is not None:
            # Seeing again: from the safe current, down at once or up after the hold.
            self.blind = None
            self._rooms.clear()
            self._last_cut_at = now
        ramping = self._ramping(now)
        # Room is room though the car's own ramp hides it: a load step that really came in the
        # meantime still cuts once the ramp is over, before any further raise.
        self._rooms.append((now, room + ramping))
        while self._rooms and self._rooms[0][0] < now - self.fuse.hold_s:
            self._rooms.popleft()
        if room < self.limit_a - ramping:
            self._last_cut_at = now
            return self._move(now, room)
        return self._raised(now)

    def failed(self, now: float, why: str) -> float | None:
        """The site meter did not answer (or answered nothing usable)."""
        self.blind = why
        self.room_a = None
        return self._move(now, self.fuse.safe_current_a)

    def check(self, now: float) -> float | None:
        """Time passed: a site meter silent for ``silence_s`` counts as failed."""
        if self.blind is None and self.silent_since(now):
            return self.failed(now, f"no reading for {self.fuse.silence_s:g} s")
        return None

    def silent_since(self, now: float) -> bool:
        last = self.last_reading_at
        return last is not None and now - last >= self.fuse.silence_s

    # --- inside ----------------------------------------------------------------------------------

    def _ramping(self, now: float) -> float:
        """Right after a raise the site meter may see the car's new draw before the car's own
        meter does, and take it for the house's: for the car's reaction time a dip of up to the
        raise is that, not a load step (the margin covers it); a deeper one cuts at once."""
        if now - self._last_change_at < self.fuse.raise_interval_s:
            return self._raised_by
        return 0.0

    def _raised(self, now: float) -> float | None:
        fuse = self.fuse
        if now - self._last_cut_at < fuse.hold_s or now - self._last_change_at < (
                fuse.raise_interval_s):
            return None
        stayed = min(room for _, room in self._rooms)
        # A paused car resumes at the minimum, not a step at a time below it.
        target = min(stayed, max(self.limit_a, MIN_CURRENT_A - fuse.step_a) + fuse.step_a)
        if target <= self.limit_a or target < MIN_CURRENT_A:
            return None
        return self._move(now, target)

    def _move(self, now: float, amps: float) -> float | None:
        if amps == self.limit_a:
            return None
        self._raised_by = max(0.0, amps - self.limit_a)
        self.limit_a = amps
        self._last_change_at = now
        return amps
