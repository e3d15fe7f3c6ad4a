"""Figures for the PC/SC card reader driver against pcscd and a virtual card. Prints, asserts
nothing. Needs root (it starts pcscd unless one runs) and the stand-in packages:

    sudo .venv/bin/python benchmarks/bench_rfid.py [--taps 20]

- tap latency: from the card reaching the virtual reader to TokenPresented in the event loop
  (median and spread over the taps). pcscd polls a virtual reader every 0.4 s, so most of this
  is the stand-in's wait: a real USB reader reports a card within a few tens of milliseconds;
- the driver's own share: from pcscd powering the card (it has found it) to the event, i.e.
  pcscd's notice, connect, GET DATA, disconnect... and the hand-over to asyncio;
- CPU used by the process while the driver watches two idle readers (target: near 0 on a Pi
  Zero: the worker sleeps in SCardGetStatusChange).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from pievse.drivers.pcsc import PcscReader  # noqa: E402
from tests.vpcd_card import PcscDaemon, VirtualCard  # noqa: E402  (the test stand-ins)

READER = "Virtual PCD 00 00"


def spread(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
    return f"median {statistics.median(ms):6.1f} ms   p90 {p90:6.1f} ms   max {ms[-1]:6.1f} ms"


async def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the stand-in did not follow")
        await asyncio.sleep(0.005)


async def measure(pcscd: PcscDaemon, taps: int, idle_s: float) -> None:
    reader = PcscReader(READER)
    await reader.start()
    stream = reader.tokens()
    try:
        await wait_until(lambda: reader.readers == (READER,))
        end_to_end, driver = [], []
        for n in range(taps):
            card = VirtualCard()
            uid = f"04{n:012X}"
            inserted = time.monotonic()
            card.insert(uid)
            token = await asyncio.wait_for(anext(stream), 10)
            presented = time.monotonic()
            assert token.id_token == uid, token
            end_to_end.append(presented - inserted)
            if card.powered_at is not None:
                driver.append(presented - card.powered_at)
            card.remove()
            await asyncio.to_thread(pcscd.wait_empty)
        print(f"tap, card inserted -> TokenPresented ({taps} taps): {spread(end_to_end)}")
        print(f"  of which pcscd found the card -> TokenPresented:   {spread(driver)}")

        cpu, wall = time.process_time(), time.monotonic()
        await asyncio.sleep(idle_s)
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        print(f"CPU while watching idle readers: {cpu / wall * 100:.3f} % of one core "
              f"({cpu * 1000:.1f} ms in {wall:.1f} s, whole process)")
    finally:
        await reader.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--taps", type=int, default=20)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle to measure")
    args = parser.parse_args()
    why = PcscDaemon.missing()
    if why:
        sys.exit(f"cannot run: {why}")
    with tempfile.TemporaryDirectory() as workdir:
        pcscd = PcscDaemon(Path(workdir))
        if not pcscd.acquire(timeout=120):
            sys.exit("another session is using pcscd's virtual readers")
        try:
            pcscd.ensure_running()
            print(f"pcscd {'started for this run' if pcscd.owned else 'already running'}")
            asyncio.run(measure(pcscd, args.taps, args.idle))
        finally:
            pcscd.shutdown()
            pcscd.release()


if __name__ == "__main__":
    main()
