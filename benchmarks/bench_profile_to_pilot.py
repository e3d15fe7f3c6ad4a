"""From a SetChargingProfile frame to the pilot command. Run on demand; prints, asserts nothing.

    .venv/bin/python benchmarks/bench_profile_to_pilot.py [--count 200] [--ocpp 1.6|2.0.1]

For each OCPP version asked for (both by default), a daemon charges a simulated car against the
embedded CSMS on loopback; the CSMS sends TxProfiles that alternate between 10 A and 16 A.
Measured: from the moment the CSMS hands the frame to its websocket to the moment the board is
told the new offer (its ``pilot_offer``), i.e. websocket, schema validation, the OCPP adapter,
the core's profile stack and the dispatch. Target: under 20 ms on this class of machine.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from pievse.app.config import parse_config  # noqa: E402
from pievse.csms.server import CentralSystem  # noqa: E402
from pievse.app.daemon import Daemon  # noqa: E402
from pievse.persistence.store import Store  # noqa: E402


VERSIONS = ("1.6", "2.0.1")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def tx_profile(limit: float) -> dict:
    return {"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A", "startSchedule": now(),
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}}


def set_profile(csms: CentralSystem, version: str, limit: float, transaction_id):
    """SetChargingProfile of a TxProfile for the running transaction, in ``version``'s words."""
    if version == "1.6":
        return csms.set_charging_profile("BENCH", 1, tx_profile(limit))
    return csms.call("BENCH", "SetChargingProfile", {"evseId": 1, "chargingProfile": {
        "id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute", "transactionId": transaction_id,
        "chargingSchedule": [{"id": 1, "chargingRateUnit": "A", "startSchedule": now(),
                              "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}]}})


async def until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.01)


async def main(count: int, version: str) -> None:
    logging.disable(logging.WARNING)
    csms = CentralSystem(host="127.0.0.1", port=0, heartbeat_interval=3600)
    await csms.start()
    config = parse_config(f'[charge_point]\nid = "BENCH"\n[ocpp]\nurl = "{csms.url}"\n'
                          f'version = "{version}"\n[api]\nlisten = ""\n'
                          '[simulation]\nev_reaction_delay = 0.1\n', "<bench>")
    daemon = Daemon(config, store=Store(":memory:").open())
    task = asyncio.create_task(daemon.run())
    await until(lambda: daemon.protocol.registered)
    sim = daemon.hardware.simulated
    board = sim.boards[1]
    offered_at: list[float] = []
    original = board.pilot_offer

    def timed_offer(amps: float) -> float:
        offered_at.append(time.perf_counter())
        return original(amps)

    board.pilot_offer = timed_offer
    sim.evs[1].set_state("B")
    sim.reader.present("04A1B2C3")
    sim.evs[1].set_state("C")
    connector = daemon.station.connector(1)
    await until(lambda: connector.contactor_closed and connector.transaction is not None
                and connector.transaction.transaction_id is not None)
    transaction_id = connector.transaction.transaction_id
    latencies = []
    for n in range(count):
        before = len(offered_at)
        sent = time.perf_counter()
        answer = await set_profile(csms, version, 10.0 if n % 2 == 0 else 16.0, transaction_id)
        if answer["status"] != "Accepted":
            raise SystemExit(f"SetChargingProfile {answer}")
        await until(lambda: len(offered_at) > before)
        latencies.append(offered_at[before] - sent)
    daemon.stop()
    await task
    await csms.stop()
    latencies.sort()
    print(f"OCPP {version:<5} SetChargingProfile frame -> pilot command, {count} profiles: "
          f"median {statistics.median(latencies) * 1000:.2f} ms, "
          f"p95 {latencies[int(count * 0.95) - 1] * 1000:.2f} ms, "
          f"max {latencies[-1] * 1000:.2f} ms (target < 20 ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--ocpp", choices=VERSIONS, action="append",
                        help="the OCPP version spoken (repeatable; default: each in turn)")
    args = parser.parse_args()
    for version in args.ocpp or VERSIONS:
        asyncio.run(main(args.count, version))
