"""A dumb charger made smart through the GPIO header: :class:`RetrofitBoard`.

The charger keeps its own pilot, contactor and protection; pievse switches an enable relay, a few
relays that select the charger's current coding, and reads the charger contactor's auxiliary
contact. Wiring, threads and fail-safe rules are those of :mod:`pievse.drivers.gpio.board`;
``hardware/retrofit.md`` shows how to wire common dumb chargers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from pievse.drivers.contracts import BoardCapabilities, PilotStateChanged
from pievse.drivers.gpio.board import _check_distinct, _GpioBoard
from pievse.core.iec61851 import MAX_CURRENT_A, MIN_CURRENT_A, PilotState

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_STEP_TABLE", "RetrofitBoard", "RetrofitPins", "parse_step_table"]

#: A retrofitted charger's current coding: amps -> the step relays (BCM pins) switched on.
DEFAULT_STEP_TABLE: Mapping[float, tuple[int, ...]] = {6.0: (), 10.0: (5,), 16.0: (6,),
                                                       32.0: (5, 6)}


@dataclass(frozen=True, slots=True)
class RetrofitPins:
    """BCM pins of a retrofit board (the step relays' pins come from the step table)."""

    enable: int = 17
    vehicle_charging: int = 27
    vehicle_connected: int | None = None
    rcd: int | None = 22
    emergency_stop: int | None = 23
    green_led: int | None = 24
    red_led: int | None = 25


def parse_step_table(text: str) -> dict[float, tuple[int, ...]]:
    """Read a step table written ``"6:none, 10:5, 16:6, 32:5+6"`` (amps: relays switched on)."""
    table: dict[float, tuple[int, ...]] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        amps_text, sep, relays_text = item.partition(":")
        try:
            relays = () if relays_text.strip().lower() in ("none", "-") else tuple(
                int(pin) for pin in relays_text.split("+"))
            amps = float(amps_text)
        except ValueError:
            raise ValueError(f"step {item!r}: write amps:pin+pin, e.g. 32:5+6 or 6:none") from None
        if not sep or amps in table:
            raise ValueError(f"step {item!r}: no ':' or a current given twice")
        table[amps] = relays
    return _checked_step_table(table)


def _checked_step_table(table: Mapping[float, tuple[int, ...]]) -> dict[float, tuple[int, ...]]:
    if not table:
        raise ValueError("the step table is empty")
    seen: dict[frozenset[int], float] = {}
    for amps, relays in sorted(table.items()):
        if not MIN_CURRENT_A <= amps <= MAX_CURRENT_A:
            raise ValueError(f"step {amps:g} A is outside {MIN_CURRENT_A:g}-{MAX_CURRENT_A:g} A")
        if (pattern := frozenset(relays)) in seen:
            raise ValueError(f"steps {seen[pattern]:g} A and {amps:g} A switch the same relays")
        seen[pattern] = amps
    return {float(amps): tuple(sorted(pattern)) for pattern, amps in seen.items()}


class RetrofitBoard(_GpioBoard):
    """A dumb charger made smart: an enable relay, current-step relays, and its contactor's
    auxiliary contact ("vehicle charging", to GND while its contactor is closed).

    What it can know: **C** while the charging input is active. Otherwise **A or B** from an
    optional ``vehicle_connected`` input (a charger status output or pilot comparator, to GND
    while a car is plugged); without one the board cannot tell an empty socket from an idle car
    and reports **B** throughout, so that a card can start a session whenever a car may be there:
    the connector shows Preparing instead of Available, and a car that leaves is only noticed
    when the session is stopped (card, CSMS). No E/F, no diode check: the charger guards those.

    ``pilot_offer(amps)`` selects the highest step not above ``amps`` (below the lowest step it
    offers nothing: enable off, returns 0.0) and switches the enable relay on, so the charger's
    pilot reaches the car. A station offers in B and closes in C, so the contactor command cannot
    be what enables the charger (the car would never see an offer, never ask): ``set_contactor(
    True)`` needs no pin (the charger closes its contactor when the car asks), and
    ``set_contactor(False)`` while the charger conducts drops the enable relay, this board's only
    way to break the current, until the next offer. Step relays are released before others are
    energised, so a change passes through a subset of both patterns (a lower current for
    binary-weighted codings). Many chargers read their coding only when a session starts.
    Enable off but the charging input still active after ``contactor_switching_time_s`` (the
    charger's reaction included) is reported as WELDED.
    """

    _checks_closing = False  # enabled does not mean charging: the car decides

    def __init__(self, *, pins: RetrofitPins = RetrofitPins(),
                 step_table: Mapping[float, tuple[int, ...]] = DEFAULT_STEP_TABLE,
                 phases: int = 3, input_bounce_s: float = 0.05,
                 contactor_switching_time_s: float = 3.0) -> None:
        table = _checked_step_table(step_table)
        step_pins = sorted({pin for relays in table.values() for pin in relays})
        _check_distinct({**asdict(pins), **{f"step relay GPIO{p}": p for p in step_pins}})
        super().__init__(BoardCapabilities(max_current_a=max(table), phases=phases,
                                           current_steps_a=tuple(table)),
                         rcd=pins.rcd, emergency_stop=pins.emergency_stop,
                         green_led=pins.green_led, red_led=pins.red_led,
                         switching_time_s=contactor_switching_time_s)
        self.pins = pins
        self.step_table = table
        self._step_pins = step_pins
        self._bounce_s = input_bounce_s
        self._enable: Any = None
        self._steps: dict[int, Any] = {}
        self._connected: Any = None
        self.offered_current_a = 0.0

    def pilot_offer(self, amps: float) -> float:
        if not amps >= MIN_CURRENT_A:
            raise ValueError(f"{amps} A is below the 6 A minimum that a pilot can offer")
        fitting = [step for step in self.step_table if step <= amps]
        with self._lock:
            if self._enable is None:
                raise self._not_started("offer current")
            why = self._blocked_reason() or (None if fitting else "below the lowest step")
            if why:
                log.warning("%s: offering nothing for %g A: %s", self, amps, why)
                self._withdraw()
                return 0.0
            step = max(fitting)
            wanted = self.step_table[step]
            for pin in self._step_pins:  # release first, then energise: never a higher coding
                if pin not in wanted:
                    self._steps[pin].off()
            for pin in wanted:
                self._steps[pin].on()
            self.offered_current_a = step
            self._set_relay(self._enable, True)
        return step

    def pilot_standby(self) -> None:
        with self._lock:
            if self._enable is not None:
                self._withdraw()

    def set_contactor(self, closed: bool) -> None:
        with self._lock:
            if self._enable is None:
                if closed:
                    raise self._not_started("close the contactor")
                return
            if closed and (why := self._blocked_reason()):
                log.warning("%s: not allowing current: %s", self, why)
            elif not closed and self._relay_on and self._feedback.is_active:
                self._open_now("contactor commanded open while the charger conducts")

    @property
    def charger_enabled(self) -> bool:
        return self._relay_on

    def _withdraw(self) -> None:
        self._set_relay(self._enable, False)
        for relay in self._steps.values():
            relay.off()
        self.offered_current_a = 0.0

    def _open_own(self) -> None:
        pins, bounce = self.pins, self._bounce_s  # car states: gpiozero's bounce handling
        self._enable = self._relay_output("enable relay", pins.enable)
        self._steps = {pin: self._relay_output(f"current-step relay GPIO{pin}", pin)
                       for pin in self._step_pins}
        self._feedback = self._input("vehicle charging input", pins.vehicle_charging, bounce)
        if pins.vehicle_connected is not None:
            self._connected = self._input("vehicle connected input", pins.vehicle_connected,
                                          bounce)
            self._connected.when_activated = self._connected.when_deactivated = (
                self._feedback_changed)

    def _first_pilot(self) -> PilotState:
        if self._feedback.is_active:
            return PilotState.C
        if self._connected is None or self._connected.is_active:
            return PilotState.B
        return PilotState.A

    def _feedback_changed(self) -> None:
        """The charging or the connected input changed (gpiozero's callback thread)."""
        with self._lock:
            if not self._reporting or (state := self._first_pilot()) is self._pilot:
                return
            self._pilot = state
            self._emit(PilotStateChanged(state))
        self._refresh_leds()

    def _drive_open(self) -> None:
        if self._enable is not None:
            self._withdraw()

    def _charging(self) -> bool:
        return self._pilot is PilotState.C

    def _contactor_reads_closed(self) -> bool:
        return self._feedback.is_active

    def _release(self) -> None:
        super()._release()
        self._enable, self._steps, self._connected, self.offered_current_a = None, {}, None, 0.0

    def __str__(self) -> str:
        return f"retrofit board (enable GPIO{self.pins.enable})"
