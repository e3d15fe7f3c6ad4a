"""The MQTT parts alone, without a broker: the controls' caps on a real station core, and the
discovery of a station with several connectors."""

from __future__ import annotations

import pytest

from pievse.app.home_controls import StationControls
from pievse.core.local_limits import LocalLimitSource
from pievse.mqtt.discovery import Device, discovery_messages
from pievse.mqtt.topics import Topics
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
