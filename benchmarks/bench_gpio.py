"""Figures for the GPIO board driver on gpiozero's mock pins. Run on demand; asserts nothing.

    .venv/bin/python benchmarks/bench_gpio.py [--edges 1000] [--changes 40]

- RCD edge -> contactor pin low: the fault input's loop opens on a mock pin and the native
  board's callback drives the relay low (median / max over ``--edges`` trips). On the mock the
  callback runs in the thread that drives the pin, so this is the driver's own path (gpiozero's
  dispatch, the board's lock, the relay write) while the pilot sampler competes for the GIL; on
  a Pi add lgpio's edge-to-callback latency, which this cannot see.
- ADC state C -> B -> event: the car stops asking (the MCP3008 stand-in starts answering +9 V)
  and the debounced PilotStateChanged(B) comes out of ``events()`` (3 agreeing samples at
  10 ms); also when the board opened the contactor on that change, before the event.
- Missing diode -> contactor low: the pilot fault path, which is not debounced.

IEC 61851-1 allows 100 ms from a fault or from the car leaving C to the contactor opening.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from gpiozero import Device  # noqa: E402
from gpiozero.pins.mock import MockFactory, MockPWMPin  # noqa: E402

from pievse.drivers.contracts import FaultChanged, FaultKind, PilotState, PilotStateChanged  # noqa: E402
from pievse.drivers.gpio.board import NativeBoard  # noqa: E402
from tests.test_gpio_board import NativeRig, RelayOutput  # noqa: E402  (the test stand-ins)


class TimedRelay(RelayOutput):
    """The contactor relay pin, noting when it last went low."""

    low_at = 0.0

    def _change_state(self, value: object) -> bool:
        changed = super()._change_state(value)
        if changed and not value:
            self.low_at = time.perf_counter()
        return changed


def figures(name: str, seconds: list[float]) -> None:
    ms = sorted(s * 1000 for s in seconds)
    print(f"{name:<46} median {statistics.median(ms):8.3f} ms   "
          f"p99 {ms[int(len(ms) * 0.99) - 1]:8.3f} ms   max {ms[-1]:8.3f} ms   (n={len(ms)})")


async def next_event(events, wanted: object) -> float:
    async for event in events:
        if event == wanted:
            return time.perf_counter()
    raise RuntimeError("the event stream ended")


async def car_charging_on_mock_pins() -> tuple[MockFactory, TimedRelay, NativeRig, NativeBoard,
                                               AsyncIterator]:
    """A native board on mock pins wired like the real hardware, a car in C offered 16 A: the
    pin factory, the timed relay, the rig, the board and its event stream."""
    Device.pin_factory = factory = MockFactory(pin_class=MockPWMPin)
    relay = factory.pin(17, pin_class=TimedRelay)
    rig = NativeRig(factory)  # wires the pilot ADC, the fault loops and the feedback
    relay.mirror = rig.feedback
    rig.contactor = relay
    board = NativeBoard()
    await board.start()
    events = board.events()
    rig.pilot.car = "B"
    await next_event(events, PilotStateChanged(PilotState.B))
    board.pilot_offer(16)
    rig.pilot.car = "C"
    await next_event(events, PilotStateChanged(PilotState.C))
    return factory, relay, rig, board, events


async def main(edges: int, changes: int) -> None:
    factory, relay, rig, board, events = await car_charging_on_mock_pins()

    trips = []
    for _ in range(edges):
        board.set_contactor(True)
        began = time.perf_counter()
        rig.rcd.set_closed(False)  # the RCD trips
        trips.append(relay.low_at - began)
        rig.rcd.set_closed(True)
        await asyncio.sleep(0)  # let the loop take the events
    figures("RCD edge -> contactor pin low", trips)

    to_event, to_open = [], []
    for _ in range(changes):
        board.set_contactor(True)
        began = time.perf_counter()
        rig.pilot.car = "B"
        seen = await next_event(events, PilotStateChanged(PilotState.B))
        to_event.append(seen - began)
        to_open.append(relay.low_at - began)
        rig.pilot.car = "C"
        await next_event(events, PilotStateChanged(PilotState.C))
    figures("ADC C -> B -> PilotStateChanged(B)", to_event)
    figures("ADC C -> B -> contactor pin low", to_open)

    no_diode = []
    for _ in range(changes):
        board.set_contactor(True)
        began = time.perf_counter()
        rig.pilot.diode = False
        await next_event(events, FaultChanged(FaultKind.PILOT, True))
        no_diode.append(relay.low_at - began)
        rig.pilot.diode = True
        await next_event(events, FaultChanged(FaultKind.PILOT, False))
        if board.pilot_state is not PilotState.C:
            await next_event(events, PilotStateChanged(PilotState.C))
    figures("missing diode -> contactor pin low", no_diode)
    await board.close()
    factory.reset()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=int, default=1000, help="RCD trips to time")
    parser.add_argument("--changes", type=int, default=40, help="pilot changes to time")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # a thousand RCD trips are a thousand error lines
    asyncio.run(main(args.edges, args.changes))
