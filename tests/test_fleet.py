"""A fleet against the bench CSMS over real websockets on loopback: what the fleet says it did is
what the CSMS's ledger shows, through link drops and a restart of the CSMS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
from collections import Counter

import pytest

from pievse.csms import CentralSystem
from pievse.fleet.engine import Fleet
from pievse.fleet.report import report, summary, write_actions_csv
from pievse.fleet.scenario import parse_scenario

pytestmark = pytest.mark.timeout(120)

VALID = [f"CARD-{n:03}" for n in range(1, 21)]

SCENARIO = """
seed = {seed}
duration = {duration}

[stations]
count = {count}
id_pattern = "FLEET-{{n:05}}"

[boot]
mode = "{boot}"
rate = 100

[arrivals]
per_hour = 1200

[sessions]
min_duration = 2
max_duration = 5
min_energy = 5
max_energy = 40

[cars]
max_current = [16, 32]
phases = [1, 3]
reaction_delay = 0.2

[authorization]
remote_share = {remote_share}
remote_wait = 3

[cards]
valid_pattern = "CARD-{{n:03}}"
valid_count = 20
invalid = ["NOBODY-1", "NOBODY-2"]
bad_share = 0.1

[meter_values]
interval = 1

[link_drops]
per_hour = {drops}
"""


def scenario(*, seed: int = 11, duration: float = 10, count: int = 50, boot: str = "storm",
             remote_share: float = 0.0, drops: float = 0.0):
    return parse_scenario(SCENARIO.format(seed=seed, duration=duration, count=count, boot=boot,
                                          remote_share=remote_share, drops=drops))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ledger_sessions(central: CentralSystem) -> Counter:
    return Counter((tx.cp_id, tx.meter_start, tx.meter_stop)
                   for tx in central.transactions.values())


def fleet_sessions(fleet: Fleet) -> Counter:
    return Counter((s.station_id, s.meter_start, s.meter_stop) for s in fleet.stopped)


async def remote_starts(central: CentralSystem) -> None:
    """Play a CSMS whose users start a session from their app: a car still waiting (Preparing)
    two seconds after it was plugged in (its driver has no card) is started remotely."""
    seen = 0
    loop = asyncio.get_running_loop()

    async def start_if_waiting(cp_id: str, connector_id: int) -> None:
        await asyncio.sleep(2.0)
        if central.charge_points[cp_id].statuses.get(connector_id) == "Preparing":
            with contextlib.suppress(Exception):  # the car left, or the link is down
                await central.call(cp_id, "RemoteStartTransaction",
                                   {"connectorId": connector_id, "idTag": VALID[0]})

    while True:
        messages = central.messages
        for message in messages[seen:]:
            if (message.direction == "in" and message.message_type == 2
                    and message.action == "StatusNotification"
                    and message.payload.get("status") == "Preparing"):
                loop.create_task(start_if_waiting(message.cp_id, message.payload["connectorId"]))
        seen = len(messages)
        await asyncio.sleep(0.1)


async def test_a_seeded_fleet_of_50_stations_is_what_the_csms_ledger_shows() -> None:
    central = CentralSystem(port=0, accept_id_tags=set(VALID))
    await central.start()
    starter = asyncio.create_task(remote_starts(central))
    try:
        fleet = Fleet(scenario(count=50, remote_share=0.3), central.url, validate_outbound=True)
        await fleet.run()
    finally:
        starter.cancel()
        await central.stop()

    data = report(fleet)
    totals = data["totals"]
    assert fleet.undelivered == 0
    assert totals["sessions_started"] == totals["sessions_stopped"] > 50
    assert totals["bad_cards_presented"] > 0 and totals["remote_start_waits"] > 0
    # Every session the fleet stopped is in the ledger once, with the same meter registers, and
    # the ledger holds no session the fleet did not stop.
    assert ledger_sessions(central) == fleet_sessions(fleet)
    assert all(tx.stopped for tx in central.transactions.values())
    assert central.repeated_starts == 0
    assert sum(tx.energy_wh for tx in central.transactions.values()) == totals["energy_wh"] > 0
    per_station = {s["id"]: s["energy_wh"] for s in data["stations"]}
    for cp_id, energy in per_station.items():
        assert energy == sum(tx.energy_wh for tx in central.transactions.values()
                             if tx.cp_id == cp_id)
    # An invalid card is answered Invalid, and its driver leaves without a session.
    assert any(m.direction == "out" and m.action == "Authorize" and m.message_type == 3
               and m.payload["idTagInfo"]["status"] == "Invalid" for m in central.messages)
    assert set(central.charge_points) == {f"FLEET-{n:05}" for n in range(1, 51)}
    assert data["actions"]["BootNotification"]["sent"] == 50
    assert data["actions"]["StartTransaction"]["p99_ms"] is not None
    assert "StopTransaction" in write_actions_csv(data)
    assert "50 stations" in summary(data)


async def test_link_drops_and_a_csms_restart_lose_no_transaction_message() -> None:
    port = free_port()
    central = CentralSystem(port=port, accept_id_tags=set(VALID))
    await central.start()
    fleet = Fleet(scenario(seed=5, count=20, duration=14, boot="ramp", drops=900), central.url,
                  validate_outbound=True)
    running = asyncio.create_task(fleet.run())
    try:
        await asyncio.sleep(5)
        await central.stop()  # every station loses its link; sessions go on, messages queue
        await asyncio.sleep(2)
        await central.start()  # the same CSMS (its ledger is its database) at the same address
        await running
    finally:
        running.cancel()
        await central.stop()

    totals = report(fleet)["totals"]
    assert totals["link_drops"] > 0 and totals["reconnects"] >= 20
    assert fleet.undelivered == 0
    assert ledger_sessions(central) == fleet_sessions(fleet)
    assert all(tx.stopped for tx in central.transactions.values())
    assert totals["sessions_stopped"] == totals["sessions_started"] > 0


def test_a_bad_scenario_is_refused_naming_the_key(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[arrivals]\nper_hour = -3\n[stations]\ncolor = "red"\n')
    done = subprocess.run(
        [sys.executable, "-m", "pievse", "fleet", "--scenario", str(bad),
         "--csms", "ws://127.0.0.1:9/ocpp"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "[arrivals] per_hour = -3" in done.stderr
    assert "[stations] color" in done.stderr


def test_the_fleet_demo_checks_itself_against_the_csms() -> None:
    done = subprocess.run([sys.executable, "-m", "pievse", "demo", "--stations", "5",
                           "--seconds", "6"],
                          capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "demo OK" in done.stdout and "5 stations" in done.stdout


def test_a_demo_fleet_needs_a_number_of_stations() -> None:
    done = subprocess.run([sys.executable, "-m", "pievse", "demo", "--stations", "0"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--stations" in done.stderr


async def test_pievse_fleet_over_tls_with_a_password_per_station(tmp_path) -> None:
    from tests.tls_standins import TestPki

    pki = TestPki(tmp_path)
    central = CentralSystem(port=0, ssl_context=pki.server_context(pki.server),
                            authorization_keys={f"FLEET-{n:05}": f"pw-{n}" for n in (1, 2, 3)})
    await central.start()
    url = central.url
    scenario_file = tmp_path / "fleet.toml"
    scenario_file.write_text('duration = 4\n[stations]\npassword_pattern = "pw-{n}"\n')
    try:
        fleet = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pievse", "fleet", "--scenario", str(scenario_file),
            "--csms", url, "--ca-file", str(pki.root_file), "--stations", "3",
            "--json", str(tmp_path / "run.json"), "--csv", str(tmp_path / "actions.csv"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        output, _ = await asyncio.wait_for(fleet.communicate(), 60)
    finally:
        await central.stop()
    assert fleet.returncode == 0, output.decode()
    assert url.startswith("wss://") and not central.refused
    assert {cp for cp, record in central.charge_points.items() if record.boot} == {
        "FLEET-00001", "FLEET-00002", "FLEET-00003"}
    data = json.loads((tmp_path / "run.json").read_text())
    assert data["actions"]["BootNotification"]["sent"] == 3
    assert "BootNotification" in (tmp_path / "actions.csv").read_text()
