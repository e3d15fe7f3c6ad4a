"""The local API under hostile input: bodies nested or numbered beyond what a field holds, and
clients that send slowly to take every connection (slowloris), on real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

import pytest

from pievse.local_api.server import MAX_CONNECTIONS, REQUEST_TIMEOUT_S, ApiServer, Simulation
from tests.test_api import STATUS, Response, Station, exchange, request, until


@contextlib.asynccontextmanager
async def running(api: ApiServer) -> AsyncIterator[ApiServer]:
    await api.start()
    try:
        yield api
    finally:
        await api.stop()


@pytest.fixture
async def served() -> AsyncIterator[tuple[ApiServer, Station]]:
    station = Station()
    async with running(ApiServer(station, "127.0.0.1", 0, simulations=Simulation)) as api:
        yield api, station

# --- bodies -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw_body", "why"),
    [
        (b"[" * 5000 + b"]" * 5000, "more than 100 levels deep"),
        (b"[" * 50 + b"]" * 50, "50 levels deep"),
        (b'{"state": ' + b"[" * 1000 + b"]" * 1000 + b"}", "more than 100 levels deep"),
        (b'{"state": {"a": [[1]]}}', "4 levels deep"),
    ],
)
async def test_a_nested_json_body_answers_400_not_500(served, caplog, raw_body, why):
    server, station = served
    with caplog.at_level(logging.WARNING):
        response = await request(server.port, "POST", "/api/sim/ev", raw_body=raw_body)
    assert response.status == 400
    assert why in response.json["error"] and "at most 3" in response.json["error"]
    assert station.calls == []
    assert caplog.records == []  # no traceback


async def test_brackets_inside_strings_are_not_nesting(served):
    server, station = served
    for id_token in ("[[[[[[", 'a"{[{[', "\\[[[["):
        response = await request(server.port, "POST", "/api/sim/token", {"id_token": id_token})
        assert response.status == 200, response.json
    assert station.calls == [("token", "[[[[[["), ("token", 'a"{[{['), ("token", "\\[[[[")]


@pytest.mark.parametrize(
    ("raw_body", "why"),
    [
        (b'{"state": "C", "max_current": 1e400}', "too large"),
        (b'{"state": "C", "max_current": -1e400}', "too large"),
        (b'{"state": "C", "connector": ' + b"9" * 5000 + b"}", "more than 40 digits"),
        (b'{"state": "C", "max_current": 0.' + b"1" * 100 + b"}", "more than 40 digits"),
        (b'{"state": "C", "max_current": NaN}', "NaN is not a JSON number"),
        (b'{"state": "C", "max_current": Infinity}', "Infinity is not a JSON number"),
        (b'{"state": "C", "max_current": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"state": "C", "max_current": 1' + b"0" * 39 + b"}", '"max_current" = 1000000000'),
    ],
)
async def test_numbers_beyond_what_a_field_holds_answer_400(served, raw_body, why):
    server, station = served
    response = await request(server.port, "POST", "/api/sim/ev", raw_body=raw_body)
    assert response.status == 400
    assert why in response.json["error"]
    assert station.calls == []


# --- slowloris ----------------------------------------------------------------------------------


async def slow_client(port: int, stop: asyncio.Event, source: str) -> None:
    """A slowloris: keeps a connection open by sending a header line now and then and never
    finishing its request; opens another when the server drops or refuses it."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                           local_addr=(source, 0))
        except OSError:
            await asyncio.sleep(0.2)
            continue
        try:
            writer.write(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            while not stop.is_set() and not reader.at_eof():
                writer.write(b"X-Slow: 1\r\n")
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reader.read(4096), 0.5)
        except ConnectionError:
            pass
        finally:
            writer.close()
        await asyncio.sleep(0.2)


async def test_a_slowloris_does_not_lock_out_the_status_or_the_status_page():
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    async with running(ApiServer(Station(), "127.0.0.1", 0)) as api:
        # From another loopback address, as an attacker on the network is another host.
        attackers = [asyncio.create_task(slow_client(api.port, stop, "127.0.0.2"))
                     for _ in range(2 * MAX_CONNECTIONS)]
        try:
            await until(lambda: api.open_connections >= MAX_CONNECTIONS, "every place taken")
            for _ in range(10):
                started = loop.time()
                response = await request(api.port, "GET", "/api/status")
                assert (response.status, response.json) == (200, STATUS)
                page = Response(await exchange(api.port,
                                               b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
                assert page.status == 200 and page.headers["content-type"].startswith("text/html")
                # Served at once, not once the slow clients time out.
                assert loop.time() - started < REQUEST_TIMEOUT_S / 2
                assert api.open_connections <= MAX_CONNECTIONS + 1
        finally:
            stop.set()
            await asyncio.gather(*attackers, return_exceptions=True)


async def test_a_slow_client_whose_place_is_given_to_another_is_answered_408():
    station = Station()
    async with running(ApiServer(station, "127.0.0.1", 0, max_connections=1)) as api:
        reader, writer = await asyncio.open_connection("127.0.0.1", api.port,
                                                       local_addr=("127.0.0.2", 0))
        writer.write(b"GET /api/status HTTP/1.1\r\n")
        await writer.drain()
        await until(lambda: api.open_connections == 1, "the slow client accepted")
        assert (await request(api.port, "GET", "/api/status")).status == 200
        dropped = Response(await asyncio.wait_for(reader.read(), 30))
        writer.close()
    assert dropped.status == 408 and "given to another" in dropped.json["error"]
    assert station.calls == [("status",)]


async def test_a_client_holding_as_many_connections_as_any_other_gets_no_more():
    async with running(ApiServer(Station(), "127.0.0.1", 0, max_connections=2)) as api:
        held = [await asyncio.open_connection("127.0.0.1", api.port, local_addr=(source, 0))
                for source in ("127.0.0.2", "127.0.0.3")]
        await until(lambda: api.open_connections == 2, "both connections accepted")
        answer = json.loads(Response(await exchange_from("127.0.0.2", api.port)).raw_body)
        for _, writer in held:
            writer.close()
    assert answer == {"error": "too many connections, try again"}


async def exchange_from(source: str, port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        return await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
