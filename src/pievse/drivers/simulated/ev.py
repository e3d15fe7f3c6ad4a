"""A simulated electric vehicle: what a car does at the end of the charging cable.

The car is the half of the physics that the station cannot command, only observe. It decides to
plug in, to ask for power and to stop asking; it reads the current the station offers on the
control pilot and draws at most that, following a change only after a reaction time (IEC 61851-1
allows a car up to 5 s); it draws nothing while the contactor is open, the PWM is off or it does
not ask for power. A battery, if it has one, fills up, and a full car stops asking.

The draw is kept *piecewise constant* with every change instant known in advance (the reaction
delay makes the future a fixed programme until the next command), so the energy that went into
the car is an exact sum of V × I × phases × Δt terms whatever the moments at which anyone looks.
Time only moves when somebody asks the clock: every command and every query first brings the car
up to "now" (``_advance``), then acts. With a manual clock a test can jump an hour ahead and read
the same energy it would have read by polling every second.

The board (:class:`pievse.drivers.simulated.devices.SimulatedBoard`) is the other half: it tells
the car
what the supply does (``_set_supply``) and derives the pilot state the station sees from the car's
wishes and its own PWM. The two live in separate modules only to keep each one readable.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator

__all__ = ["SimulatedEv"]

#: A float rounding margin (Wh) under which the battery counts as full.
_FULL_MARGIN_WH = 1e-6


class SimulatedEv:
    """One car behind one connector, driven by a person (or a test) and by the station's supply.

    ``clock`` returns monotonic seconds; pass a manual clock's reading function to move time by
    hand. ``battery_capacity_wh`` is the energy the car takes per plug-in before it is full (None:
    never full); unplugging brings an empty battery back for the next session.
    """

    def __init__(
        self,
        *,
        max_current_a: float = 32.0,
        phases: int = 3,
        voltage_v: float = 230.0,
        reaction_delay_s: float = 2.0,
        battery_capacity_wh: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _check_current(max_current_a)
        _check_phases(phases)
        if not voltage_v > 0:
            raise ValueError(f"voltage_v must be positive, not {voltage_v!r}")
        if not reaction_delay_s >= 0:
            raise ValueError(f"reaction_delay_s must be 0 or more, not {reaction_delay_s!r}")
        if battery_capacity_wh is not None and not battery_capacity_wh > 0:
            raise ValueError(
                f"battery_capacity_wh must be positive (or None), not {battery_capacity_wh!r}"
            )
        self.clock = clock
        self._voltage_v = float(voltage_v)
        self._reaction_delay_s = float(reaction_delay_s)
        self._capacity_wh = battery_capacity_wh
        self._max_current_a = float(max_current_a)
        self._phases = phases
        # What the person does with the car.
        self._plugged = False
        self._wants_power = False
        self._ventilation = False
        self._full = False
        # What the supply does, as the board last told us.
        self._conducting = False
        self._offered_a = 0.0  # 0: no PWM reaches the car
        self._supply_phases = 3
        # The draw programme: since when every condition to draw holds (None: it does not), and
        # the offers the car saw since then, as (instant, amps). The car draws from
        # ``since + delay`` and follows each offer ``delay`` after it appeared.
        self._since: float | None = None
        self._offers: list[tuple[float, float]] = []
        # Energy, integrated exactly up to ``self._t``.
        self._t = clock()
        self._drawn_wh = 0.0  # everything this car ever drew (the meter's source of truth)
        self._charged_wh = 0.0  # since this plug-in (the battery's)
        self._listener: Callable[[], None] | None = None

    # --- what a person does with the car ---------------------------------------------------------

    def plug(self) -> None:
        """Plug the cable in (state B: connected, not asking for power). No-op if plugged."""
        if self._plugged:
            return
        self._command(lambda: setattr(self, "_plugged", True))

    def unplug(self) -> None:
        """Pull the cable (state A). The next plug-in brings an empty battery."""
        if not self._plugged:
            return

        def unplug() -> None:
            self._plugged = self._wants_power = self._full = self._ventilation = False
            self._charged_wh = 0.0

        self._command(unplug)

    def request_power(self, asking: bool, *, ventilation: bool = False) -> None:
        """Ask for power (state C, or D with ``ventilation``) or stop asking (state B).

        A car asks by switching a resistor, but the station only reads C while it runs the PWM:
        without an offer the car waits in B. A full battery does not ask whatever is requested.
        """
        if asking and not self._plugged:
            raise ValueError("the car must be plugged in before it can ask for power")

        def request() -> None:
            self._wants_power = asking
            self._ventilation = asking and ventilation

        self._command(request)

    def set_state(self, state: str) -> None:
        """Put the car in state "A", "B", "C" or "D" (C with ventilation) in one call.

        The car passes through B on its way from A to C, as a real one does, so the station sees
        the same sequence of pilot states as with a cable.
        """
        match str(state).upper():
            case "A":
                self.unplug()
            case "B":
                self.plug()
                self.request_power(False)
            case "C" | "D" as letter:
                self.plug()
                self.request_power(True, ventilation=letter == "D")
            case _:
                raise ValueError(f"a car can be in state A, B, C or D, not {state!r}")

    @property
    def max_current_a(self) -> float:
        """The most the car draws per phase, whatever is offered (its on-board charger's limit)."""
        return self._max_current_a

    @max_current_a.setter
    def max_current_a(self, amps: float) -> None:
        _check_current(amps)
        self._command(lambda: setattr(self, "_max_current_a", float(amps)))

    @property
    def phases(self) -> int:
        """How many phases the car's charger uses (it draws on fewer if the supply has fewer)."""
        return self._phases

    @phases.setter
    def phases(self, count: int) -> None:
        _check_phases(count)
        self._command(lambda: setattr(self, "_phases", count))

    # --- what anyone can observe ----------------------------------------------------------------

    @property
    def voltage_v(self) -> float:
        return self._voltage_v

    @property
    def reaction_delay_s(self) -> float:
        return self._reaction_delay_s

    @property
    def battery_capacity_wh(self) -> float | None:
        return self._capacity_wh

    @battery_capacity_wh.setter
    def battery_capacity_wh(self, capacity_wh: float | None) -> None:
        """The energy this plug-in (and the next ones) takes before the car is full."""
        if capacity_wh is not None and not capacity_wh > 0:
            raise ValueError(f"battery_capacity_wh must be positive (or None), not {capacity_wh!r}")
        self._command(lambda: setattr(self, "_capacity_wh", capacity_wh))

    @property
    def plugged(self) -> bool:
        return self._plugged

    @property
    def wants_power(self) -> bool:
        """What the person asked for; see ``asks_for_power`` for what the car really does."""
        return self._wants_power

    @property
    def needs_ventilation(self) -> bool:
        return self._ventilation

    @property
    def full(self) -> bool:
        self._advance(self.clock())
        return self._full

    @property
    def asks_for_power(self) -> bool:
        """Plugged, wanting power and not full: the car's resistors say C (or D)."""
        self._advance(self.clock())
        return self._asks()

    @property
    def phases_drawing(self) -> int:
        """The phases the car draws on when it draws: its own, or fewer if the supply has fewer."""
        return min(self._phases, self._supply_phases)

    def drawn_current_a(self, now: float | None = None) -> float:
        """The current (A) the car draws on each of ``phases_drawing`` phases at ``now``."""
        now = self.clock() if now is None else now
        self._advance(now)
        return self._amps_at(max(now, self._t))

    def power_w(self, now: float | None = None) -> float:
        return self._voltage_v * self.drawn_current_a(now) * self.phases_drawing

    def energy_drawn_wh(self, now: float | None = None) -> float:
        """Everything the car ever drew (Wh), exact up to ``now``; it never decreases."""
        self._advance(self.clock() if now is None else now)
        return self._drawn_wh

    def energy_charged_wh(self, now: float | None = None) -> float:
        """The energy that went into the battery since this plug-in (Wh)."""
        self._advance(self.clock() if now is None else now)
        return self._charged_wh

    # --- the board's side (same package, not for the station) ----------------------------------

    def _attach(self, listener: Callable[[], None]) -> None:
        """Let one board hear about every change of the car (one car per connector)."""
        if self._listener is not None:
            raise ValueError("this car is already connected to a board")
        self._listener = listener

    def _set_supply(
        self, now: float, *, conducting: bool, offered_a: float, phases: int
    ) -> None:
        """The board says what reaches the car: power (contactor), the offer (PWM) and phases."""
        self._advance(now)
        offer_changed = offered_a != self._offered_a
        self._conducting, self._offered_a, self._supply_phases = conducting, offered_a, phases
        self._reprogramme(now, offer_changed)

    def _next_full_at(self) -> float | None:
        """When the battery will be full if nothing else changes (None: not on this programme)."""
        if self._capacity_wh is None or self._full:
            return None
        missing = self._capacity_wh - self._charged_wh
        for start, end, watts in self._segments(self._t, math.inf):
            if watts <= 0:
                continue
            needed_s = missing * 3600.0 / watts
            if start + needed_s <= end:
                return start + needed_s
            missing -= watts * (end - start) / 3600.0
        return None

    # --- the physics -----------------------------------------------------------------------------

    def _asks(self) -> bool:
        return self._plugged and self._wants_power and not self._full

    def _command(self, change: Callable[[], None]) -> None:
        """Bring the car up to now, change it, re-plan the draw and tell the board."""
        now = self.clock()
        self._advance(now)
        change()
        self._reprogramme(now, offer_changed=False)
        self._notify()

    def _notify(self) -> None:
        if self._listener is not None:
            self._listener()

    def _reprogramme(self, now: float, offer_changed: bool) -> None:
        """Start, follow or stop the draw after a change at ``now``.

        Stopping is immediate (no current flows through an open contactor, and a car stops at
        once when the pilot says so); starting and following an offer wait the reaction delay.
        """
        drawing = self._conducting and self._offered_a > 0 and self._asks()
        if not drawing:
            self._since, self._offers = None, []
        elif self._since is None:
            self._since, self._offers = now, [(now, self._offered_a)]
        elif offer_changed:
            self._offers.append((now, self._offered_a))

    def _amps_at(self, t: float) -> float:
        """Per-phase draw at ``t`` on the current programme (right-continuous)."""
        delay = self._reaction_delay_s
        if self._since is None or self._since + delay > t:
            return 0.0
        seen = self._offers[0][1]
        for appeared, amps in self._offers:
            # Compare "appeared + delay" (the very breakpoints of _segments), never "t - delay":
            # float subtraction would shift an instant by an ulp and split a segment in two.
            if appeared + delay > t:
                break
            seen = amps
        return min(seen, self._max_current_a)

    def _segments(self, start: float, end: float) -> Iterator[tuple[float, float, float]]:
        """(from, to, watts) stretches of constant draw covering [start, end)."""
        cuts: list[float] = []
        offers = self._offers
        if self._since is not None:
            delay = self._reaction_delay_s
            # One offer (a car charging steadily) is the common case: no set to sort.
            cuts = ([offers[0][0] + delay] if len(offers) == 1
                    else sorted({appeared + delay for appeared, _ in offers}))
        t = start
        for cut in [c for c in cuts if start < c < end] + [end]:
            yield t, cut, self._voltage_v * self._amps_at(t) * self.phases_drawing
            t = cut

    def _advance(self, now: float) -> None:
        """Integrate the draw up to ``now``; fill the battery (and stop asking) on the way."""
        if not now > self._t:
            return  # a clock read twice, or a stale reading: nothing flowed, never count back
        became_full = False
        for start, end, watts in self._segments(self._t, now):
            if watts <= 0:
                continue
            wh = watts * (end - start) / 3600.0
            capacity = self._capacity_wh
            if capacity is not None and self._charged_wh + wh >= capacity - _FULL_MARGIN_WH:
                # The battery fills up inside this stretch: count only what fitted; from that
                # instant the car no longer asks, so nothing flows any more.
                wh = max(capacity - self._charged_wh, 0.0)
                self._drawn_wh += wh
                self._charged_wh = capacity
                self._full = became_full = True
                self._since, self._offers = None, []
                break
            self._drawn_wh += wh
            self._charged_wh += wh
        self._t = now
        self._forget_old_offers()
        if became_full:
            self._notify()

    def _forget_old_offers(self) -> None:
        """Drop offers that a later, already-seen offer has replaced (keeps the list short)."""
        delay = self._reaction_delay_s
        while len(self._offers) > 1 and self._offers[1][0] + delay <= self._t:
            self._offers.pop(0)

    def __repr__(self) -> str:
        return (
            f"SimulatedEv(plugged={self._plugged}, wants_power={self._wants_power}, "
            f"full={self._full}, max_current_a={self._max_current_a}, phases={self._phases})"
        )


def _check_current(amps: float) -> None:
    if not amps > 0:
        raise ValueError(f"a car's maximum current must be positive, not {amps!r}")


def _check_phases(count: int) -> None:
    if count not in (1, 2, 3):
        raise ValueError(f"a car charges on 1, 2 or 3 phases, not {count!r}")
