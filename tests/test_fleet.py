"""A fleet against the bench CSMS over real websockets on loopback: what the fleet says it did is
what the CSMS's ledger shows, through link drops, faults and a restart of the CSMS, with stations
of both OCPP versions in the fleet."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from pievse.csms import CentralSystem
from pievse.fleet.engine import Fleet
from pievse.fleet.report import report, summary, write_actions_csv
from pievse.fleet.scenario import parse_scenario
from tests.ports import free_port

pytestmark = pytest.mark.timeout(120)

VALID = [f"CARD-{n:03}" for n in range(1, 21)]
EXAMPLE = Path(__file__).resolve().parent.parent / "fleet.example.toml"

SCENARIO = """
seed = {seed}
duration = {duration}

[stations]
count = {count}
id_pattern = "FLEET-{{n:05}}"
ocpp = {ocpp}

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
bad_share = {bad_share}

[meter_values]
interval = 1

[link_drops]
per_hour = {drops}

[faults]
per_hour = {faults}
kinds = ["rcd", "emergency_stop"]
duration = 1.5
"""

#: Three stations in ten speak OCPP 2.0.1, the others 1.6.
MIX = '{ "1.6" = 0.7, "2.0.1" = 0.3 }'


def scenario(*, seed: int = 11, duration: float = 10, count: int = 50, boot: str = "storm",
             remote_share: float = 0.0, drops: float = 0.0, faults: float = 0.0,
             ocpp: str = MIX, bad_share: float = 0.1):
    return parse_scenario(SCENARIO.format(seed=seed, duration=duration, count=count, boot=boot,
                                          remote_share=remote_share, drops=drops, faults=faults,
                                          ocpp=ocpp, bad_share=bad_share))


def ledger_sessions(central: CentralSystem) -> Counter:
    return Counter((tx.cp_id, tx.meter_start, tx.meter_stop)
                   for tx in central.transactions.values())


def fleet_sessions(fleet: Fleet) -> Counter:
    return Counter((s.station_id, s.meter_start, s.meter_stop) for s in fleet.stopped)


def versions(fleet: Fleet) -> dict[str, str]:
    """Each station's OCPP version, by its identity."""
    return {station.id: station.version for station in fleet.stations}


def events(tx) -> Counter:
    """A 2.0.1 transaction's events by type, each seqNo once (a redelivered event is one)."""
    return Counter(event["eventType"] for event in {e["seqNo"]: e for e in tx.events}.values())


def waiting(central: CentralSystem, cp_id: str, connector_id: int, status: str) -> bool:
    """The car at that connector is plugged in and its session has not started."""
    return central.charge_points[cp_id].statuses.get(connector_id) == status and not any(
        tx.cp_id == cp_id and tx.connector_id == connector_id and not tx.stopped
        for tx in central.transactions.values())


async def remote_starts(central: CentralSystem) -> None:
    """Play a CSMS whose users start a session from their app: a car still waiting (Preparing
    under 1.6, Occupied without a transaction under 2.0.1) two seconds after it was plugged in
    (its driver has no card) is started remotely, in the station's version."""
    seen = 0
    loop = asyncio.get_running_loop()
    remote_start_ids = iter(range(1, 10**6))

    async def start_if_waiting(cp_id: str, connector_id: int, status: str) -> None:
        await asyncio.sleep(2.0)
        if not waiting(central, cp_id, connector_id, status):
            return
        with contextlib.suppress(Exception):  # the car left, or the link is down
            if status == "Occupied":
                await central.call(cp_id, "RequestStartTransaction", {
                    "idToken": {"idToken": VALID[0], "type": "ISO14443"},
                    "remoteStartId": next(remote_start_ids), "evseId": connector_id})
            else:
                await central.call(cp_id, "RemoteStartTransaction",
                                   {"connectorId": connector_id, "idTag": VALID[0]})

    while True:
        messages = central.messages
        for message in messages[seen:]:
            if (message.direction == "in" and message.message_type == 2
                    and message.action == "StatusNotification"):
                payload = message.payload
                if payload.get("status") == "Preparing":
                    loop.create_task(start_if_waiting(message.cp_id, payload["connectorId"],
                                                      "Preparing"))
                elif payload.get("connectorStatus") == "Occupied":
                    loop.create_task(start_if_waiting(message.cp_id, payload["evseId"],
                                                      "Occupied"))
        seen = len(messages)
        await asyncio.sleep(0.1)


async def ask_a_201_station(central: CentralSystem, fleet: Fleet) -> dict:
    """What a 2.0.1 CSMS asks of a station once it booted: its meter value interval, and a
    report of its device model (answered by NotifyReport)."""
    station = next(s for s in fleet.stations if s.version == "2.0.1")
    await central.wait_for_message(station.id, "BootNotification", "out", timeout=30)
    interval = await central.call(station.id, "GetVariables", {"getVariableData": [{
        "component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}}]})
    await central.call(station.id, "GetBaseReport",
                       {"requestId": 7, "reportBase": "ConfigurationInventory"})
    return interval["getVariableResult"][0]


async def test_a_seeded_fleet_of_50_stations_of_both_versions_is_what_the_csms_ledger_shows(
        ) -> None:
    central = CentralSystem(port=0, accept_id_tags=set(VALID))
    await central.start()
    starter = asyncio.create_task(remote_starts(central))
    try:
        # A bad card in three: the first arrivals at the 2.0.1 stations hold one even when a
        # loaded machine gets through few of them.
        fleet = Fleet(scenario(count=50, remote_share=0.3, bad_share=0.3), central.url,
                      validate_outbound=True)
        fleet.build()
        asking = asyncio.create_task(ask_a_201_station(central, fleet))
        await fleet.run()
        interval = await asking
    finally:
        starter.cancel()
        await central.stop()

    data = report(fleet)
    totals = data["totals"]
    version = versions(fleet)
    assert Counter(version.values()) == {"1.6": 35, "2.0.1": 15}
    assert fleet.undelivered == 0
    # ~160 cars arrive in the ten seconds; how many sessions end within them depends on how
    # fast a loaded machine boots the fleet, so the bound only asks for a real run.
    assert totals["sessions_started"] == totals["sessions_stopped"] > 20
    assert totals["bad_cards_presented"] > 0 and totals["remote_start_waits"] > 0
    # Every session the fleet stopped is in the ledger once, with the same meter registers, and
    # the ledger holds no session the fleet did not stop.
    assert ledger_sessions(central) == fleet_sessions(fleet)
    assert all(tx.stopped for tx in central.transactions.values())
    assert central.repeated_starts == 0
    assert all(events(tx)["Started"] == events(tx)["Ended"] == 1
               for tx in central.transactions.values() if version[tx.cp_id] == "2.0.1")
    assert sum(tx.energy_wh for tx in central.transactions.values()) == pytest.approx(
        totals["energy_wh"], abs=0.01)
    assert totals["energy_wh"] > 0
    per_station = {s["id"]: s["energy_wh"] for s in data["stations"]}
    for cp_id, energy in per_station.items():
        assert energy == pytest.approx(sum(tx.energy_wh for tx in central.transactions.values()
                                           if tx.cp_id == cp_id), abs=0.001)
    # Both versions ran sessions, and the report says which did what.
    for ocpp in ("1.6", "2.0.1"):
        ours = [tx for tx in central.transactions.values() if version[tx.cp_id] == ocpp]
        mine = data["by_version"][ocpp]
        assert mine["sessions_stopped"] == len(ours) > 0
        assert mine["energy_wh"] == pytest.approx(sum(tx.energy_wh for tx in ours), abs=0.01)
        assert f"OCPP {ocpp}: {mine['stations']} stations" in summary(data)
    # An invalid card is answered Invalid in either version, and its driver leaves.
    answers = [m.payload for m in central.messages
               if m.direction == "out" and m.action == "Authorize" and m.message_type == 3]
    assert any(a.get("idTagInfo", {}).get("status") == "Invalid" for a in answers)
    assert any(a.get("idTokenInfo", {}).get("status") == "Invalid" for a in answers)
    # Remote starts in either version; 2.0.1's meter values at the scenario's interval.
    sent = [m for m in central.messages if m.direction == "in" and m.message_type == 2]
    assert any(m.action == "TransactionEvent" and m.payload["triggerReason"] == "RemoteStart"
               for m in sent)
    assert any(m.action == "StartTransaction" and m.cp_id in {
        r.cp_id for r in central.messages if r.action == "RemoteStartTransaction"}
        for m in sent)
    assert interval["attributeValue"] == "1"
    assert any(m.action == "TransactionEvent" and m.payload["triggerReason"]
               == "MeterValuePeriodic" for m in sent)
    assert set(central.charge_points) == {f"FLEET-{n:05}" for n in range(1, 51)}
    assert data["actions"]["BootNotification"]["sent"] == 50
    assert data["actions"]["StartTransaction"]["p99_ms"] is not None
    assert data["actions"]["TransactionEvent"]["p99_ms"] is not None
    assert data["actions"]["NotifyReport"]["sent"] >= 1
    assert data["received"]["GetBaseReport"] == 1
    shown = write_actions_csv(data)
    assert "StopTransaction" in shown and "TransactionEvent" in shown
    assert "50 stations" in summary(data)


async def test_link_drops_faults_and_a_csms_restart_lose_no_transaction_message() -> None:
    port = free_port()
    central = CentralSystem(port=port, accept_id_tags=set(VALID))
    await central.start()
    fleet = Fleet(scenario(seed=5, count=20, duration=14, boot="ramp", drops=900, faults=300),
                  central.url, validate_outbound=True)
    fleet.build()
    for station in fleet.stations:
        # Retry each second: the doubling backoff's third try (7 s after the drop) can fall
        # past the run's end on a loaded machine, and every station must be back before it.
        station.link.backoff_max = station.link.backoff_initial
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

    data = report(fleet)
    totals = data["totals"]
    version = versions(fleet)
    assert totals["link_drops"] > 0 and totals["reconnects"] >= 20
    assert totals["faults"] > 0
    assert fleet.undelivered == 0
    assert ledger_sessions(central) == fleet_sessions(fleet)
    assert all(tx.stopped for tx in central.transactions.values())
    assert totals["sessions_stopped"] == totals["sessions_started"] > 0
    for ocpp in ("1.6", "2.0.1"):
        assert data["by_version"][ocpp]["sessions_stopped"] > 0
        assert all(central.charge_points[cp].connections > 1
                   for cp, mine in version.items() if mine == ocpp)
    # Every 2.0.1 event arrived: each transaction's seqNos have no gap, those made while the
    # CSMS was away say so, and faults were reported in 2.0.1's words too.
    for tx in central.transactions.values():
        if version[tx.cp_id] == "2.0.1":
            numbers = {event["seqNo"] for event in tx.events}
            assert numbers == set(range(len(numbers))), tx.transaction_id
            assert events(tx)["Started"] == events(tx)["Ended"] == 1
    sent = [m for m in central.messages if m.direction == "in" and m.message_type == 2]
    assert any(m.action == "TransactionEvent" and m.payload.get("offline") for m in sent)
    assert any(m.action == "StatusNotification" and m.payload.get("connectorStatus") == "Faulted"
               for m in sent)
    assert any(m.action == "StatusNotification" and m.payload.get("status") == "Faulted"
               for m in sent)


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
    done = subprocess.run([sys.executable, "-m", "pievse", "demo", "--stations", "6",
                           "--seconds", "6", "--ocpp", "1.6=0.5,2.0.1=0.5"],
                          capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "demo OK" in done.stdout and "6 stations" in done.stdout
    assert "OCPP 1.6: 3 stations" in done.stdout and "OCPP 2.0.1: 3 stations" in done.stdout


def test_a_mix_of_versions_is_refused_where_it_cannot_be_played() -> None:
    for argv, named in ((["demo", "--ocpp", "1.6=0.5,2.0.1=0.5"], "--stations"),
                        (["demo", "--stations", "3", "--ocpp", "1.6=0.5,2.0.1=0.6"], "add up"),
                        (["fleet", "--scenario", str(EXAMPLE), "--csms",
                          "ws://127.0.0.1:9/ocpp", "--ocpp", "2.1"], "--ocpp")):
        done = subprocess.run([sys.executable, "-m", "pievse", *argv], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 2 and named in done.stderr, done.stderr


def test_a_demo_fleet_needs_a_number_of_stations() -> None:
    done = subprocess.run([sys.executable, "-m", "pievse", "demo", "--stations", "0"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--stations" in done.stderr


async def test_pievse_fleet_of_both_versions_over_tls_with_a_password_per_station(tmp_path) -> None:
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
            "--ocpp", "1.6=0.4,2.0.1=0.6",
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
    assert {version: mine["stations"] for version, mine in data["by_version"].items()} == {
        "1.6": 1, "2.0.1": 2}
    assert "BootNotification" in (tmp_path / "actions.csv").read_text()
