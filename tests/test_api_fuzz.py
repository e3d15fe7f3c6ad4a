"""A fuzzer for the local API's bodies: random JSON (nested, huge numbers, wrong types, unicode,
NUL) and bytes that are not JSON at all, sent to every route through a real socket.

Whatever arrives, the answer is a 2xx or a 4xx with a JSON object body (a 4xx says why in
``error``), never a 500 or a traceback in the log; and a 4xx changes nothing in the station. The
server runs on an event loop of its own thread, so that hypothesis drives it from plain blocking
sockets; the examples are bounded to run in CI.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pievse.app.daemon import Daemon
from pievse.core.hardware import FaultKind
from pievse.local_api.power import PowerTraces
from pievse.local_api.server import ApiServer, Simulation
from pievse.local_api.wire import MAX_BODY_BYTES
from tests.conftest import station_config
from tests.test_api import Station

# --- what is sent ---------------------------------------------------------------------------------

# Any code point, NUL and lone surrogates included.
TEXT = st.text(st.characters(exclude_categories=()), max_size=24)
SCALARS = (st.none() | st.booleans() | st.integers(-(10**60), 10**60)
           | st.floats(allow_nan=True, allow_infinity=True) | TEXT)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(TEXT, inner, max_size=4), max_leaves=16)


def mostly(usual: st.SearchStrategy, other: st.SearchStrategy) -> st.SearchStrategy:
    """``usual`` two times in three, else ``other``."""
    return st.integers(0, 2).flatmap(lambda pick: other if pick == 0 else usual)


# The fields the routes know, with values near and far from what they allow.
FIELDS = {
    "connector": mostly(st.integers(-1, 3), JSON),
    "state": mostly(st.sampled_from(["A", "B", "C", "D", "c", "", "A\x00"]), JSON),
    "max_current": mostly(st.floats(0, 100) | st.integers(0, 100) | st.none(), JSON),
    "id_token": mostly(st.sampled_from(["04A1B2C3", "USER-42", "x" * 21, "a b", "\x00"]) | TEXT,
                       JSON),
    "fault": mostly(st.sampled_from([kind.value for kind in FaultKind] + ["smoke"]), JSON),
    "active": mostly(st.booleans(), JSON),
    "amps": mostly(st.floats(-1, 100) | st.integers(-1, 100) | st.none(), JSON),
    "mode": mostly(st.sampled_from(["fast", "pv", "min+pv", "PV", "min pv", "", "pv\x00"]),
                   JSON),
    "enabled": mostly(st.booleans(), JSON),
}
ROUTE_FIELDS = {"/api/limit": ("connector", "amps"), "/api/mode": ("mode",),
                "/api/stop": ("connector",), "/api/enable": ("connector", "enabled"),
                "/api/sim/ev": ("connector", "state", "max_current"),
                "/api/sim/token": ("id_token",), "/api/sim/fault": ("connector", "fault", "active")}


def _encoded(value: Any, ascii_only: bool) -> bytes:
    return json.dumps(value, allow_nan=True, ensure_ascii=ascii_only).encode(
        "utf-8", "surrogatepass")


BODIES = st.one_of(
    st.builds(_encoded, JSON, st.booleans()),
    st.integers(1, 6000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 2000).map(lambda n: b'{"state": ' + b'{"a": ' * n + b"1" + b"}" * n + b"}"),
    st.integers(30, 6000).map(lambda n: b'{"connector": ' + b"9" * n + b"}"),
    st.integers(300, 400).map(lambda n: b'{"max_current": 1e%d}' % n),
    st.binary(max_size=64),
    st.sampled_from([b"", b"NaN", b'{"max_current": -Infinity}', b"\x00", b'{"state": "C\x00"}',
                     b'{"id_token": "\\ud800"}', b'{"state": "C", "state": "B"}']),
)
# Mostly what reaches a body's decoding: a JSON POST to a route that takes one.
METHODS = ["POST"] * 8 + ["GET", "PUT", "DELETE"]
ROUTES = ["/api/limit", "/api/mode", "/api/stop", "/api/enable", "/api/sim/ev", "/api/sim/token",
          "/api/sim/fault"] * 3 + ["/api/status", "/api/power", "/", "/api/nope"]
CONTENT_TYPES = ["application/json"] * 6 + ["application/json; charset=utf-8", "text/plain",
                                            None]


def http_request(method: str, path: str, body: bytes, content_type: str | None) -> bytes:
    if path == "/" and method == "GET":
        method = "POST"  # GET / is the HTML page; its JSON answers are the other methods'
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    if content_type:
        head.append(f"Content-Type: {content_type}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body




def bodies_for(route: str) -> st.SearchStrategy[bytes]:
    """Any body, or one of the route's own fields with values near and far from right."""
    fields = ROUTE_FIELDS.get(route, tuple(FIELDS))
    near = st.fixed_dictionaries({}, optional={name: FIELDS[name] for name in fields})
    return mostly(st.builds(_encoded, near, st.booleans()), BODIES)


REQUESTS = st.sampled_from(ROUTES).flatmap(lambda route: st.builds(
    http_request, st.sampled_from(METHODS), st.just(route), bodies_for(route),
    st.sampled_from(CONTENT_TYPES)))


# --- the server on its own thread ---------------------------------------------------------------


class LoopThread:
    """An event loop running in a thread of its own; ``run`` waits for a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class Complaints(logging.Handler):
    """What the API and asyncio log at WARNING or above: a traceback lands here."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("pievse.api", "asyncio")):
            self.records.append(record)


@pytest.fixture(scope="module")
def complaints() -> Iterator[Complaints]:
    handler = Complaints()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


@pytest.fixture(scope="module")
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(scope="module")
def served(loop_thread: LoopThread) -> Iterator[tuple[ApiServer, Station]]:
    station = Station()

    async def start() -> ApiServer:
        api = ApiServer(station, "127.0.0.1", 0, simulations=Simulation, controls=station,
                        power=PowerTraces())
        await api.start()
        return api

    api = loop_thread.run(start())
    yield api, station
    loop_thread.run(api.stop())


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def answer_of(raw: bytes) -> tuple[int, dict[str, Any]]:
    """The status and JSON object of a response, asserting that it is one."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("ascii").split("\r\n")
    status = int(status_line.split(" ")[1])
    headers = {name.lower(): value.strip() for name, _, value in
               (line.partition(":") for line in lines)}
    assert 200 <= status < 300 or 400 <= status < 500, raw[:300]
    assert headers["content-type"] == "application/json", raw[:300]
    assert int(headers["content-length"]) == len(body)
    answer = json.loads(body)
    assert isinstance(answer, dict)
    if status >= 400:
        assert isinstance(answer.get("error"), str) and answer["error"], answer
    return status, answer


FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(REQUESTS)
def test_random_bodies_never_get_a_500_and_a_4xx_changes_nothing(served, complaints, data):
    api, station = served
    complaints.records.clear()
    calls_before = len(station.calls)
    status, _ = answer_of(exchange(api.port, data))
    if status >= 400:
        assert len(station.calls) == calls_before, data[:200]
    assert complaints.records == [], [r.getMessage() for r in complaints.records]


@FUZZ
@given(st.sampled_from(["POST", "DELETE"]), bodies_for("/api/limit"))
def test_a_limit_that_reaches_the_station_is_always_one_it_can_take(served, complaints, method,
                                                                     body):
    api, station = served
    calls_before = len(station.calls)
    status, _ = answer_of(exchange(api.port, http_request(method, "/api/limit", body,
                                                          "application/json")))
    if status == 200:
        [(what, connector, amps)] = station.calls[calls_before:]
        assert what == "limit"
        assert connector is None or (type(connector) is int and 1 <= connector <= 8)
        assert amps is None or (type(amps) is float and 0 <= amps <= 80)
        assert method == "POST" or amps is None
    else:
        assert len(station.calls) == calls_before
    assert complaints.records == []


@FUZZ
@given(bodies_for("/api/mode"))
def test_a_mode_that_reaches_the_station_is_always_one_it_knows(served, complaints, body):
    api, station = served
    calls_before = len(station.calls)
    status, _ = answer_of(exchange(api.port, http_request("POST", "/api/mode", body,
                                                          "application/json")))
    if status == 200:
        assert station.calls[calls_before:] in ([("mode", "fast")], [("mode", "pv")],
                                               [("mode", "min+pv")])
    else:
        assert len(station.calls) == calls_before
    assert complaints.records == []


# --- against a daemon with simulated drivers ------------------------------------------------------


@pytest.fixture(scope="module")
def daemon(loop_thread: LoopThread) -> Iterator[Daemon]:
    # Nobody listens at the CSMS address: the station runs offline, and nothing else moves it.
    config = station_config("ws://127.0.0.1:9/ocpp", api={"listen": "127.0.0.1:0"},
                            simulation={"ev_reaction_delay": 0.0})
    tasks: list[asyncio.Task] = []

    async def start() -> Daemon:
        station = Daemon(config)
        tasks.append(asyncio.create_task(station.run()))
        await asyncio.wait_for(station.started.wait(), 10)
        return station

    async def stop() -> None:
        station.stop()
        await asyncio.wait_for(tasks[0], 20)

    station = loop_thread.run(start())
    yield station
    loop_thread.run(stop())


class Taps(logging.Handler):
    """Counts the cards the daemon reads."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("card presented"):
            self.count += 1


@pytest.fixture(scope="module")
def taps() -> Iterator[Taps]:
    handler = Taps()
    logger = logging.getLogger("pievse")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def snapshot(daemon: Daemon, taps: Taps) -> tuple:
    """Everything a request could change: the simulated parts, the connectors, the cards read."""
    sim = daemon.hardware.simulated
    evs = {n: (ev.plugged, ev.wants_power, ev.max_current_a) for n, ev in sim.evs.items()}
    faults = {n: board.faults for n, board in sim.boards.items()}
    connectors = {n: (c.status, c.pilot, c.contactor_closed, c.offered_a, dict(c.limits),
                      c.transaction and (c.transaction.transaction_id, c.transaction.id_token))
                  for n, c in daemon.station.connectors.items()}
    return evs, faults, connectors, taps.count


def settled(loop_thread: LoopThread, daemon: Daemon, taps: Taps) -> tuple:
    """The snapshot once what a change set going has run its course."""

    async def steady() -> tuple:
        last = snapshot(daemon, taps)
        for _ in range(100):
            await asyncio.sleep(0.05)
            now = snapshot(daemon, taps)
            if now == last:
                return now
            last = now
        raise AssertionError("the station does not settle")

    return loop_thread.run(steady())


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(REQUESTS)
def test_random_bodies_change_nothing_in_a_daemon_on_a_4xx(loop_thread, daemon, taps,
                                                          complaints, data):
    complaints.records.clear()
    before = settled(loop_thread, daemon, taps)
    status, _ = answer_of(exchange(daemon.api.port, data))
    if status >= 400:
        assert settled(loop_thread, daemon, taps) == before, data[:200]
    assert complaints.records == [], [r.getMessage() for r in complaints.records]


@FUZZ
@given(st.sampled_from(["/api/stop", "/api/enable"]).flatmap(
    lambda route: st.tuples(st.just(route), bodies_for(route))))
def test_a_control_that_reaches_the_station_is_always_one_it_can_take(served, complaints, sent):
    api, station = served
    route, body = sent
    calls_before = len(station.calls)
    status, _ = answer_of(exchange(api.port, http_request("POST", route, body,
                                                          "application/json")))
    if status == 200:
        [call] = station.calls[calls_before:]
        connector = call[1]
        assert connector is None or (type(connector) is int and 1 <= connector <= 8)
        assert call[0] == "stop" and connector is not None or (
            call[0] == "enable" and type(call[2]) is bool)
    else:
        assert len(station.calls) == calls_before
    assert complaints.records == []


def test_the_fuzzed_bodies_fit_the_servers_limit():
    # Deeper or longer bodies would be refused for their size alone and test nothing more.
    assert 2 * 6000 + 20 < MAX_BODY_BYTES and 12 + 7 * 2000 < MAX_BODY_BYTES
