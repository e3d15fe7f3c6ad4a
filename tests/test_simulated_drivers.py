"""The simulated car, board, meter and card reader behave like the hardware they stand for.

Time is a manual clock: a test moves it and reads the physics at that instant, so an hour of
charging takes microseconds and nothing depends on how fast the machine is. The scenarios follow
IEC 61851-1 Annex A (pilot states, duty cycle, reaction times) and what an energy meter must show.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pievse.drivers.contracts import (
    BoardCapabilities,
    CableLock,
    DriverError,
    EnergyMeter,
    EvseBoard,
    FaultChanged,
    FaultKind,
    PilotState,
    PilotStateChanged,
    TokenPresented,
    TokenReader,
)
from pievse.drivers.simulated.devices import (
    SimulatedBoard,
    SimulatedCardReader,
    SimulatedEv,
    SimulatedMeter,
)
from pievse.core.iec61851 import current_for_duty_cycle
from pievse.core.clock import ManualClock

A, B, C, D, E = (PilotState.A, PilotState.B, PilotState.C, PilotState.D, PilotState.E)
WAIT_S = 10.0  # generous: only a broken driver ever waits this long


@dataclass
class Rig:
    """One connector's simulated hardware on a manual clock."""

    clock: ManualClock
    ev: SimulatedEv
    board: SimulatedBoard
    meter: SimulatedMeter

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    async def energy(self) -> float:
        return (await self.meter.read()).energy_import_wh

    async def charging(self, offer_a: float = 32.0) -> None:
        """Car asks, PWM on, contactor closed, and the reaction delay gone by: it draws."""
        self.ev.set_state("C")
        self.board.pilot_offer(offer_a)
        self.board.set_contactor(True)
        self.advance(self.ev.reaction_delay_s)
        assert self.ev.drawn_current_a() > 0


def make_rig(
    *,
    max_current_a: float = 32.0,
    phases: int = 3,
    reaction_delay_s: float = 2.0,
    battery_capacity_wh: float | None = None,
    capabilities: BoardCapabilities = BoardCapabilities(),
    initial_energy_wh: float = 0.0,
) -> Rig:
    clock = ManualClock(start=1000.0)
    ev = SimulatedEv(
        max_current_a=max_current_a,
        phases=phases,
        reaction_delay_s=reaction_delay_s,
        battery_capacity_wh=battery_capacity_wh,
        clock=clock.now,
    )
    board = SimulatedBoard(ev, capabilities=capabilities)
    meter = SimulatedMeter(ev, board, initial_energy_wh=initial_energy_wh)
    return Rig(clock, ev, board, meter)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    r = make_rig()
    await r.board.start()
    await r.meter.start()
    yield r
    await r.board.close()


async def next_event(events: AsyncIterator):
    return await asyncio.wait_for(anext(events), WAIT_S)


async def events_until_closed(board: SimulatedBoard) -> list:
    """Everything the board reported, closing it to mark the end (close stops the PWM, which the
    car may answer with a last change)."""
    await board.close()
    return [event async for event in board.events()]


def pilot_states(events: list) -> list[PilotState]:
    return [e.state for e in events if isinstance(e, PilotStateChanged)]


# --- the drivers are what the station expects -----------------------------------------------------


async def test_simulated_drivers_implement_the_driver_protocols():
    r = make_rig()
    assert isinstance(r.board, EvseBoard)
    assert isinstance(r.meter, EnergyMeter)
    assert isinstance(SimulatedCardReader(), TokenReader)
    assert not isinstance(r.ev, EvseBoard)


# --- the cable lock -------------------------------------------------------------------------------


async def test_a_socket_board_has_a_lock_that_follows_its_commands():
    board = make_rig(capabilities=BoardCapabilities(has_lock=True)).board
    lock = board.cable_lock
    assert isinstance(lock, CableLock) and not lock.locked
    assert await lock.lock() and lock.locked
    assert await lock.unlock() and not lock.locked


async def test_a_jammed_lock_fails_and_its_feedback_stays_where_it_was():
    lock = make_rig(capabilities=BoardCapabilities(has_lock=True)).board.cable_lock
    await lock.lock()
    lock.jam()
    assert not await lock.unlock() and lock.locked, "a lock failure: the plug stays held"
    lock.jam(False)
    assert await lock.unlock() and not lock.locked
    lock.jam()
    assert not await lock.lock() and not lock.locked


def test_a_fixed_cable_board_has_no_lock():
    assert make_rig().board.cable_lock is None


# --- IEC 61851 pilot states -----------------------------------------------------------------------


async def test_the_first_event_after_start_is_the_current_pilot_state():
    r = make_rig()
    r.ev.set_state("B")  # plugged in before the station started: no event yet, nobody listens
    await r.board.start()
    events = r.board.events()
    assert await next_event(events) == PilotStateChanged(B)


async def test_a_car_goes_a_b_c_and_reaches_c_only_once_the_pwm_offers_current(rig: Rig):
    events = rig.board.events()
    assert await next_event(events) == PilotStateChanged(A)

    rig.ev.plug()
    assert await next_event(events) == PilotStateChanged(B)

    rig.ev.request_power(True)
    assert rig.board.pilot_state is B, "without PWM the car must wait in B"

    # The event comes out of the command itself, synchronously, not from a later poll.
    rig.board.pilot_offer(16)
    assert rig.board.pilot_state is C
    assert await next_event(events) == PilotStateChanged(C)


async def test_a_car_asking_without_pwm_waits_in_b_and_draws_nothing(rig: Rig):
    rig.ev.set_state("C")
    rig.board.set_contactor(True)
    rig.advance(60)
    assert rig.ev.asks_for_power
    assert rig.board.pilot_state is B
    assert rig.ev.drawn_current_a() == 0
    assert pilot_states(await events_until_closed(rig.board)) == [A, B]


async def test_pwm_off_sends_a_charging_car_back_to_b_and_its_draw_stops_at_once(rig: Rig):
    await rig.charging()
    rig.board.pilot_standby()
    assert rig.board.pilot_state is B
    assert rig.ev.drawn_current_a() == 0
    assert not rig.board.pwm_on and rig.board.offered_current_a == 0
    assert pilot_states(await events_until_closed(rig.board)) == [A, B, C, B]


async def test_a_car_that_stops_asking_goes_from_c_to_b_and_unplugging_gives_a(rig: Rig):
    await rig.charging()
    rig.ev.set_state("B")
    assert rig.ev.drawn_current_a() == 0
    rig.ev.set_state("A")
    assert pilot_states(await events_until_closed(rig.board)) == [A, B, C, B, A]


async def test_a_car_needing_ventilation_reads_d_with_pwm(rig: Rig):
    rig.ev.set_state("D")
    rig.board.pilot_offer(16)
    assert rig.board.pilot_state is D
    assert pilot_states(await events_until_closed(rig.board)) == [A, B, D, B]


async def test_an_unknown_car_state_is_refused_by_name(rig: Rig):
    with pytest.raises(ValueError, match="'X'"):
        rig.ev.set_state("X")


# --- duty cycle -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "duty", "read_by_car"),
    [(6, 10.0, 6.0), (10, 16.6, 9.96), (13, 21.6, 12.96), (16, 26.6, 15.96), (32, 53.3, 31.98)],
)
async def test_the_duty_cycle_is_set_in_steps_of_a_tenth_of_a_percent(asked, duty, read_by_car):
    board = make_rig().board
    assert board.pilot_offer(asked) == pytest.approx(read_by_car)
    assert board.duty_cycle_percent == pytest.approx(duty)
    assert board.offered_current_a == pytest.approx(read_by_car)


async def test_a_board_never_offers_more_than_its_capability():
    board = make_rig(capabilities=BoardCapabilities(max_current_a=16)).board
    assert board.pilot_offer(32) == pytest.approx(15.96)
    assert board.duty_cycle_percent == pytest.approx(26.6)


async def test_less_than_6_a_cannot_be_offered_on_the_pilot():
    board = make_rig().board
    with pytest.raises(ValueError, match="6 A"):
        board.pilot_offer(5.9)
    assert not board.pwm_on


@given(asked=st.floats(min_value=6, max_value=80), cap=st.sampled_from([16.0, 32.0, 63.0, 80.0]))
@settings(max_examples=300, deadline=None)
def test_a_quantised_offer_is_never_above_the_request_and_offering_it_again_keeps_it(asked, cap):
    board = make_rig(capabilities=BoardCapabilities(max_current_a=cap)).board
    offered = board.pilot_offer(asked)
    limit = min(asked, cap)
    duty = board.duty_cycle_percent
    assert offered == pytest.approx(current_for_duty_cycle(duty)), "what the car reads"
    assert offered <= limit + 1e-9
    one_step_up = current_for_duty_cycle(duty + 0.1)
    assert one_step_up > limit or one_step_up == 0, "the highest step not above the request"
    assert board.pilot_offer(offered) == offered, "re-offering must not ratchet down"


async def test_a_relay_board_offers_the_highest_step_not_above_the_request():
    caps = BoardCapabilities(max_current_a=32, current_steps_a=(6.0, 10.0, 16.0, 32.0))
    board = make_rig(capabilities=caps).board
    assert board.pilot_offer(13) == 10.0
    assert board.duty_cycle_percent == pytest.approx(16.7)
    assert board.pilot_offer(40) == 32.0
    steps_above = make_rig(capabilities=BoardCapabilities(current_steps_a=(10.0, 16.0))).board
    assert steps_above.pilot_offer(8) == 0.0
    assert not steps_above.pwm_on


# --- how the car draws ----------------------------------------------------------------------------


async def test_the_car_starts_drawing_a_reaction_delay_after_the_contactor_closes(rig: Rig):
    rig.ev.set_state("C")
    rig.board.pilot_offer(16)
    rig.board.set_contactor(True)
    rig.advance(1.999)
    assert rig.ev.drawn_current_a() == 0
    rig.advance(0.001)
    assert rig.ev.drawn_current_a() == pytest.approx(15.96)


async def test_the_car_follows_a_lower_offer_only_after_its_reaction_delay(rig: Rig):
    await rig.charging(32)
    assert rig.ev.drawn_current_a() == pytest.approx(31.98)
    rig.board.pilot_offer(10)
    rig.advance(1.9)
    assert rig.ev.drawn_current_a() == pytest.approx(31.98), "a car takes time to read the PWM"
    rig.advance(0.1)
    assert rig.ev.drawn_current_a() == pytest.approx(9.96)
    rig.board.pilot_offer(20)  # and back up, just as slowly
    rig.advance(1.0)
    assert rig.ev.drawn_current_a() == pytest.approx(9.96)
    rig.advance(1.0)
    assert rig.ev.drawn_current_a() == pytest.approx(19.98)


async def test_the_car_never_draws_more_than_its_own_maximum():
    r = make_rig(max_current_a=16)
    await r.charging(32)
    assert r.ev.drawn_current_a() == 16.0
    r.ev.max_current_a = 10  # the car's own decision takes effect at once
    assert r.ev.drawn_current_a() == 10.0


async def test_opening_the_contactor_stops_the_draw_at_once_and_counts_as_under_load(rig: Rig):
    await rig.charging()
    rig.board.set_contactor(False)
    assert rig.ev.drawn_current_a() == 0
    reading = await rig.meter.read()
    assert reading.power_w == 0 and reading.current_a == (0.0, 0.0, 0.0)
    assert rig.board.openings_under_load == 1


async def test_a_station_stopping_properly_never_opens_under_load(rig: Rig):
    await rig.charging()
    rig.board.pilot_standby()
    rig.advance(0.5)
    rig.board.set_contactor(False)
    assert rig.board.openings_under_load == 0
    commands = [(what, value) for _, what, value in rig.board.history]
    assert commands[-2:] == [("pilot_standby", None), ("contactor", False)]


async def test_the_board_keeps_a_timestamped_log_of_its_commands(rig: Rig):
    rig.board.pilot_offer(16)
    rig.advance(3)
    rig.board.set_contactor(True)
    assert list(rig.board.history)[-2:] == [
        (1000.0, "pilot_offer", pytest.approx(15.96)),
        (1003.0, "contactor", True),
    ]


# --- energy ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("read_every_s", [3600.0, 60.0, 1.0, 0.7, 7.3])
async def test_16_a_on_3_phases_at_230_v_for_one_hour_is_11040_wh_whatever_the_read_interval(
    read_every_s,
):
    r = make_rig(max_current_a=16, initial_energy_wh=500.0)
    await r.charging(32)  # the car's own 16 A limit, not a quantised offer
    start = await r.energy()
    elapsed = 0.0
    while elapsed < 3600.0:
        step = min(read_every_s, 3600.0 - elapsed)
        r.advance(step)
        elapsed += step
        await r.meter.read()
    assert await r.energy() - start == pytest.approx(11040.0, rel=1e-9)


async def test_energy_counts_exactly_across_offer_changes_between_readings():
    r = make_rig(reaction_delay_s=2.0)
    r.ev.set_state("C")
    r.board.pilot_offer(32)  # 31.98 A
    r.board.set_contactor(True)  # t = 0; draws from t = 2
    r.advance(10)
    r.board.pilot_offer(16)  # t = 10: 15.96 A from t = 12
    r.advance(100)  # one reading at t = 110, straddling both breakpoints
    expected_wh = 230 * 3 * (31.98 * 10 + 15.96 * 98) / 3600
    assert await r.energy() == pytest.approx(expected_wh, rel=1e-12)


async def test_a_single_phase_car_on_a_three_phase_supply_draws_on_l1_only():
    r = make_rig(phases=1, max_current_a=16)
    await r.charging()
    reading = await r.meter.read()
    assert reading.current_a == (16.0, 0.0, 0.0)
    assert reading.voltage_v == (230.0, 230.0, 230.0)
    assert reading.power_w == 230.0 * 16.0
    assert reading.frequency_hz == 50.0
    r.advance(3600)
    assert await r.energy() == pytest.approx(3680.0)


async def test_a_three_phase_car_on_a_single_phase_supply_draws_on_one_phase():
    r = make_rig(max_current_a=16, capabilities=BoardCapabilities(phases=1))
    await r.charging()
    reading = await r.meter.read()
    assert reading.current_a == (16.0,) and reading.power_w == 3680.0


_actions = st.lists(
    st.tuples(
        st.sampled_from(["A", "B", "C", "offer", "standby", "close", "open", "read", "weld"]),
        st.floats(min_value=6, max_value=40),
        st.floats(min_value=0, max_value=900),
    ),
    max_size=40,
)


@given(actions=_actions)
@settings(max_examples=150, deadline=None)
async def test_the_energy_register_never_goes_backwards(actions):
    r = make_rig(battery_capacity_wh=5000.0)
    readings = [await r.energy()]
    for action, amps, seconds in actions:
        match action:
            case "A" | "B" | "C":
                r.ev.set_state(action)
            case "offer":
                r.board.pilot_offer(amps)
            case "standby":
                r.board.pilot_standby()
            case "close" | "open":
                r.board.set_contactor(action == "close")
            case "weld":
                r.board.inject_fault(FaultKind.WELDED, FaultKind.WELDED not in r.board.faults)
        r.advance(seconds)
        readings.append(await r.energy())
    assert readings == sorted(readings)
    # The battery can hold no more than its capacity per plug-in, whatever was done to it.
    assert r.ev.energy_charged_wh() <= 5000.0


# --- the battery ----------------------------------------------------------------------------------


async def test_a_full_car_stops_asking_and_goes_to_b_at_the_instant_it_is_full():
    r = make_rig(max_current_a=16, battery_capacity_wh=1000.0)
    await r.board.start()
    await r.charging()
    r.advance(3600)  # 11 040 W would fill 1000 Wh in 326 s: the rest of the hour draws nothing
    assert await r.energy() == pytest.approx(1000.0)
    assert r.ev.full and not r.ev.asks_for_power
    assert r.board.pilot_state is B
    assert r.ev.drawn_current_a() == 0

    r.ev.set_state("A")
    r.ev.set_state("C")  # another plug-in: the next session's battery is empty again
    assert r.board.pilot_state is C
    assert pilot_states(await events_until_closed(r.board)) == [A, B, C, B, A, B, C, B]


async def test_a_full_car_goes_to_b_by_itself_even_when_nobody_reads_the_meter():
    ev = SimulatedEv(max_current_a=16, reaction_delay_s=0.0, battery_capacity_wh=0.5)
    board = SimulatedBoard(ev)  # on the real monotonic clock
    await board.start()
    events = board.events()
    assert await next_event(events) == PilotStateChanged(A)
    ev.set_state("C")
    board.pilot_offer(32)
    board.set_contactor(True)  # 11 040 W: 0.5 Wh take about 0.16 s
    assert [await next_event(events) for _ in range(3)] == [
        PilotStateChanged(B),
        PilotStateChanged(C),
        PilotStateChanged(B),
    ]
    assert ev.full and ev.energy_charged_wh() == 0.5
    await board.close()


# --- faults ---------------------------------------------------------------------------------------


async def test_a_welded_contactor_keeps_the_car_drawing_after_it_was_commanded_open(rig: Rig):
    await rig.charging()
    rig.board.inject_fault(FaultKind.WELDED, True)
    rig.board.set_contactor(False)
    assert not rig.board.contactor_closed and rig.board.contactor_conducting
    before = await rig.energy()
    rig.advance(60)
    assert rig.ev.drawn_current_a() == pytest.approx(31.98)
    assert await rig.energy() > before

    rig.board.inject_fault(FaultKind.WELDED, False)
    assert rig.ev.drawn_current_a() == 0
    events = await events_until_closed(rig.board)
    assert [e for e in events if isinstance(e, FaultChanged)] == [
        FaultChanged(FaultKind.WELDED, True),
        FaultChanged(FaultKind.WELDED, False),
    ]


async def test_an_rcd_trip_cuts_the_supply_and_is_reported(rig: Rig):
    await rig.charging()
    rig.board.inject_fault(FaultKind.RCD, True)
    assert rig.ev.drawn_current_a() == 0
    assert not rig.board.contactor_closed, "the board opens the contactor, then reports"
    assert FaultChanged(FaultKind.RCD, True) in await events_until_closed(rig.board)


@pytest.mark.parametrize("kind", [FaultKind.RCD, FaultKind.EMERGENCY_STOP, FaultKind.PILOT])
async def test_a_fault_input_opens_the_contactor_before_the_station_hears_of_it(
    rig: Rig, kind: FaultKind
):
    await rig.charging()
    rig.board.inject_fault(kind, True)
    assert not rig.board.contactor_closed and not rig.board.contactor_conducting
    assert rig.board.history[-2][1:] == ("contactor", False), "opened before the fault is known"
    assert rig.board.history[-1][1:] == ("fault", (kind, True))
    assert rig.board.openings_under_load == 1, "forced by the fault"
    rig.board.inject_fault(kind, False)
    assert not rig.board.contactor_closed, "a cleared fault never closes it by itself"


async def test_a_fault_from_another_thread_opens_the_contactor_while_the_loop_is_blocked(rig: Rig):
    """Safety does not wait for the protocol: the loop is held by a synchronous stretch of work
    (a long GetCompositeSchedule), and the fault input still opens the contactor at once; the
    report follows when the loop is free again."""
    await rig.charging()
    seen: list[bool] = []

    def trip() -> None:
        rig.board.inject_fault(FaultKind.RCD, True)
        seen.append(rig.board.contactor_closed)

    tripping = threading.Thread(target=trip)
    tripping.start()
    tripping.join(5)  # the loop is blocked: no await until the input has done its work
    time.sleep(0.01)
    assert seen == [False] and not rig.board.contactor_closed
    assert FaultKind.RCD not in rig.board.faults, "the report waits for the loop"
    await asyncio.sleep(0)
    assert FaultKind.RCD in rig.board.faults and rig.ev.drawn_current_a() == 0
    assert FaultChanged(FaultKind.RCD, True) in await events_until_closed(rig.board)


async def test_a_shorted_pilot_reads_e_and_the_car_stops_drawing(rig: Rig):
    await rig.charging()
    rig.board.inject_fault(FaultKind.PILOT, True)
    assert rig.board.pilot_state is E
    assert rig.ev.drawn_current_a() == 0
    rig.board.inject_fault(FaultKind.PILOT, False)
    assert rig.board.pilot_state is C
    events = await events_until_closed(rig.board)
    assert events[-5:] == [
        FaultChanged(FaultKind.PILOT, True),
        PilotStateChanged(E),
        FaultChanged(FaultKind.PILOT, False),
        PilotStateChanged(C),
        PilotStateChanged(B),  # close() stops the PWM
    ]


async def test_a_fault_active_at_start_is_reported_right_after_the_pilot_state():
    r = make_rig()
    r.board.inject_fault(FaultKind.EMERGENCY_STOP, True)
    await r.board.start()
    assert await events_until_closed(r.board) == [
        PilotStateChanged(A),
        FaultChanged(FaultKind.EMERGENCY_STOP, True),
    ]


# --- meter ----------------------------------------------------------------------------------------


async def test_a_meter_that_stops_answering_raises_driver_error_and_keeps_counting(rig: Rig):
    await rig.charging()
    before = await rig.energy()
    rig.meter.fail(True)
    with pytest.raises(DriverError, match="does not answer"):
        await rig.meter.read()
    rig.advance(3600)
    rig.meter.fail(False)
    assert await rig.energy() == pytest.approx(before + 230 * 3 * 31.98)


async def test_a_meter_reading_carries_the_wall_clock_time():
    r = make_rig()
    meter = SimulatedMeter(r.ev, r.board, wall_clock=lambda: 1_767_225_600.0)
    assert (await meter.read()).timestamp == 1_767_225_600.0


# --- card reader ----------------------------------------------------------------------------------


async def test_each_card_presented_is_one_event_in_upper_case_hex():
    reader = SimulatedCardReader()
    await reader.start()
    reader.present("04a1b2c3")
    reader.present(" deadbeef ", kind="ISO15693")
    reader.present("04A1B2C3")
    await reader.close()
    assert [t async for t in reader.tokens()] == [
        TokenPresented("04A1B2C3"),
        TokenPresented("DEADBEEF", "ISO15693"),
        TokenPresented("04A1B2C3"),
    ]


async def test_the_simulated_reader_presents_any_ocpp_id_token():
    # The id tags a CSMS knows are not all card UIDs: a test bench must be able to play them.
    reader = SimulatedCardReader()
    await reader.start()
    for id_token in ("USER-42", "user-42", "04:A1:B2", "CAFEBABEZ", "X" * 20, "Müller#1"):
        reader.present(id_token)
    await reader.close()
    assert [t.id_token async for t in reader.tokens()] == [
        "USER-42", "user-42", "04:A1:B2", "CAFEBABEZ", "X" * 20, "Müller#1"]


@pytest.mark.parametrize("bad", ["", "   ", "X" * 21, "not a card", "USER\x0042", "tab\there",
                                 "new\nline", 42, None])
async def test_an_id_that_is_no_ocpp_id_token_is_refused_by_name(bad):
    with pytest.raises(ValueError) as refused:
        SimulatedCardReader().present(bad)
    assert repr(bad) in str(refused.value)
    assert "1 to 20 printable characters" in str(refused.value)


# --- closing --------------------------------------------------------------------------------------


async def test_close_ends_the_event_streams_of_a_waiting_consumer():
    r = make_rig()
    reader = SimulatedCardReader()
    await r.board.start()
    await reader.start()

    async def consume(stream: AsyncIterator) -> list:
        return [item async for item in stream]

    board_task = asyncio.create_task(consume(r.board.events()))
    reader_task = asyncio.create_task(consume(reader.tokens()))
    await asyncio.sleep(0)  # let both consumers reach their await
    await r.board.close()
    await reader.close()
    assert await asyncio.wait_for(board_task, WAIT_S) == [PilotStateChanged(A)]
    assert await asyncio.wait_for(reader_task, WAIT_S) == []


async def test_close_leaves_the_contactor_open_and_the_pilot_at_steady_12_v(rig: Rig):
    await rig.charging()
    await rig.board.close()
    assert not rig.board.contactor_closed and not rig.board.pwm_on
    assert rig.board.duty_cycle_percent == 0
    assert rig.ev.drawn_current_a() == 0
    assert rig.board.openings_under_load == 0, "close() stops the PWM before opening"


async def test_a_board_started_again_after_close_reports_afresh(rig: Rig):
    rig.ev.set_state("B")
    await rig.board.close()
    await rig.board.start()
    assert await next_event(rig.board.events()) == PilotStateChanged(B)


async def test_a_closed_meter_does_not_answer(rig: Rig):
    await rig.meter.close()
    with pytest.raises(DriverError):
        await rig.meter.read()
