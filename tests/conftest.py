"""Fixtures shared by the end-to-end tests: a CSMS on 127.0.0.1 and charge points that talk to it.

Everything is real: the embedded CSMS listens on a loopback port, the daemon connects to it over
websockets, the simulated hardware drivers stand in for the board, the meter and the card reader.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from pievse.aio import FakeClock
from pievse.app.config import parse_config
from pievse.csms.server import CentralSystem
from pievse.app.daemon import Daemon
from tests.vpcd_card import PcscDaemon, VirtualCard

# --- stand-ins that need system programs (pcscd, socat, ...) --------------------------------------
# A test of a real driver runs against a real stand-in (pcscd with a virtual reader, socat's
# serial pair, chromium, debootstrap, a mosquitto broker). Plain `pytest` requires them: a missing
# stand-in fails the test, so no run can go green by quietly leaving the real drivers out.
# `--standins=skip` skips those tests instead, and the terminal summary says, once, which ones
# and why.

SKIPPED_FOR_A_STANDIN = "--standins=skip: "
_skipped_for_standins: dict[str, list[str]] = {}  # why -> the tests skipped for it


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--standins", choices=("required", "skip"), default="required",
        help="required (the default): a test whose system stand-in (pcscd, socat, chromium, "
             "debootstrap, mosquitto) is missing fails; skip: it is skipped, and the summary "
             "lists it",
    )


def standin_missing(request: pytest.FixtureRequest, why: str) -> None:
    """A stand-in this test needs is not available: fail, or skip under --standins=skip."""
    if request.config.getoption("--standins") == "required":
        pytest.fail(f"stand-in missing: {why} (--standins=skip skips the tests that need it)",
                    pytrace=False)
    pytest.skip(SKIPPED_FOR_A_STANDIN + why)


#: The fixtures of the machine's one pcscd with its virtual readers.
PCSCD_FIXTURES = frozenset({"pcscd", "own_pcscd", "card"})


def pytest_itemcollected(item: pytest.Item) -> None:
    # pcscd's virtual readers listen on fixed ports, so there is one pcscd per machine, held by
    # one test session at a time: under pytest-xdist every test that uses it runs in one worker.
    # Marked as each test is collected, before pytest-xdist reads the groups.
    if PCSCD_FIXTURES & set(getattr(item, "fixturenames", ())):
        item.add_marker(pytest.mark.xdist_group("pcscd"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    # A fuzzer feeds lone surrogates ("\\ud800" is valid JSON); a log line that quotes one ends up
    # in the report's captured log, which pytest-xdist cannot send to the controller as UTF-8: the
    # worker would die with an internal error instead of reporting the test.
    report = yield
    report.sections = [(title, text.encode("utf-8", "backslashreplace").decode("utf-8"))
                       for title, text in report.sections]
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Noted per test from its report, not where the skip is raised: a session fixture raises it
    # once, and pytest hands the same skip to every later test that asks for the fixture.
    if report.skipped and isinstance(report.longrepr, tuple):
        message = report.longrepr[2].removeprefix("Skipped: ")
        if message.startswith(SKIPPED_FOR_A_STANDIN):
            why = message.removeprefix(SKIPPED_FOR_A_STANDIN)
            _skipped_for_standins.setdefault(why, []).append(report.nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _skipped_for_standins:
        return
    terminalreporter.section("stand-ins missing: tests skipped (--standins=skip)", yellow=True)
    for why, nodeids in _skipped_for_standins.items():
        terminalreporter.line(f"{why}: {len(nodeids)} skipped")
        for nodeid in nodeids:
            terminalreporter.line(f"    {nodeid}")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def config_text(sections: dict[str, dict[str, Any]]) -> str:
    lines = []
    for section, keys in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in keys.items()]
        lines.append("")
    return "\n".join(lines)


def station_config(url: str, cp_id: str = "CP1", **sections: dict[str, Any]):
    base: dict[str, dict[str, Any]] = {
        "charge_point": {"id": cp_id},
        "ocpp": {"url": url, "response_timeout": 5},
        "meter": {"interval": 0.2},
        "simulation": {"ev_reaction_delay": 0.2},
        "api": {"listen": ""},
        # In memory unless a test is about what survives a restart (it passes a file).
        "storage": {"path": ":memory:"},
    }
    for name, keys in sections.items():
        base.setdefault(name, {}).update(keys)
    return parse_config(config_text(base), source="<test>")


async def eventually(condition: Callable[[], Any], what: str = "", timeout: float = 10.0) -> Any:
    """Wait until ``condition()`` is truthy; a generous timeout, no timing assertion."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = condition()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.02)


@pytest.fixture
def fake_clock() -> FakeClock:
    """Time that passes only when the test says so (``await fake_clock.advance(seconds)``).
    A test that asks for it gets the ``csms`` and the stations of ``start_station`` on it too;
    sockets stay real."""
    return FakeClock()


def clock_of(request: pytest.FixtureRequest) -> FakeClock | None:
    """The test's fake clock, if it asked for one."""
    if "fake_clock" not in request.fixturenames:
        return None
    return request.getfixturevalue("fake_clock")


@pytest.fixture
async def csms(request: pytest.FixtureRequest) -> AsyncIterator[CentralSystem]:
    central = CentralSystem(host="127.0.0.1", port=0, heartbeat_interval=300,
                            clock=clock_of(request))
    await central.start()
    try:
        yield central
    finally:
        await central.stop()


StationFactory = Callable[..., Awaitable[Daemon]]


async def run_out(clock: FakeClock, task: asyncio.Task, seconds: float = 60.0) -> None:
    """Let fake time pass until ``task`` ends (a daemon that is stopping waits on its clock
    for the last transaction messages)."""
    for _ in range(int(seconds)):
        if task.done():
            return
        await clock.advance(1.0)
        await asyncio.sleep(0.01)


@pytest.fixture
async def start_station(request: pytest.FixtureRequest,
                        csms: CentralSystem) -> AsyncIterator[StationFactory]:
    """Start a daemon with simulated hardware against the ``csms`` fixture.

    Keyword arguments: ``cp_id``, config sections as dicts (``charge_point={...}``), ``keys`` for
    OCPP configuration keys set before start, and ``wait_registered`` (default True).
    """
    running: list[tuple[Daemon, asyncio.Task]] = []
    clock = clock_of(request)

    async def start(
        cp_id: str = "CP1",
        keys: dict[str, Any] | None = None,
        wait_registered: bool = True,
        notifier: Any = None,
        **sections: dict[str, Any],
    ) -> Daemon:
        config = station_config(csms.url, cp_id, **sections)
        daemon = Daemon(config, configuration_overrides=keys, notifier=notifier, clock=clock)
        task = asyncio.create_task(daemon.run())
        running.append((daemon, task))
        await asyncio.wait_for(daemon.started.wait(), 10)
        if wait_registered:
            await eventually(lambda: daemon.protocol.registered, what="BootNotification Accepted")
            # The initial StatusNotifications have reached the CSMS.
            await eventually(
                lambda: csms.charge_points.get(cp_id) is not None
                and 1 in csms.charge_points[cp_id].statuses,
                what="initial StatusNotification",
            )
        return daemon

    yield start
    hung = []
    for daemon, task in running:
        daemon.stop()
        try:
            if clock is not None:
                await run_out(clock, task)
            await asyncio.wait_for(task, 10)
        except TimeoutError:
            hung.append(daemon.config.charge_point.id)
        except Exception:  # noqa: BLE001 - how a daemon ended is each test's own business
            pass
    # A daemon that does not stop when asked hangs systemd's stop as well.
    assert not hung, f"daemon(s) {hung} did not stop within 10 s of being asked"


# --- pcscd with vsmartcard's virtual reader: one per machine, so one fixture for the session ---


@pytest.fixture(scope="session")
def pcscd(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[PcscDaemon]:
    why = PcscDaemon.missing()
    if why is not None:
        standin_missing(request, why)
    try:
        import smartcard  # noqa: F401
    except ImportError:
        standin_missing(request, "pyscard not installed: pip install -e '.[pi]'")
    daemon = PcscDaemon(tmp_path_factory.mktemp("pcscd"))
    if not daemon.acquire(timeout=90):
        standin_missing(request, "another test session kept pcscd's virtual readers for 90 s")
    try:
        daemon.ensure_running()
        yield daemon
        daemon.shutdown()
    finally:
        daemon.release()


@pytest.fixture
def own_pcscd(request: pytest.FixtureRequest, pcscd: PcscDaemon) -> Iterator[PcscDaemon]:
    """The session's pcscd, for a test that stops or renames it; put back as it was after."""
    if not pcscd.owned:
        standin_missing(request, f"pcscd (pid {pcscd.running_pid()}) was started outside the "
                                 "tests, which cannot stop it: stop it to run these")
    yield pcscd
    if not pcscd.running:
        pcscd.start()
    elif pcscd.reader_name != PcscDaemon.READER_NAME:
        pcscd.restart()


@pytest.fixture
def card(pcscd: PcscDaemon) -> Iterator[Callable[[], VirtualCard]]:
    """Make cards; every one is lifted off its reader at the end, and the next test begins
    once pcscd has seen them go."""
    made: list[VirtualCard] = []

    def make() -> VirtualCard:
        made.append(VirtualCard())
        return made[-1]

    yield make
    for each in made:
        each.remove()
    if pcscd.running:
        pcscd.wait_empty()


# --- a Mosquitto broker of the test's own, on a free port of 127.0.0.1 ----------------------------


@pytest.fixture
async def mosquitto(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Any]:
    from tests.mqtt_standin import Mosquitto

    why = Mosquitto.missing()
    if why is not None:
        standin_missing(request, why)
    broker = Mosquitto(tmp_path)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.kill()
