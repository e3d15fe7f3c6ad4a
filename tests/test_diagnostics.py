"""OCPP 1.6 GetDiagnostics end to end: the CSMS asks, the charge point answers with the file name,
builds the bundle and PUTs it to a stdlib HTTP server on 127.0.0.1, which the test then opens.
What must never leave the charge point (the password, the AuthorizationKey, id tags) is looked
for in every file of the bundle.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from ocpp.exceptions import InternalError

import pievse
from pievse.aio import FakeClock
from pievse.core.authorization import IdToken, IdTokenType
from pievse.csms.server import CallErrorResponse, CentralSystem
from pievse.services.diagnostics import DiagnosticsRequest, DiagnosticsStatus, DiagnosticsUploader
from pievse.services.diagnostics import upload_url
from pievse.persistence.store import Store
from pievse.protocol.common.notifications import DEFAULT_RETRY_INTERVAL_S
from tests.conftest import eventually, station_config
from tests.test_firmware_update import Bench, FtpServer, now_iso
from tests.test_ocpp16_sessions import next_one, sent_at

PASSWORD = "Basic-auth-s3cret-4-the-CSMS"
AUTHORIZATION_KEY = "AuthorizationKey-in-force-0042"
ID_TAG = "04A1B2C3D4E5F6"


class UploadServer:
    """Takes HTTP PUTs on 127.0.0.1: ``received[path]`` is the body. The first ``failures``
    uploads are answered ``failure_status`` (500); while ``gate`` is clear, an upload waits
    before it is answered."""

    def __init__(self) -> None:
        self.received: dict[str, bytes] = {}
        self.attempts = 0
        self.failures = 0
        self.failure_status = 500
        self.gate = threading.Event()
        self.gate.set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.attempts += 1
                server.gate.wait(30)
                if server.failures > 0:
                    server.failures -= 1
                    self.send_error(server.failure_status, "refused")
                    return
                server.received[self.path] = body
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_port}"


@pytest.fixture
def server() -> Iterator[UploadServer]:
    uploads = UploadServer()
    yield uploads
    uploads.gate.set()
    uploads.http.shutdown()
    uploads.http.server_close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """The store of a charge point with a session under way and a key the CSMS changed."""
    opened = Store(str(tmp_path / "pievse.sqlite3")).open()
    opened.transaction_started(7, 1, IdToken(ID_TAG, IdTokenType.ISO14443), 1500.0,
                               time.time() - 600)
    opened.transaction_energy(7, 2100.0, time.time())
    opened.configuration_changed("HeartbeatInterval", 120)
    yield opened
    opened.close()


@pytest.fixture
def uploader(csms: CentralSystem, store: Store, tmp_path: Path) -> DiagnosticsUploader:
    config = station_config(csms.url, ocpp={"security_profile": 1, "password": PASSWORD})
    log_file = tmp_path / "pievse.log"
    log_file.write_text(
        "2024-05-01 10:00:00 INFO pievse.protocol: registered with the CSMS\n"
        f"2024-05-01 10:05:00 DEBUG pievse.protocol: recv ChangeConfiguration AuthorizationKey "
        f"{AUTHORIZATION_KEY}\n"
        f"2024-05-01 10:06:00 DEBUG websockets: Authorization: Basic CP1:{PASSWORD}\n")
    return DiagnosticsUploader(
        tmp_path / "diagnostics", charge_point_id="CP1", config=config, store=store,
        log_file=str(log_file), secrets=lambda: [PASSWORD, AUTHORIZATION_KEY])


@pytest.fixture
async def bench(csms: CentralSystem) -> AsyncIterator:
    started: list[Bench] = []

    async def start(diagnostics: DiagnosticsUploader | None) -> Bench:
        started.append(await Bench(csms, "CP1", None, diagnostics).start())
        return started[-1]

    yield start
    for each in started:
        await each.stop()


def diagnostics_statuses(csms: CentralSystem) -> list[str]:
    return [m.payload["status"] for m in csms.messages
            if m.direction == "in" and m.message_type == 2
            and m.action == "DiagnosticsStatusNotification"]


def open_bundle(data: bytes) -> dict[str, str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as bundle:
        return {member.name: bundle.extractfile(member).read().decode()  # type: ignore[union-attr]
                for member in bundle.getmembers()}


async def test_get_diagnostics_uploads_a_bundle_by_http_put_with_no_secret_inside(
        csms: CentralSystem, bench, server: UploadServer, uploader: DiagnosticsUploader,
        tmp_path: Path) -> None:
    await bench(uploader)
    server.gate.clear()  # hold the upload, to see what a TriggerMessage says meanwhile

    answer = await csms.call("CP1", "GetDiagnostics", {
        "location": f"{server.url}/uploads/", "retries": 1, "retryInterval": 1,
        "startTime": now_iso(-3600), "stopTime": now_iso()})

    name = answer["fileName"]
    assert re.fullmatch(r"diagnostics-CP1-\d{8}T\d{6}Z\.tar\.gz", name)
    await eventually(lambda: diagnostics_statuses(csms) == ["Uploading"], "Uploading")
    await eventually(lambda: server.attempts == 1, "the upload under way")
    await csms.trigger_message("CP1", "DiagnosticsStatusNotification")
    await eventually(lambda: diagnostics_statuses(csms) == ["Uploading", "Uploading"],
                     "a trigger during the upload hears Uploading")
    server.gate.set()
    await eventually(lambda: diagnostics_statuses(csms)[2:] == ["Uploaded"], "Uploaded")

    files = open_bundle(server.received[f"/uploads/{name}"])
    folder = name.removesuffix(".tar.gz")
    assert {f"{folder}/{part}" for part in ("config.toml", "store.json", "version.txt",
                                            "log.txt")} <= set(files)
    for path, text in files.items():
        for secret in (PASSWORD, AUTHORIZATION_KEY, ID_TAG):
            assert secret not in text, f"{secret} leaked into {path}"
    config = files[f"{folder}/config.toml"]
    assert 'password = ""' in config and 'id = "CP1"' in config and "security_profile = 1" in config
    store = json.loads(files[f"{folder}/store.json"])
    assert store["open_transactions"][0]["connector_id"] == 1
    assert store["open_transactions"][0]["last_energy_wh"] == 2100.0
    assert store["configuration_changed_by_csms"] == {"HeartbeatInterval": 120}
    assert store["outbox"] == {"start": 0, "stop": 0, "meter": 0}
    assert files[f"{folder}/log.txt"].count("[redacted]") == 2
    assert files[f"{folder}/version.txt"].splitlines()[0] == f"pievse {pievse.__version__}"
    assert f"{folder}/journal.txt" in files or "journal" in files[f"{folder}/NOTES.txt"]
    assert not list((tmp_path / "diagnostics").iterdir()), "no copy left on the SD card"

    await csms.trigger_message("CP1", "DiagnosticsStatusNotification")
    await eventually(lambda: diagnostics_statuses(csms)[3:] == ["Idle"], "Idle afterwards")


async def test_a_failing_upload_is_retried_then_reported_upload_failed(
        csms: CentralSystem, bench, server: UploadServer,
        uploader: DiagnosticsUploader) -> None:
    await bench(uploader)
    server.failures = 10

    await csms.call("CP1", "GetDiagnostics", {"location": f"{server.url}/uploads/",
                                              "retries": 2, "retryInterval": 0})

    await eventually(lambda: diagnostics_statuses(csms) == ["Uploading", "UploadFailed"],
                     "UploadFailed")
    assert server.attempts == 3, "one try and two retries"
    assert uploader.status is DiagnosticsStatus.IDLE


async def test_an_upload_that_fails_once_is_delivered_by_the_retry(
        server: UploadServer, uploader: DiagnosticsUploader, fake_clock: FakeClock) -> None:
    uploader.clock = fake_clock
    statuses: list[str] = []
    uploader.notify = lambda status: statuses.append(status.value)
    server.failures = 1
    name = uploader.file_name()

    uploader.start(DiagnosticsRequest(f"{server.url}/bundles/today.tgz", retries=1,
                                      retry_interval=30), name)
    await eventually(lambda: server.attempts == 1 and fake_clock.next_timer is not None,
                     "the first attempt refused")
    assert fake_clock.next_timer == 30.0, "the retry waits retryInterval"
    await fake_clock.advance(29)
    assert server.attempts == 1, "no retry before retryInterval"
    await fake_clock.advance(1)
    await uploader.wait()

    assert statuses == ["Uploading", "Uploaded"] and server.attempts == 2
    assert set(server.received) == {"/bundles/today.tgz"}, "an exact target URL is kept as is"


async def test_a_bundle_is_stored_by_ftp_into_the_directory_given(
        uploader: DiagnosticsUploader) -> None:
    ftp = FtpServer(user="cp1", password="ftp-s3cret")
    try:
        statuses: list[str] = []
        uploader.notify = lambda status: statuses.append(status.value)
        name = uploader.file_name()

        uploader.start(DiagnosticsRequest(ftp.url("/incoming/"), retries=0), name)
        await uploader.wait()

        assert statuses == ["Uploading", "Uploaded"]
        assert "config.toml" in " ".join(open_bundle(ftp.received[f"/incoming/{name}"]))
    finally:
        ftp.close()


async def test_an_ftp_login_refused_ends_in_upload_failed(
        uploader: DiagnosticsUploader) -> None:
    ftp = FtpServer(user="cp1", password="ftp-s3cret")
    try:
        statuses: list[str] = []
        uploader.notify = lambda status: statuses.append(status.value)

        uploader.start(DiagnosticsRequest(ftp.url("/incoming/", password="wrong"), retries=1,
                                          retry_interval=0), uploader.file_name())
        await uploader.wait()

        assert statuses == ["Uploading", "UploadFailed"] and not ftp.received
    finally:
        ftp.close()


def test_a_directory_location_gets_the_file_name_and_a_file_location_is_kept() -> None:
    name = "diagnostics-CP1-20240501T100000Z.tar.gz"
    assert upload_url("http://csms.example/upload/", name) == f"http://csms.example/upload/{name}"
    assert upload_url("ftp://u:p@csms.example", name) == f"ftp://u:p@csms.example/{name}"
    assert upload_url("https://bucket.example/cp1.tgz?sig=abc", name) == \
        "https://bucket.example/cp1.tgz?sig=abc"


def test_a_long_log_keeps_its_newest_lines(uploader: DiagnosticsUploader, tmp_path: Path) -> None:
    log_file = Path(uploader.log_file or "")
    log_file.write_text("".join(f"line {n}: charging\n" for n in range(20000)))
    uploader.max_text_bytes = 4096
    bundle = tmp_path / "bundle.tar.gz"

    uploader.build_bundle(bundle)

    log = next(text for name, text in open_bundle(bundle.read_bytes()).items()
               if name.endswith("/log.txt"))
    assert log.startswith("[... older lines left out ...]\nline ")
    assert log.endswith("line 19999: charging\n") and len(log) <= 4096 + 40


async def test_get_diagnostics_is_not_supported_where_no_uploader_is_set_up(
        csms: CentralSystem, bench) -> None:
    await bench(None)
    with pytest.raises(CallErrorResponse) as refused:
        await csms.call("CP1", "GetDiagnostics", {"location": "http://127.0.0.1/up/"})
    assert refused.value.code == "NotSupported"
    await csms.trigger_message("CP1", "DiagnosticsStatusNotification")
    await eventually(lambda: diagnostics_statuses(csms) == ["Idle"], "Idle")


async def test_the_daemon_answers_get_diagnostics_and_firmware_triggers_as_configured(
        csms: CentralSystem, start_station, server: UploadServer, tmp_path: Path) -> None:
    """The whole daemon, built from its config, wires the uploader and the updater."""
    await start_station(storage={"path": str(tmp_path / "pievse.sqlite3")},
                        diagnostics={"journal_unit": ""})
    answer = await csms.call("CP1", "GetDiagnostics", {"location": f"{server.url}/up/"})
    assert answer["fileName"].endswith(".tar.gz")
    await eventually(lambda: "Uploaded" in diagnostics_statuses(csms), what="Uploaded")
    assert open_bundle(server.received[f"/up/{answer['fileName']}"])
    await csms.trigger_message("CP1", "FirmwareStatusNotification")
    await eventually(lambda: [m for m in csms.messages if m.action == "FirmwareStatusNotification"
                              and m.direction == "in" and m.message_type == 2],
                     what="FirmwareStatusNotification Idle")


async def test_a_status_the_csms_refused_is_sent_again_at_the_redelivery_pace(
        csms: CentralSystem, start_station, server: UploadServer, tmp_path: Path,
        fake_clock: FakeClock) -> None:
    refusals = {"left": 1}

    async def busy(cp_id: str, action: str, payload: dict) -> dict | None:
        if action == "DiagnosticsStatusNotification" and payload["status"] == "Uploaded" \
                and refusals["left"]:
            refusals["left"] -= 1
            raise InternalError(description="database busy")
        return None

    csms.on_call = busy
    await start_station(storage={"path": str(tmp_path / "pievse.sqlite3")},
                        diagnostics={"journal_unit": ""})
    await csms.call("CP1", "GetDiagnostics", {"location": f"{server.url}/up/"})
    await eventually(lambda: diagnostics_statuses(csms) == ["Uploading", "Uploaded"],
                     what="Uploaded, refused")
    refused_at = sent_at(csms, "DiagnosticsStatusNotification")[-1]

    again = await next_one(fake_clock, csms, "DiagnosticsStatusNotification",
                           DEFAULT_RETRY_INTERVAL_S)
    assert again == refused_at + DEFAULT_RETRY_INTERVAL_S
    assert diagnostics_statuses(csms) == ["Uploading", "Uploaded", "Uploaded"]
    await fake_clock.advance(10 * DEFAULT_RETRY_INTERVAL_S)
    assert diagnostics_statuses(csms) == ["Uploading", "Uploaded", "Uploaded"], "sent once more"
