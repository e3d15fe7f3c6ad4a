"""`pievse demo --stations N`: a quick look at a fleet, on this machine, with nothing to set up.

The embedded CSMS and N simulated charge points on loopback play a short busy scenario (cars
arriving every few seconds, a share of them with an unknown card), with the fleet's progress line;
the demo exits 0 only if the CSMS's ledger shows every session the fleet ran, started and stopped
once, with the energy the fleet reports.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import Counter
from typing import Any, TextIO

SECONDS = 20
CARDS = 20

DEMO_SCENARIO = f"""
seed = 1
duration = {{seconds}}
[stations]
id_pattern = "DEMO-{{{{n:04}}}}"
[boot]
mode = "ramp"
rate = 200
[arrivals]
per_hour = 900
[sessions]
min_duration = 3
max_duration = 8
min_energy = 5
max_energy = 50
[cars]
reaction_delay = 0.5
[cards]
valid_count = {CARDS}
invalid = ["UNKNOWN-1"]
bad_share = 0.1
[meter_values]
interval = 2
"""


def run_fleet_demo(stations: int, *, seconds: int = SECONDS, out: TextIO | None = None,
                   ocpp: Any = None) -> int:
    """``ocpp``: the stations' versions (a :data:`pievse.fleet.versions.Mix`; default 1.6)."""
    from pievse.csms.server import CentralSystem
    from pievse.fleet.engine import Fleet
    from pievse.fleet.report import progress_line, report, summary
    from pievse.fleet.scenario import parse_scenario

    out = out or sys.stdout
    logging.basicConfig(level=logging.CRITICAL)
    from pievse.fleet.versions import show_mix

    scenario = parse_scenario(DEMO_SCENARIO.format(seconds=seconds))
    if ocpp is not None:
        scenario = scenario.with_versions(ocpp)
    print(f"pievse demo: {stations} simulated charge points (OCPP {show_mix(scenario.ocpp)}) "
          f"against the embedded CSMS for {seconds} s", file=out)

    async def play() -> tuple[Fleet, CentralSystem]:
        csms = CentralSystem(host="127.0.0.1", port=0, heartbeat_interval=300,
                             accept_id_tags={f"CARD-{n:05}" for n in range(1, CARDS + 1)})
        csms.log.setLevel(logging.WARNING)  # a fleet's frames are far too many to show
        await csms.start()
        fleet = Fleet(scenario, csms.url, count=stations)
        tty = out.isatty()
        try:
            await fleet.run(on_progress=lambda p: print(
                f"\r{progress_line(fleet, p)}\033[K" if tty else progress_line(fleet, p),
                end="" if tty else "\n", file=out, flush=True),
                progress_every_s=1.0 if tty else 5.0)
        finally:
            await csms.stop()
        if tty:
            print(file=out)
        return fleet, csms

    fleet, csms = asyncio.run(play())
    data = report(fleet)
    print(summary(data), file=out)
    sent = Counter((s.station_id, s.meter_start, s.meter_stop) for s in fleet.stopped)
    seen = Counter((tx.cp_id, tx.meter_start, tx.meter_stop) for tx in csms.transactions.values())
    if fleet.undelivered or sent != seen:
        print("demo FAILED: the CSMS's ledger and the fleet disagree", file=out)
        return 1
    print(f"demo OK: the CSMS saw every one of the {len(sent)} sessions, started and stopped "
          "once, with the energy the fleet reports", file=out)
    return 0
