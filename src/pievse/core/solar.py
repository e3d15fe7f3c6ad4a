"""Solar surplus: how much current the cars may draw from what the house exports.

The site meter at the grid connection measures the house's net power (negative: export); the
station's meters measure what its cars draw. What the panels leave for the cars is::

    surplus = export + what the cars draw now - reserve

The modes:

* ``fast``: the surplus does not matter (no ``solar`` limit at all).
* ``pv``: only the surplus. A car starts once the surplus has stayed above the least a car can
  charge with (6 A on every phase in use) for ``start_delay_s``, follows it, and pauses once it
  has stayed below for ``stop_delay_s`` (a cloud that passes within that time costs a little
  import, not a stop and a start).
* ``min+pv``: at least 6 A whatever the sun does, more from the surplus.

The result is the station-wide ``solar`` local limit (0 A pauses), which the station shares
between its sessions like every station-wide limit, and under which the house fuse still cuts.
It moves like the house fuse's (see ``site_load.py``): down at once, up only once the surplus
has stayed above for ``hold_s``, by ``step_a`` at a time, never more often than every
``raise_interval_s`` (the car's time to follow a new duty cycle).

With a phase switch, the control also says on how many phases the cars should charge: one when
the surplus has stayed under the three-phase minimum for ``stop_delay_s`` (one phase charges
from 1.4 kW, three need 4.1 kW), three again once it has stayed above for ``start_delay_s``,
never sooner than ``phase_switch_interval_s`` after the last switch. How a switch is carried out
safely is ``phase_switch.py``'s. Nothing here reads a clock: time comes in with each call.
"""

from __future__ import annotations

import collections
import enum
import math
from dataclasses import dataclass

from pievse.core.iec61851 import MIN_CURRENT_A

__all__ = ["Solar", "SolarMode", "SolarRules", "mode_named"]


class SolarMode(str, enum.Enum):
    FAST = "fast"  # as much as the other limits allow
    PV = "pv"  # only the surplus
    MIN_PV = "min+pv"  # at least 6 A, more from the surplus


def mode_named(name: str | SolarMode) -> SolarMode:
    try:
        return SolarMode(name)
    except ValueError:
        modes = ", ".join(f'"{m.value}"' for m in SolarMode)
        raise ValueError(f"no charging mode {name!r}; the modes are {modes}") from None


@dataclass(frozen=True, slots=True)
class SolarRules:
    voltage_v: float = 230.0
    #: The phases wired to the station: the most the cars charge on.
    phases: int = 3
    start_delay_s: float = 60.0
    stop_delay_s: float = 300.0
    #: Export left to the grid (a battery, a margin): not counted as surplus.
    reserve_w: float = 0.0
    phase_switch: bool = False
    phase_switch_interval_s: float = 300.0
    hold_s: float = 10.0
    step_a: float = 2.0
    raise_interval_s: float = 5.0

    def least_power_w(self, phases: int) -> float:
        """The least a car can charge with on ``phases`` phases (6 A each)."""
        return MIN_CURRENT_A * phases * self.voltage_v


class Solar:
    """The control of the ``solar`` limit and of the phases, fed the surplus and the time."""

    def __init__(self, rules: SolarRules, mode: SolarMode, now: float) -> None:
        self.rules = rules
        self.mode = mode
        #: The phases the cars charge on now (the relay's position).
        self.phases = rules.phases
        #: The phases the surplus asks for; a switch is due when it differs from ``phases``.
        self.wanted_phases = rules.phases
        #: The current the cars may draw together (A per phase); None: no solar limit (fast).
        self.limit_a: float | None = None
        #: The surplus at the last reading (W); None before the first.
        self.surplus_w: float | None = None
        #: When the phases were last switched (None: not yet).
        self.switched_at: float | None = None
        self._charging = False
        self._cars_w = 0.0
        self._last_change_at = now
        self._enough_since: float | None = None  # surplus >= the least power on ``phases``
        self._short_since: float | None = None
        self._three_since: float | None = None  # surplus >= the three-phase least power
        self._under_three_since: float | None = None
        self._above_since: float | None = None  # the surplus gives more than the limit
        self._targets: collections.deque[tuple[float, float]] = collections.deque()
        self.set_mode(mode, now)

    # --- inputs: each returns True when ``limit_a`` or ``wanted_phases`` moved -------------------

    def set_mode(self, mode: SolarMode, now: float) -> bool:
        before = (self.limit_a, self.wanted_phases)
        self.mode = mode
        self._targets.clear()
        # A car charging when pv is chosen goes on until the surplus has stayed short.
        self._charging = self._cars_w > 0
        if mode is SolarMode.FAST:
            self.limit_a = None
        elif mode is SolarMode.MIN_PV or self._charging:
            self.limit_a = MIN_CURRENT_A if self.limit_a is None else max(
                self.limit_a, MIN_CURRENT_A)
        else:
            self.limit_a = 0.0
        self._last_change_at = now
        return (self.limit_a, self.wanted_phases) != before

    def reading(self, now: float, grid_w: float, cars_w: float) -> bool:
        """The site meter's net power (``grid_w``, negative while exporting) and what the cars
        draw now (W)."""
        self._cars_w = max(0.0, cars_w)
        return self._decide(now, -grid_w + self._cars_w - self.rules.reserve_w)

    def failed(self, now: float) -> bool:
        """No reading of the site meter: no surplus is known, so none is counted."""
        return self._decide(now, 0.0)

    def switched(self, phases: int, now: float) -> bool:
        """The relay now connects ``phases`` phases (a switch ended): the offer starts again
        from what the surplus gives on them."""
        self.phases = phases
        self.switched_at = now
        self._enough_since = self._short_since = None
        self._targets.clear()
        if self.mode is SolarMode.FAST or self.surplus_w is None:
            return False
        target = self._target(self.surplus_w)
        if self._charging or self.mode is SolarMode.MIN_PV:
            return self._move(now, max(target, MIN_CURRENT_A))
        return False

    # --- inside ----------------------------------------------------------------------------------

    def _decide(self, now: float, surplus_w: float) -> bool:
        rules = self.rules
        self.surplus_w = surplus_w
        before = self.wanted_phases
        self._enough_since = _since(self._enough_since,
                                    surplus_w >= rules.least_power_w(self.phases), now)
        self._short_since = _since(self._short_since,
                                   surplus_w < rules.least_power_w(self.phases), now)
        self._decide_phases(now, surplus_w)
        if self.mode is SolarMode.FAST:
            return self.wanted_phases != before
        target = self._target(surplus_w)
        self._targets.append((now, target))
        while self._targets and self._targets[0][0] < now - rules.hold_s:
            self._targets.popleft()
        moved = self.wanted_phases != before
        if self.mode is SolarMode.PV:
            if not self._charging:
                if not _stayed(self._enough_since, now, rules.start_delay_s):
                    return moved
                self._charging = True
                return self._move(now, max(target, MIN_CURRENT_A)) or moved
            # Too little for the phases in use: one phase instead, when it can switch now
            # and the surplus covers it; else a pause.
            if (_stayed(self._short_since, now, rules.stop_delay_s)
                    and self.wanted_phases >= self.phases):
                self._charging = False
                return self._move(now, 0.0) or moved
        return self._follow(now, max(target, MIN_CURRENT_A)) or moved

    def _decide_phases(self, now: float, surplus_w: float) -> None:
        rules = self.rules
        if not rules.phase_switch or rules.phases == 1:
            return
        three = surplus_w >= rules.least_power_w(rules.phases)
        self._three_since = _since(self._three_since, three, now)
        self._under_three_since = _since(self._under_three_since, not three, now)
        # The interval holds whatever asks, a change of mode too: the relay and the car's
        # charger are spared.
        if self.switched_at is not None and now - self.switched_at < (
                rules.phase_switch_interval_s):
            return
        if self.mode is SolarMode.FAST:
            self.wanted_phases = rules.phases
        elif self.phases == 1 and _stayed(self._three_since, now, rules.start_delay_s):
            self.wanted_phases = rules.phases
        elif (self.phases > 1 and _stayed(self._under_three_since, now, rules.stop_delay_s)
              and (self.mode is SolarMode.MIN_PV or surplus_w >= rules.least_power_w(1))):
            # In pv, only for a surplus one phase can charge from: else the car just pauses.
            self.wanted_phases = 1

    def _target(self, surplus_w: float) -> float:
        # Whole amps, after a tenth's rounding (a float's 9.9999 A is 10 A).
        amps = surplus_w / (self.rules.voltage_v * self.phases)
        return max(0.0, math.floor(round(amps, 1)))

    def _follow(self, now: float, target: float) -> bool:
        limit = self.limit_a or 0.0
        self._above_since = _since(self._above_since, target > limit, now)
        if now - self._last_change_at < self.rules.raise_interval_s:
            return False
        if target < limit:
            return self._move(now, target)
        if _stayed(self._above_since, now, self.rules.hold_s):
            stayed = min(t for _, t in self._targets)
            return self._move(now, min(stayed, limit + self.rules.step_a))
        return False

    def _move(self, now: float, amps: float) -> bool:
        if amps == self.limit_a:
            return False
        self.limit_a = amps
        self._last_change_at = now
        return True


def _since(since: float | None, holds: bool, now: float) -> float | None:
    if not holds:
        return None
    return now if since is None else since


def _stayed(since: float | None, now: float, seconds: float) -> bool:
    return since is not None and now - since >= seconds
