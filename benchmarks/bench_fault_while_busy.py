"""Fault -> contactor open while the event loop is busy. Run on demand; prints, asserts nothing.

    .venv/bin/python benchmarks/bench_fault_while_busy.py [--rounds 20]

The event loop is held by a synchronous stretch of work, and meanwhile a fault input trips in
another thread (as gpiozero's edge callback does on a Pi, or the simulation's input would):

- busy with GetCompositeSchedule: a daily recurring profile in 48 half-hour periods, asked for
  ten years (the request that held the loop for seconds before the schedule was bounded); its own
  time is printed first;
- busy with a synchronous sleep of ``--sleep-ms`` (any handler that forgets to await).

For each board, the native GPIO board on gpiozero's mock pins and the simulated board, two
figures: the fault input -> contactor open (done in the driver, so it should not depend on the
loop at all) and the fault input -> the station hears of it (FaultChanged out of ``events()``,
which has to wait for the loop). IEC 61851-1 allows 100 ms from a fault to the contactor opening.
While the loop computes, the tripping thread still needs the GIL: Python hands it over every
``sys.getswitchinterval()`` (5 ms), which is what the contactor figure shows under a computation;
under a sleep the loop holds no GIL and the driver acts at once.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from benchmarks.bench_gpio import car_charging_on_mock_pins, figures, next_event  # noqa: E402
from pievse.core.charging_profiles import (  # noqa: E402
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSchedule,
    ChargingSchedulePeriod,
    RecurrencyKind,
)
from pievse.core.smart_charging import ChargingProfiles  # noqa: E402
from pievse.drivers.contracts import FaultChanged, FaultKind  # noqa: E402
from pievse.drivers.simulated.devices import SimulatedBoard, SimulatedEv  # noqa: E402

DAY = 86_400
TEN_YEARS = 10 * 365 * DAY
TRIPPED = FaultChanged(FaultKind.RCD, True)


def recurring_store(now: float) -> ChargingProfiles:
    periods = tuple(ChargingSchedulePeriod(i * 1800, 6.0 + (i % 2) * 10) for i in range(48))
    schedule = ChargingSchedule(ChargingRateUnit.AMPS, periods, duration=DAY, start_schedule=now)
    profile = ChargingProfile(1, 0, ChargingProfilePurpose.TX_DEFAULT_PROFILE,
                              ChargingProfileKind.RECURRING, schedule,
                              recurrency_kind=RecurrencyKind.DAILY)
    store = ChargingProfiles()
    store.install(1, profile, now)
    return store


def long_composite_schedule() -> Callable[[], None]:
    now = time.time()
    store = recurring_store(now)
    return lambda: store.composite_schedule(1, now, TEN_YEARS, no_limit_a=32.0)


async def one_trip(busy: Callable[[], None], trip: Callable[[], None],
                   opened_at: Callable[[], float], events: AsyncIterator,
                   delay_s: float) -> tuple[float, float]:
    """Hold the loop with ``busy`` while another thread trips the fault ``delay_s`` into it:
    (fault -> contactor open, fault -> FaultChanged seen on the loop)."""
    began: list[float] = []

    def tripping() -> None:
        time.sleep(delay_s)
        began.append(time.perf_counter())
        trip()

    thread = threading.Thread(target=tripping)
    thread.start()
    busy()
    thread.join()
    heard = await next_event(events, TRIPPED)
    return opened_at() - began[0], heard - began[0]


async def gpio_rounds(busy: Callable[[], None], rounds: int,
                      delay_s: float) -> tuple[list[float], list[float]]:
    factory, relay, rig, board, events = await car_charging_on_mock_pins()
    to_open, to_heard = [], []
    for _ in range(rounds):
        board.set_contactor(True)
        opened, heard = await one_trip(busy, lambda: rig.rcd.set_closed(False),
                                       lambda: relay.low_at, events, delay_s)
        to_open.append(opened)
        to_heard.append(heard)
        rig.rcd.set_closed(True)
        await next_event(events, FaultChanged(FaultKind.RCD, False))
    await board.close()
    factory.reset()
    return to_open, to_heard


async def simulated_rounds(busy: Callable[[], None], rounds: int,
                           delay_s: float) -> tuple[list[float], list[float]]:
    ev = SimulatedEv()
    board = SimulatedBoard(ev)
    await board.start()
    events = board.events()
    ev.set_state("C")
    board.pilot_offer(16)
    opened_at: list[float] = []

    def trip() -> None:
        board.inject_fault(FaultKind.RCD, True)
        if not board.contactor_closed:
            opened_at.append(time.perf_counter())

    to_open, to_heard = [], []
    for _ in range(rounds):
        board.set_contactor(True)
        opened, heard = await one_trip(busy, trip, lambda: opened_at[-1], events, delay_s)
        to_open.append(opened)
        to_heard.append(heard)
        board.inject_fault(FaultKind.RCD, False)
    await board.close()
    return to_open, to_heard


async def main(rounds: int, sleep_ms: float) -> None:
    composite = long_composite_schedule()
    began = time.perf_counter()
    composite()
    took = time.perf_counter() - began
    print(f"GetCompositeSchedule for ten years of a daily 48-period profile: {took * 1000:.1f} ms")
    busy_kinds = {
        "composite": (composite, took / 2),
        f"sleep {sleep_ms:g} ms": (lambda: time.sleep(sleep_ms / 1000), sleep_ms / 4000),
    }
    for busy_name, (busy, delay_s) in busy_kinds.items():
        for board_name, rounds_of in (("GPIO", gpio_rounds), ("simulated", simulated_rounds)):
            to_open, to_heard = await rounds_of(busy, rounds, delay_s)
            figures(f"{board_name}, {busy_name}: fault -> contactor", to_open)
            figures(f"{board_name}, {busy_name}: fault -> heard", to_heard)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="trips per board and busy kind")
    parser.add_argument("--sleep-ms", type=float, default=200.0, help="the synchronous sleep")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # every trip is an error line
    asyncio.run(main(args.rounds, args.sleep_ms))
