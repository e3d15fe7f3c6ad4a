"""The local HTTP API and the shell commands that use it, against a real server on 127.0.0.1.

The backend is a small station stand-in written here: it records what the API asked of it and
can be told to refuse (real drivers: 409), to reject (ValueError: 400) or to break (500).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pievse.local_api.server import ApiServer, Simulation, SimulationUnavailable
from pievse.app.api_commands import add_api_commands, api_address
from pievse.local_api.client import format_status
from tests.ports import free_port

STATUS: dict[str, Any] = {
    "charge_point_id": "CP1",
    "ocpp": {"connected": True, "version": "1.6"},
    "connectors": [
        {
            "id": 1,
            "status": "Charging",
            "pilot_state": "C",
            "contactor_closed": True,
            "offered_current": 16.0,
            "meter": {"energy_wh": 1234.0, "power_w": 11040.0},
            "transaction": {"id": 7, "id_tag": "04A1B2C3", "meter_start_wh": 1000},
        },
        {
            "id": 2,
            "status": "Available",
            "pilot_state": "A",
            "contactor_closed": False,
            "offered_current": 0.0,
            "meter": {"energy_wh": 50.0, "power_w": 0.0},
            "transaction": None,
        },
    ],
}


def without_id_tags(status: dict[str, Any]) -> dict[str, Any]:
    connectors = [{**c, "transaction": c["transaction"] and {
        name: value for name, value in c["transaction"].items() if name != "id_tag"}}
        for c in status["connectors"]]
    return {**status, "connectors": connectors}


class Station:
    """The API's backend: records each call; ``failure`` is raised by the next calls if set."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.failure: Exception | None = None

    def _call(self, *call: Any) -> None:
        if self.failure is not None:
            raise self.failure
        self.calls.append(call)

    def status(self, show_id_tags: bool) -> dict[str, Any]:
        self._call("status")
        return STATUS if show_id_tags else without_id_tags(STATUS)

    def set_local_limit(self, connector: int | None, amps: float | None) -> None:
        self._call("limit", connector, amps)

    def set_mode(self, mode: str) -> None:
        self._call("mode", mode)

    def stop_session(self, connector: int) -> None:
        self._call("stop", connector)

    def set_enabled(self, connector: int | None, enabled: bool) -> None:
        self._call("enable", connector, enabled)

    def sim_ev(self, connector: int, state: str, max_current: float | None) -> None:
        self._call("ev", connector, state, max_current)

    def sim_token(self, id_token: str) -> None:
        self._call("token", id_token)

    def sim_fault(self, connector: int, fault: str, active: bool) -> None:
        self._call("fault", connector, fault, active)


@pytest.fixture
def station() -> Station:
    return Station()


@pytest.fixture
async def server(station: Station) -> AsyncIterator[ApiServer]:
    api = ApiServer(station, "127.0.0.1", 0, simulations=Simulation, controls=station)
    await api.start()
    try:
        yield api
    finally:
        await api.stop()


class Response:
    def __init__(self, raw: bytes) -> None:
        head, _, self.raw_body = raw.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("ascii").split("\r\n")
        self.status = int(status_line.split(" ")[1])
        self.headers = {
            name.lower(): value.strip()
            for name, _, value in (line.partition(":") for line in header_lines)
        }

    @property
    def json(self) -> Any:
        assert self.headers["content-type"] == "application/json"
        assert int(self.headers["content-length"]) == len(self.raw_body)
        return json.loads(self.raw_body)


async def exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection, end the sending side, and read until the server
    closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        with contextlib.suppress(ConnectionError):
            writer.write(data)
            await writer.drain()
            writer.write_eof()
        with contextlib.suppress(ConnectionError):
            return await asyncio.wait_for(reader.read(), 30)
        return b""
    finally:
        writer.close()


async def request(port: int, method: str, path: str, body: Any = None,
                  raw_body: bytes | None = None) -> Response:
    payload = raw_body if raw_body is not None else json.dumps(body).encode() if body else b""
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n")
    return Response(await exchange(port, head.encode() + payload))


# --- the routes ---------------------------------------------------------------------------------


async def test_get_status_answers_the_stations_status_as_json(server, station):
    response = await request(server.port, "GET", "/api/status")
    assert response.status == 200
    assert response.json == STATUS
    assert response.headers["connection"] == "close"
    assert station.calls == [("status",)]


async def test_the_server_reports_the_port_it_really_listens_on(server):
    assert server.port != 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=5):
        pass


async def test_a_query_string_does_not_change_the_route(server):
    response = await request(server.port, "GET", "/api/status?verbose=1")
    assert response.status == 200 and response.json == STATUS


async def test_plugging_in_the_simulated_car_passes_connector_state_and_current(server, station):
    response = await request(server.port, "POST", "/api/sim/ev",
                             {"connector": 2, "state": "C", "max_current": 16})
    assert (response.status, response.json) == (200, {"ok": True})
    assert station.calls == [("ev", 2, "C", 16.0)]
    assert type(station.calls[0][3]) is float


async def test_the_car_defaults_to_connector_1_and_keeps_its_own_maximum(server, station):
    response = await request(server.port, "POST", "/api/sim/ev", {"state": "B"})
    assert response.status == 200
    assert station.calls == [("ev", 1, "B", None)]


async def test_presenting_a_card_passes_the_id_token(server, station):
    response = await request(server.port, "POST", "/api/sim/token", {"id_token": "04A1B2C3"})
    assert (response.status, response.json) == (200, {"ok": True})
    assert station.calls == [("token", "04A1B2C3")]


@pytest.mark.parametrize("fault", ["rcd", "emergency_stop", "welded", "pilot"])
@pytest.mark.parametrize("active", [True, False])
async def test_tripping_and_clearing_a_fault_input_passes_connector_fault_and_state(
    server, station, fault, active
):
    response = await request(server.port, "POST", "/api/sim/fault",
                             {"connector": 2, "fault": fault, "active": active})
    assert (response.status, response.json) == (200, {"ok": True})
    assert station.calls == [("fault", 2, fault, active)]


# --- the local limit ---------------------------------------------------------------------------


async def test_a_limit_on_a_connector_or_the_whole_station_reaches_the_backend(server, station):
    response = await request(server.port, "POST", "/api/limit", {"connector": 2, "amps": 16})
    assert (response.status, response.json) == (200, {"ok": True})
    response = await request(server.port, "POST", "/api/limit", {"amps": 20.5})
    assert response.status == 200
    response = await request(server.port, "POST", "/api/limit", {"connector": 2, "amps": None})
    assert response.status == 200
    assert station.calls == [("limit", 2, 16.0), ("limit", None, 20.5), ("limit", 2, None)]


async def test_delete_lifts_the_limit_with_or_without_a_body(server, station):
    response = await request(server.port, "DELETE", "/api/limit")
    assert (response.status, response.json) == (200, {"ok": True})
    response = await request(server.port, "DELETE", "/api/limit", {"connector": 1})
    assert response.status == 200
    assert station.calls == [("limit", None, None), ("limit", 1, None)]


@pytest.mark.parametrize(("body", "words"), [
    ({}, '"amps" is missing'),
    ({"amps": 81}, "from 0 to 80"),
    ({"amps": -1}, "from 0 to 80"),
    ({"amps": "16"}, "a number"),
    ({"amps": True}, "a number"),
    ({"connector": 0, "amps": 10}, '"connector" = 0'),
    ({"connector": 1.5, "amps": 10}, "an integer"),
    ({"amps": 10, "phases": 1}, 'unknown field "phases"'),
])
async def test_a_body_that_does_not_fit_is_refused_naming_the_field(server, station, body, words):
    response = await request(server.port, "POST", "/api/limit", body)
    assert response.status == 400 and words in response.json["error"], response.json
    assert station.calls == []


async def test_a_connector_the_station_lacks_is_a_400_with_the_stations_words(server, station):
    station.failure = ValueError("no connector 5")
    response = await request(server.port, "POST", "/api/limit", {"connector": 5, "amps": 10})
    assert (response.status, response.json) == (400, {"error": "no connector 5"})


# --- the controls of a person at home ----------------------------------------------------------


async def test_stop_and_enable_reach_the_controls(server, station):
    response = await request(server.port, "POST", "/api/stop", {"connector": 2})
    assert (response.status, response.json) == (200, {"ok": True})
    response = await request(server.port, "POST", "/api/enable", {"connector": 1,
                                                                  "enabled": False})
    assert response.status == 200
    response = await request(server.port, "POST", "/api/enable", {"enabled": True})
    assert response.status == 200
    response = await request(server.port, "POST", "/api/enable", {"connector": None,
                                                                  "enabled": False})
    assert response.status == 200
    assert station.calls == [("stop", 2), ("enable", 1, False), ("enable", None, True),
                             ("enable", None, False)]


@pytest.mark.parametrize(("path", "body", "words"), [
    ("/api/stop", {}, '"connector" is missing'),
    ("/api/stop", {"connector": None}, "an integer from 1 to 8"),
    ("/api/stop", {"connector": 9}, "from 1 to 8"),
    ("/api/enable", {"connector": 1}, '"enabled" is missing'),
    ("/api/enable", {"enabled": 1}, "true or false"),
    ("/api/enable", {"enabled": True, "why": "x"}, 'unknown field "why"'),
])
async def test_a_control_body_that_does_not_fit_is_refused_naming_the_field(server, station, path,
                                                                            body, words):
    response = await request(server.port, "POST", path, body)
    assert response.status == 400 and words in response.json["error"], response.json
    assert station.calls == []


async def test_a_control_the_station_refuses_is_a_400_saying_why(server, station):
    station.failure = ValueError("connector 1: no session to stop")
    response = await request(server.port, "POST", "/api/stop", {"connector": 1})
    assert (response.status, response.json) == (400, {"error": "connector 1: no session to stop"})


async def test_without_controls_there_are_no_control_routes(station):
    api = ApiServer(station, "127.0.0.1", 0)
    await api.start()
    try:
        for path in ("/api/stop", "/api/enable", "/api/power"):
            response = await request(api.port, "POST", path, {"connector": 1})
            assert response.status == 404, path
    finally:
        await api.stop()
    assert station.calls == []


# --- failures ------------------------------------------------------------------------------------


async def test_a_station_on_real_drivers_answers_409_with_its_reason(server, station):
    station.failure = SimulationUnavailable("this station runs real hardware drivers")
    response = await request(server.port, "POST", "/api/sim/token", {"id_token": "04A1B2C3"})
    assert response.status == 409
    assert response.json == {"error": "this station runs real hardware drivers"}


async def test_a_value_the_station_rejects_answers_400_with_its_reason(server, station):
    station.failure = ValueError("no simulated car on connector 3")
    response = await request(server.port, "POST", "/api/sim/ev", {"connector": 3, "state": "B"})
    assert response.status == 400
    assert response.json == {"error": "no simulated car on connector 3"}


async def test_a_failing_station_answers_500_is_logged_and_the_server_keeps_serving(
    server, station, caplog
):
    station.failure = RuntimeError("the station broke")
    with caplog.at_level(logging.ERROR, logger="pievse.api"):
        response = await request(server.port, "GET", "/api/status")
    assert response.status == 500
    assert "error" in response.json and "the station broke" not in response.json["error"]
    assert any("the station broke" in (r.exc_text or "") for r in caplog.records)
    station.failure = None
    assert (await request(server.port, "GET", "/api/status")).status == 200


async def test_a_status_that_is_not_json_answers_500(server, station, monkeypatch):
    monkeypatch.setattr(station, "status", lambda show_id_tags: {"power_w": object()})
    response = await request(server.port, "GET", "/api/status")
    assert response.status == 500


@pytest.mark.parametrize(
    ("path", "body", "named", "allowed"),
    [
        ("/api/sim/ev", {"state": "D"}, '"state" = "D"', 'one of "A", "B", "C"'),
        ("/api/sim/ev", {"state": "c"}, '"state" = "c"', 'one of "A", "B", "C"'),
        ("/api/sim/ev", {}, '"state" is missing', 'one of "A", "B", "C"'),
        ("/api/sim/ev", {"state": "C", "connector": 0}, '"connector" = 0', "at least 1"),
        ("/api/sim/ev", {"state": "C", "connector": True}, '"connector" = true', "an integer"),
        ("/api/sim/ev", {"state": "C", "connector": "1"}, '"connector" = "1"', "an integer"),
        ("/api/sim/ev", {"state": "C", "max_current": 5}, '"max_current" = 5', "from 6 to 80"),
        ("/api/sim/ev", {"state": "C", "max_current": "16"}, '"max_current" = "16"', "a number"),
        ("/api/sim/ev", {"state": "C", "maxCurrent": 16}, 'unknown field "maxCurrent"',
         "connector, state, max_current"),
        ("/api/sim/token", {"id_token": ""}, '"id_token" = ""', "1 to 20 characters"),
        ("/api/sim/token", {"id_token": "X" * 21}, '"id_token"', "1 to 20 characters"),
        ("/api/sim/token", {"id_token": "04 A1"}, '"id_token" = "04 A1"', "1 to 20 characters"),
        ("/api/sim/token", {"id_token": 4}, '"id_token" = 4', "a string"),
        ("/api/sim/fault", {"fault": "smoke", "active": True}, '"fault" = "smoke"',
         '"rcd", "emergency_stop", "welded", "contactor_open", "pilot"'),
        ("/api/sim/fault", {"fault": "rcd", "active": "yes"}, '"active" = "yes"', "true or false"),
        ("/api/sim/fault", {"fault": "rcd", "active": 1}, '"active" = 1', "true or false"),
        ("/api/sim/fault", {"fault": "rcd"}, '"active" is missing', "true or false"),
    ],
)
async def test_a_body_that_does_not_fit_answers_400_naming_the_field_and_what_is_allowed(
    server, station, path, body, named, allowed
):
    response = await request(server.port, "POST", path, body)
    assert response.status == 400
    error = response.json["error"]
    assert named in error and allowed in error, error
    assert station.calls == []


@pytest.mark.parametrize("raw_body", [b"state=C", b'["C"]', b'{"state": "C"', b"\xff\xfe", b"null"])
async def test_a_body_that_is_not_a_json_object_answers_400(server, station, raw_body):
    response = await request(server.port, "POST", "/api/sim/ev", raw_body=raw_body)
    assert response.status == 400
    assert response.json == {"error": "the body must be a JSON object"}
    assert station.calls == []


async def test_an_unknown_path_answers_404(server):
    for path in ("/index.html", "/api", "/api/statuss", "/api/sim/ev/1"):
        response = await request(server.port, "GET", path)
        assert response.status == 404, path
        assert path in response.json["error"]


async def test_a_known_path_with_the_wrong_method_answers_405_with_the_allowed_method(
    server, station
):
    response = await request(server.port, "POST", "/api/status", {})
    assert response.status == 405 and response.headers["allow"] == "GET"
    response = await request(server.port, "GET", "/api/sim/ev")
    assert response.status == 405 and response.headers["allow"] == "POST"
    assert station.calls == []


# --- garbage on the socket ----------------------------------------------------------------------


def _garbage() -> list[bytes]:
    rng = random.Random(61851)
    noise = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))) for _ in range(20)]
    return [
        b"",
        b"\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /api/status\r\n\r\n",
        b"GET /api/status HTTP/9.9\r\n\r\n",
        b"G\x00T /api/status HTTP/1.1\r\n\r\n",
        b"GET /api/status HTTP/1.1\r\nno colon here\r\n\r\n",
        b"GET /api/status HTTP/1.1\r\nHost: \xff\xfe\r\n\r\n",
        b"POST /api/sim/ev HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"POST /api/sim/ev HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"POST /api/sim/ev HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n{}",
        b"POST /api/sim/ev HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"state\": ",
        b"POST /api/sim/ev HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n",
        b"GET /api/status HTTP/1.1\r\n" + b"X-Pad: y\r\n" * 5000 + b"\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello on the plain port
        *noise,
    ]


async def test_garbage_on_the_socket_never_reaches_the_station_or_stops_the_server(
    server, station, caplog
):
    with caplog.at_level(logging.WARNING, logger="pievse.api"):
        for data in _garbage():
            answer = await exchange(server.port, data)
            if answer:  # a client still sending when the server hangs up may get a reset instead
                status = Response(answer).status
                assert 400 <= status < 500 or status == 505, (data[:60], answer[:200])
    assert station.calls == []
    assert [r.getMessage() for r in caplog.records if r.name == "pievse.api"] == []
    response = await request(server.port, "GET", "/api/status")
    assert response.status == 200 and response.json == STATUS


async def test_a_stalled_client_does_not_hold_up_the_others(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /api/sim/ev HTTP/1.1\r\nContent-Length: 50\r\n\r\n{")
    await writer.drain()
    try:
        assert (await request(server.port, "GET", "/api/status")).status == 200
    finally:
        writer.close()


async def test_a_client_that_never_finishes_its_request_is_answered_408_and_dropped(station):
    api = ApiServer(station, "127.0.0.1", 0, request_timeout=0.2)
    await api.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", api.port)
        writer.write(b"GET /api/status HTTP/1.1\r\nHost: x\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 30)
        writer.close()
        assert Response(answer).status == 408
        assert station.calls == []
    finally:
        await api.stop()


async def until(condition, what: str) -> None:
    """Wait (generously) for something the server does in its own time."""
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_connections_beyond_the_limit_are_turned_away_and_the_rest_still_served(station):
    api = ApiServer(station, "127.0.0.1", 0, max_connections=2)
    await api.start()
    idle = []
    try:
        for _ in range(2):
            idle.append(await asyncio.open_connection("127.0.0.1", api.port))
        await until(lambda: api.open_connections == 2, "both idle connections accepted")
        # Turned away at once, before the request is read: (sending one could race with the
        # server closing and turn the answer into a connection reset).
        assert Response(await exchange(api.port, b"")).status == 503
        for _, writer in idle:
            writer.close()
        await until(lambda: api.open_connections == 0, "idle connections closed")
        assert (await request(api.port, "GET", "/api/status")).status == 200
    finally:
        await api.stop()


async def test_stopping_the_server_closes_connections_still_open(station):
    api = ApiServer(station, "127.0.0.1", 0)
    await api.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", api.port)
    writer.write(b"GET /api/status HTTP/1.1\r\n")
    await writer.drain()
    await until(lambda: api.open_connections == 1, "the connection accepted")
    await asyncio.wait_for(api.stop(), 30)
    assert api.open_connections == 0
    try:
        assert await asyncio.wait_for(reader.read(), 30) == b""
    except ConnectionResetError:
        pass  # closed with our request unread: the kernel says so with a reset
    writer.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", api.port), timeout=5).close()


# --- the shell commands -------------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pievse")
    add_api_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


async def run_command(*argv: str) -> int:
    """Run a `pievse` API command as the shell would; a thread, as it blocks on the HTTP call."""
    args = parse(*argv)
    return await asyncio.to_thread(args.func, args)


async def test_pievse_status_prints_a_line_per_connector(server, capsys):
    assert await run_command("status", "--api", f"127.0.0.1:{server.port}") == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "charge point CP1: OCPP 1.6 connected",
        "connector 1: Charging",
        "  pilot C, contactor closed, offering 16 A",
        "  meter 11.04 kW, 1.234 kWh",
        "  transaction 7 for id tag 04A1B2C3, 0.234 kWh delivered",
        "connector 2: Available",
        "  pilot A, contactor open, offering nothing",
        "  meter 0.00 kW, 0.050 kWh",
        "  no transaction",
    ]


async def test_pievse_status_json_prints_the_apis_json(server, capsys):
    assert await run_command("status", "--json", "--api", f"127.0.0.1:{server.port}") == 0
    assert json.loads(capsys.readouterr().out) == STATUS


async def test_pievse_sim_ev_sets_the_cars_state(server, station, capsys):
    api = f"127.0.0.1:{server.port}"
    assert await run_command("sim", "ev", "C", "--connector", "2", "--max-current", "16",
                             "--api", api) == 0
    assert await run_command("sim", "ev", "b", "--api", api) == 0
    assert station.calls == [("ev", 2, "C", 16.0), ("ev", 1, "B", None)]
    assert "connector 2: the simulated car is in state C" in capsys.readouterr().out


async def test_pievse_sim_tap_presents_the_card(server, station, capsys):
    assert await run_command("sim", "tap", "04A1B2C3", "--api", f"127.0.0.1:{server.port}") == 0
    assert station.calls == [("token", "04A1B2C3")]
    assert "04A1B2C3" in capsys.readouterr().out


async def test_pievse_sim_fault_trips_and_clears_a_fault_input(server, station):
    api = f"127.0.0.1:{server.port}"
    assert await run_command("sim", "fault", "rcd", "on", "--api", api) == 0
    assert await run_command("sim", "fault", "emergency_stop", "off", "--connector", "2",
                             "--api", api) == 0
    assert station.calls == [("fault", 1, "rcd", True), ("fault", 2, "emergency_stop", False)]


async def test_pievse_sim_on_a_station_with_real_drivers_prints_why_and_exits_1(
    server, station, capsys
):
    station.failure = SimulationUnavailable("the card reader is not simulated")
    assert await run_command("sim", "tap", "04A1B2C3", "--api", f"127.0.0.1:{server.port}") == 1
    assert capsys.readouterr().err == "pievse: the card reader is not simulated\n"


async def test_pievse_sim_with_a_connector_the_station_lacks_prints_why_and_exits_1(
    server, station, capsys
):
    station.failure = ValueError("no simulated car on connector 3")
    assert await run_command("sim", "ev", "C", "--connector", "3",
                             "--api", f"127.0.0.1:{server.port}") == 1
    assert "no simulated car on connector 3" in capsys.readouterr().err


async def test_pievse_status_without_a_daemon_says_it_cannot_reach_the_api(capsys):
    port = free_port()
    assert await run_command("status", "--api", f"127.0.0.1:{port}") == 1
    assert capsys.readouterr().err == (
        f"pievse: cannot reach the local API at 127.0.0.1:{port} (is the daemon running?)\n"
    )


async def test_the_api_address_comes_from_the_config_file_when_not_given(
    server, station, tmp_path
):
    config = tmp_path / "config.toml"
    config.write_text('[charge_point]\nid = "CP1"\n[ocpp]\nurl = "ws://csms/ocpp"\n'
                      f'[api]\nlisten = "127.0.0.1:{server.port}"\n')
    assert await run_command("sim", "tap", "CAFE", "--config", str(config)) == 0
    assert station.calls == [("token", "CAFE")]


async def test_a_config_file_with_problems_is_reported_and_exits_2(tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text('[charge_point]\nid = "CP1"\n[ocpp]\nurl = "ws://csms/ocpp"\n'
                      '[api]\nlisten = "8180"\n')
    assert await run_command("status", "--config", str(config)) == 2
    assert '[api] listen = "8180": must be "host:port"' in capsys.readouterr().err


async def test_a_config_file_that_turns_the_api_off_is_reported_and_exits_2(tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text('[charge_point]\nid = "CP1"\n[ocpp]\nurl = "ws://csms/ocpp"\n'
                      '[api]\nlisten = ""\n')
    assert await run_command("status", "--config", str(config)) == 2
    assert "the local API is turned off" in capsys.readouterr().err


def test_without_api_or_config_the_default_address_is_used():
    assert api_address(parse("status")) == "127.0.0.1:8180"


def test_the_api_option_beats_the_config_file(tmp_path):
    assert api_address(parse("status", "--api", "[::1]:9", "--config", "/nonexistent")) == "[::1]:9"


@pytest.mark.parametrize(
    "argv",
    [
        ("status", "--api", "8180"),
        ("sim", "ev", "E"),
        ("sim", "ev", "C", "--connector", "0"),
        ("sim", "ev", "C", "--max-current", "100"),
        ("sim", "fault", "smoke", "on"),
        ("sim", "fault", "rcd", "maybe"),
        ("sim",),
    ],
)
def test_a_command_line_that_does_not_fit_is_refused_before_calling_the_api(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        parse(*argv)
    assert exited.value.code == 2


def test_the_status_summary_copes_with_missing_values():
    text = format_status({"connectors": [{"id": 1, "meter": {"online": False},
                                          "transaction": {"id": 3}}]})
    assert "connector 1: unknown" in text
    assert "meter offline" in text
    assert "transaction 3 for id tag ?, ? kWh delivered" in text


def test_the_status_summary_says_why_the_meter_is_not_trusted():
    problem = "implausible reading: energy 3.4e+41 Wh is beyond any meter's register"
    text = format_status({"connectors": [{"id": 1, "meter": {
        "online": True, "energy_wh": 1234500.0, "power_w": 7000.0, "problem": problem}}]})
    assert f"meter problem: {problem}" in text
    assert "meter offline" not in text


def test_the_status_summary_says_what_limits_the_offer_and_what_the_house_fuse_does():
    connector = {"id": 1, "offered_current": 7.0,
                 "offered_current_reason": "local limit (site, shared): 7 A"}
    site = {"limit_a": 7.0, "room_a": 7.0, "main_fuse_a": 35.0, "meter_online": True}
    text = format_status({"connectors": [connector], "site": site})
    assert "house fuse: the cars may draw 7 A, room 7 A under the 35 A main fuse" in text
    assert "  limited by local limit (site, shared): 7 A" in text
    silent = {**site, "limit_a": 6.0, "room_a": None, "meter_online": False,
              "problem": "no reading for 5 s"}
    text = format_status({"connectors": [connector], "site": silent})
    assert ("house fuse: site meter silent (no reading for 5 s), the cars get the safe current, "
            "6 A") in text
    assert "the cars may draw ? A" in format_status({"site": {"limit_a": "x"}})
