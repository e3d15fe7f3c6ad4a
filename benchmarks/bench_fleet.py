"""Figures for the fleet: how many charge points one process holds. Run on demand; prints,
asserts nothing.

    .venv/bin/python benchmarks/bench_fleet.py [--stations 100 1000 10000] [--window 30]
        [--ocpp 2.0.1 | --ocpp 1.6=0.7,2.0.1=0.3]

For each N, a lean CSMS sink (a websocket server that answers every CALL with a fixed answer,
in a process of its own, whose CPU is not counted) and a fleet of N stations (in a second
process) on loopback:

- boot: N stations started as a ramp (``--rate`` per second), until the last one is accepted;
- idle: resident memory per station once every station has booted and no car is plugged in;
- charging: every station charges with a card-started session (the cars arrive spread over one
  interval) and sends MeterValues every ``--interval`` s (10 s: the anchor's rate); over
  ``--window`` seconds, messages sent per second and the fleet process's CPU per message (the
  station core, the adapter, the RPC layer, websockets: everything), and resident memory per
  charging station.

``--ocpp`` sets the stations' OCPP version or mix (default 1.6); under 2.0.1 the samples travel
as TransactionEvent (Updated), whose round trip is shown in place of MeterValues'.

Profiles of the measuring window: ``BENCH_FLEET_PROFILE=file`` (cProfile, CPU time, slows the
fleet down) or ``BENCH_FLEET_PYSPY=file`` (py-spy's raw samples, from outside the process).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

SCENARIO = """
seed = 1
duration = 86400
[stations]
count = {count}
ocpp = {ocpp}
[boot]
mode = "{mode}"
rate = {rate}
[arrivals]
per_hour = 0
[sessions]
min_duration = 86000
max_duration = 86000
min_energy = 900000
max_energy = 900000
[cards]
valid = ["CARD-1"]
[meter_values]
interval = {interval}
"""


def _more_files() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# --- the sink ----------------------------------------------------------------------------------

ANSWERS = {
    "BootNotification": {"status": "Accepted", "currentTime": "2026-01-01T00:00:00Z",
                         "interval": 3600},
    "Authorize": {"idTagInfo": {"status": "Accepted"}},
    "StartTransaction": {"transactionId": 1, "idTagInfo": {"status": "Accepted"}},
    "StopTransaction": {},
    "Heartbeat": {"currentTime": "2026-01-01T00:00:00Z"},
}
#: 2.0.1's answers where they differ from 1.6's (TransactionEvent: an empty answer is valid).
ANSWERS_201 = {**ANSWERS, "Authorize": {"idTokenInfo": {"status": "Accepted"}}}


def run_sink(port: int) -> None:
    """A CSMS that only answers: each CALL at once, with a fixed valid answer."""
    _more_files()
    from websockets.asyncio.server import serve

    ids = iter(range(1, 10**9))

    async def handler(websocket) -> None:
        answers = ANSWERS_201 if websocket.subprotocol == "ocpp2.0.1" else ANSWERS
        async for text in websocket:
            frame = json.loads(text)
            if frame[0] != 2:
                continue
            answer = answers.get(frame[2], {})
            if frame[2] == "StartTransaction":
                answer = {**answer, "transactionId": next(ids)}
            await websocket.send(json.dumps([3, frame[1], answer]))

    async def main() -> None:
        # The fleet's end drops thousands of links at once: not worth a traceback each.
        quiet = logging.getLogger("bench.sink")
        quiet.setLevel(logging.CRITICAL)
        async with serve(handler, "127.0.0.1", port, subprotocols=["ocpp1.6", "ocpp2.0.1"],
                         compression=None, ping_interval=None, max_queue=4,
                         logger=quiet) as server:
            print("ready", server.sockets[0].getsockname()[1], flush=True)
            await asyncio.Future()

    asyncio.run(main())


# --- the fleet ---------------------------------------------------------------------------------

def run_fleet(count: int, url: str, rate: float, interval: int, window: float,
              mode: str = "ramp", ocpp: str = "1.6") -> dict:
    _more_files()
    from pievse.fleet.engine import Fleet
    from pievse.fleet.scenario import parse_scenario
    from pievse.fleet.versions import parse_mix

    logging.basicConfig(level=logging.CRITICAL)
    shares = "{ " + ", ".join(f'"{v}" = {share!r}' for v, share in parse_mix(ocpp)) + " }"
    scenario = parse_scenario(SCENARIO.format(count=count, rate=rate, interval=interval,
                                              mode=mode, ocpp=shares))
    # The adapters' code is loaded once per process, not per station: before the baseline.
    import pievse.protocol.v16.adapter  # noqa: F401
    import pievse.protocol.v201.adapter  # noqa: F401

    gc.collect()
    baseline = rss_bytes()
    fleet = Fleet(scenario, url)
    fleet.build()
    gc.collect()
    built = rss_bytes()
    figures: dict = {"stations": count, "ocpp": ocpp}

    async def main() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(fleet.run(stop=stop))
        while fleet.booted_in_s is None:
            await asyncio.sleep(0.2)
        figures["boot_s"] = round(fleet.booted_in_s, 2)
        figures["rejected_boots"] = fleet.metrics.rejected_boots
        figures["reconnects"] = fleet.metrics.reconnects
        figures["booted"] = sum(1 for s in fleet.stations if s.booted)
        await asyncio.sleep(2)
        gc.collect()
        figures["idle_kb_per_station"] = round((rss_bytes() - baseline) / count / 1024, 1)
        figures["built_kb_per_station"] = round((built - baseline) / count / 1024, 1)
        if mode == "storm":
            stop.set()
            await running
            return
        # Every car arrives and starts with its card, spread evenly over one meter value
        # interval, so that the samples come as steadily as they would from real stations.
        batch = max(1, count // (interval * 10))
        for index, station in enumerate(fleet.stations):
            station.read_meters()
            station.cars[1].set_state("C")
            station.present_card("CARD-1")
            if index % batch == batch - 1:
                await asyncio.sleep(0.1)
        while sum(s.charging for s in fleet.stations) < count:
            await asyncio.sleep(0.5)
        await asyncio.sleep(interval)
        profiler = None
        if os.environ.get("BENCH_FLEET_PROFILE"):
            import cProfile

            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
        sampler = None
        if os.environ.get("BENCH_FLEET_PYSPY"):
            # py-spy samples from outside, over the window only (a flame graph's raw lines).
            sampler = subprocess.Popen(
                [shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy")),
                 "record", "--pid", str(os.getpid()), "--duration",
                 str(int(window)), "--rate", "100", "--format", "raw", "--output",
                 os.environ["BENCH_FLEET_PYSPY"]],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        use0 = resource.getrusage(resource.RUSAGE_SELF)
        cpu0, sent0, t0 = time.process_time(), fleet.metrics.frames_sent, time.monotonic()
        await asyncio.sleep(window)
        cpu1, sent1, t1 = time.process_time(), fleet.metrics.frames_sent, time.monotonic()
        use1 = resource.getrusage(resource.RUSAGE_SELF)
        figures["system_share"] = round((use1.ru_stime - use0.ru_stime) / max(
            1e-9, cpu1 - cpu0), 2)
        if sampler is not None:
            sampler.wait()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(os.environ["BENCH_FLEET_PROFILE"])
        gc.collect()
        messages = sent1 - sent0
        figures["messages_per_s"] = round(messages / (t1 - t0), 1)
        figures["cpu_ms_per_message"] = round((cpu1 - cpu0) * 1000 / max(1, messages), 3)
        figures["cpu_share"] = round((cpu1 - cpu0) / (t1 - t0), 3)
        figures["charging_kb_per_station"] = round((rss_bytes() - baseline) / count / 1024, 1)
        stats = fleet.metrics.actions.get("MeterValues")
        if stats is None or not stats.latency.count:
            stats = fleet.metrics.actions.get("TransactionEvent")
        if stats is not None:
            figures["meter_values_p50_ms"] = round(stats.latency.percentile(0.5) * 1000, 2)
            figures["meter_values_p99_ms"] = round(stats.latency.percentile(0.99) * 1000, 2)
        stop.set()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await fleet.close()

    asyncio.run(main())
    return figures


def measure(count: int, args: argparse.Namespace) -> dict:
    # The sink listens on a free port (0: the system picks one) and says which.
    sink = subprocess.Popen([sys.executable, __file__, "--sink", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout is not None
        word, port = sink.stdout.readline().split()
        assert word == "ready"
        child = subprocess.run(
            [sys.executable, __file__, "--child", str(count), "--url",
             f"ws://127.0.0.1:{port}/ocpp", "--rate", str(args.rate), "--interval",
             str(args.interval), "--window", str(args.window), "--ocpp", args.ocpp,
             *(["--storm"] if args.storm else [])],
            capture_output=True, text=True, check=True)
        return json.loads(child.stdout.strip().splitlines()[-1])
    finally:
        sink.terminate()
        sink.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stations", type=int, nargs="*", default=[100, 1000, 10000])
    parser.add_argument("--rate", type=float, default=250.0, help="stations started per second")
    parser.add_argument("--interval", type=int, default=10, help="MeterValues interval (s)")
    parser.add_argument("--window", type=float, default=30.0, help="measuring window (s)")
    parser.add_argument("--ocpp", default="1.6",
                        help="the stations' OCPP version or mix, e.g. 2.0.1 or 1.6=0.7,2.0.1=0.3")
    parser.add_argument("--storm", action="store_true",
                        help="boot storm: every station at once; prints boot figures only")
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink is not None:
        run_sink(args.sink)
        return
    if args.child:
        print(json.dumps(run_fleet(args.child, args.url, args.rate, args.interval,
                                   args.window, "storm" if args.storm else "ramp", args.ocpp)))
        return
    if args.storm:
        for count in args.stations:
            f = measure(count, args)
            print(f"boot storm of {count}: {f['booted']} booted in {f['boot_s']} s, "
                  f"{f['reconnects']} reconnects, {f['rejected_boots']} rejected boots, "
                  f"{f['idle_kb_per_station']} KB per idle station", flush=True)
        return
    print(f"OCPP {args.ocpp}, ramp {args.rate:g}/s, meter values every {args.interval} s, "
          f"{args.window:g} s window")
    print(f"{'stations':>9}{'boot s':>8}{'msg/s':>9}{'CPU ms/msg':>12}{'cores':>7}"
          f"{'kernel':>7}{'KB idle':>9}{'KB chg':>8}{'reconn':>7}{'MV p50/p99 ms':>15}")
    for count in args.stations:
        f = measure(count, args)
        print(f"{f['stations']:>9}{f['boot_s']:>8}{f['messages_per_s']:>9}"
              f"{f['cpu_ms_per_message']:>12}{f['cpu_share']:>7}{f['system_share']:>7}"
              f"{f['idle_kb_per_station']:>9}"
              f"{f['charging_kb_per_station']:>8}{f['reconnects']:>7}"
              f"{f.get('meter_values_p50_ms', '-')!s:>7}/{f.get('meter_values_p99_ms', '-')!s:<7}",
              flush=True)


if __name__ == "__main__":
    main()
