"""The GPIO boards, native and retrofit, on gpiozero's mock pins wired like the real hardware.

Nothing of ours is mocked: the real board code drives gpiozero devices on a ``MockFactory`` with
PWM-capable mock pins, and the tests wire those pins the way the installation manual does. A
fault loop is a switch to GND read against the Pi's pull-up; the contactor relay drives a
contactor whose mirror contact pulls the feedback input low while its main contacts are open;
the pilot is read by gpiozero's real MCP3008 class over its software SPI, answered by an MCP3008
stand-in that speaks the chip's protocol and sees the pilot of a car the test plugs in (high and
low phase alternating while the PWM runs, steady when it does not).

Scenarios: IEC 61851-1 Annex A states and duty cycles, a missing diode, states E and F, RCD and
emergency stop (contactor low before anything is awaited), broken wires, a welded contactor and
one that does not close, a retrofitted charger's current steps and what it can infer about the
car, and close() leaving every output low and every pin free.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPWMPin

from pievse.drivers.contracts import (
    CableLock,
    DriverError,
    EvseBoard,
    FaultChanged,
    FaultKind,
    PilotState,
    PilotStateChanged,
)
from pievse.drivers.gpio.board import NativeBoard, NativePins
from pievse.drivers.gpio.cable_lock import LockPins
from pievse.drivers.gpio.retrofit import RetrofitBoard, RetrofitPins, parse_step_table
from tests.conftest import eventually

A, B, C, D, E, F = (PilotState(s) for s in "ABCDEF")
RCD, ESTOP, PILOT, WELDED = (FaultKind.RCD, FaultKind.EMERGENCY_STOP, FaultKind.PILOT,
                             FaultKind.WELDED)
CONTACTOR_OPEN = FaultKind.CONTACTOR_OPEN
# Pins of the reference wiring (BCM): both boards share relay 17, input 27, faults, LEDs.
RELAY, PWM, FEEDBACK, RCD_PIN, ESTOP_PIN, GREEN, RED = 17, 18, 27, 22, 23, 24, 25
STEP_5, STEP_6 = 5, 6


# --- stand-ins: the wiring around the Pi ----------------------------------------------------------
# The factory hands out PWM-capable mock pins, so every pin wired here must be one as well.


class SwitchToGround(MockPWMPin):
    """A GPIO input wired through a switch (or contact, or wire loop) to GND, read against the
    Pi's pull-up: low while the switch is closed, the pull's level while it is open."""

    def __init__(self, factory: MockFactory, info: Any, closed: bool = True) -> None:
        super().__init__(factory, info)
        self.closed = closed

    def _set_pull(self, value: str) -> None:
        super()._set_pull(value)
        self.settle()

    def set_closed(self, closed: bool) -> None:
        self.closed = closed
        self.settle()

    def settle(self) -> None:
        if self._function != "input":
            return
        if self.closed or self._pull == "down":
            self.drive_low()
        elif self._pull == "up":
            self.drive_high()


class OutputLine(MockPWMPin):
    """A GPIO output as some GPIO drivers release it: still driving its last level. Only the
    board's "every output low before release" makes its relay drop out or its LED go dark."""

    def close(self) -> None:
        self.when_changed = None
        self._function = "input"


class RelayOutput(OutputLine):
    """A relay output; ``moves`` (shared between relays) records each switching in order, and a
    contactor on it works its ``mirror`` contact, closed while the main contacts are open."""

    def __init__(self, factory: MockFactory, info: Any, moves: list | None = None,
                 mirror: SwitchToGround | None = None) -> None:
        super().__init__(factory, info)
        self.moves = moves if moves is not None else []
        self.mirror = mirror
        self.welded = False  # main contacts stuck closed
        self.coil_broken = False  # never pulls in
        self.main_closed = False

    def _change_state(self, value: Any) -> bool:
        changed = super()._change_state(value)
        if changed:
            self.moves.append((self.info.name, bool(value)))
        self.move_contacts()
        return changed

    def move_contacts(self) -> None:
        pulled_in = bool(self._state) and not self.coil_broken
        self.main_closed = self.main_closed if self.welded else pulled_in
        if self.mirror is not None:
            self.mirror.set_closed(not self.main_closed)


class LockDrive(OutputLine):
    """One H-bridge input of a socket's lock actuator: while driven, the motor moves the bolt
    (locked: the feedback contact closes to GND), unless the actuator is ``jammed``. Notes
    whether it was ever driven together with the ``other`` input (a short across the bridge)."""

    def __init__(self, factory: MockFactory, info: Any, feedback: SwitchToGround | None = None,
                 locks: bool = True) -> None:
        super().__init__(factory, info)
        self.feedback, self.locks = feedback, locks
        self.other: LockDrive | None = None
        self.jammed = self.shorted = False

    def _change_state(self, value: Any) -> bool:
        changed = super()._change_state(value)
        if value and self.other is not None and self.other.state:
            self.shorted = True
        if value and not self.jammed and self.feedback is not None:
            self.feedback.set_closed(self.locks)
        return changed


class SpiLine(MockPWMPin):
    """SPI clock or chip select: tells the ADC stand-in of each edge."""

    edge: Callable[[bool], None] | None = None

    def _change_state(self, value: Any) -> bool:
        changed = super()._change_state(value)
        if changed and self.edge is not None:
            self.edge(bool(value))
        return changed


LEVELS = {"A": 12.0, "B": 9.0, "C": 6.0, "D": 3.0}


class PilotCircuit:
    """The pilot of the car the test plugs in, read by an MCP3008 on SPI0/CE0, channel 0.

    The high phase reads the car's level (A +12, B +9, C +6, D +3 V; 0 V when ``shorted`` to PE);
    the low phase -12 V through the car's diode, or the high level mirrored when the car has no
    ``diode``. While the PWM pin oscillates, conversions alternate high and low phase; at a
    steady level they read that level. ``stuck_v`` forces one level, as a dead pilot driver does.
    The reference divider (hardware/control-pilot.md) maps -12 V to 0.338 V and +12 V to
    3.041 V at the ADC, which converts against VREF 3.3 V.
    """

    def __init__(self, factory: MockFactory) -> None:
        self.pwm = factory.pin(PWM)
        self.mosi, self.miso = factory.pin(10), factory.pin(9)
        self.clock = factory.pin(11, pin_class=SpiLine)
        self.select = factory.pin(8, pin_class=SpiLine)
        self.clock.edge, self.select.edge = self._clock_edge, self._select_edge
        self.car, self.diode, self.shorted = "A", True, False
        self.stuck_v: float | None = None
        self.glitch: tuple[str, int] | None = None  # (car state, conversions) shown briefly
        self.conversions = 0
        self._rx: list[int] = []
        self._tx: list[int] = []

    def volts(self) -> float:
        self.conversions += 1
        car = self.car
        if self.glitch is not None:
            car, left = self.glitch
            self.glitch = (car, left - 1) if left > 1 else None
        if self.stuck_v is not None:
            return self.stuck_v
        high = 0.0 if self.shorted else LEVELS[car]
        low = -12.0 if self.diode or car == "A" else -high
        duty = self.pwm.state
        if duty >= 1.0 or duty <= 0.0:
            return high if duty >= 1.0 else low
        return high if self.conversions % 2 else low

    def _select_edge(self, high: bool) -> None:
        if not high:  # chip select asserted: a new conversion begins
            self._rx, self._tx = [], []

    def _clock_edge(self, high: bool) -> None:
        if not high or self.select.state:
            return  # the chip shifts on rising edges while selected
        bit = self._tx.pop(0) if self._tx else 0
        self.miso.drive_high() if bit else self.miso.drive_low()
        self._rx.append(int(bool(self.mosi.state)))
        command = self._rx[self._rx.index(1):] if 1 in self._rx else []
        if len(command) == 5:  # start bit, single-ended bit, channel D2 D1 D0
            assert command[1] == 1, "the driver must ask for a single-ended conversion"
            channel = command[2] * 4 + command[3] * 2 + command[4]
            adc_v = 0.338 + (self.volts() + 12.0) / 24.0 * (3.041 - 0.338)
            code = round(adc_v / 3.3 * 1023) if channel == 0 else 0
            code = min(max(code, 0), 1023)
            # One clock to sample, a null bit, then the 10 bits MSB first.
            self._tx = [0, 0] + [(code >> i) & 1 for i in range(9, -1, -1)]


class EventLog:
    """Collects a board's events, with the contactor pin's level at the moment each arrived."""

    def __init__(self, board: EvseBoard, relay: MockPWMPin) -> None:
        self.seen: list[Any] = []
        self.relay_when_seen: list[bool] = []
        self._task = asyncio.create_task(self._collect(board, relay))

    async def _collect(self, board: EvseBoard, relay: MockPWMPin) -> None:
        async for event in board.events():
            self.seen.append(event)
            self.relay_when_seen.append(bool(relay.state))

    async def wait_for(self, event: Any, times: int = 1, timeout: float = 10.0) -> None:
        await eventually(lambda: self.seen.count(event) >= times, f"{event} x{times}", timeout)

    @property
    def pilot_states(self) -> list[PilotState]:
        return [event.state for event in self.seen if isinstance(event, PilotStateChanged)]

    def relay_was_low_when(self, event: Any) -> bool:
        return not self.relay_when_seen[self.seen.index(event)]

    async def ended(self) -> None:
        await asyncio.wait_for(self._task, 10)


@pytest.fixture
def factory() -> Any:
    """A fresh mock pin factory per test, reset afterwards (pins and reservations)."""
    previous = Device.pin_factory
    Device.pin_factory = mock = MockFactory(pin_class=MockPWMPin)
    yield mock
    mock.reset()
    Device.pin_factory = previous


@dataclass
class Rig:
    """What both boards' wiring shares: the RCD and emergency-stop loops (closed: healthy), the
    LEDs, and the retrofit step relays (which a native rig simply leaves unused)."""

    factory: MockFactory
    moves: list = field(default_factory=list)
    boards: list = field(default_factory=list)

    def __post_init__(self) -> None:
        pin = self.factory.pin
        self.rcd = pin(RCD_PIN, pin_class=SwitchToGround)
        self.estop = pin(ESTOP_PIN, pin_class=SwitchToGround)
        self.green, self.red = pin(GREEN, pin_class=OutputLine), pin(RED, pin_class=OutputLine)
        self.step5 = pin(STEP_5, pin_class=RelayOutput, moves=self.moves)
        self.step6 = pin(STEP_6, pin_class=RelayOutput, moves=self.moves)

    def loop(self, kind: FaultKind) -> SwitchToGround:
        return self.rcd if kind is RCD else self.estop


@dataclass
class NativeRig(Rig):
    """A native board's wiring: pilot and its ADC, contactor relay with its mirror contact."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.pilot = PilotCircuit(self.factory)
        self.feedback = self.factory.pin(FEEDBACK, pin_class=SwitchToGround)  # mirror contact
        self.contactor = self.factory.pin(RELAY, pin_class=RelayOutput, moves=self.moves,
                                          mirror=self.feedback)

    async def start(self, **kwargs: Any) -> tuple[NativeBoard, EventLog]:
        board = NativeBoard(**kwargs)
        self.boards.append(board)
        await board.start()
        return board, EventLog(board, self.contactor)

    async def charging(self, board: NativeBoard, log: EventLog, amps: float = 16.0) -> None:
        """Car plugged, offered, asking, contactor closed."""
        self.pilot.car = "B"
        await log.wait_for(PilotStateChanged(B))
        board.pilot_offer(amps)
        self.pilot.car = "C"
        await log.wait_for(PilotStateChanged(C))
        board.set_contactor(True)
        assert self.contactor.state, "the relay pulled in"


@pytest.fixture
async def native(factory: MockFactory) -> AsyncIterator[NativeRig]:
    rig = NativeRig(factory)
    yield rig
    for board in rig.boards:
        await board.close()


@dataclass
class RetrofitRig(Rig):
    """A retrofit board's wiring: the charger's enable relay and its contactor's aux contact."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.enable = self.factory.pin(RELAY, pin_class=RelayOutput, moves=self.moves)
        # The charger's contactor auxiliary contact: closed (input low) while it charges.
        self.charging = self.factory.pin(FEEDBACK, pin_class=SwitchToGround, closed=False)

    async def start(self, **kwargs: Any) -> tuple[RetrofitBoard, EventLog]:
        board = RetrofitBoard(**kwargs)
        self.boards.append(board)
        await board.start()
        return board, EventLog(board, self.enable)


@pytest.fixture
async def retrofit(factory: MockFactory) -> AsyncIterator[RetrofitRig]:
    rig = RetrofitRig(factory)
    yield rig
    for board in rig.boards:
        await board.close()


async def samples_pass(pilot: PilotCircuit, conversions: int = 200) -> None:
    """Let the sampler run a while (counted in conversions, not seconds)."""
    target = pilot.conversions + conversions
    await eventually(lambda: pilot.conversions >= target, "the sampler to go on sampling")


# --- native board: the pilot ----------------------------------------------------------------------


async def test_a_car_plugs_in_charges_stops_and_leaves_a_b_c_b_a(native: NativeRig) -> None:
    board, log = await native.start()
    await log.wait_for(PilotStateChanged(A))
    assert log.seen[0] == PilotStateChanged(A), "the first event is the pilot state now"
    await native.charging(board, log)
    native.pilot.car = "B"  # the car stops asking
    await log.wait_for(PilotStateChanged(B), times=2)
    assert native.contactor.state == 0, "the board opened the contactor when the car left C"
    assert log.relay_when_seen[-1] is False
    board.pilot_standby()
    native.pilot.car = "A"
    await log.wait_for(PilotStateChanged(A), times=2)
    assert log.pilot_states == [A, B, C, B, A]
    assert not [e for e in log.seen if isinstance(e, FaultChanged)]


async def test_the_first_event_is_the_state_the_pilot_reads_at_start(native: NativeRig) -> None:
    native.pilot.car = "B"
    board, log = await native.start()
    await eventually(lambda: log.seen, "the first event")
    assert log.seen[0] == PilotStateChanged(B)


@pytest.mark.parametrize(("amps", "duty", "offered"), [
    (6, 10.0, 6.0), (10, 16.6, 9.96), (16, 26.6, 15.96), (32, 53.3, 31.98),
    (51, 85.0, 51.0), (63, 89.2, 63.0), (80, 96.0, 80.0),
])
async def test_offers_run_a_1_khz_pwm_at_the_iec_duty_cycle(
    native: NativeRig, amps: float, duty: float, offered: float
) -> None:
    board, _ = await native.start(max_current_a=80.0)
    assert board.pilot_offer(amps) == offered
    assert native.pilot.pwm.frequency == 1000
    assert round(native.pilot.pwm.state * 100, 3) == duty


async def test_a_whole_percent_pwm_offers_what_its_steps_give(native: NativeRig) -> None:
    board, _ = await native.start(duty_resolution_percent=1.0)
    assert board.pilot_offer(16) == 15.6  # 26 %: 26.6 % cannot be produced
    assert round(native.pilot.pwm.state * 100, 3) == 26.0
    assert board.pilot_offer(40) == 31.8  # the board's 32 A maximum, 53 %


async def test_standby_is_a_steady_plus_12_v_and_needs_no_diode(native: NativeRig) -> None:
    native.pilot.car, native.pilot.diode = "B", False
    board, log = await native.start()
    board.pilot_offer(16)
    board.pilot_standby()
    assert native.pilot.pwm.state == 1.0 and native.pilot.pwm.frequency == 1000
    await samples_pass(native.pilot)
    assert log.seen == [PilotStateChanged(B)], "no PWM, no diode check"


async def test_a_missing_diode_is_a_pilot_fault_that_opens_the_contactor(
    native: NativeRig
) -> None:
    board, log = await native.start()
    await native.charging(board, log)
    native.pilot.diode = False
    await log.wait_for(FaultChanged(PILOT, True))
    assert native.contactor.state == 0
    assert log.relay_was_low_when(FaultChanged(PILOT, True))
    assert PilotStateChanged(F) in log.seen
    board.set_contactor(True)
    assert native.contactor.state == 0, "no closing during a pilot fault"


@pytest.mark.parametrize("fault", ["shorted to PE (E)", "driver stuck at -12 V (F)"])
async def test_states_e_and_f_are_faults_that_clear_when_the_pilot_recovers(
    native: NativeRig, fault: str
) -> None:
    board, log = await native.start()
    await native.charging(board, log)
    if "E" in fault:
        native.pilot.shorted = True
    else:
        native.pilot.stuck_v = -12.0
    state = E if "E" in fault else F
    await log.wait_for(PilotStateChanged(state))
    await log.wait_for(FaultChanged(PILOT, True))
    assert native.contactor.state == 0 and log.relay_was_low_when(PilotStateChanged(state))
    reported_c = log.seen.count(PilotStateChanged(C))
    native.pilot.shorted, native.pilot.stuck_v = False, None
    await log.wait_for(FaultChanged(PILOT, False))
    # The car is seen in C again (reported a moment after the fault clears on a busy machine).
    await log.wait_for(PilotStateChanged(C), times=reported_c + 1)
    last_c = len(log.seen) - 1 - log.seen[::-1].index(PilotStateChanged(C))
    assert last_c > log.seen.index(FaultChanged(PILOT, False))
    assert native.contactor.state == 0, "the board never closes again by itself"


async def test_state_d_is_reported_and_may_close_the_contactor(native: NativeRig) -> None:
    board, log = await native.start()
    native.pilot.car = "B"
    await log.wait_for(PilotStateChanged(B))
    board.pilot_offer(16)
    native.pilot.car = "D"  # asks for power and for ventilation: the station decides
    await log.wait_for(PilotStateChanged(D))
    board.set_contactor(True)
    assert native.contactor.state


async def test_a_glitch_shorter_than_the_debounce_is_no_state_change(native: NativeRig) -> None:
    native.pilot.car = "B"
    board, log = await native.start()
    await samples_pass(native.pilot, 50)
    native.pilot.glitch = ("C", 8)  # one burst's worth of conversions
    await samples_pass(native.pilot)
    assert log.seen == [PilotStateChanged(B)]


# --- native board: fault inputs and the contactor -------------------------------------------------


@pytest.mark.parametrize("kind", [RCD, ESTOP])
async def test_a_fault_input_opens_the_contactor_before_anything_is_awaited(
    native: NativeRig, kind: FaultKind
) -> None:
    board, log = await native.start()
    await native.charging(board, log)
    native.loop(kind).set_closed(False)  # the loop opens: RCD tripped, or the button pressed
    assert native.contactor.state == 0  # no await since the edge
    await log.wait_for(FaultChanged(kind, True))
    assert native.red.state and not native.green.state
    board.set_contactor(True)
    assert native.contactor.state == 0, "closing is refused while the fault is active"
    native.loop(kind).set_closed(True)
    await log.wait_for(FaultChanged(kind, False))
    assert native.contactor.state == 0 and not native.red.state


def trip_while_the_loop_is_blocked(loop_switch: SwitchToGround, relay: Any) -> list[int]:
    """Open a fault loop from another thread while the caller holds the event loop (it does not
    await), as a long synchronous handler would; what the relay read right after the edge."""
    seen: list[int] = []

    def trip() -> None:
        loop_switch.set_closed(False)
        seen.append(relay.state)

    tripping = threading.Thread(target=trip)
    tripping.start()
    tripping.join(5)
    return seen


@pytest.mark.parametrize("kind", [RCD, ESTOP])
async def test_a_fault_input_opens_the_contactor_while_the_event_loop_is_blocked(
    either: Any, kind: FaultKind
) -> None:
    """Safety does not wait for the protocol: the edge callback drops the relay in gpiozero's
    thread; the station hears of it when the loop is free again."""
    rig = either
    board, log = await rig.start()
    if isinstance(rig, NativeRig):
        await rig.charging(board, log)
        relay = rig.contactor
    else:
        board.pilot_offer(16)
        relay = rig.enable
    assert relay.state
    assert trip_while_the_loop_is_blocked(rig.loop(kind), relay) == [0]
    assert relay.state == 0 and FaultChanged(kind, True) not in log.seen
    await log.wait_for(FaultChanged(kind, True))


async def test_an_unwired_emergency_stop_reads_as_pressed(native: NativeRig) -> None:
    native.estop.set_closed(False)  # a broken wire: nothing pulls the input down
    board, log = await native.start()
    await log.wait_for(FaultChanged(ESTOP, True))
    assert log.seen[:2] == [PilotStateChanged(A), FaultChanged(ESTOP, True)]
    assert native.red.state and not native.green.state


async def test_a_welded_contactor_is_reported_once_commanded_open(native: NativeRig) -> None:
    board, log = await native.start()
    await native.charging(board, log)
    native.contactor.welded = True
    board.set_contactor(False)
    assert native.contactor.state == 0
    await log.wait_for(FaultChanged(WELDED, True))
    native.contactor.welded = False
    native.contactor.move_contacts()
    await log.wait_for(FaultChanged(WELDED, False))


async def test_a_contactor_that_does_not_close_is_reported_and_released(
    native: NativeRig
) -> None:
    native.contactor.coil_broken = True
    board, log = await native.start()
    await native.charging(board, log)
    await log.wait_for(FaultChanged(CONTACTOR_OPEN, True))
    assert native.contactor.state == 0, "the relay is released: no late surprise closing"
    # An absence can only be watched for a while: three switching times, and it must still be
    # there (on a machine too slow to fire the timer by then, this checks less, never flakes).
    await asyncio.sleep(0.3)
    assert FaultChanged(CONTACTOR_OPEN, False) not in log.seen
    assert CONTACTOR_OPEN in board.faults


async def test_a_broken_feedback_wire_reads_as_welded(native: NativeRig) -> None:
    board, log = await native.start()
    native.feedback.set_closed(False)  # the wire to the mirror contact breaks
    await log.wait_for(FaultChanged(WELDED, True))


async def test_the_green_led_blinks_while_charging(native: NativeRig) -> None:
    board, log = await native.start()
    assert native.green.state and not native.red.state
    await native.charging(board, log)
    await eventually(lambda: not native.green.state, "the green LED's off phase", 5)
    await eventually(lambda: native.green.state, "the green LED's on phase", 5)


# --- retrofit board -------------------------------------------------------------------------------


@pytest.mark.parametrize(("asked", "step", "relays"), [
    (6, 6.0, ()), (10, 10.0, (STEP_5,)), (20, 16.0, (STEP_6,)), (32, 32.0, (STEP_5, STEP_6)),
    (40, 32.0, (STEP_5, STEP_6)),
])
async def test_retrofit_offers_the_highest_step_not_above_the_limit(
    retrofit: RetrofitRig, asked: float, step: float, relays: tuple[int, ...]
) -> None:
    board, _ = await retrofit.start()
    assert board.capabilities.current_steps_a == (6.0, 10.0, 16.0, 32.0)
    assert board.pilot_offer(asked) == step
    assert retrofit.enable.state
    assert (bool(retrofit.step5.state), bool(retrofit.step6.state)) == (
        STEP_5 in relays, STEP_6 in relays)


async def test_retrofit_step_changes_release_before_they_energise(retrofit: RetrofitRig) -> None:
    board, _ = await retrofit.start()
    board.pilot_offer(16)
    retrofit.moves.clear()
    board.pilot_offer(10)  # GPIO6 off, GPIO5 on: through "none" (6 A), never "both" (32 A)
    assert retrofit.moves == [("GPIO6", False), ("GPIO5", True)]


async def test_retrofit_offers_nothing_below_its_lowest_step(retrofit: RetrofitRig) -> None:
    board, _ = await retrofit.start(step_table=parse_step_table("10:5, 16:6"))
    board.pilot_offer(16)
    assert board.pilot_offer(8) == 0.0
    assert not retrofit.enable.state and not retrofit.step6.state


async def test_retrofit_reads_c_from_the_charger_contactor_and_b_otherwise(
    retrofit: RetrofitRig
) -> None:
    board, log = await retrofit.start()
    board.pilot_offer(16)
    retrofit.charging.set_closed(True)  # the charger's contactor pulls in: the car charges
    await log.wait_for(PilotStateChanged(C))
    board.set_contactor(True)
    retrofit.charging.set_closed(False)
    await log.wait_for(PilotStateChanged(B), times=2)
    assert log.pilot_states == [B, C, B], "B whenever it is not charging"
    assert retrofit.enable.state, "the offer stands: the car may ask again"


async def test_retrofit_with_a_vehicle_connected_input_knows_a_and_b(
    retrofit: RetrofitRig
) -> None:
    plug = retrofit.factory.pin(16, pin_class=SwitchToGround, closed=False)
    board, log = await retrofit.start(pins=RetrofitPins(vehicle_connected=16))
    plug.set_closed(True)
    retrofit.charging.set_closed(True)
    retrofit.charging.set_closed(False)
    plug.set_closed(False)
    await log.wait_for(PilotStateChanged(A), times=2)
    assert log.pilot_states == [A, B, C, B, A]


async def test_retrofit_contactor_open_under_load_drops_the_enable_relay(
    retrofit: RetrofitRig
) -> None:
    board, log = await retrofit.start()
    board.pilot_offer(32)
    board.set_contactor(False)
    assert retrofit.enable.state, "nothing conducts: the offer stays"
    retrofit.charging.set_closed(True)
    await log.wait_for(PilotStateChanged(C))
    board.set_contactor(False)
    assert not retrofit.enable.state and board.offered_current_a == 0.0


async def test_retrofit_rcd_disables_the_charger_at_once(retrofit: RetrofitRig) -> None:
    board, log = await retrofit.start()
    board.pilot_offer(16)
    retrofit.rcd.set_closed(False)
    assert retrofit.enable.state == 0
    await log.wait_for(FaultChanged(RCD, True))
    assert board.pilot_offer(16) == 0.0 and not retrofit.enable.state


async def test_retrofit_charger_still_charging_when_disabled_is_welded(
    retrofit: RetrofitRig
) -> None:
    board, log = await retrofit.start(contactor_switching_time_s=0.2)
    board.pilot_offer(16)
    retrofit.charging.set_closed(True)
    board.pilot_standby()  # enable off; the charger's contactor stays in
    await log.wait_for(FaultChanged(WELDED, True))


# --- both: lifecycle ------------------------------------------------------------------------------


@pytest.fixture(params=["native", "retrofit"])
async def either(request: pytest.FixtureRequest, factory: MockFactory) -> AsyncIterator[Any]:
    """A native rig, then a retrofit rig."""
    rig = NativeRig(factory) if request.param == "native" else RetrofitRig(factory)
    yield rig
    for board in rig.boards:
        await board.close()


async def test_close_leaves_every_output_low_and_every_pin_free(either: Any) -> None:
    rig = either
    kind = "native" if isinstance(rig, NativeRig) else "retrofit"
    board, log = await rig.start()
    if kind == "native":
        rig.pilot.car = "C"
        await log.wait_for(PilotStateChanged(C))
    board.pilot_offer(32)
    board.set_contactor(True)
    assert rig.factory.pin(RELAY).state and rig.factory.pin(GREEN).state
    await board.close()
    await log.ended()
    outputs = [RELAY, GREEN, RED] + ([PWM] if kind == "native" else [STEP_5, STEP_6])
    assert [rig.factory.pin(n).state for n in outputs] == [0] * len(outputs)
    assert all(rig.factory.pin(n).function == "input" for n in outputs), "released"
    again, _ = await rig.start()  # the same pins can be claimed again
    await again.close()


async def test_a_second_board_on_the_same_pins_is_refused_naming_the_pin(
    native: NativeRig
) -> None:
    first, log = await native.start()
    second = NativeBoard(pins=NativePins(pilot_pwm=13))
    with pytest.raises(DriverError, match="GPIO17"):
        await second.start()
    await native.charging(first, log)  # the first board still owns its pins


LOCK_PINS = LockPins(lock_drive=20, unlock_drive=21, feedback=26)


async def a_socket_board(native: NativeRig) -> tuple[NativeBoard, LockDrive, LockDrive, Any]:
    pin = native.factory.pin
    feedback = pin(LOCK_PINS.feedback, pin_class=SwitchToGround, closed=False)
    locking = pin(LOCK_PINS.lock_drive, pin_class=LockDrive, feedback=feedback, locks=True)
    unlocking = pin(LOCK_PINS.unlock_drive, pin_class=LockDrive, feedback=feedback, locks=False)
    locking.other, unlocking.other = unlocking, locking
    board, _ = await native.start(lock_pins=LOCK_PINS, lock_travel_s=0.01)
    return board, locking, unlocking, feedback


async def test_a_socket_lock_is_driven_one_way_at_a_time_and_read_back(native: NativeRig) -> None:
    board, locking, unlocking, _ = await a_socket_board(native)
    assert isinstance(board.cable_lock, CableLock)
    assert board.capabilities.has_lock and not board.cable_lock.locked
    assert await board.cable_lock.lock() and board.cable_lock.locked
    assert not locking.state, "the motor is not left powered"
    assert await board.cable_lock.unlock() and not board.cable_lock.locked
    assert not unlocking.state and not locking.shorted and not unlocking.shorted


async def test_a_jammed_socket_lock_is_a_lock_failure(native: NativeRig) -> None:
    board, locking, unlocking, _ = await a_socket_board(native)
    await board.cable_lock.lock()
    unlocking.jammed = True
    assert not await board.cable_lock.unlock() and board.cable_lock.locked
    assert not unlocking.state


async def test_a_fixed_cable_board_has_no_lock(native: NativeRig) -> None:
    board, _ = await native.start()
    assert not board.capabilities.has_lock and board.cable_lock is None


def test_a_lock_pin_given_another_role_is_refused() -> None:
    with pytest.raises(ValueError, match="GPIO17 is given twice"):
        NativeBoard(lock_pins=LockPins(lock_drive=17, unlock_drive=21, feedback=26))


def test_a_pin_given_two_roles_is_refused() -> None:
    with pytest.raises(ValueError, match="GPIO17 is given twice"):
        NativeBoard(pins=NativePins(contactor=17, red_led=17))
    with pytest.raises(ValueError, match="GPIO5"):
        RetrofitBoard(pins=RetrofitPins(vehicle_connected=5))


def test_step_tables_read_as_written() -> None:
    assert parse_step_table("6:none, 10:5, 16:6, 32:5+6") == {
        6.0: (), 10.0: (5,), 16.0: (6,), 32.0: (5, 6)}
    for bad in ("", "16:5, 32:5", "4:5", "16-5", "16:x"):
        with pytest.raises(ValueError):
            parse_step_table(bad)


def test_both_boards_implement_the_board_protocol() -> None:
    assert isinstance(NativeBoard(), EvseBoard) and isinstance(RetrofitBoard(), EvseBoard)


# --- native board: the phase relay ----------------------------------------------------------------

PHASE_SWITCH = 16


async def test_the_phase_relay_moves_only_while_the_contactor_is_open(native: NativeRig) -> None:
    relay = native.factory.pin(PHASE_SWITCH, pin_class=RelayOutput, moves=native.moves)
    board, log = await native.start(pins=NativePins(phase_switch=PHASE_SWITCH))
    assert board.capabilities.phase_switch and board.phases == 3
    assert relay.state, "all phases from the start, as before the switch existed"
    await native.charging(board, log)
    with pytest.raises(DriverError, match="closed contactor"):
        board.set_phases(1)
    assert relay.state and board.phases == 3, "the relay did not move under load"

    # The safe sequence, as the station drives it: PWM off, the car leaves C, contactor open,
    # then the relay; the contactor closes again only once the car asks on the new supply.
    native.moves.clear()
    board.pilot_standby()
    native.pilot.car = "B"
    await log.wait_for(PilotStateChanged(B), times=2)
    board.set_contactor(False)
    board.set_phases(1)
    assert board.phases == 1 and not relay.state
    board.pilot_offer(16.0)
    native.pilot.car = "C"
    await log.wait_for(PilotStateChanged(C), times=2)
    board.set_contactor(True)
    assert native.moves == [(f"GPIO{RELAY}", False), (f"GPIO{PHASE_SWITCH}", False),
                            (f"GPIO{RELAY}", True)]
    with pytest.raises(ValueError, match="1 or 3"):
        board.set_phases(2)


async def test_a_board_without_a_phase_relay_refuses_to_switch(native: NativeRig) -> None:
    board, _ = await native.start()
    assert not board.capabilities.phase_switch and board.phases == 3
    with pytest.raises(DriverError, match="no phase switch"):
        board.set_phases(1)
    assert isinstance(board, EvseBoard)
