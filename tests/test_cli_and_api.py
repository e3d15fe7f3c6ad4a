"""The contract that outside tests rely on: `pievse run`, `check-config`, `status`, `sim`, `demo`,
and `GET /api/status`, exercised as a user would, in separate processes where it matters."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from tests.conftest import config_text, eventually
from tests.test_ocpp16_sessions import received, status_now
from tests.ports import free_port

pytestmark = pytest.mark.asyncio

PIEVSE = [sys.executable, "-m", "pievse"]


def write_config(tmp_path, url: str, api_port: int, **extra) -> str:
    sections = {
        "charge_point": {"id": "CLI1"},
        "ocpp": {"url": url},
        "simulation": {"ev_reaction_delay": 0.2},
        "meter": {"interval": 0.2},
        "api": {"listen": f"127.0.0.1:{api_port}"},
        "storage": {"path": str(tmp_path / "pievse.sqlite3")},
    }
    for section, keys in extra.items():
        sections.setdefault(section, {}).update(keys)
    path = tmp_path / "config.toml"
    path.write_text(config_text(sections))
    return str(path)


async def run_cli(*args: str, timeout: float = 30) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *PIEVSE, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode, out.decode(), err.decode()


async def test_check_config_names_key_value_and_what_is_allowed(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[charge_point]\nid = "X"\nmax_current = 100.0\n[ocpp]\nurl = "ws://h/o"\n'
                    'ulr = "typo"\n')
    code, out, err = await run_cli("check-config", str(path))
    assert code == 2
    assert "[charge_point] max_current" in err and "100" in err and "80" in err
    assert "ulr" in err and "url" in err


async def test_run_refuses_to_start_with_a_bad_config(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[charge_point]\nid = "X"\nconnectors = "two"\n[ocpp]\nurl = "ws://h/o"\n')
    code, out, err = await run_cli("run", "--config", str(path))
    assert code == 2
    assert "[charge_point] connectors" in err and "integer" in err


async def test_check_config_accepts_the_example_config():
    example = os.path.join(os.path.dirname(__file__), "..", "config.example.toml")
    code, out, err = await run_cli("check-config", example)
    assert code == 0, err


async def test_pievse_run_with_the_shell_commands_status_and_sim(csms, tmp_path):
    api_port = free_port()
    config = write_config(tmp_path, csms.url, api_port)
    process = await asyncio.create_subprocess_exec(
        *PIEVSE, "run", "--config", config, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        await eventually(lambda: status_now(csms, 1, "CLI1") == "Available", timeout=30,
                         what="daemon registered")
        api = f"127.0.0.1:{api_port}"
        assert (await run_cli("sim", "ev", "C", "--api", api))[0] == 0
        assert (await run_cli("sim", "tap", "04A1B2C3", "--api", api))[0] == 0
        await eventually(lambda: status_now(csms, 1, "CLI1") == "Charging", what="Charging")
        code, out, _ = await run_cli("status", "--json", "--api", api)
        assert code == 0
        status = json.loads(out)
        assert status["charge_point_id"] == "CLI1"
        assert status["ocpp"] == {**status["ocpp"], "connected": True, "version": "1.6"}
        c1 = status["connectors"][0]
        assert c1["id"] == 1 and c1["status"] == "Charging" and c1["pilot_state"] == "C"
        assert c1["contactor_closed"] is True and c1["offered_current"] > 0
        assert c1["transaction"]["id_tag"] == "04A1B2C3"
        assert c1["transaction"]["id"] == next(iter(csms.transactions))
        assert set(c1["meter"]) >= {"energy_wh", "power_w"}
        code, out, _ = await run_cli("status", "--api", api)
        assert code == 0 and "Charging" in out
        assert (await run_cli("sim", "fault", "rcd", "on", "--api", api))[0] == 0
        await eventually(lambda: status_now(csms, 1, "CLI1") == "Faulted", what="Faulted")
        await eventually(lambda: received(csms, "StopTransaction", "CLI1"), what="stopped")
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 15)
    assert code == 0


async def test_api_status_and_simulation_routes(csms, start_station):
    port = free_port()
    daemon = await start_station(api={"listen": f"127.0.0.1:{port}"})
    base = f"http://127.0.0.1:{port}"

    def post(path: str, body: dict) -> dict:
        request = urllib.request.Request(
            base + path, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def get_status() -> dict:
        with urllib.request.urlopen(base + "/api/status", timeout=5) as response:
            return json.loads(response.read())

    loop = asyncio.get_running_loop()
    status = await loop.run_in_executor(None, get_status)
    assert status["connectors"][0]["status"] == "Available"
    assert status["connectors"][0]["transaction"] is None
    await loop.run_in_executor(None, post, "/api/sim/ev",
                               {"connector": 1, "state": "C", "max_current": 16})
    await loop.run_in_executor(None, post, "/api/sim/token", {"id_token": "04A1B2C3"})
    await eventually(lambda: status_now(csms) == "Charging", what="Charging")
    status = await loop.run_in_executor(None, get_status)
    assert status["connectors"][0]["transaction"]["meter_start_wh"] is not None
    await eventually(lambda: (daemon.station.connector(1).last_reading.power_w or 0) > 0,
                     what="power drawn")
    # The car's own maximum (16 A on 3 phases at 230 V) caps what it draws.
    reading = daemon.station.connector(1).last_reading
    assert max(reading.current_a) <= 16.0 + 1e-6


async def test_demo_plays_a_whole_session_and_exits_0():
    code, out, err = await run_cli("demo", timeout=90)
    assert code == 0, out + err
    for step in ("BootNotification Accepted", "Preparing", "Authorize: id tag Accepted",
                 "StartTransaction", "Charging", "MeterValues", "StopTransaction",
                 "Available again", "demo OK"):
        assert step in out, step


async def test_demo_plays_the_same_session_in_ocpp_201():
    code, out, err = await run_cli("demo", "--ocpp", "2.0.1", timeout=90)
    assert code == 0, out + err
    for step in ("OCPP 2.0.1", "BootNotification Accepted", "connector Occupied",
                 "Authorize: id tag Accepted", "TransactionEvent Started",
                 "TransactionEvent Updated", "TransactionEvent Ended: reason EVDisconnected",
                 "Available again", "demo OK"):
        assert step in out, step


async def test_demo_offering_both_versions_plays_the_session_in_the_one_the_csms_chose():
    code, out, err = await run_cli("demo", "--ocpp", "auto", timeout=90)
    assert code == 0, out + err
    for step in ("both versions offered: the CSMS chose OCPP 2.0.1",
                 "TransactionEvent Started", "TransactionEvent Ended", "demo OK"):
        assert step in out, step


async def test_demo_auto_is_one_session_not_a_fleet():
    code, out, err = await run_cli("demo", "--ocpp", "auto", "--stations", "2", timeout=30)
    assert code == 2
    assert "--ocpp auto plays one session" in err
