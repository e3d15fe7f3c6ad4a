"""Figures for the station as a whole. Run on demand; prints, asserts nothing.

    .venv/bin/python benchmarks/bench_station.py [--quick] [--ocpp 1.6|2.0.1]

Each figure but the core's is measured for each OCPP version asked for (both by default): the
daemon speaks it to the bench CSMS.

- start-up: from `pievse run` being spawned to its BootNotification reaching the CSMS;
- resident memory (VmRSS) idle and while charging, and CPU used while idle;
- safety latency: from the car leaving state C (or a fault input) to the contactor command,
  through the whole daemon (board event -> station -> dispatch -> board), and in the core alone.
  IEC 61851-1 allows 100 ms; the target is well under 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from pievse.csms.server import CentralSystem  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


VERSIONS = ("1.6", "2.0.1")


def config_file(directory: str, url: str, api_port: int, cp_id: str, version: str) -> str:
    path = Path(directory) / "config.toml"
    path.write_text(
        f'[charge_point]\nid = "{cp_id}"\n[ocpp]\nurl = "{url}"\nversion = "{version}"\n'
        f'[meter]\ninterval = 1.0\n[api]\nlisten = "127.0.0.1:{api_port}"\n'
        f'[storage]\npath = "{directory}/pievse.sqlite3"\n'
    )
    return str(path)


async def wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark step timed out")
        await asyncio.sleep(0.005)


def booted(csms: CentralSystem, cp_id: str) -> bool:
    return any(
        m.action == "BootNotification" and m.direction == "in" and m.cp_id == cp_id
        for m in csms.messages
    )


def status_is(csms: CentralSystem, cp_id: str, status: str) -> bool:
    cp = csms.charge_points.get(cp_id)
    return cp is not None and cp.statuses.get(1) == status


def transaction_started(csms: CentralSystem, cp_id: str) -> bool:
    """StartTransaction (1.6) or TransactionEvent Started (2.0.1) reached the CSMS."""
    return any(tx.cp_id == cp_id for tx in csms.transactions.values())


async def process_figures(runs: int, idle_s: float, version: str) -> None:
    import urllib.request

    csms = CentralSystem(host="127.0.0.1", port=0)
    await csms.start()
    startup = []
    try:
        for run in range(runs):
            cp_id = f"BENCH{run}"
            with tempfile.TemporaryDirectory() as directory:
                api_port = free_port()
                config = config_file(directory, csms.url, api_port, cp_id, version)
                t0 = time.monotonic()
                process = subprocess.Popen(
                    [sys.executable, "-m", "pievse", "run", "--config", config],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )
                try:
                    await wait_until(lambda: booted(csms, cp_id))
                    startup.append(time.monotonic() - t0)
                    if run < runs - 1:
                        continue
                    await wait_until(lambda: status_is(csms, cp_id, "Available"))
                    await asyncio.sleep(2)
                    rss_idle = rss_mib(process.pid)
                    cpu0 = cpu_seconds(process.pid)
                    await asyncio.sleep(idle_s)
                    cpu_idle = (cpu_seconds(process.pid) - cpu0) / idle_s * 100

                    def post(path: str, body: bytes) -> None:
                        request = urllib.request.Request(
                            f"http://127.0.0.1:{api_port}{path}", data=body, method="POST",
                            headers={"Content-Type": "application/json"},
                        )
                        urllib.request.urlopen(request, timeout=5).read()

                    loop = asyncio.get_running_loop()
                    await loop.run_in_executor(None, post, "/api/sim/ev", b'{"state":"C"}')
                    await loop.run_in_executor(
                        None, post, "/api/sim/token", b'{"id_token":"04A1B2C3"}'
                    )
                    await wait_until(lambda: transaction_started(csms, cp_id))
                    await asyncio.sleep(5)
                    rss_charging = rss_mib(process.pid)
                finally:
                    process.terminate()
                    # Off the event loop: the daemon's websocket close needs our CSMS to answer.
                    await asyncio.to_thread(process.wait, 10)
    finally:
        await csms.stop()
    print(f"start-up to BootNotification   median {statistics.median(startup) * 1000:7.0f} ms"
          f"   (min {min(startup) * 1000:.0f}, max {max(startup) * 1000:.0f}, {runs} runs)")
    print(f"resident memory, idle          {rss_idle:7.1f} MiB")
    print(f"resident memory, charging      {rss_charging:7.1f} MiB")
    print(f"CPU while idle                 {cpu_idle:7.2f} % of one core ({idle_s:.0f} s)")


async def latency_figures(cycles: int, version: str) -> None:
    from pievse.app.config import parse_config
    from pievse.app.daemon import Daemon
    from pievse.drivers.contracts import FaultKind

    csms = CentralSystem(host="127.0.0.1", port=0)
    await csms.start()
    config = parse_config(
        f'[charge_point]\nid = "LAT"\n[ocpp]\nurl = "{csms.url}"\nversion = "{version}"\n'
        '[api]\nlisten = ""\n'
        '[simulation]\nev_reaction_delay = 0.0\n[storage]\npath = ":memory:"\n',
        source="<bench>",
    )
    daemon = Daemon(config)
    running = asyncio.create_task(daemon.run())
    sim = daemon.hardware.simulated
    ev, board = sim.evs[1], sim.boards[1]
    try:
        await wait_until(lambda: daemon.protocol.registered)
        ev.set_state("C")
        sim.reader.present("04A1B2C3")
        await wait_until(lambda: board.contactor_closed)
        leave_c, fault = [], []

        def opened_after(t0: float) -> float:
            # The board stamps each command with the monotonic clock: the exact instant the
            # daemon commanded the contactor open, whatever the polling below adds.
            return next(t for t, what, value in reversed(board.history)
                        if what == "contactor" and value is False and t >= t0) - t0

        for _ in range(cycles):
            t0 = time.monotonic()
            ev.set_state("B")
            await wait_until(lambda: not board.contactor_closed)
            leave_c.append(opened_after(t0))
            ev.set_state("C")
            await wait_until(lambda: board.contactor_closed)
        for _ in range(cycles):
            t0 = time.monotonic()
            board.inject_fault(FaultKind.RCD, True)
            await wait_until(lambda: not board.contactor_closed)
            fault.append(opened_after(t0))
            board.inject_fault(FaultKind.RCD, False)
            await asyncio.sleep(0.01)
            if daemon.station.connector(1).transaction is None:
                sim.reader.present("04A1B2C3")
            await wait_until(lambda: board.contactor_closed)
    finally:
        daemon.stop()
        await running
        await csms.stop()

    def show(name: str, samples: list[float]) -> None:
        ms = sorted(s * 1000 for s in samples)
        print(f"{name:<31}median {statistics.median(ms):7.3f} ms   p99 "
              f"{ms[int(len(ms) * 0.99) - 1]:.3f} ms   max {ms[-1]:.3f} ms  ({len(ms)} cycles)")

    show("car leaves C -> contactor open", leave_c)
    show("RCD input -> contactor open", fault)
    print("  (from the input changing to the board's stamped contactor command, through the")
    print("   board's event queue, the daemon's dispatch and the core)")


def core_figure(iterations: int) -> None:
    from pievse.drivers.contracts import MeterReading, PilotState
    from pievse.core.authorization import AuthorizationStatus, IdToken, IdTokenType
    from pievse.core.clock import ManualClock
    from pievse.core.effects import SetContactor
    from pievse.core.station import Station

    clock = ManualClock()
    station = Station(1, clock=clock)
    station.start()
    station.meter_reading(1, MeterReading(0.0, clock.now()))
    station.pilot_changed(1, PilotState.B)
    card = IdToken("04A1B2C3", IdTokenType.ISO14443)
    station.token_presented(card)
    station.authorization_result(card, AuthorizationStatus.ACCEPTED)
    timings = []
    for _ in range(iterations):
        station.pilot_changed(1, PilotState.C)
        t0 = time.perf_counter()
        effects = station.pilot_changed(1, PilotState.B)
        timings.append(time.perf_counter() - t0)
        assert isinstance(effects[0], SetContactor) and not effects[0].closed
    us = sorted(t * 1e6 for t in timings)
    print(f"core: C->B to SetContactor(open) median {statistics.median(us):6.1f} µs   "
          f"p99 {us[int(len(us) * 0.99) - 1]:.1f} µs  ({iterations} times)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, shorter idle window")
    parser.add_argument("--ocpp", choices=VERSIONS, action="append",
                        help="the OCPP version spoken (repeatable; default: each in turn)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # the per-cycle fault lines are not figures
    print(f"pievse station benchmarks on {os.uname().machine}, Python {sys.version.split()[0]}, "
          f"load average {os.getloadavg()[0]:.1f}")
    for version in args.ocpp or VERSIONS:
        print(f"-- OCPP {version}")
        asyncio.run(process_figures(runs=2 if args.quick else 5, idle_s=5 if args.quick else 20,
                                    version=version))
        asyncio.run(latency_figures(cycles=20 if args.quick else 100, version=version))
    print("-- the core alone (no OCPP)")
    core_figure(2_000 if args.quick else 20_000)


if __name__ == "__main__":
    main()
