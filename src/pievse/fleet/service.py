"""Stations started and stopped on command, for a load generator that is not asyncio (Locust).

    python -m pievse.fleet.service --scenario FILE --csms URL

Reads one command per line on standard input (``start N``, ``stop N``, ``quit``; N is the
station's number in the scenario) and writes one line per answered CALL on standard output:
``R <action> <milliseconds> <CALLERROR code or ->``, a few times a second. It ends, winding every
station down, at ``quit`` or when its input closes (its parent is gone).

Keeping the stations in a process of their own keeps two event loops apart: Locust runs on
gevent, which replaces the standard library's sockets and threads, and the stations run on
asyncio, unpatched, on a core of their own.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from pievse.fleet.drivers import StationDrivers
from pievse.fleet.engine import Fleet
from pievse.fleet.scenario import ScenarioError, load_scenario
from pievse.fleet.station import FleetStation

__all__ = ["main"]

#: How often the round trips gathered are written out (s).
FLUSH_EVERY_S = 0.25


async def serve(fleet: Fleet, commands: asyncio.StreamReader) -> None:
    lines: list[str] = []
    fleet.metrics.on_round_trip = lambda action, seconds, code: lines.append(
        f"R {action} {seconds * 1000:.3f} {code or '-'}")
    running: dict[int, tuple[FleetStation, StationDrivers]] = {}
    tasks: set[asyncio.Task] = set()

    async def flush() -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            if lines:
                sys.stdout.write("\n".join(lines) + "\n")
                sys.stdout.flush()
                lines.clear()

    async def start(index: int) -> None:
        station, drivers = fleet.add(index)
        running[index] = (station, drivers)
        await station.start()
        drivers.start()

    def later(work) -> None:
        task = asyncio.create_task(work)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    flusher = asyncio.create_task(flush())
    try:
        while line := (await commands.readline()).decode().strip():
            word, _, number = line.partition(" ")
            if word == "quit":
                break
            if word == "start" and number.isdigit() and int(number) not in running:
                later(start(int(number)))
            elif word == "stop" and number.isdigit() and int(number) in running:
                later(fleet.retire(*running.pop(int(number))))
    finally:
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(fleet.retire(*pair) for pair in running.values()),
                             return_exceptions=True)
        flusher.cancel()
        if lines:
            sys.stdout.write("\n".join(lines) + "\n")
            sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pievse.fleet.service")
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--csms", required=True)
    args = parser.parse_args(argv)
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as error:
        for problem in error.problems:
            print(f"{args.scenario}: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("pievse.ocpp").setLevel(logging.CRITICAL)
    logging.getLogger("pievse.fleet.link").setLevel(logging.CRITICAL)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        commands = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
        await serve(Fleet(scenario, args.csms), commands)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
