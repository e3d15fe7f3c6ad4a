"""MQTT and Home Assistant discovery against a real Mosquitto broker started by the test: the
daemon (simulated hardware, the bench CSMS on real websockets) publishes its state and takes
commands; another client on the broker plays Home Assistant.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from tests.conftest import eventually
from tests.mqtt_standin import Recorder, publish


TAG = "04A1B2C3"
BASE = "pievse/CP1"
CONNECTOR = f"{BASE}/connector/1/state"
DISCOVERY = re.compile(r"homeassistant/(\w+)/([A-Za-z0-9_-]+)/([A-Za-z0-9_-]+)/config")


def near(amps: float | None, expected: float) -> bool:
    """The offer as the board's PWM can make it (a few hundredths off)."""
    return amps is not None and abs(amps - expected) < 0.1


def mqtt_section(broker, **keys) -> dict:
    return {"host": "127.0.0.1", "port": broker.port, **keys}


async def started(start_station, broker, **sections):
    daemon = await start_station(mqtt=mqtt_section(broker), **sections)
    await eventually(lambda: daemon.mqtt is not None and daemon.mqtt.connected,
                     what="the bridge connected")
    return daemon


async def charging(daemon, recorder: Recorder) -> dict:
    daemon.sim_ev(1, "B", None)
    daemon.sim_token(TAG)
    daemon.sim_ev(1, "C", None)
    return await recorder.wait_for(
        CONNECTOR, lambda s: s["status"] == "Charging" and (s["power_w"] or 0) > 0,
        what="Charging with power")


def discovery(recorder: Recorder) -> dict[str, tuple[str, bytes, bool]]:
    return {topic: (topic, payload, retained) for topic, payload, retained in recorder.messages
            if DISCOVERY.fullmatch(topic)}


# --- discovery ---------------------------------------------------------------------------------


async def test_discovery_is_one_device_whose_entities_have_what_home_assistant_requires(
        mosquitto, start_station):
    async with Recorder(mosquitto) as early:
        daemon = await started(start_station, mosquitto)
        await early.wait_for(CONNECTOR)  # published after the discovery
    async with Recorder(mosquitto) as late:  # subscribes after: gets what is retained
        await late.wait_for(CONNECTOR)
        await late.wait_for(f"{BASE}/state")
        await eventually(lambda: len(discovery(late)) >= 15, what="the discovery configs")
        configs = {}
        for topic, payload, retained in discovery(late).values():
            assert retained, f"{topic} is not retained"
            component, node, object_id = DISCOVERY.fullmatch(topic).groups()
            assert node == "pievse_CP1"
            configs[(component, object_id)] = json.loads(payload)
        states = {t: late.last_json(t) for t in (CONNECTOR, f"{BASE}/state")}
    assert set(configs) == {
        ("binary_sensor", "csms"), ("switch", "enabled"), ("number", "max_current"),
        *(("sensor", f"connector1_{name}") for name in (
            "status", "car_state", "power", "session_energy", "energy", "offered_current",
            "offered_current_reason", "error")),
        *(("binary_sensor", f"connector1_{name}") for name in ("session", "contactor", "fault")),
        ("button", "connector1_stop")}
    ids = [config["unique_id"] for config in configs.values()]
    assert len(ids) == len(set(ids)), "unique_id must be unique"
    for (component, object_id), config in configs.items():
        assert config["device"] == {"identifiers": ["pievse_CP1"], "name": "pievse CP1",
                                    "manufacturer": "pievse", "model": "pievse-sim",
                                    "sw_version": "0.1.0"}
        assert config["availability_topic"] == f"{BASE}/availability"
        assert config["unique_id"].endswith(object_id) and config["name"]
        if component in ("sensor", "binary_sensor", "switch", "number"):
            # The template names a field of the JSON published on the state topic.
            [field] = re.fullmatch(r"\{\{ value_json\.(\w+) \}\}",
                                   config["value_template"]).groups()
            assert field in states[config["state_topic"]], (object_id, field)
        if component in ("switch", "number", "button"):
            assert config["command_topic"].startswith(BASE + "/")
            assert config["command_topic"].endswith("/set")
        if component in ("binary_sensor", "switch"):
            assert states[config["state_topic"]][field] in ("ON", "OFF")
    units = {"power": "W", "energy": "kWh", "current": "A"}
    for (component, object_id), config in configs.items():
        if component == "sensor" and config.get("device_class") in units:
            assert config["unit_of_measurement"] == units[config["device_class"]], object_id
            assert config["state_class"] == ("total_increasing"
                                             if config["device_class"] == "energy"
                                             else "measurement")
    assert configs[("sensor", "connector1_power")]["device_class"] == "power"
    assert configs[("sensor", "connector1_energy")]["state_class"] == "total_increasing"
    assert configs[("sensor", "connector1_session_energy")]["unit_of_measurement"] == "kWh"
    number = configs[("number", "max_current")]
    assert (number["min"], number["max"], number["step"]) == (0, 32.0, 1)
    assert configs[("button", "connector1_stop")]["payload_press"] == "PRESS"
    assert ("button", "connector1_start") not in configs  # no id tag to charge a start to
    assert configs[("binary_sensor", "csms")]["device_class"] == "connectivity"
    assert daemon.mqtt.connections == 1


async def test_home_assistant_coming_online_gets_the_discovery_again(mosquitto, start_station):
    await started(start_station, mosquitto)
    async with Recorder(mosquitto) as ha:
        await publish(mosquitto, "homeassistant/status", "online")
        await eventually(lambda: len(discovery(ha)) >= 14, what="discovery sent again")


# --- state ------------------------------------------------------------------------------------


async def test_state_follows_the_car_from_plug_in_to_charging_and_back(
        mosquitto, start_station, csms):
    async with Recorder(mosquitto) as ha:
        daemon = await started(start_station, mosquitto)
        first = await ha.wait_for(CONNECTOR)
        assert first["status"] == "Available" and first["car_state"] == "A"
        assert first["contactor"] == "OFF" and first["session_energy_kwh"] == 0.0
        assert await ha.wait_for(f"{BASE}/availability") == "online"
        await ha.wait_for(f"{BASE}/state", lambda s: s["csms"] == "ON", what="CSMS link ON")
        daemon.sim_ev(1, "B", None)
        await ha.wait_for(CONNECTOR, lambda s: s["status"] == "Preparing" and
                          s["car_state"] == "B", what="Preparing")
        state = await charging(daemon, ha)
        assert state["contactor"] == "ON" and state["fault"] == "OFF"
        assert near(state["offered_current_a"], 32)
        assert state["offered_current_reason"] == "installation maximum: 32 A"
        grown = await ha.wait_for(CONNECTOR, lambda s: s["session_energy_kwh"] > 0,
                                  what="session energy growing")
        assert grown["energy_kwh"] >= grown["session_energy_kwh"]
        # The same values as the local API's status, which they come from.
        api = daemon.status(show_id_tags=False)["connectors"][0]
        assert grown["session_id"] == api["transaction"]["id"]
        daemon.sim_ev(1, "A", None)
        await ha.wait_for(CONNECTOR, lambda s: s["status"] == "Available"
                          and s["contactor"] == "OFF", what="Available again")


# --- commands ---------------------------------------------------------------------------------


async def test_max_current_caps_the_offer_and_stop_ends_the_session(
        mosquitto, start_station, csms):
    async with Recorder(mosquitto) as ha:
        daemon = await started(start_station, mosquitto)
        await charging(daemon, ha)
        await publish(mosquitto, f"{BASE}/max_current/set", "10")
        state = await ha.wait_for(CONNECTOR, lambda s: near(s["offered_current_a"], 10),
                                  what="offer capped at 10 A")
        assert state["offered_current_reason"] == "local limit (mqtt, shared): 10 A"
        # As POST /api/limit sets it: in the status, and kept for a restart.
        assert daemon.status()["local_limits"]["mqtt"] == {"station": 10}
        assert (await ha.wait_for(f"{BASE}/state"))["max_current_a"] == 10
        await publish(mosquitto, f"{BASE}/connector/1/max_current/set", "9")
        state = await ha.wait_for(CONNECTOR, lambda s: near(s["offered_current_a"], 9),
                                  what="connector 1 capped at 9 A")
        assert state["offered_current_reason"] == "local limit (mqtt): 9 A"
        await publish(mosquitto, f"{BASE}/connector/1/max_current/set", "none")
        # The cap never raises what the CSMS allows: the lowest limit rules.
        daemon.dispatch(daemon.station.set_current_limit(1, "charging_profile", 8))
        await ha.wait_for(CONNECTOR, lambda s: near(s["offered_current_a"], 8), what="8 A")
        daemon.dispatch(daemon.station.set_current_limit(1, "charging_profile", None))
        await publish(mosquitto, f"{BASE}/max_current/set", "")  # lifted
        await ha.wait_for(CONNECTOR, lambda s: near(s["offered_current_a"], 32), what="32 A again")
        await publish(mosquitto, f"{BASE}/connector/1/stop/set", "PRESS")
        await ha.wait_for(CONNECTOR, lambda s: s["session"] == "OFF", what="session ended")
    await eventually(lambda: [m for m in csms.messages if m.action == "StopTransaction"])
    stops = [m.payload for m in csms.messages if m.action == "StopTransaction"
             and m.direction == "in" and m.message_type == 2]
    assert stops[-1]["reason"] == "Remote"


async def test_start_charges_the_configured_id_tag_once_authorised(
        mosquitto, start_station, csms):
    async with Recorder(mosquitto) as ha:
        daemon = await start_station(mqtt=mqtt_section(mosquitto, start_id_tag="HOME-1"))
        await eventually(lambda: daemon.mqtt.connected, what="the bridge connected")
        button = json.loads(await eventually(lambda: ha.last(
            "homeassistant/button/pievse_CP1/connector1_start/config"), what="start button"))
        assert button["command_topic"] == f"{BASE}/connector/1/start/set"
        daemon.sim_ev(1, "B", None)
        await ha.wait_for(CONNECTOR, lambda s: s["status"] == "Preparing")
        await publish(mosquitto, button["command_topic"], "PRESS")
        daemon.sim_ev(1, "C", None)
        await ha.wait_for(CONNECTOR, lambda s: s["status"] == "Charging", what="Charging")
    starts = [m.payload for m in csms.messages if m.action == "StartTransaction"
              and m.direction == "in" and m.message_type == 2]
    assert [s["idTag"] for s in starts] == ["HOME-1"]


async def test_without_an_id_tag_there_is_no_start(mosquitto, start_station, caplog):
    daemon = await started(start_station, mosquitto)
    daemon.sim_ev(1, "B", None)
    await publish(mosquitto, f"{BASE}/start/set", "PRESS")
    await eventually(lambda: any("no start: mqtt has no id tag" in r.getMessage()
                                 for r in caplog.records), what="the refusal logged")
    assert daemon.station.connector(1).transaction is None


async def test_disabled_the_station_takes_no_car_until_enabled_again(mosquitto, start_station):
    async with Recorder(mosquitto) as ha:
        daemon = await started(start_station, mosquitto)
        await publish(mosquitto, f"{BASE}/enabled/set", "OFF")
        await ha.wait_for(f"{BASE}/state", lambda s: s["enabled"] == "OFF", what="disabled")
        await ha.wait_for(CONNECTOR, lambda s: s["status"] == "Unavailable")
        daemon.sim_ev(1, "B", None)
        daemon.sim_token(TAG)
        daemon.sim_ev(1, "C", None)
        await asyncio.sleep(1.0)
        assert daemon.station.connector(1).transaction is None
        assert not daemon.station.connector(1).contactor_closed
        await publish(mosquitto, f"{BASE}/enabled/set", "ON")
        await ha.wait_for(f"{BASE}/state", lambda s: s["enabled"] == "ON", what="enabled")


async def test_bad_commands_are_logged_and_ignored_and_the_bridge_goes_on(
        mosquitto, start_station, caplog):
    async with Recorder(mosquitto) as ha:
        daemon = await started(start_station, mosquitto)
        await charging(daemon, ha)
        for topic, payload in [
            (f"{BASE}/max_current/set", "lots"), (f"{BASE}/max_current/set", "500"),
            (f"{BASE}/max_current/set", "nan"), (f"{BASE}/max_current/set", b"\xff\xfe"),
            (f"{BASE}/max_current/set", "1" * 1000), (f"{BASE}/enabled/set", "maybe"),
            (f"{BASE}/connector/9/stop/set", "PRESS"), (f"{BASE}/stop/set", "PRESS"),
            (f"{BASE}/connector/x/enabled/set", "ON"), (f"{BASE}/reboot/set", "now"),
        ]:
            await publish(mosquitto, topic, payload)
        await publish(mosquitto, f"{BASE}/max_current/set", "12")
        await ha.wait_for(CONNECTOR, lambda s: near(s["offered_current_a"], 12), what="12 A")
        assert daemon.station.connector(1).transaction is not None
        assert daemon.mqtt.connections == 1
    ignored = [r.getMessage() for r in caplog.records if "MQTT: ignored" in r.getMessage()]
    assert len(ignored) == 10, ignored
    assert any("connector 9: this station has connector 1 only" in m for m in ignored)
    assert any('"amps" = 500.0: must be a number from 0 to 80' in m for m in ignored), ignored


async def test_a_command_left_retained_on_the_broker_is_not_carried_out(
        mosquitto, start_station, caplog):
    # Carried out, it would be again at every reconnect of the bridge.
    await publish(mosquitto, f"{BASE}/enabled/set", "OFF", retain=True)
    async with Recorder(mosquitto) as ha:
        await started(start_station, mosquitto)
        await ha.wait_for(f"{BASE}/state", lambda s: s["enabled"] == "ON")
        await eventually(lambda: any("ignored a retained command" in r.getMessage()
                                     for r in caplog.records), what="the retained command logged")
        await asyncio.sleep(0.5)
        assert ha.last_json(f"{BASE}/state")["enabled"] == "ON"


# --- resilience -------------------------------------------------------------------------------


async def test_charging_goes_on_without_the_broker_and_the_bridge_comes_back(
        mosquitto, start_station):
    async with Recorder(mosquitto) as ha:
        daemon = await started(start_station, mosquitto)
        await charging(daemon, ha)
    await mosquitto.kill()
    await eventually(lambda: not daemon.mqtt.connected, what="the bridge noticed")
    energy = daemon.station.connector(1).transaction.energy_wh
    await eventually(lambda: daemon.station.connector(1).transaction.energy_wh > energy + 1,
                     what="energy still growing without the broker")
    assert daemon.station.connector(1).contactor_closed
    await mosquitto.start()  # an empty broker on the same port: nothing retained
    async with Recorder(mosquitto) as ha:
        await eventually(lambda: daemon.mqtt.connections == 2, what="reconnected", timeout=30)
        assert await ha.wait_for(f"{BASE}/availability") == "online"
        state = await ha.wait_for(CONNECTOR, lambda s: s["status"] == "Charging")
        assert state["session_energy_kwh"] > 0
        await eventually(lambda: len(discovery(ha)) >= 14, what="discovery published again")
        await publish(mosquitto, f"{BASE}/max_current/set", "16")
        await ha.wait_for(CONNECTOR, lambda s: near(s["offered_current_a"], 16), what="commands")


async def test_a_broker_that_accepts_and_never_answers_holds_up_nothing(start_station, caplog):
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # takes the CONNECT and answers nothing, ever

    silent = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        daemon = await start_station(mqtt={"host": "127.0.0.1", "port": port})
        daemon.sim_ev(1, "B", None)
        daemon.sim_token(TAG)
        daemon.sim_ev(1, "C", None)
        await eventually(lambda: daemon.station.connector(1).contactor_closed, what="charging")
        energy = daemon.station.connector(1).transaction.energy_wh
        await eventually(lambda: daemon.station.connector(1).transaction.energy_wh > energy + 1,
                         what="energy growing")
        await eventually(lambda: any("no connection to the broker" in r.getMessage()
                                     for r in caplog.records), what="the timeout", timeout=30)
        assert not daemon.mqtt.connected
    finally:
        silent.close()


async def test_a_station_that_dies_is_shown_offline_by_its_last_will(mosquitto, csms, tmp_path):
    from tests.station_process import StationProcess

    station = StationProcess(tmp_path, csms.url, mqtt=mqtt_section(mosquitto))
    async with Recorder(mosquitto) as ha:
        await station.start()
        try:
            assert await ha.wait_for(f"{BASE}/availability", lambda s: s == "online") == "online"
            await station.kill()  # SIGKILL: no goodbye from the station
            await ha.wait_for(f"{BASE}/availability", lambda s: s == "offline",
                              what="the last will")
        finally:
            await station.kill()
    async with Recorder(mosquitto) as later:  # retained: Home Assistant restarting sees it too
        assert await later.wait_for(f"{BASE}/availability") == "offline"


async def test_a_station_without_a_csms_charges_freely_and_stops_from_home_assistant(
        mosquitto, tmp_path):
    from tests.station_process import StationProcess

    station = StationProcess(tmp_path, "", standalone={"authorization": "free"},
                             mqtt=mqtt_section(mosquitto))
    async with Recorder(mosquitto) as ha:
        await station.start()
        try:
            await ha.wait_for(CONNECTOR)
            assert not any("/csms/" in t for t in discovery(ha))  # no CSMS, no link to show
            await station.ev("C")
            charging = await ha.wait_for(CONNECTOR, lambda s: s["status"] == "Charging"
                                         and s["contactor"] == "ON",
                                         what="charging without a card")
            assert charging["session"] == "ON"
            await publish(mosquitto, f"{BASE}/connector/1/stop/set", "PRESS")
            await ha.wait_for(CONNECTOR, lambda s: s["session"] == "OFF"
                              and s["contactor"] == "OFF", what="stopped")
        finally:
            await station.stop()


async def test_a_station_that_stops_says_offline_itself(mosquitto, start_station):
    async with Recorder(mosquitto) as ha:
        daemon = await started(start_station, mosquitto)
        await ha.wait_for(f"{BASE}/availability", lambda s: s == "online")
        daemon.stop()
        await ha.wait_for(f"{BASE}/availability", lambda s: s == "offline")


# --- TLS ----------------------------------------------------------------------------------------


@pytest.fixture
def pki(tmp_path):
    from tests.tls_standins import TestPki

    (tmp_path / "pki").mkdir()
    return TestPki(tmp_path / "pki")


async def tls_broker(mosquitto, pki, tmp_path):
    server_cert, server_key = pki.server.write(tmp_path / "pki", "broker")
    await mosquitto.kill()
    mosquitto.use_tls(pki.root_file, server_cert, server_key)
    await mosquitto.start()
    return pki.client.write(tmp_path / "pki", "station")


async def test_over_tls_with_a_client_certificate(mosquitto, start_station, pki, tmp_path):
    cert, key = await tls_broker(mosquitto, pki, tmp_path)
    async with Recorder(mosquitto) as ha:
        await start_station(mqtt={"host": "127.0.0.1", "port": mosquitto.tls_port, "tls": True,
                                  "ca_file": str(pki.root_file), "cert_file": str(cert),
                                  "key_file": str(key)})
        assert await ha.wait_for(f"{BASE}/availability") == "online"
        await ha.wait_for(CONNECTOR)


async def test_a_broker_whose_certificate_is_not_trusted_gets_nothing(
        mosquitto, start_station, pki, tmp_path, caplog):
    cert, key = await tls_broker(mosquitto, pki, tmp_path)
    async with Recorder(mosquitto) as ha:
        daemon = await start_station(mqtt={
            "host": "127.0.0.1", "port": mosquitto.tls_port, "tls": True,
            "ca_file": str(pki.foreign_root_file), "cert_file": str(cert),
            "key_file": str(key)})
        await eventually(lambda: any("no connection to the broker" in r.getMessage()
                                     for r in caplog.records), what="the failure logged")
        assert not daemon.mqtt.connected
        assert [t for t, _, _ in ha.messages if t.startswith(BASE)] == []


# --- what a station without MQTT pays -----------------------------------------------------------


def test_a_station_without_mqtt_loads_none_of_it():
    import subprocess
    import sys

    from tests.daemon_script import child_environment, in_memory_daemon

    script = in_memory_daemon(
        while_running="    await asyncio.sleep(0.5)",
        after="    import json, sys\n"
              "    print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
              "('aiomqtt', 'paho') or m.startswith('pievse.mqtt'))))")
    result = subprocess.run([sys.executable, "-c", script], env=child_environment(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []


# --- a broker that wants a login -----------------------------------------------------------------


@pytest.mark.parametrize("password", ["s3cret-for-ev", "not-the-password"])
async def test_a_broker_that_wants_a_login(mosquitto, start_station, caplog, password):
    await mosquitto.kill()
    mosquitto.require_login("pievse", "s3cret-for-ev")
    await mosquitto.start()
    async with Recorder(mosquitto) as ha:
        daemon = await start_station(mqtt=mqtt_section(mosquitto, username="pievse",
                                                       password=password))
        if password == "not-the-password":
            await eventually(lambda: any("no connection to the broker" in r.getMessage()
                                         for r in caplog.records), what="the refusal logged")
            assert not daemon.mqtt.connected and ha.last(f"{BASE}/availability") is None
            assert all(password not in r.getMessage() for r in caplog.records)
        else:
            assert await ha.wait_for(f"{BASE}/availability") == "online"
