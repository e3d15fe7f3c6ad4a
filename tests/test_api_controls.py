"""The controls of a person at home through the local API, on a daemon with simulated hardware:
stop a session, take a connector out of service and back, and the power trace of a session that
the status page draws (bounded however long the session lasts)."""

from __future__ import annotations

import asyncio

from pievse.local_api.power import PowerTraces
from tests.conftest import eventually
from tests.test_api import request
from tests.test_ocpp16_sessions import charging_session, received, status_now


async def test_a_connector_disabled_from_the_api_is_out_of_service_until_enabled(csms,
                                                                                 start_station):
    daemon = await start_station(api={"listen": "127.0.0.1:0"})
    response = await request(daemon.api.port, "POST", "/api/enable",
                             {"connector": 1, "enabled": False})
    assert (response.status, response.json) == (200, {"ok": True})
    await eventually(lambda: status_now(csms) == "Unavailable", what="Unavailable at the CSMS")
    response = await request(daemon.api.port, "POST", "/api/enable", {"enabled": True})
    assert response.status == 200
    await eventually(lambda: status_now(csms) == "Available", what="Available again")


async def test_a_session_stopped_from_the_api_ends_and_a_second_stop_says_there_is_none(
    csms, start_station
):
    daemon = await start_station(api={"listen": "127.0.0.1:0"})
    response = await request(daemon.api.port, "POST", "/api/stop", {"connector": 1})
    assert response.status == 400 and "no session to stop" in response.json["error"]
    await charging_session(csms, daemon)
    response = await request(daemon.api.port, "POST", "/api/stop", {"connector": 1})
    assert (response.status, response.json) == (200, {"ok": True})
    await eventually(lambda: received(csms, "StopTransaction"), what="StopTransaction")
    assert received(csms, "StopTransaction")[0]["reason"] == "Remote"
    assert daemon.station.connector(1).transaction is None
    response = await request(daemon.api.port, "POST", "/api/stop", {"connector": 3})
    assert response.status == 400 and "connector 3" in response.json["error"]


async def test_the_power_of_a_charging_session_is_traced_from_its_start(csms, start_station):
    daemon = await start_station(api={"listen": "127.0.0.1:0"})
    response = await request(daemon.api.port, "GET", "/api/power")
    assert response.json == {"connectors": [{"id": 1, "session": None, "charging": False,
                                             "started": None, "step_s": 1.0, "samples": []}]}
    await charging_session(csms, daemon)

    async def traced() -> list:
        return (await request(daemon.api.port, "GET", "/api/power")).json["connectors"][0]

    trace = await traced()
    assert trace["charging"] and trace["session"] is not None
    assert trace["started"].endswith("Z") and trace["samples"][0][0] == 0.0
    for _ in range(100):  # the car's power, as the meter reads it once the contactor closed
        if any(w > 1000 for _, w in (await traced())["samples"]):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"no power in the trace: {await traced()}")
    trace = await traced()
    assert [t for t, _ in trace["samples"]] == sorted(t for t, _ in trace["samples"])


def test_a_long_session_is_thinned_to_the_capacity_keeping_its_start_and_end():
    traces = PowerTraces(capacity=8, step_s=1.0)
    for second in range(1000):
        traces.record(1, 7, 1_000_000.0 + second, float(second))
    [trace] = traces.as_json()["connectors"]
    samples = trace["samples"]
    assert len(samples) <= 8 and samples[0] == [0.0, 0]
    assert samples[-1][0] >= 1000 - 2 * trace["step_s"]
    assert trace["step_s"] >= 1000 / 8
    # A new session starts a new trace; between sessions the last one stays.
    traces.record(1, None, 1_002_000.0, 0.0)
    assert traces.as_json()["connectors"][0]["charging"] is False
    assert traces.as_json()["connectors"][0]["samples"] == samples
    traces.record(1, 8, 1_003_000.0, 500.0)
    assert traces.as_json()["connectors"][0]["samples"] == [[0.0, 500]]
