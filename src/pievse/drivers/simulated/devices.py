"""Simulated hardware: a board, a meter and a card reader around a simulated car.

These are first-class drivers, not test doubles: they implement the protocols of
:mod:`pievse.drivers.contracts` exactly, so the station cannot tell them from real hardware, and the
whole charge point runs on a laptop or in CI. The physics stays consistent across the three:

* the **board** runs the pilot PWM (quantised to 0.1 % duty steps like a real PWM generator, or to
  relay steps for a retrofitted dumb charger), switches the contactor and reports the pilot state
  it derives from the car and its own PWM: A unplugged, B plugged (or asking without an offer),
  C asking with the PWM on, D the same with ventilation, E while the pilot is shorted;
* the **meter** reads the energy the car really drew through the contactor, exactly, whatever the
  interval between readings;
* the **card reader** reports one event per card presented.

Faults behave like the hardware they stand for: a welded contactor keeps conducting after it was
commanded open (the car goes on drawing if it asks), an RCD trip cuts the supply by itself (that is
its job) while still reporting to the station, and a pilot fault makes the pilot read E and
removes the offer from the car. An RCD trip, an emergency stop and a pilot fault open the
contactor in the board itself before the station is told, as a real EVSE's safety chain does: the
opening never waits for the station's event loop.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from pievse.drivers.contracts import (
    BoardCapabilities,
    BoardEvent,
    CableLock,
    DriverError,
    FaultChanged,
    FaultKind,
    MeterReading,
    PilotStateChanged,
    TokenPresented,
)
from pievse.drivers.simulated.ev import SimulatedEv
from pievse.core.iec61851 import (
    MIN_CURRENT_A,
    PilotState,
    current_for_duty_cycle,
    duty_cycle_for_current,
)

__all__ = ["SimulatedBoard", "SimulatedCableLock", "SimulatedCardReader", "SimulatedEv",
           "SimulatedMeter"]

#: Marks the end of an event stream in its queue.
_END: Any = object()

#: When a timer fired before a manual clock reached the due instant, look again after this long
#: instead of spinning on a clock that only a test moves.
_RECHECK_S = 0.05

#: Faults on which the board opens its contactor itself, at the input, before anyone is told.
OPENS_AT_ONCE = frozenset({FaultKind.RCD, FaultKind.EMERGENCY_STOP, FaultKind.PILOT})


async def _drain(queue: asyncio.Queue) -> AsyncIterator[Any]:
    """Yield what the queue holds until the end mark; leave the mark for any other reader."""
    while True:
        item = await queue.get()
        if item is _END:
            queue.put_nowait(_END)
            return
        yield item


class SimulatedCableLock:
    """A socket's plug lock with its feedback contact. ``jam()`` makes the actuator stick where
    it is (a broken motor, a plug not fully in): commands fail and the feedback stays put."""

    def __init__(self) -> None:
        self._locked = False
        self.jammed = False

    async def lock(self) -> bool:
        return self._drive(True)

    async def unlock(self) -> bool:
        return not self._drive(False)

    @property
    def locked(self) -> bool:
        return self._locked

    def jam(self, jammed: bool = True) -> None:
        self.jammed = jammed

    def _drive(self, locked: bool) -> bool:
        if not self.jammed:
            self._locked = locked
        return self._locked

    def __repr__(self) -> str:
        where = "locked" if self._locked else "unlocked"
        return f"SimulatedCableLock({where}{', jammed' if self.jammed else ''})"


def _running_on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class SimulatedBoard:
    """The pilot, the contactor and the fault inputs of one connector, with ``ev`` plugged into it.

    ``history`` keeps the last commands as ``(t, what, value)`` with ``what`` one of
    ``"start"``, ``"pilot_offer"`` (value: the current really offered), ``"pilot_standby"``,
    ``"contactor"`` (value: closed), ``"phases"`` (value: 1 or 3, the phase relay), ``"fault"``
    (value: ``(kind, active)``) and ``"close"``, so that tests can check orderings such as "the
    PWM stopped before the contactor opened". The car draws on the phases the relay connects.
    ``openings_under_load`` counts contactor openings while the car was drawing current: a
    well-behaved station only does that when a fault forces it.
    """

    def __init__(
        self,
        ev: SimulatedEv,
        *,
        capabilities: BoardCapabilities = BoardCapabilities(),
        clock: Callable[[], float] | None = None,
        history_size: int = 1000,
    ) -> None:
        if capabilities.phases not in (1, 2, 3):
            raise ValueError(f"a board supplies 1, 2 or 3 phases, not {capabilities.phases!r}")
        self.ev = ev
        self.capabilities = capabilities
        self._clock = clock or ev.clock
        self._contactor = False
        self._duty = 0.0  # 0: no PWM, steady +12 V
        self._offered = 0.0
        self._faults: set[FaultKind] = set()
        self._phases = capabilities.phases  # what the phase relay connects
        self._queue: asyncio.Queue = asyncio.Queue()
        self._ended = False  # the queue holds the end mark: a restart needs a fresh one
        self._running = False
        self._loop: asyncio.AbstractEventLoop | None = None  # the one reporting, once started
        self._reported: PilotState | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.openings_under_load = 0
        self.cable_lock: CableLock | None = SimulatedCableLock() if capabilities.has_lock else None
        self.history: deque[tuple[float, str, Any]] = deque(maxlen=history_size)
        ev._attach(self._car_changed)
        self._supply(self._clock())

    # --- EvseBoard -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Begin reporting: the current pilot state first, then every fault that is active."""
        if self._running:
            return
        if self._ended:
            self._queue, self._ended = asyncio.Queue(), False
        self._running = True
        self._loop = asyncio.get_running_loop()
        self._log("start", None)
        self._reported = None
        self._check_pilot()
        for kind in sorted(self._faults, key=lambda k: k.value):
            self._queue.put_nowait(FaultChanged(kind, True))
        self._arm_timer()

    def pilot_offer(self, amps: float) -> float:
        """Run the PWM offering ``amps`` (at least 6 A), capped at the board's maximum.

        A PWM board sets the duty cycle in 0.1 % steps, rounded down so that the car never reads
        more than was asked; a relay board (``current_steps_a``) selects the highest step not
        above the request and, when every step is above it, offers nothing (PWM off, returns 0).
        Returns the current the car will read.
        """
        if not amps >= MIN_CURRENT_A:  # also refuses NaN
            raise ValueError(f"{amps} A is below the 6 A minimum that a pilot can offer")
        now = self._begin()
        offered, duty = self._quantise(min(amps, self.capabilities.max_current_a))
        self._duty, self._offered = duty, offered
        self._log("pilot_offer", offered)
        self._after_command(now)
        return offered

    def pilot_standby(self) -> None:
        """Stop the PWM (steady +12 V): the car reads no offer and stops drawing at once."""
        now = self._begin()
        self._duty, self._offered = 0.0, 0.0
        self._log("pilot_standby", None)
        self._after_command(now)

    def set_contactor(self, closed: bool) -> None:
        now = self._begin()
        self._switch(now, closed)
        self._after_command(now)

    def set_phases(self, phases: int) -> None:
        """Switch the simulated phase relay; the car draws on that many phases from now on."""
        if not self.capabilities.phase_switch:
            raise DriverError("this simulated board has no phase switch")
        if phases not in (1, self.capabilities.phases):
            raise ValueError(f"the phase relay connects 1 or {self.capabilities.phases} "
                             f"phases, not {phases!r}")
        if self._contactor:
            raise DriverError("the phase relay must not switch while the contactor is closed")
        now = self._begin()
        self._phases = phases
        self._log("phases", phases)
        self._after_command(now)

    @property
    def phases(self) -> int:
        """The phases the phase relay connects now."""
        return self._phases

    async def events(self) -> AsyncIterator[BoardEvent]:
        """Pilot changes and fault inputs, in the order they happened; ends after ``close()``."""
        async for event in _drain(self._queue):
            yield event

    async def close(self) -> None:
        """Stop the PWM, open the contactor and end the event stream. Never raises."""
        # PWM first, as a station stops a session: the car stops drawing before the contacts part.
        self.pilot_standby()
        self.set_contactor(False)
        self._log("close", None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._running = False
        if not self._ended:
            self._ended = True
            self._queue.put_nowait(_END)

    # --- fault inputs ----------------------------------------------------------------------------

    def inject_fault(self, kind: FaultKind, active: bool) -> None:
        """Raise or clear a fault input; the board reports each change as ``FaultChanged``.

        RCD, EMERGENCY_STOP and PILOT open the contactor first, in this call, before the report
        is queued; the board does not close it again by itself when the fault clears. WELDED: the
        contactor conducts whatever it is commanded until cleared. RCD: the supply is cut (the
        car's draw drops to 0) until cleared. PILOT: the pilot reads E and the car sees no offer
        until cleared.

        Any thread may raise a fault, as a hardware input would while the event loop is busy:
        the contactor opens in the caller's thread at once, and the rest (the car, the report)
        follows on the event loop.
        """
        kind = FaultKind(kind)
        loop = self._loop
        if loop is not None and not loop.is_closed() and not _running_on(loop):
            if active and kind in OPENS_AT_ONCE and self._contactor:
                self._contactor = False  # a single store: nothing else can see half of it
                self._log("contactor", False)
            loop.call_soon_threadsafe(self.inject_fault, kind, active)
            return
        if (kind in self._faults) == active:
            return  # an input that does not change makes no edge to report
        now = self._begin()
        if active and kind in OPENS_AT_ONCE and self._contactor:
            self._switch(now, False)
        if active:
            self._faults.add(kind)
        else:
            self._faults.discard(kind)
        self._log("fault", (kind, active))
        if self._running:
            self._queue.put_nowait(FaultChanged(kind, active))
        self._after_command(now)

    def _switch(self, now: float, closed: bool) -> None:
        if self._contactor and not closed and self.ev.drawn_current_a(now) > 0:
            self.openings_under_load += 1
        self._contactor = bool(closed)
        self._log("contactor", self._contactor)

    # --- read-only state, for tests and the status API -------------------------------------------

    @property
    def contactor_closed(self) -> bool:
        """What the contactor was last commanded to do (see ``contactor_conducting``)."""
        return self._contactor

    @property
    def contactor_conducting(self) -> bool:
        """Whether current can flow: commanded closed or welded, and the RCD not tripped."""
        closed = self._contactor or FaultKind.WELDED in self._faults
        return closed and FaultKind.RCD not in self._faults

    @property
    def pwm_on(self) -> bool:
        return self._duty > 0

    @property
    def offered_current_a(self) -> float:
        """The current the PWM codes for (0 when the PWM is off)."""
        return self._offered

    @property
    def duty_cycle_percent(self) -> float:
        """The PWM duty cycle (0 when the PWM is off and the pilot is a steady +12 V)."""
        return self._duty

    @property
    def faults(self) -> frozenset[FaultKind]:
        return frozenset(self._faults)

    @property
    def pilot_state(self) -> PilotState:
        self.ev._advance(self._clock())
        return self._derive_pilot()

    # --- inside ----------------------------------------------------------------------------------

    def _quantise(self, limit: float) -> tuple[float, float]:
        """(current the car will read, duty cycle %) for an offer of at most ``limit`` amps."""
        steps = [s for s in self.capabilities.current_steps_a if s <= limit]
        if self.capabilities.current_steps_a:
            if not steps:
                return 0.0, 0.0
            return max(steps), round(duty_cycle_for_current(max(steps)), 1)
        # Work in whole tenths of a percent, the generator's resolution. Start from the formula
        # (the margin keeps an exact step, say 15.96 A = 26.6 %, from being floored one step down
        # when the division lands an ulp under it), then settle on the highest step the car reads
        # as no more than the limit: the two formulas of IEC 61851 leave a gap at 85 % (51 A,
        # then 52.5 A) where the formula alone would land on a step the car reads lower.
        tenths = math.floor(duty_cycle_for_current(limit) * 10 + 1e-6)

        def reads(t: int) -> float:
            return current_for_duty_cycle(t / 10)

        while tenths > 100 and reads(tenths) > limit + 1e-9:
            tenths -= 1
        while tenths < 960 and reads(tenths + 1) <= limit + 1e-9:
            tenths += 1
        return round(reads(tenths), 2), tenths / 10

    def _begin(self) -> float:
        """Bring the car up to now before the board changes anything."""
        now = self._clock()
        self.ev._advance(now)
        return now

    def _after_command(self, now: float) -> None:
        self._supply(now)
        self._check_pilot()
        self._arm_timer()

    def _supply(self, now: float) -> None:
        # A shorted pilot carries no PWM: the car sees no offer.
        reaches_car = self._offered if FaultKind.PILOT not in self._faults else 0.0
        self.ev._set_supply(
            now,
            conducting=self.contactor_conducting,
            offered_a=reaches_car,
            phases=self._phases,
        )

    def _derive_pilot(self) -> PilotState:
        if FaultKind.PILOT in self._faults:
            return PilotState.E
        ev = self.ev
        if not ev._plugged:
            return PilotState.A
        if ev._asks() and self.pwm_on:
            return PilotState.D if ev._ventilation else PilotState.C
        return PilotState.B

    def _check_pilot(self) -> None:
        if not self._running:
            return
        state = self._derive_pilot()
        if state != self._reported:
            self._reported = state
            self._queue.put_nowait(PilotStateChanged(state))

    def _car_changed(self) -> None:
        self._check_pilot()
        self._arm_timer()

    def _arm_timer(self, minimum_s: float = 0.0) -> None:
        """Wake up when the battery will be full, so the car goes to B at that instant even if
        nobody reads the meter. The energy is exact either way; only the event's timing hangs on
        this."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._running:
            return
        due = self.ev._next_full_at()
        if due is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # commanded from outside the loop: the next command or reading catches up
        self._timer = loop.call_later(max(due - self._clock(), minimum_s), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.ev._advance(self._clock())  # tells us through _car_changed if the car became full
        if self._timer is None:
            self._arm_timer(minimum_s=_RECHECK_S)

    def _log(self, what: str, value: Any) -> None:
        self.history.append((self._clock(), what, value))

    def __repr__(self) -> str:
        return (
            f"SimulatedBoard(pilot={self._derive_pilot().value}, pwm={self._duty}%, "
            f"contactor={'closed' if self._contactor else 'open'}, "
            f"faults={sorted(k.value for k in self._faults)})"
        )


class SimulatedMeter:
    """An energy meter in the supply of ``board``'s connector, measuring what ``ev`` draws.

    The import register starts at ``initial_energy_wh`` and counts V × I × phases × time exactly.
    Voltage is the car's nominal voltage and the power factor 1, so the readings agree with each
    other: ``power_w`` is the sum over the phases of voltage times current.
    """

    def __init__(
        self,
        ev: SimulatedEv,
        board: SimulatedBoard,
        *,
        initial_energy_wh: float = 0.0,
        clock: Callable[[], float] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not initial_energy_wh >= 0:
            raise ValueError(f"initial_energy_wh must be 0 or more, not {initial_energy_wh!r}")
        self.ev = ev
        self.board = board
        self._clock = clock or ev.clock
        self._wall_clock = wall_clock
        self._initial_wh = float(initial_energy_wh)
        self._drawn_before_wh = ev.energy_drawn_wh(self._clock())
        self._failing = False
        self._closed = False

    async def start(self) -> None:
        self._closed = False

    def fail(self, failing: bool) -> None:
        """Make the meter stop answering (True) or answer again (False). The register keeps
        counting meanwhile, as a real meter's does when only its bus is down."""
        self._failing = failing

    async def read(self) -> MeterReading:
        return self.read_now()

    def read_now(self) -> MeterReading:
        """The reading at this instant: the physics is computed, nothing is waited for (a fleet
        reads thousands of meters in its timer steps without a coroutine each)."""
        if self._closed:
            raise DriverError("the simulated meter is closed")
        if self._failing:
            raise DriverError("the simulated meter does not answer (failure injected)")
        now = self._clock()
        amps = self.ev.drawn_current_a(now)
        drawing = self.ev.phases_drawing
        volts = self.ev.voltage_v
        phases = self.board.capabilities.phases
        return MeterReading(
            energy_import_wh=self._initial_wh + self.ev.energy_drawn_wh(now)
            - self._drawn_before_wh,
            timestamp=self._wall_clock(),
            power_w=volts * amps * drawing,
            current_a=tuple(amps if phase < drawing else 0.0 for phase in range(phases)),
            voltage_v=(volts,) * phases,
            frequency_hz=50.0,
        )

    async def close(self) -> None:
        self._closed = True


_HEX = re.compile(r"[0-9A-Fa-f]+")
#: An OCPP 1.6 idTag is a CiString20: up to 20 printable characters.
ID_TOKEN_MAX_LENGTH = 20


class SimulatedCardReader:
    """A card reader whose cards are presented by calling ``present()``.

    Any id a CSMS may know is presentable (``USER-42`` as well as a card UID), so that a test
    bench can play the id tags of its CSMS; a real reader reports UIDs only (see
    :mod:`pievse.drivers.pcsc`).
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue = asyncio.Queue()
        self._closed = False

    async def start(self) -> None:
        if self._closed:
            self._queue, self._closed = asyncio.Queue(), False

    def present(self, id_token: str, kind: str = "ISO14443") -> TokenPresented:
        """Tap a card: one ``TokenPresented`` (returned too). ``id_token`` is any OCPP id token:
        1 to 20 printable characters without spaces (blanks around it are dropped). A hex UID is
        reported in upper case, as a card reader reports it; any other id as it is written.

        A closed reader reads no cards: the tap is dropped; ValueError for an id that is not one.
        """
        value = id_token.strip() if isinstance(id_token, str) else ""
        if not (
            0 < len(value) <= ID_TOKEN_MAX_LENGTH
            and value.isprintable()
            and not any(c.isspace() for c in value)
        ):
            raise ValueError(f"an id token is 1 to {ID_TOKEN_MAX_LENGTH} printable characters "
                             f"without spaces, not {id_token!r}")
        token = TokenPresented(value.upper() if _HEX.fullmatch(value) else value, kind)
        if not self._closed:
            self._queue.put_nowait(token)
        return token

    async def tokens(self) -> AsyncIterator[TokenPresented]:
        async for token in _drain(self._queue):
            yield token

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(_END)
