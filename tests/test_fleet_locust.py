"""Locust's master and two workers on loopback run charge points of both OCPP versions against
the bench CSMS, and Locust's own statistics show the OCPP actions the stations sent."""

from __future__ import annotations

import asyncio
import csv
import sys

import pytest

from pievse.csms import CentralSystem
from pievse.fleet.scenario import parse_scenario
from tests.ports import free_port

pytestmark = pytest.mark.timeout(180)

SCENARIO = """
seed = 8
[stations]
ocpp = { "1.6" = 0.7, "2.0.1" = 0.3 }
[arrivals]
per_hour = 1800
[sessions]
min_duration = 2
max_duration = 4
min_energy = 5
max_energy = 20
[cars]
reaction_delay = 0.2
[meter_values]
interval = 1
"""

#: pievse.fleet.locust.STRIDE (not imported here: importing Locust patches this process's sockets).
STRIDE = 100_000

#: Long enough for every station to boot and charge at least once on a machine whose cores are
#: busy with other tests (Locust's run time counts from the spawn, not from the boots).
RUN_TIME = "20s"

LOCUSTFILE = "from pievse.fleet.locust import ChargePointUser  # noqa: F401\n"


async def test_master_and_two_workers_report_ocpp_round_trips(tmp_path) -> None:
    # Three users on each worker: the stations numbered 0-2 and STRIDE+0-2; by the seed, each
    # worker has stations of both versions.
    for worker in range(2):
        numbers = range(worker * STRIDE, worker * STRIDE + 3)
        assert {parse_scenario(SCENARIO).version(n) for n in numbers} == {"1.6", "2.0.1"}
    (tmp_path / "fleet.toml").write_text(SCENARIO)
    (tmp_path / "locustfile.py").write_text(LOCUSTFILE)
    central = CentralSystem(port=0)
    await central.start()
    port = free_port()
    common = ["-m", "locust", "-f", str(tmp_path / "locustfile.py"),
              "--fleet-scenario", str(tmp_path / "fleet.toml")]
    try:
        master = await asyncio.create_subprocess_exec(
            sys.executable, *common, "--master", "--headless", "--expect-workers", "2",
            "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
            "--users", "6", "--spawn-rate", "6", "--run-time", RUN_TIME, "--stop-timeout", "20",
            "--host", central.url, "--csv", str(tmp_path / "run"), "--only-summary",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        workers = [await asyncio.create_subprocess_exec(
            sys.executable, *common, "--worker", "--master-host", "127.0.0.1",
            "--master-port", str(port), stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL) for _ in range(2)]
        output, _ = await asyncio.wait_for(master.communicate(), 150)
        for worker in workers:
            await asyncio.wait_for(worker.wait(), 60)
    finally:
        await central.stop()

    shown = output.decode(errors="replace")
    assert (tmp_path / "run_stats.csv").exists(), shown[-3000:]
    with open(tmp_path / "run_stats.csv", newline="") as file:
        rows = {row["Name"]: row for row in csv.DictReader(file) if row["Type"] == "OCPP"}
    assert {"BootNotification", "StatusNotification", "Authorize", "StartTransaction",
            "MeterValues", "StopTransaction", "TransactionEvent"} <= set(rows), shown[-3000:]
    assert int(rows["BootNotification"]["Request Count"]) == 6
    assert all(int(row["Failure Count"]) == 0 for row in rows.values())
    # Six stations, three on each worker, each its own identity at the CSMS.
    assert len(central.charge_points) == 6
    assert all(tx.stopped for tx in central.transactions.values())
