"""The MQTT parts alone, without a broker: the controls' caps on a real station core, and the
discovery of a station with several connectors."""

from __future__ import annotations

from pievse.app.home_controls import StationControls
from pievse.mqtt.discovery import Device, discovery_messages
from pievse.mqtt.topics import Topics
from tests.test_station_rig import Bench

TOPICS = Topics("pievse/CP1", "homeassistant", "pievse_CP1")
INSTALLATION_A = 32.0


def test_a_connector_cap_never_lifts_the_station_cap():
    bench = Bench(2)
    controls = StationControls(bench.station, bench.record, INSTALLATION_A, source="mqtt")
    controls.set_max_current(None, 10)
    controls.set_max_current(1, 20)
    assert [c.limits["mqtt"] for c in bench.station.connectors.values()] == [10, 10]
    controls.set_max_current(2, 6)
    controls.set_max_current(None, None)
    assert [c.limits["mqtt"] for c in bench.station.connectors.values()] == [20, 6]
    controls.set_max_current(1, None)
    assert "mqtt" not in bench.station.connector(1).limits


def test_a_station_of_several_connectors_gets_a_switch_for_each():
    topics = [t for t, _ in discovery_messages(
        TOPICS, Device("CP1", "pievse", "sim", "0", 2, INSTALLATION_A))]
    assert "homeassistant/switch/pievse_CP1/connector2_enabled/config" in topics
    assert "homeassistant/switch/pievse_CP1/enabled/config" in topics
    assert not any("connector1_enabled" in t for t, _ in discovery_messages(
        TOPICS, Device("CP1", "pievse", "sim", "0", 1, INSTALLATION_A)))
