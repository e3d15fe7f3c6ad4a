"""Figures for the Modbus meter driver. Run on demand; prints, asserts nothing.

    .venv/bin/python benchmarks/bench_meter.py [--reads 200]

For each shipped register map: how many requests one reading takes, and

- over TCP (a pymodbus server on 127.0.0.1): read latency (median, p95) and readings per second;
- over RTU at 9600 baud: the time on the wire, computed from the frames (a PTY pair ignores the
  baud rate, so observing it would measure nothing): 11 bits per byte (start, 8 data, parity or
  second stop, stop), request 8 bytes, answer 5 + 2 per register, plus the 3.5-character silence
  that ends each frame and a typical 10 ms meter turnaround per request. The driver's own cost on
  the PTY is printed beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from pievse.drivers.modbus.register_maps import available_models, load_register_map  # noqa: E402
from pievse.drivers.modbus.meter import ModbusMeter, ModbusRtu, ModbusTcp  # noqa: E402
from tests.modbus_standin import MeterServer, PtyPair  # noqa: E402

BAUD = 9600
BITS_PER_BYTE = 11
TURNAROUND_S = 0.010


def wire_time_s(requests, baud: int = BAUD) -> float:
    char = BITS_PER_BYTE / baud
    total = 0.0
    for request in requests:
        total += (8 + 3.5) * char + TURNAROUND_S + (5 + 2 * request.count + 3.5) * char
    return total


def serve_everything(server: MeterServer, register_map) -> None:
    """Zeros at every address the map reads (the values do not matter for timing), and a small
    rising energy so that the driver's backwards check passes."""
    for request in register_map.requests():
        server.fill(request.register, request.address, request.end - 1, value=0)


async def time_reads(meter: ModbusMeter, reads: int) -> list[float]:
    times = []
    for _ in range(reads):
        t0 = time.perf_counter()
        await meter.read()
        times.append(time.perf_counter() - t0)
    return times


def summary(times: list[float]) -> str:
    times = sorted(times)
    p95 = times[int(len(times) * 0.95) - 1]
    return (f"median {statistics.median(times) * 1000:6.2f} ms, p95 {p95 * 1000:6.2f} ms, "
            f"{len(times) / sum(times):7.1f} readings/s")


async def main(reads: int) -> None:
    logging.disable(logging.WARNING)
    print(f"Modbus meter driver, {reads} readings per case")
    for model in available_models():
        register_map = load_register_map(model)
        requests = register_map.requests()
        server = MeterServer(unit_id=1)
        serve_everything(server, register_map)
        port = await server.start_tcp()
        meter = ModbusMeter(ModbusTcp("127.0.0.1", port), register_map, timeout=2.0)
        await meter.start()
        tcp = await time_reads(meter, reads)
        await meter.close()
        await server.stop()

        rtu_line = "RTU: socat not installed"
        if PtyPair.available():
            with tempfile.TemporaryDirectory() as folder:
                pair = PtyPair(Path(folder))
                await pair.start()
                server = MeterServer(unit_id=1)
                serve_everything(server, register_map)
                await server.start_rtu(pair.server_end, baudrate=BAUD)
                meter = ModbusMeter(ModbusRtu(pair.station_end, baudrate=BAUD), register_map,
                                    timeout=2.0)
                await meter.start()
                rtu = await time_reads(meter, max(20, reads // 4))
                await meter.close()
                await server.stop()
                await pair.stop()
            wire = wire_time_s(requests)
            rtu_line = (f"RTU {BAUD} baud: {wire * 1000:6.1f} ms on the wire (computed), "
                        f"{1 / wire:5.1f} readings/s; driver on a PTY: {summary(rtu)}")
        print(f"\n{model}: {len(register_map.fields)} values in {len(requests)} request(s)")
        print(f"  TCP: {summary(tcp)}")
        print(f"  {rtu_line}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reads", type=int, default=200)
    asyncio.run(main(parser.parse_args().reads))
