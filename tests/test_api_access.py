"""Who may use the local API: no cross-origin requests, the token for changes beyond loopback, id
tags for trusted clients only, and the simulation routes only for what is simulated. Real
sockets: a server listening on every address is reached on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pievse.app.config import ConfigError, parse_config
from pievse.local_api.server import ApiServer, Simulation
from tests.conftest import eventually
from tests.test_api import STATUS, Response, Station, exchange, run_command, without_id_tags

TOKEN = "0123456789abcdef0123"
TAP = {"id_token": "04A1B2C3"}


async def send(port: int, method: str, path: str, body: Any = None,
               **headers: str) -> Response:
    """One request with exactly these headers (``Content_Type=`` for Content-Type)."""
    payload = b"" if body is None else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.1", f"Content-Length: {len(payload)}",
             *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items())]
    return Response(await exchange(port, ("\r\n".join(lines) + "\r\n\r\n").encode() + payload))


def json_post(port: int, path: str, body: Any, **headers: str):
    return send(port, "POST", path, body, Host=f"127.0.0.1:{port}",
                Content_Type="application/json", **headers)


@pytest.fixture
def station() -> Station:
    return Station()


@pytest.fixture
async def serve(station: Station) -> AsyncIterator:
    servers: list[ApiServer] = []

    async def start(host: str = "127.0.0.1", **options: Any) -> ApiServer:
        api = ApiServer(station, host, 0, simulations=options.pop("simulations", Simulation),
                        **options)
        await api.start()
        servers.append(api)
        return api

    yield start
    for api in servers:
        await api.stop()


# --- cross-origin requests ----------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [
    "application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", None])
async def test_a_cross_site_form_post_is_refused(serve, station, content_type):
    api = await serve()
    headers = {"Content_Type": content_type} if content_type else {}
    response = await send(api.port, "POST", "/api/sim/token", TAP,
                          Host=f"127.0.0.1:{api.port}", **headers)
    assert response.status == 415
    assert "Content-Type: application/json" in response.json["error"]
    assert station.calls == []


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://127.0.0.1:1"},  # the same host, another port: another origin
    {"Sec_Fetch_Site": "cross-site"},
    {"Sec_Fetch_Site": "same-site"},
])
async def test_cross_origin_requests_are_refused(serve, station, headers):
    api = await serve()
    response = await json_post(api.port, "/api/sim/token", TAP, **headers)
    assert response.status == 403 and "cross-origin" in response.json["error"]
    response = await send(api.port, "GET", "/api/status", Host=f"127.0.0.1:{api.port}", **headers)
    assert response.status == 403
    assert station.calls == []


async def test_a_request_of_the_stations_own_page_is_served(serve, station):
    api = await serve()
    own = {"Origin": f"http://127.0.0.1:{api.port}", "Sec_Fetch_Site": "same-origin"}
    assert (await json_post(api.port, "/api/sim/token", TAP, **own)).status == 200
    # Through a TLS reverse proxy that keeps the Host.
    proxied = {"Origin": f"https://127.0.0.1:{api.port}"}
    assert (await json_post(api.port, "/api/sim/token", TAP, **proxied)).status == 200
    response = await send(api.port, "GET", "/api/status", Host=f"127.0.0.1:{api.port}",
                          Sec_Fetch_Site="same-origin")
    assert (response.status, response.json) == (200, STATUS)
    assert station.calls == [("token", "04A1B2C3"), ("token", "04A1B2C3"), ("status",)]


async def test_on_loopback_a_request_naming_another_host_changes_nothing(serve, station):
    # DNS rebinding: a web page whose name now resolves to 127.0.0.1 is "same-origin" to itself.
    api = await serve()
    rebound = {"Host": f"evil.example:{api.port}", "Origin": f"http://evil.example:{api.port}"}
    response = await send(api.port, "POST", "/api/sim/token", TAP,
                          Content_Type="application/json", **rebound)
    assert response.status == 403 and "Host: evil.example" in response.json["error"]
    response = await send(api.port, "GET", "/api/status", **rebound)
    assert (response.status, response.json) == (200, without_id_tags(STATUS))
    assert station.calls == [("status",)]


# --- the token ------------------------------------------------------------------------------------


async def test_beyond_loopback_changing_state_needs_the_token(serve, station):
    api = await serve("0.0.0.0", token=TOKEN)
    response = await json_post(api.port, "/api/sim/token", TAP)
    assert response.status == 401 and "[api] token" in response.json["error"]
    assert response.headers["www-authenticate"].startswith("Bearer")
    response = await json_post(api.port, "/api/sim/token", TAP, Authorization="Bearer wrong")
    assert response.status == 401 and TOKEN not in response.raw_body.decode()
    response = await json_post(api.port, "/api/sim/token", TAP, Authorization=f"Basic {TOKEN}")
    assert response.status == 401
    assert station.calls == []
    response = await json_post(api.port, "/api/sim/token", TAP, Authorization=f"Bearer {TOKEN}")
    assert (response.status, response.json) == (200, {"ok": True})
    assert station.calls == [("token", "04A1B2C3")]


async def test_beyond_loopback_without_a_token_nothing_can_be_changed(serve, station):
    api = await serve("0.0.0.0")
    response = await json_post(api.port, "/api/sim/fault",
                               {"fault": "emergency_stop", "active": True})
    assert response.status == 403 and "without an [api] token" in response.json["error"]
    response = await send(api.port, "GET", "/api/status", Host=f"127.0.0.1:{api.port}")
    assert (response.status, response.json) == (200, without_id_tags(STATUS))
    assert station.calls == [("status",)]


async def test_a_token_set_on_loopback_is_needed_there_too(serve, station):
    api = await serve(token=TOKEN)
    assert (await json_post(api.port, "/api/sim/ev", {"state": "C"})).status == 401
    response = await json_post(api.port, "/api/sim/ev", {"state": "C"},
                               Authorization=f"Bearer {TOKEN}")
    assert response.status == 200
    assert station.calls == [("ev", 1, "C", None)]


async def test_id_tags_are_shown_only_to_an_authenticated_client(serve, station):
    api = await serve("0.0.0.0", token=TOKEN)
    host = f"127.0.0.1:{api.port}"
    response = await send(api.port, "GET", "/api/status", Host=host)
    assert (response.status, response.json) == (200, without_id_tags(STATUS))
    assert "04A1B2C3" not in response.raw_body.decode()
    response = await send(api.port, "GET", "/api/status", Host=host,
                          Authorization=f"Bearer {TOKEN}")
    assert (response.status, response.json) == (200, STATUS)
    response = await send(api.port, "GET", "/api/status", Host=host, Authorization="Bearer no")
    assert response.status == 401


async def test_pievse_status_and_sim_send_the_token_of_their_config(serve, station, tmp_path,
                                                                    capsys):
    api = await serve("0.0.0.0", token=TOKEN)
    config = tmp_path / "config.toml"
    config.write_text('[charge_point]\nid = "CP1"\n[ocpp]\nurl = "ws://csms/ocpp"\n'
                      f'[api]\nlisten = "0.0.0.0:{api.port}"\ntoken = "{TOKEN}"\n')
    assert await run_command("sim", "tap", "USER-42", "--config", str(config)) == 0
    assert station.calls == [("token", "USER-42")]
    assert await run_command("status", "--config", str(config)) == 0
    assert "for id tag 04A1B2C3" in capsys.readouterr().out
    # Without the config, no token: the change is refused and says what it needs.
    assert await run_command("sim", "tap", "USER-42", "--api", f"127.0.0.1:{api.port}") == 1
    assert "needs the [api] token" in capsys.readouterr().err
    assert station.calls == [("token", "USER-42"), ("status",)]


# --- the simulation routes ------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "body", "why"), [
    ("/api/sim/ev", {"state": "C"}, "no simulated car"),
    ("/api/sim/token", TAP, "card reader of this station is not simulated"),
    ("/api/sim/fault", {"fault": "rcd", "active": True}, "no board of this station is simulated"),
])
async def test_sim_endpoints_exist_only_when_their_part_is_simulated(serve, station, path, body,
                                                                     why):
    others = {sim for sim in Simulation if sim.path != path}
    api = await serve(simulations=others)
    response = await json_post(api.port, path, body)
    assert response.status == 404 and why in response.json["error"]
    assert station.calls == []


async def test_a_server_started_without_simulations_has_no_sim_routes(station):
    api = ApiServer(station, "127.0.0.1", 0)
    await api.start()
    try:
        for sim in Simulation:
            assert (await json_post(api.port, sim.path, {})).status == 404
        assert (await json_post(api.port, "/api/status", {})).status == 405
    finally:
        await api.stop()
    assert station.calls == []


async def test_the_status_page_is_served_whoever_links_to_it(serve):
    api = await serve("0.0.0.0", token=TOKEN)
    page = await send(api.port, "GET", "/", Host=f"127.0.0.1:{api.port}",
                      Sec_Fetch_Site="cross-site", Sec_Fetch_Mode="navigate")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")


async def test_a_daemon_hides_id_tags_when_asked(csms, start_station):
    daemon = await start_station()
    daemon.hardware.simulated.evs[1].set_state("C")
    daemon.hardware.simulated.reader.present("USER-42")
    await eventually(lambda: daemon.station.connector(1).transaction, what="a session")
    assert daemon.status(True)["connectors"][0]["transaction"]["id_tag"] == "USER-42"
    assert "id_tag" not in daemon.status(False)["connectors"][0]["transaction"]
    assert "USER-42" not in json.dumps(daemon.status(False))



# --- the config ---------------------------------------------------------------------------------

BASE = '[charge_point]\nid = "CP1"\n[ocpp]\nurl = "ws://csms/ocpp"\n[api]\n'


@pytest.mark.parametrize("listen", ["0.0.0.0:8180", "[::]:8180", "192.168.1.20:8180",
                                    "wallbox.local:8180"])
def test_listening_beyond_loopback_without_a_token_is_a_config_error_naming_the_key(listen):
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + f'listen = "{listen}"\n')
    [problem] = caught.value.problems
    assert problem.startswith(f'[api] listen = "{listen}"') and "[api] token" in problem
    config = parse_config(BASE + f'listen = "{listen}"\ntoken = "{TOKEN}"\n')
    assert (config.api.listen, config.api.token) == (listen, TOKEN)


@pytest.mark.parametrize("listen", ["127.0.0.1:8180", "127.0.1.1:8180", "[::1]:8180",
                                    "localhost:8180", ""])
def test_on_loopback_no_token_is_needed(listen):
    assert parse_config(BASE + f'listen = "{listen}"\n').api.token == ""


@pytest.mark.parametrize("token", ["short", "sixteen chars ok", "0123456789abcdef\u00e9",
                                   "0123456789abcdef\t"])
def test_a_weak_or_unsendable_token_is_refused_without_being_shown(token):
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + f'listen = "0.0.0.0:8180"\ntoken = {json.dumps(token)}\n')
    assert caught.value.problems[0].startswith("[api] token = (hidden): must")
    assert token not in str(caught.value)


def test_the_token_is_a_secret_key():
    config = parse_config(BASE + f'listen = "0.0.0.0:8180"\ntoken = "{TOKEN}"\n')
    assert ("api", "token") in config.secret_keys()


async def test_beyond_loopback_a_limit_needs_the_token(serve, station):
    api = await serve("0.0.0.0", token=TOKEN)
    response = await json_post(api.port, "/api/limit", {"amps": 10})
    assert response.status == 401
    response = await send(api.port, "DELETE", "/api/limit", Host=f"127.0.0.1:{api.port}")
    assert response.status == 401
    assert station.calls == []
    response = await json_post(api.port, "/api/limit", {"amps": 10},
                               Authorization=f"Bearer {TOKEN}")
    assert response.status == 200 and station.calls == [("limit", None, 10.0)]
    # A DELETE has no body to declare; the token is all it needs.
    response = await send(api.port, "DELETE", "/api/limit", Host=f"127.0.0.1:{api.port}",
                          Authorization=f"Bearer {TOKEN}")
    assert response.status == 200 and station.calls[-1] == ("limit", None, None)


@pytest.mark.parametrize(("path", "body", "call"), [
    ("/api/stop", {"connector": 1}, ("stop", 1)),
    ("/api/enable", {"connector": 1, "enabled": False}, ("enable", 1, False)),
])
async def test_beyond_loopback_stop_and_enable_need_the_token(serve, station, path, body, call):
    api = await serve("0.0.0.0", token=TOKEN, controls=station)
    response = await json_post(api.port, path, body)
    assert response.status == 401 and "[api] token" in response.json["error"]
    response = await json_post(api.port, path, body, Origin="http://evil.example",
                               Authorization=f"Bearer {TOKEN}")
    assert response.status == 403
    assert station.calls == []
    response = await json_post(api.port, path, body, Authorization=f"Bearer {TOKEN}")
    assert response.status == 200 and station.calls == [call]


async def test_a_cross_site_request_cannot_set_a_limit(serve, station):
    api = await serve()
    response = await json_post(api.port, "/api/limit", {"amps": 10},
                               Origin="http://evil.example")
    assert response.status == 403
    response = await send(api.port, "DELETE", "/api/limit", Host=f"127.0.0.1:{api.port}",
                          Sec_Fetch_Site="cross-site")
    assert response.status == 403
    response = await send(api.port, "POST", "/api/limit", {"amps": 10},
                          Host=f"127.0.0.1:{api.port}", Content_Type="text/plain")
    assert response.status == 415
    assert station.calls == []


async def test_beyond_loopback_the_charging_mode_needs_the_token(serve, station):
    api = await serve("0.0.0.0", token=TOKEN)
    response = await json_post(api.port, "/api/mode", {"mode": "pv"})
    assert response.status == 401 and station.calls == []
    response = await json_post(api.port, "/api/mode", {"mode": "pv"},
                               Origin="http://evil.example", Authorization=f"Bearer {TOKEN}")
    assert response.status == 403 and station.calls == []
    response = await json_post(api.port, "/api/mode", {"mode": "pv"},
                               Authorization=f"Bearer {TOKEN}")
    assert response.status == 200 and station.calls == [("mode", "pv")]
