"""A fuzzer for the MQTT commands: any topic under the station's base and any payload (bytes,
text, numbers, the words Home Assistant sends), read and carried out on a real station core
through the same controls the daemon uses.

Whatever arrives, a command is either carried out or refused with a reason (a ``ValueError``
logged as a warning), never an exception out of the bridge; and nothing it does makes the
station offer more than the installation allows. Bounded to run in CI.
"""

from __future__ import annotations

import logging
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pievse.aio import FakeClock
from pievse.app.home_controls import StationControls
from pievse.core.local_limits import LocalLimitSource
from pievse.mqtt.bridge import Broker, MqttBridge
from pievse.mqtt.commands import Order, read_order
from pievse.mqtt.discovery import Device
from pievse.mqtt.topics import CommandRefused, Topics
from tests.test_station_rig import TAG, Bench

TOPICS = Topics("pievse/CP1", "homeassistant", "pievse_CP1")
INSTALLATION_A = 32.0

WORDS = st.sampled_from(["ON", "OFF", "on", "PRESS", "press", "", " ", "none", "null", "16",
                         "6.5", "0", "32", "32.001", "-1", "1e3", "nan", "inf", "0x10", "16 A",
                         "٣", "1_6", "16\x00", "{}", '{"max_current": 16}'])
PAYLOADS = st.one_of(WORDS.map(str.encode), st.binary(max_size=64),
                     st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
                     st.floats(allow_nan=True, allow_infinity=True).map(lambda f: repr(f).encode()),
                     st.integers(-(10**40), 10**40).map(lambda i: str(i).encode()))
COMMANDS = st.sampled_from(["max_current", "enabled", "start", "stop", "Stop", "reset", "", "+",
                            "#"])
CONNECTORS = st.sampled_from(["1", "2", "3", "0", "01", "-1", "x", "999", "1000", "", "+"])
SEGMENTS = st.text(st.characters(exclude_categories=()), max_size=12)
TOPIC = st.one_of(
    COMMANDS.map(lambda c: f"pievse/CP1/{c}/set"),
    st.tuples(CONNECTORS, COMMANDS).map(lambda p: f"pievse/CP1/connector/{p[0]}/{p[1]}/set"),
    st.lists(SEGMENTS, max_size=6).map(lambda parts: "/".join(["pievse/CP1", *parts])),
    SEGMENTS,
)


@given(TOPIC, PAYLOADS)
@settings(max_examples=400, deadline=None)
def test_a_message_is_an_order_within_bounds_or_refused_with_a_reason(topic, payload):
    try:
        order = read_order(TOPICS, topic, payload)
    except CommandRefused as refusal:
        assert str(refusal)
        return
    assert isinstance(order, Order)
    if order.command == "max_current":
        assert order.value is None or (math.isfinite(order.value) and 0 <= order.value <= 80)
    elif order.command == "enabled":
        assert order.value in (True, False)
    elif order.command == "stop":
        assert order.connector is not None
    else:
        assert order.command == "start" and order.value is None
    assert order.connector is None or order.connector >= 1


@given(st.lists(st.tuples(TOPIC, PAYLOADS), min_size=1, max_size=12))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_command_crashes_the_bridge_or_lifts_the_offer_above_the_installation(messages):
    bench = Bench(2)
    bench.pilot("B")
    bench.tap(TAG)
    bench.pilot("C")
    controls = StationControls(
        bench.station, bench.record,
        lambda *limit: bench.record(bench.station.set_local_limit(*limit)),
        LocalLimitSource.MQTT, start_id_tag="HOME-1")
    bridge = MqttBridge(Broker("127.0.0.1", 1883), TOPICS,
                        Device("CP1", "pievse", "sim", "0", 2, INSTALLATION_A),
                        status=dict, controls=controls,
                        clock=FakeClock())
    failures = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = failures.append  # type: ignore[method-assign]
    logger = logging.getLogger("pievse.mqtt")
    logger.addHandler(handler)
    try:
        for topic, payload in messages:
            bridge.command(topic, payload)
            for connector in bench.station.connectors.values():
                assert connector.offered_a <= INSTALLATION_A
                if connector.contactor_closed:
                    assert connector.transaction is not None
    finally:
        logger.removeHandler(handler)
    assert failures == [], [r.getMessage() for r in failures]
    for table in bench.station.local.limits.values():
        assert all(0 <= amps <= 80 for amps in table.values())

