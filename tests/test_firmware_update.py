"""OCPP 1.6 UpdateFirmware end to end: pievse downloads a newer pievse, installs it into a venv,
restarts, and reports; a broken download never replaces the version that works.

Everything is real: the wheels are built here from this checkout's own source (only the version
changed, so a wheel is ~100 ms to make instead of a full ``pip wheel``), a stdlib HTTP server on
127.0.0.1 serves them, pip installs them into a throwaway venv (never the one running the tests),
and the embedded CSMS sends UpdateFirmware and records every FirmwareStatusNotification.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import shutil
import socket
import socketserver
import base64
import contextlib
import hashlib
import subprocess
import threading
import time
import venv
import zipfile
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pievse.aio import FakeClock
from pievse.csms.server import CallErrorResponse, CentralSystem
from pievse.services.diagnostics import DiagnosticsUploader
from pievse.drivers.contracts import MeterReading
from pievse.services.firmware import FirmwareStatus, FirmwareUpdater, UpdateRequest
from pievse.services.firmware_rollback import MAX_UNCONFIRMED_STARTS, ROLLBACK_SCRIPT, load_record
from pievse.services.firmware_rollback import restart_argv, save_record
from pievse.core.iec61851 import PilotState
from pievse.protocol.common.link import OcppLink
from pievse.protocol.common.charge_point_parts import ChargePointParts
from pievse.protocol.v16.adapter import ChargePoint16
from pievse.core.authorization import IdToken, IdTokenType
from pievse.core.effects import Effect, ResetNow, SetContactor, SetPilot
from pievse.core.station import Station
from tests.conftest import eventually

SOURCE = Path(__file__).resolve().parents[1] / "src" / "pievse"
OLD, NEW = "1.0.0", "1.1.0"
#: The throwaway venv has none of pievse's dependencies: the daemon cannot import there, the CLI
#: can (it imports lazily), so the CLI is what the updater checks before it calls a version good.
PROBE = ("pievse.app.cli",)
UPDATE_TIMEOUT = 90.0  # pip on a slow 2-core machine
ENVIRONMENT = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}


# --- wheels -------------------------------------------------------------------------------------


def build_wheel(folder: Path, version: str, *, name: str = "pievse", requires: tuple = (),
                broken_import: bool = False) -> Path:
    """A wheel of this checkout's pievse, numbered ``version``. ``broken_import``: its CLI
    raises ImportError, as a release with a missing module would."""
    info = f"{name}-{version}.dist-info"
    rows: list[str] = []
    wheel_path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel_path, "w", zipfile.ZIP_DEFLATED) as wheel:
        def add(path: str, data: bytes) -> None:
            wheel.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            rows.append(f"{path},sha256={digest.decode()},{len(data)}")

        for file in sorted(SOURCE.rglob("*")):
            if file.is_dir() or "__pycache__" in file.parts:
                continue
            path = "pievse/" + file.relative_to(SOURCE).as_posix()
            data = file.read_bytes()
            if path == "pievse/__init__.py":
                data = f'__version__ = "{version}"\n'.encode()
            elif path == "pievse/app/cli.py" and broken_import:
                data += b"\nimport pievse_module_that_is_not_there\n"
            add(path, data)
        metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
        add(f"{info}/METADATA", metadata.encode())
        add(f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
                             b"Tag: py3-none-any\n")
        add(f"{info}/entry_points.txt", b"[console_scripts]\npievse = pievse.app.cli:main\n")
        rows.append(f"{info}/RECORD,,")
        wheel.writestr(f"{info}/RECORD", "\n".join(rows) + "\n")
    return wheel_path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the download server ------------------------------------------------------------------------


class FileServer:
    """Serves ``files`` over HTTP on 127.0.0.1; ``failures[path]`` requests for a path are
    answered 503 first. ``requests`` lists (path, time) of every GET, the time read from
    ``now`` (the wall clock, or the test's fake one)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.failures: dict[str, int] = {}
        self.requests: list[tuple[str, float]] = []
        self.now = time.time
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.requests.append((self.path, server.now()))
                if server.failures.get(self.path, 0) > 0:
                    server.failures[self.path] -= 1
                    self.send_error(503, "try again later")
                    return
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.http.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def serve(self, wheel: Path, path: str | None = None) -> str:
        path = path or f"/{wheel.name}"
        self.files[path] = wheel.read_bytes()
        return f"http://127.0.0.1:{self.http.server_port}{path}"

    def gets(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def server() -> Iterator[FileServer]:
    files = FileServer()
    yield files
    files.close()


class FtpServer:
    """Just enough of an FTP server (RFC 959, passive mode) on 127.0.0.1 for ftplib and urllib:
    RETR serves ``files[path]``, STOR keeps ``received[path]``; one user may log in."""

    def __init__(self, user: str = "cp1", password: str = "ftp-s3cret") -> None:
        self.files: dict[str, bytes] = {}
        self.received: dict[str, bytes] = {}
        server = self

        class Control(socketserver.StreamRequestHandler):
            def reply(self, text: str) -> None:
                self.wfile.write(f"{text}\r\n".encode())

            def handle(self) -> None:
                self.reply("220 pievse test FTP")
                folder, given_user, passive = "/", "", None
                for line in self.rfile:
                    command, _, argument = line.decode().strip().partition(" ")
                    command = command.upper()
                    if command == "USER":
                        given_user = argument
                        self.reply("331 password please")
                    elif command == "PASS":
                        known = (given_user, argument) == (user, password)
                        self.reply("230 logged in" if known else "530 login incorrect")
                    elif command == "TYPE":
                        self.reply("200 type set")
                    elif command == "CWD":
                        folder = posixpath.normpath(posixpath.join(folder, argument))
                        self.reply("250 directory changed")
                    elif command == "PASV":
                        passive = socket.create_server(("127.0.0.1", 0))
                        high, low = divmod(passive.getsockname()[1], 256)
                        self.reply(f"227 Entering Passive Mode (127,0,0,1,{high},{low})")
                    elif command in ("RETR", "STOR") and passive is not None:
                        path = posixpath.join(folder, argument)
                        if command == "RETR" and path not in server.files:
                            self.reply("550 no such file")
                            continue
                        self.reply("150 opening data connection")
                        data, _ = passive.accept()
                        with data:
                            if command == "RETR":
                                data.sendall(server.files[path])
                            else:
                                server.received[path] = b"".join(iter(lambda: data.recv(65536),
                                                                      b""))
                        passive.close()
                        passive = None
                        self.reply("226 transfer complete")
                    elif command == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("502 not implemented here")

        self.tcp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Control)
        self.tcp.daemon_threads = True
        threading.Thread(target=self.tcp.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, path: str, user: str = "cp1", password: str = "ftp-s3cret") -> str:
        return f"ftp://{user}:{password}@127.0.0.1:{self.tcp.server_address[1]}{path}"

    def close(self) -> None:
        self.tcp.shutdown()
        self.tcp.server_close()


@pytest.fixture
def ftp_server() -> Iterator[FtpServer]:
    ftp = FtpServer()
    yield ftp
    ftp.close()


# --- the venv the updates go into ---------------------------------------------------------------


class TargetVenv:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.python = str(folder / "bin" / "python")

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([self.python, *args], capture_output=True, text=True, timeout=120,
                              env=ENVIRONMENT)

    def version(self) -> str:
        """What ``pievse --version`` says in the venv (how an operator would check)."""
        done = self.run("-m", "pievse", "--version")
        return done.stdout.strip() or f"(fails: {done.stderr.strip().splitlines()[-1:]})"


def build_template(folder: Path) -> TargetVenv:
    """A fresh venv with pievse OLD installed from a wheel, as on a charge point."""
    # Without pip of its own when the base interpreter lends one (fast), else with ensurepip.
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(folder / "venv")
    target = TargetVenv(folder / "venv")
    if target.run("-m", "pip", "--version").returncode != 0:
        venv.EnvBuilder(system_site_packages=True, with_pip=True, clear=True).create(
            folder / "venv")
    assert target.run("-c", "import pievse").returncode != 0, "the base Python has a pievse"
    (folder / "wheels").mkdir()
    done = target.run("-m", "pip", "install", "--no-deps", "--no-index", "--no-input",
                      "--disable-pip-version-check", str(build_wheel(folder / "wheels", OLD)))
    assert done.returncode == 0, done.stderr
    assert target.version() == f"pievse {OLD}"
    return target


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    import fcntl

    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


@pytest.fixture(scope="session")
def venv_template(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> TargetVenv:
    """The venv with OLD installed, built once per run: creating a venv and pip-installing into
    it takes seconds, copying it a few milliseconds. Under pytest-xdist the workers' temporary
    folders share a parent that belongs to this run only, and the first worker builds it there."""
    root = tmp_path_factory.getbasetemp()
    if hasattr(request.config, "workerinput"):
        root = root.parent
    folder = root / "firmware-target-template"
    with file_lock(root / "firmware-target-template.lock"):
        if not (folder / "built").exists():
            shutil.rmtree(folder, ignore_errors=True)  # a worker that died half-way
            folder.mkdir()
            build_template(folder)
            (folder / "built").touch()
    return TargetVenv(folder / "venv")


def make_target(folder: Path, template: TargetVenv) -> TargetVenv:
    """A venv of its own with pievse OLD installed: a copy of ``template``. A venv finds itself
    from where its bin/python is (pyvenv.cfg next to bin/), so the copy runs its own
    site-packages; only the scripts pip wrote name the template's python in their shebang."""
    copy = folder / "venv"
    shutil.copytree(template.folder, copy, symlinks=True)
    old, new = str(template.folder).encode(), str(copy).encode()
    for file in [copy / "pyvenv.cfg", *(copy / "bin").iterdir()]:
        if file.is_file() and not file.is_symlink():
            file.write_bytes(file.read_bytes().replace(old, new))
    assert list(copy.glob(f"lib/python*/site-packages/pievse-{OLD}.dist-info")), \
        f"pievse {OLD} is installed in the copy"
    return TargetVenv(copy)


@pytest.fixture(autouse=True)
def _no_pythonpath(monkeypatch: pytest.MonkeyPatch) -> None:
    """The updater's subprocesses must see the target venv's pievse, not a checkout's."""
    monkeypatch.delenv("PYTHONPATH", raising=False)


@pytest.fixture
def target(tmp_path: Path, venv_template: TargetVenv) -> TargetVenv:
    """A venv of its own, for a test whose update changes it."""
    return make_target(tmp_path, venv_template)


@pytest.fixture(scope="module")
def untouched_target(tmp_path_factory: pytest.TempPathFactory,
                     venv_template: TargetVenv) -> TargetVenv:
    """One venv shared by the tests in which nothing may be installed (each checks it wasn't)."""
    return make_target(tmp_path_factory.mktemp("untouched"), venv_template)


def updater_for(state: Path, target: TargetVenv, clock: FakeClock | None = None
                ) -> FirmwareUpdater:
    return FirmwareUpdater(state, python=target.python, probe_modules=PROBE, idle_poll=0.05,
                           download_timeout=10.0, clock=clock)


def restarted(state: Path, target: TargetVenv) -> FirmwareUpdater:
    """The restart after an install: it goes through the rollback check kept in the state
    directory, which leaves the new version in place when it imports and runs the daemon's
    command; then the new version's updater takes up the record of its install."""
    restart = restart_argv(state, [target.python, "-m", "pievse", "--version"])
    assert restart[1] == str(state / "firmware" / ROLLBACK_SCRIPT)
    started = subprocess.run(restart, capture_output=True, text=True, timeout=120)
    assert started.stdout.strip() == f"pievse {NEW}", started.stderr
    updater = updater_for(state, target)
    updater.resume(running_version=NEW)
    return updater


async def update(updater: FirmwareUpdater, url: str, retries: int = 0,
                 retry_interval: float = 0.0) -> tuple[list[str], int]:
    """Run one update to its end: the statuses reported and the restarts asked for."""
    statuses: list[str] = []
    restarts: list[bool] = []
    updater.notify = lambda status: statuses.append(status.value)
    updater.restart = lambda: restarts.append(True)
    updater.update(UpdateRequest(url, time.time(), retries, retry_interval))
    await asyncio.wait_for(updater.wait(), UPDATE_TIMEOUT)
    return statuses, len(restarts)


# --- a charge point on the bench: station core, 1.6 adapter with the profile, link ----------


class Bench:
    """One connector, no hardware: what the board would do is left undone, every other effect
    goes to the 1.6 adapter (with the updater and the uploader given), and a restart the station
    asks for is counted."""

    def __init__(self, csms: CentralSystem, cp_id: str, updater: FirmwareUpdater | None,
                 diagnostics: DiagnosticsUploader | None = None, connectors: int = 1) -> None:
        self.station = Station(connectors)
        self.restarts = 0
        self.protocol = self.make_protocol(cp_id, updater, diagnostics)
        self.link = OcppLink(csms.url, cp_id, session_factory=self.protocol.run_session,
                             backoff_initial=0.1, backoff_max=1.0,
                             subprotocol=self.protocol.subprotocol)
        self.task: asyncio.Task | None = None

    def make_protocol(self, cp_id: str, firmware: FirmwareUpdater | None,
                      diagnostics: DiagnosticsUploader | None) -> Any:
        return ChargePoint16(self.station, self.dispatch, ChargePointParts(
            vendor="pievse", model="bench", response_timeout=5, firmware=firmware,
            diagnostics=diagnostics))

    def dispatch(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, ResetNow):
                self.restarts += 1
            elif not isinstance(effect, SetContactor | SetPilot):
                self.protocol.handle(effect)

    async def start(self) -> Bench:
        for n in self.station.connectors:
            self.dispatch(self.station.meter_reading(n, MeterReading(1000.0, time.time())))
        self.dispatch(self.station.start())
        self.task = asyncio.create_task(self.link.run())
        await eventually(lambda: self.protocol.registered, "BootNotification Accepted")
        return self

    async def stop(self) -> None:
        await self.link.close()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task


@pytest.fixture
async def bench(csms: CentralSystem) -> AsyncIterator:
    started: list[Bench] = []

    async def start(cp_id: str, updater: FirmwareUpdater | None,
                    diagnostics: DiagnosticsUploader | None = None) -> Bench:
        started.append(await Bench(csms, cp_id, updater, diagnostics).start())
        return started[-1]

    yield start
    for each in started:
        await each.stop()


def firmware_statuses(csms: CentralSystem, cp_id: str) -> list[str]:
    return [m.payload["status"] for m in csms.messages
            if m.cp_id == cp_id and m.direction == "in" and m.message_type == 2
            and m.action == "FirmwareStatusNotification"]


def now_iso(offset: float = 0.0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + offset))


# --- the scenarios ------------------------------------------------------------------------------


async def test_update_firmware_installs_the_newer_pievse_which_reports_installed_after_restart(
        csms: CentralSystem, bench, server: FileServer, target: TargetVenv,
        tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, NEW)
    url = server.serve(wheel) + f"#sha256={sha256(wheel)}"
    state = tmp_path / "state"
    old = await bench("CP1", updater_for(state, target))

    assert await csms.call("CP1", "UpdateFirmware", {"location": url,
                                                     "retrieveDate": now_iso()}) == {}
    await eventually(lambda: old.restarts == 1, "the restart after installing", UPDATE_TIMEOUT)
    await eventually(lambda: len(firmware_statuses(csms, "CP1")) == 3, "Installing delivered")
    assert firmware_statuses(csms, "CP1") == ["Downloading", "Downloaded", "Installing"]
    assert target.version() == f"pievse {NEW}"

    await old.stop()
    # The new version comes up, registers and reports Installed; a trigger then hears Idle.
    await bench("CP1", restarted(state, target))
    await eventually(lambda: firmware_statuses(csms, "CP1")[3:] == ["Installed"], "Installed")
    await eventually(lambda: load_record(state / "firmware")["phase"] == "confirmed",
                     "the new version confirmed")
    # Cleared once the CSMS's answer to the notification is handled, a moment after it came.
    await eventually(lambda: load_record(state / "firmware")["report"] is None,
                     "Installed delivered and its report cleared")
    assert await csms.trigger_message("CP1", "FirmwareStatusNotification") == {
        "status": "Accepted"}
    await eventually(lambda: firmware_statuses(csms, "CP1")[4:] == ["Idle"], "Idle on trigger")


async def test_installing_waits_until_the_transaction_has_ended(
        csms: CentralSystem, bench, server: FileServer, target: TargetVenv,
        tmp_path: Path) -> None:
    updater = updater_for(tmp_path / "state", target)
    cp = await bench("CP1", updater)
    cp.dispatch(cp.station.pilot_changed(1, PilotState.B))
    cp.dispatch(cp.station.token_presented(IdToken("04A1B2C3", IdTokenType.ISO14443)))
    await eventually(lambda: cp.station.transactions(), "a transaction under way")

    await csms.call("CP1", "UpdateFirmware", {"location": server.serve(build_wheel(tmp_path, NEW)),
                                              "retrieveDate": now_iso()})
    await eventually(lambda: firmware_statuses(csms, "CP1") == ["Downloading", "Downloaded"],
                     "Downloaded")
    # The download is checked, then the install waits for the car; several idle checks later
    # the car is still charging: nothing has been touched.
    await eventually(lambda: updater.status is FirmwareStatus.INSTALL_SCHEDULED,
                     "the install scheduled behind the transaction")
    await asyncio.sleep(20 * updater.idle_poll)
    assert updater.status is FirmwareStatus.INSTALL_SCHEDULED
    await csms.trigger_message("CP1", "FirmwareStatusNotification")
    await eventually(lambda: firmware_statuses(csms, "CP1")[2:] == ["Downloaded"],
                     "the trigger reports the step under way, in OCPP 1.6's words")
    assert target.version() == f"pievse {OLD}" and cp.restarts == 0

    cp.dispatch(cp.station.pilot_changed(1, PilotState.A))  # the car leaves: the session ends
    await eventually(lambda: cp.restarts == 1, "installed, then a restart", UPDATE_TIMEOUT)
    assert firmware_statuses(csms, "CP1")[3:] == ["Installing"]
    assert target.version() == f"pievse {NEW}"


def corrupt(wheel: Path) -> Path:
    """Flip bytes in the middle of the file, where compressed modules are."""
    data = bytearray(wheel.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
    wheel.write_bytes(bytes(data))
    return wheel


def tampered(wheel: Path) -> Path:
    """A module changed after the wheel was built, RECORD left as it was."""
    with zipfile.ZipFile(wheel) as source:
        items = [(i, source.read(i)) for i in source.infolist()]
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as out:
        for item, data in items:
            if item.filename == "pievse/app/daemon.py":
                data += b"\nimport os; os.system('echo owned')\n"
            out.writestr(item, data)
    return wheel


@pytest.mark.parametrize("make", [
    pytest.param(lambda d: corrupt(build_wheel(d, NEW)), id="corrupt-zip"),
    pytest.param(lambda d: build_wheel(d, NEW, name="notpievse"), id="another-project"),
    pytest.param(lambda d: tampered(build_wheel(d, NEW)), id="file-not-matching-RECORD"),
    pytest.param(lambda d: build_wheel(d, NEW, requires=("websockets>=999",)),
                 id="dependency-not-installed"),
])
async def test_a_wheel_that_is_not_an_intact_installable_pievse_is_refused(
        server: FileServer, untouched_target: TargetVenv, tmp_path: Path, make) -> None:
    wheel = make(tmp_path)
    updater = updater_for(tmp_path / "state", untouched_target)

    statuses, restarts = await update(updater, server.serve(wheel, "/pievse-1.1.0.whl"))

    assert statuses == ["Downloading", "Downloaded", "InstallVerificationFailed"]
    assert restarts == 0
    assert untouched_target.version() == f"pievse {OLD}"
    assert updater.status is FirmwareStatus.IDLE


async def test_a_version_that_cannot_import_is_rolled_back_from_a_repack_of_the_old_one(
        server: FileServer, target: TargetVenv, tmp_path: Path) -> None:
    updater = updater_for(tmp_path / "state", target)

    statuses, restarts = await update(
        updater, server.serve(build_wheel(tmp_path, NEW, broken_import=True)))

    assert statuses == ["Downloading", "Downloaded", "Installing", "InstallationFailed"]
    assert restarts == 0
    assert target.version() == f"pievse {OLD}", "the old version was put back"
    record = load_record(tmp_path / "state" / "firmware")
    assert record["phase"] == "rolled_back" and "pievse_module_that_is_not_there" in \
        record["reason"]
    assert Path(record["previous_file"]).name == f"pievse-{OLD}-py3-none-any.whl"
    # The copy that was put back was repacked from the installed files: the console script
    # came back with it.
    script = subprocess.run([str(target.folder / "bin" / "pievse"), "--version"],
                            capture_output=True, text=True, timeout=60)
    assert script.stdout.strip() == f"pievse {OLD}"


async def test_a_new_version_that_never_comes_up_is_rolled_back_by_the_start_up_check(
        csms: CentralSystem, bench, server: FileServer, target: TargetVenv,
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    statuses, restarts = await update(updater_for(state, target),
                                      server.serve(build_wheel(tmp_path, NEW)))
    assert statuses == ["Downloading", "Downloaded", "Installing", "InstallRebooting"]
    assert restarts == 1
    check = [target.python, str(state / "firmware" / ROLLBACK_SCRIPT)]

    # The new version starts and dies before confirming, again and again (under systemd,
    # Restart= starts it and ExecStartPre= runs the check each time).
    for _ in range(MAX_UNCONFIRMED_STARTS):
        assert subprocess.run(check, timeout=120).returncode == 0
        assert target.version() == f"pievse {NEW}", "given its chance to come up"
    assert subprocess.run(check, timeout=120).returncode == 0
    assert target.version() == f"pievse {OLD}", "put back after too many starts"

    # The old version, up again, tells the CSMS that the installation failed.
    updater = updater_for(state, target)
    updater.resume(running_version=OLD)
    await bench("CP1", updater)
    await eventually(lambda: firmware_statuses(csms, "CP1") == ["InstallationFailed"],
                     "InstallationFailed after the rollback")
    await eventually(lambda: load_record(state / "firmware")["report"] is None,
                     "the report is delivered once")


async def test_an_installation_left_half_written_is_undone_at_the_next_start(
        server: FileServer, target: TargetVenv, tmp_path: Path) -> None:
    """The disk as a power cut during pip's writing would leave it, made by hand (no process is
    killed here): the rollback check at the next start puts the old version back."""
    folder = tmp_path / "state" / "firmware"
    await update(updater_for(tmp_path / "state", target),
                 server.serve(build_wheel(tmp_path, NEW)))
    # What the disk holds when the power fails while pip is writing: the marker still says
    # "installing", and the venv holds who knows what of either version.
    save_record(folder, {**load_record(folder), "phase": "installing"})
    half_written = next(target.folder.glob("lib/python*/site-packages/pievse/app/cli.py"))
    half_written.write_bytes(half_written.read_bytes()[:1000])
    assert target.version().startswith("(fails")

    assert subprocess.run([target.python, str(folder / ROLLBACK_SCRIPT)], timeout=120,
                          env=ENVIRONMENT).returncode == 0

    assert target.version() == f"pievse {OLD}"
    assert load_record(folder)["report"] == "InstallationFailed"


async def test_a_second_update_keeps_the_first_ones_wheel_to_roll_back_to(
        server: FileServer, target: TargetVenv, tmp_path: Path) -> None:
    state = tmp_path / "state"
    await update(updater_for(state, target), server.serve(build_wheel(tmp_path, NEW)))
    updater = updater_for(state, target)
    updater.resume(running_version=NEW)
    updater.confirm()
    first = Path(load_record(state / "firmware")["target_file"])

    statuses, _ = await update(updater, server.serve(build_wheel(tmp_path, "1.2.0",
                                                                 broken_import=True)))

    assert statuses[-1] == "InstallationFailed"
    record = load_record(state / "firmware")
    assert record["previous_file"] == str(first), "the wheel 1.1.0 came in, not a repack"
    assert target.version() == f"pievse {NEW}"


async def test_download_failures_are_retried_and_the_retrieve_date_is_respected(
        server: FileServer, target: TargetVenv, tmp_path: Path, fake_clock: FakeClock) -> None:
    url = server.serve(build_wheel(tmp_path, NEW))
    path = "/" + url.rpartition("/")[2]
    server.failures[path] = 2
    server.now = fake_clock.now
    updater = updater_for(tmp_path / "state", target, fake_clock)
    statuses: list[str] = []
    updater.notify = lambda status: statuses.append(status.value)
    retrieve = fake_clock.now() + 600.0

    updater.update(UpdateRequest(url, retrieve, retries=2, retry_interval=60))
    await eventually(lambda: statuses == ["DownloadScheduled"], "DownloadScheduled")
    await fake_clock.advance(599)
    assert server.gets(path) == 0, "nothing fetched before retrieveDate"
    for attempt in (1, 2, 3):
        # Each attempt comes when its time is up: retrieveDate, then retryInterval apart.
        await eventually(lambda: fake_clock.next_timer is not None, "the updater waiting")
        await fake_clock.advance(fake_clock.next_timer - fake_clock.monotonic())
        await eventually(lambda: server.gets(path) == attempt, f"attempt {attempt}")
    await eventually(lambda: "Downloaded" in statuses or "DownloadFailed" in statuses,
                     "the download's end", 30)

    assert statuses == ["DownloadScheduled", "Downloading", "Downloaded"]
    assert server.gets(path) == 3, "two failures, then the file"
    assert min(at for p, at in server.requests if p == path) >= retrieve
    assert [at - retrieve for p, at in server.requests if p == path] == [0, 60, 120]
    await asyncio.wait_for(updater.wait(), UPDATE_TIMEOUT)


async def test_firmware_is_fetched_over_ftp_with_the_credentials_in_the_location(
        ftp_server: FtpServer, target: TargetVenv, tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, NEW)
    ftp_server.files[f"/firmware/{wheel.name}"] = wheel.read_bytes()
    updater = updater_for(tmp_path / "state", target)

    statuses, restarts = await update(updater, ftp_server.url(f"/firmware/{wheel.name}"))

    assert statuses == ["Downloading", "Downloaded", "Installing", "InstallRebooting"]
    assert restarts == 1
    assert target.version() == f"pievse {NEW}"


async def test_an_update_scheduled_for_later_is_taken_up_again_after_a_restart(
        server: FileServer, target: TargetVenv, tmp_path: Path) -> None:
    url = server.serve(build_wheel(tmp_path, NEW))
    retrieve = time.time() + 1.0
    before = updater_for(tmp_path / "state", target)
    before.update(UpdateRequest(url, retrieve, retries=0, retry_interval=0))
    before.stop()  # the daemon goes down before retrieveDate
    await before.wait()

    after = updater_for(tmp_path / "state", target)
    statuses: list[str] = []
    restarts: list[bool] = []
    after.notify = lambda status: statuses.append(status.value)
    after.restart = lambda: restarts.append(True)
    after.resume(running_version=OLD)
    await asyncio.wait_for(after.wait(), UPDATE_TIMEOUT)

    # DownloadScheduled first if the restart came before retrieveDate.
    assert [s for s in statuses if s != "DownloadScheduled"] == [
        "Downloading", "Downloaded", "Installing", "InstallRebooting"]
    assert restarts == [True]
    assert len(server.requests) == 1 and server.requests[0][1] >= retrieve
    assert target.version() == f"pievse {NEW}"


@pytest.mark.parametrize("fragment, failures", [
    pytest.param("", 100, id="server-keeps-failing"),
    pytest.param("#sha256=" + "0" * 64, 0, id="not-the-announced-sha256"),
])
async def test_a_download_that_keeps_failing_ends_in_download_failed(
        server: FileServer, untouched_target: TargetVenv, tmp_path: Path, fragment: str,
        failures: int) -> None:
    url = server.serve(build_wheel(tmp_path, NEW))
    path = "/" + url.rpartition("/")[2]
    server.failures[path] = failures

    updater = updater_for(tmp_path / "state", untouched_target)

    statuses, restarts = await update(updater, url + fragment, retries=1)

    assert statuses == ["Downloading", "DownloadFailed"] and restarts == 0
    assert server.gets(path) == 2, "one try, one retry"
    assert untouched_target.version() == f"pievse {OLD}"
    assert not list((tmp_path / "state" / "firmware" / "downloads").iterdir()), \
        "no partial file left on the SD card"


async def test_only_http_https_and_ftp_locations_are_fetched(
        untouched_target: TargetVenv, tmp_path: Path) -> None:
    updater = updater_for(tmp_path / "state", untouched_target)
    statuses, _ = await update(updater, "file:///etc/passwd", retries=3, retry_interval=60)
    assert statuses == ["Downloading", "DownloadFailed"]


async def test_update_firmware_is_not_supported_where_no_updater_is_set_up(
        csms: CentralSystem, bench) -> None:
    await bench("CP1", None)
    with pytest.raises(CallErrorResponse) as refused:
        await csms.call("CP1", "UpdateFirmware", {"location": "http://127.0.0.1/x.whl",
                                                  "retrieveDate": now_iso()})
    assert refused.value.code == "NotSupported"
    await csms.trigger_message("CP1", "FirmwareStatusNotification")
    await eventually(lambda: firmware_statuses(csms, "CP1") == ["Idle"], "Idle")
