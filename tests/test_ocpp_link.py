"""The websocket link from the charge point to the central system, against real servers.

Each scenario runs a websockets server on 127.0.0.1 (an ephemeral port) standing in for the CSMS:
it records every opening handshake, and can close connections, refuse the upgrade with an HTTP
status, or select no subprotocol. Backoff is shrunk to milliseconds so reconnection is quick,
except where the backoff itself is checked: there the link waits on a fake clock.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

import pytest
from websockets.asyncio.server import serve

from pievse.aio import FakeClock
from pievse.protocol.common.link import OcppLink, charge_point_url, describe_connect_failure
from tests.conftest import eventually
from tests.ports import free_port

WAIT = 10.0
QUICK = {"backoff_initial": 0.01, "backoff_max": 0.05}


class CentralSystemServer:
    """A websocket server on 127.0.0.1 that records handshakes and holds connections open."""

    def __init__(self, *, subprotocols: list[str] | None = None,
                 refuse_with: HTTPStatus | None = None, port: int = 0) -> None:
        self.subprotocols = subprotocols if subprotocols is not None else ["ocpp1.6"]
        self.refuse_with = refuse_with
        self.requested_port = port
        self.paths: list[str] = []
        self.offered: list[str | None] = []
        self.connections: list[Any] = []
        self.server: Any = None

    async def __aenter__(self) -> CentralSystemServer:
        self.server = await serve(
            self._hold,
            "127.0.0.1",
            self.requested_port,
            subprotocols=self.subprotocols or None,
            process_request=self._handshake,
        )
        return self

    async def __aexit__(self, *_: Any) -> None:
        self.server.close()
        await self.server.wait_closed()

    @property
    def port(self) -> int:
        return self.server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def _handshake(self, connection: Any, request: Any) -> Any:
        self.paths.append(request.path)
        self.offered.append(request.headers.get("Sec-WebSocket-Protocol"))
        if self.refuse_with is not None:
            return connection.respond(self.refuse_with, f"{self.refuse_with.phrase}\n")
        return None

    async def _hold(self, connection: Any) -> None:
        self.connections.append(connection)
        await connection.wait_closed()


class Sessions:
    """A session factory that records each connection it is given and runs until it closes."""

    def __init__(self, fail_first: bool = False) -> None:
        self.connections: list[Any] = []
        self.fail_first = fail_first

    async def __call__(self, connection: Any) -> None:
        self.connections.append(connection)
        if self.fail_first and len(self.connections) == 1:
            raise RuntimeError("a bug in the session")
        await connection.wait_closed()


@pytest.fixture
async def running() -> AsyncIterator[Any]:
    """Start links; each is closed (and must end cleanly) when the test ends."""
    started: list[tuple[OcppLink, asyncio.Task]] = []

    def start(link: OcppLink) -> asyncio.Task:
        task = asyncio.create_task(link.run())
        started.append((link, task))
        return task

    yield start
    for link, task in started:
        await asyncio.wait_for(link.close(), WAIT)
        assert task.done()


def link_lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "pievse.ocpp.link" and text in r.getMessage()]


# --- the URL ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "charge_point_id", "expected"), [
    ("ws://csms:9000/ocpp", "CP1", "ws://csms:9000/ocpp/CP1"),
    ("ws://csms:9000/ocpp/", "CP1", "ws://csms:9000/ocpp/CP1"),
    ("wss://csms.example", "CP1", "wss://csms.example/CP1"),
    ("ws://csms:9000/ocpp", "Garage 1/left", "ws://csms:9000/ocpp/Garage%201%2Fleft"),
    ("ws://user:secret@csms:9000/ocpp?tenant=7", "CP1",
     "ws://user:secret@csms:9000/ocpp/CP1?tenant=7"),
])
def test_the_charge_point_id_becomes_the_last_path_segment(url, charge_point_id, expected):
    assert charge_point_url(url, charge_point_id) == expected


@pytest.mark.parametrize(("url", "expected"), [
    ("wss://csms.example/ocpp/{id}/", "wss://csms.example/ocpp/CP%201/"),
    ("ws://csms:9000/ocpp/{id}/ws", "ws://csms:9000/ocpp/CP%201/ws"),
    ("ws://csms:9000/ocpp?cp={id}&tenant=7", "ws://csms:9000/ocpp?cp=CP%201&tenant=7"),
])
def test_an_id_placeholder_puts_the_id_where_arthexis_wants_it(url, expected):
    """arthexis serves charge points only at …/ocpp/<id>/, trailing slash included."""
    assert charge_point_url(url, "CP 1") == expected


@pytest.mark.parametrize(("url", "charge_point_id"), [
    ("http://csms:9000/ocpp", "CP1"),
    ("ws://{id}.csms:9000/ocpp", "CP1"),
    ("csms:9000", "CP1"),
    ("ws://csms:9000/ocpp", ""),
])
def test_a_url_that_is_not_a_websocket_url_is_refused_at_once(url, charge_point_id):
    with pytest.raises(ValueError):
        OcppLink(url, charge_point_id, session_factory=Sessions())


def test_connect_failures_are_described_by_their_cause():
    refused = ConnectionRefusedError(111, "Connection refused")
    dns = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    untrusted = ssl.SSLCertVerificationError(1, "certificate verify failed")
    untrusted.verify_message = "self-signed certificate"

    assert "refused" in describe_connect_failure(refused)
    assert "DNS" in describe_connect_failure(dns)
    assert "self-signed certificate" in describe_connect_failure(untrusted)
    assert "10 s" in describe_connect_failure(TimeoutError(), open_timeout=10)


# --- connecting ---------------------------------------------------------------------------------


async def test_the_link_offers_ocpp16_on_the_charge_point_path_and_runs_the_session(running):
    sessions = Sessions()
    async with CentralSystemServer() as csms:
        link = OcppLink(csms.url + "/", "CP-001", session_factory=sessions, **QUICK)
        running(link)

        assert await link.wait_connected(WAIT)
        await eventually(lambda: sessions.connections, "the session to start")

        assert link.connected
        assert csms.paths == ["/ocpp/CP-001"]
        assert csms.offered == ["ocpp1.6"]
        assert sessions.connections[0].subprotocol == "ocpp1.6"


async def test_a_csms_that_selects_no_subprotocol_gets_no_session(running, caplog):
    sessions = Sessions()
    async with CentralSystemServer(subprotocols=[]) as csms:
        link = OcppLink(csms.url, "CP1", session_factory=sessions, **QUICK)
        running(link)

        await eventually(lambda: len(csms.paths) >= 3, "three attempts")

        assert sessions.connections == []
        assert not link.connected
        assert link_lines(caplog, "did not accept subprotocol ocpp1.6")


async def test_the_link_reconnects_after_the_csms_closes_the_connection(running):
    sessions = Sessions()
    async with CentralSystemServer() as csms:
        link = OcppLink(csms.url, "CP1", session_factory=sessions, **QUICK)
        running(link)
        await eventually(lambda: csms.connections, "the first connection")

        await csms.connections[0].close(1001, "CSMS restarting")

        await eventually(lambda: len(sessions.connections) == 2, "a second session")
        assert await link.wait_connected(WAIT)
        assert csms.paths == ["/ocpp/CP1", "/ocpp/CP1"]


async def test_a_failing_session_is_logged_and_the_link_reconnects(running, caplog):
    sessions = Sessions(fail_first=True)
    async with CentralSystemServer() as csms:
        link = OcppLink(csms.url, "CP1", session_factory=sessions, **QUICK)
        running(link)

        await eventually(lambda: len(sessions.connections) == 2, "a second session")

        assert [r for r in caplog.records if r.exc_info and r.name == "pievse.ocpp.link"]


async def test_the_link_backs_off_while_connections_are_refused_and_connects_once_possible(
    running, caplog
):
    port = free_port()  # nothing listens on it (for now)
    clock = FakeClock()
    attempts: list[float] = []
    sessions = Sessions()
    link = OcppLink(f"ws://127.0.0.1:{port}/ocpp", "CP1", session_factory=sessions,
                    backoff_initial=1.0, backoff_max=8.0, clock=clock, rng=random.Random(7),
                    on_attempt=lambda succeeded: attempts.append(clock.monotonic()))
    running(link)
    await eventually(lambda: attempts, "the first attempt")

    # Full jitter: each wait is drawn between zero and a ceiling that doubles up to the maximum.
    jitter = random.Random(7)
    for ceiling in (1.0, 2.0, 4.0, 8.0, 8.0):
        wait = jitter.uniform(0.0, ceiling)
        await eventually(lambda: clock.next_timer is not None, "the link waiting")
        assert clock.next_timer == pytest.approx(attempts[-1] + wait)
        count = len(attempts)
        await clock.advance(clock.next_timer - clock.monotonic())
        await eventually(lambda: len(attempts) > count, "the next attempt")
    assert len(link_lines(caplog, "connection refused")) >= 3
    assert not link.connected

    async with CentralSystemServer(port=port):
        await clock.advance(clock.next_timer - clock.monotonic())
        assert await link.wait_connected(WAIT)
        await eventually(lambda: sessions.connections, "the session to start")


async def test_an_http_401_is_logged_as_unauthorized_and_retried(running, caplog):
    async with CentralSystemServer(refuse_with=HTTPStatus.UNAUTHORIZED) as csms:
        link = OcppLink(csms.url, "CP1", session_factory=Sessions(), **QUICK)
        running(link)

        await eventually(lambda: len(csms.paths) >= 2, "a second attempt")

        assert link_lines(caplog, "HTTP 401")
        assert not await link.wait_connected(0)


async def test_wait_connected_gives_up_after_its_timeout():
    link = OcppLink("ws://127.0.0.1:9/ocpp", "CP1", session_factory=Sessions())

    assert await link.wait_connected(0.01) is False


# --- keepalive and shutdown ---------------------------------------------------------------------


async def test_a_new_ping_interval_applies_from_the_next_connection(running):
    sessions = Sessions()
    async with CentralSystemServer() as csms:
        link = OcppLink(csms.url, "CP1", session_factory=sessions, ping_interval=60, **QUICK)
        running(link)
        await eventually(lambda: sessions.connections, "the first session")

        link.set_ping_interval(0)  # WebSocketPingInterval = 0: no pings
        first = sessions.connections[0]
        assert first.ping_interval == 60
        await csms.connections[0].close()

        await eventually(lambda: len(sessions.connections) == 2, "a second session")
        assert sessions.connections[1].ping_interval is None


async def test_close_says_goodbye_to_the_csms_and_ends_run_without_error(running):
    sessions = Sessions()
    async with CentralSystemServer() as csms:
        link = OcppLink(csms.url, "CP1", session_factory=sessions, **QUICK)
        task = running(link)
        await eventually(lambda: csms.connections, "a connection")

        await asyncio.wait_for(link.close(), WAIT)

        assert task.done() and not task.cancelled() and task.exception() is None
        assert not link.connected
        await asyncio.wait_for(csms.connections[0].wait_closed(), WAIT)
        assert csms.connections[0].close_code == 1000


async def test_cancelling_run_cancels_it():
    link = OcppLink("ws://127.0.0.1:9/ocpp", "CP1", session_factory=Sessions(), **QUICK)
    task = asyncio.create_task(link.run())
    await asyncio.sleep(0)

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task


async def test_refused_attempts_log_one_line_each_naming_the_cause(running, caplog):
    caplog.set_level(logging.INFO, logger="pievse.ocpp.link")
    port = free_port()
    link = OcppLink(f"ws://127.0.0.1:{port}/ocpp", "CP1", session_factory=Sessions(), **QUICK)
    running(link)

    await eventually(lambda: len(link_lines(caplog, "cannot connect")) >= 2, "two attempts")

    lines = link_lines(caplog, "cannot connect")
    assert all("connection refused" in line and "retrying in" in line for line in lines)
