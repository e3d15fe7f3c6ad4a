"""The MQTT parts alone, without a broker: the controls' caps on a real station core, and the
discovery of a station with several connectors."""

from __future__ import annotations

import pytest

from pievse.app.home_controls import StationControls
from pievse.core.local_limits import LocalLimitSource
from pievse.mqtt.commands import carry_out, read_order
from pievse.mqtt.discovery import Device, discovery_messages
from pievse.mqtt.topics import CommandRefused, Topics
from tests.test_station_rig import Bench

TOPICS = Topics("pievse/CP1", "homeassistant", "pievse_CP1")
INSTALLATION_A = 32.0


def test_max_current_is_the_mqtt_local_limit_and_a_connector_cap_never_lifts_the_station_cap():
    bench = Bench(2)
    controls = StationControls(
        bench.station, bench.record,
        lambda *limit: bench.record(bench.station.set_local_limit(*limit)), LocalLimitSource.MQTT)
    controls.set_max_current(None, 10)
    controls.set_max_current(1, 20)
    assert bench.station.local.limits[LocalLimitSource.MQTT] == {None: 10, 1: 20}
    assert bench.station.connector(1).offered_a <= 10
    controls.set_max_current(None, None)
    assert bench.station.connector(1).limits["local limit (mqtt)"] == 20
    with pytest.raises(ValueError, match="connector 3: this station has connectors 1 to 2"):
        controls.set_max_current(3, 16)


def test_a_station_of_several_connectors_gets_a_switch_for_each():
    topics = [t for t, _ in discovery_messages(
        TOPICS, Device("CP1", "pievse", "sim", "0", 2, INSTALLATION_A))]
    assert "homeassistant/switch/pievse_CP1/connector2_enabled/config" in topics
    assert "homeassistant/switch/pievse_CP1/enabled/config" in topics
    assert not any("connector1_enabled" in t for t, _ in discovery_messages(
        TOPICS, Device("CP1", "pievse", "sim", "0", 1, INSTALLATION_A)))


def test_a_station_without_a_csms_shows_no_csms_link():
    def objects(device: Device) -> set[str]:
        return {t.split("/")[-2] for t, _ in discovery_messages(TOPICS, device)}

    assert "csms" in objects(Device("CP1", "pievse", "sim", "0", 1, INSTALLATION_A))
    assert "csms" not in objects(Device("CP1", "pievse", "sim", "0", 1, INSTALLATION_A,
                                        standalone=True))


def test_the_mode_select_is_offered_with_a_site_meter_only_and_takes_the_api_s_modes():
    with_meter = dict(discovery_messages(
        TOPICS, Device("CP1", "pievse", "sim", "0", 1, INSTALLATION_A,
                       modes=("fast", "pv", "min+pv"))))
    select = with_meter["homeassistant/select/pievse_CP1/mode/config"]
    assert select["options"] == ["fast", "pv", "min+pv"]
    assert select["command_topic"] == "pievse/CP1/mode/set"
    assert select["state_topic"] == "pievse/CP1/state"
    assert select["unique_id"] == "pievse_CP1_mode" and select["device"]["identifiers"]
    without = [t for t, _ in discovery_messages(
        TOPICS, Device("CP1", "pievse", "sim", "0", 1, INSTALLATION_A))]
    assert not any("/select/" in t for t in without)


def test_a_mode_command_sets_the_mode_and_a_station_without_a_site_meter_says_why_not():
    chosen: list[str] = []
    bench = Bench(1)
    controls = StationControls(bench.station, bench.record, lambda *_: None,
                               LocalLimitSource.MQTT, set_mode=chosen.append)
    carry_out(controls, read_order(TOPICS, "pievse/CP1/mode/set", b"PV"))
    assert chosen == ["pv"]
    with pytest.raises(CommandRefused, match='"mode" = "eco"'):
        read_order(TOPICS, "pievse/CP1/mode/set", b"eco")
    with pytest.raises(CommandRefused, match="the station's, not a connector's"):
        read_order(TOPICS, "pievse/CP1/connector/1/mode/set", b"pv")
    without = StationControls(bench.station, bench.record, lambda *_: None,
                              LocalLimitSource.MQTT)
    with pytest.raises(ValueError, match="without a \\[site_meter\\]"):
        carry_out(without, read_order(TOPICS, "pievse/CP1/mode/set", b"fast"))
