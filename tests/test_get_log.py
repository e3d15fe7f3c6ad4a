# ruff: noqa: F811 - tests take the shared `server` fixture imported from test_diagnostics
"""GetLog of the OCPP 1.6 security extension, end to end, and the security log it serves.

A real 1.6 charge point with the security extension registers with the embedded CSMS, which
sends GetLog and records every LogStatusNotification and SecurityEventNotification. The log goes
by HTTP PUT to a stdlib server on 127.0.0.1 (or by FTP STOR to a small FTP server), which the
test then opens. The security log lives on disk in the test's folder, as on a charge point; what
must never be written or leave the charge point (the AuthorizationKey, a URL's password) is
looked for in every copy.
"""

from __future__ import annotations

import asyncio
import json
import re
import stat
import tarfile
import time
from collections.abc import AsyncIterator, Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from pievse.csms.server import CentralSystem
from pievse.services.diagnostics import DiagnosticsUploader
from pievse.services.firmware import FirmwareUpdater
from pievse.app.link_security import LinkSecurity
from pievse.services.log_upload import LogType, LogUploader
from pievse.app.maintenance import log_uploader
from pievse.services.certificates import CertificateStore
from pievse.protocol.common.transport_security import SecurityProfile, SecurityState
from pievse.protocol.common.charge_point_parts import ChargePointParts
from pievse.protocol.v16.adapter import ChargePoint16
from pievse.services.security_log import SecurityLog
from tests.conftest import eventually, station_config
from tests.test_diagnostics import UploadServer, server  # noqa: F401 - the fixture, shared
from tests.test_firmware_update import Bench, FtpServer, now_iso

AUTHORIZATION_KEY = "AuthorizationKey-in-force-0042"
FTP_PASSWORD = "ftp-s3cret-in-a-url"


# --- a charge point with the security extension on the bench ------------------------------------


class SecureBench(Bench):
    """The 1.6 charge point with the security extension, as the daemon composes it, on one
    connector without hardware; its certificates and security state live in ``folder``."""

    def __init__(self, csms: CentralSystem, folder: Path, *,
                 firmware: FirmwareUpdater | None = None, logs: LogUploader | None = None,
                 cp_id: str = "CP1") -> None:
        self.folder = folder
        self.logs = logs
        super().__init__(csms, cp_id, firmware)

    def make_protocol(self, cp_id: str, firmware: FirmwareUpdater | None,
                      diagnostics: DiagnosticsUploader | None) -> Any:
        certificates = CertificateStore(self.folder / "certificates")
        state = SecurityState(self.folder / "certificates" / "security.json",
                              profile=SecurityProfile(0), authorization_key=AUTHORIZATION_KEY)
        return ChargePoint16(self.station, self.dispatch, ChargePointParts(
            charge_point_id=cp_id, certificates=certificates, security_state=state,
            vendor="pievse", model="bench", response_timeout=5, firmware=firmware,
            diagnostics=diagnostics, logs=self.logs))


def sent(csms: CentralSystem, action: str) -> list[dict[str, Any]]:
    """The payloads of the ``action`` CALLs the charge point sent, in order."""
    return [m.payload for m in csms.messages
            if m.direction == "in" and m.message_type == 2 and m.action == action]


@pytest.fixture
async def secure_bench(csms: CentralSystem, tmp_path: Path) -> AsyncIterator:
    started: list[SecureBench] = []

    async def start(**options: Any) -> SecureBench:
        started.append(await SecureBench(csms, tmp_path, **options).start())
        return started[-1]

    yield start
    for each in started:
        await each.stop()


# --- the logs -------------------------------------------------------------------------------------


@pytest.fixture
def security_log(tmp_path: Path) -> SecurityLog:
    return SecurityLog(tmp_path / "security-log", secrets=lambda: [AUTHORIZATION_KEY])


@pytest.fixture
def diagnostics(csms: CentralSystem, tmp_path: Path) -> DiagnosticsUploader:
    config = station_config(csms.url, ocpp={"security_profile": 1,
                                            "password": AUTHORIZATION_KEY})
    return DiagnosticsUploader(tmp_path / "diagnostics", charge_point_id="CP1", config=config,
                               journal_unit=None, secrets=lambda: [AUTHORIZATION_KEY])


@pytest.fixture
def logs(tmp_path: Path, security_log: SecurityLog,
         diagnostics: DiagnosticsUploader) -> Iterator[LogUploader]:
    uploader = LogUploader(tmp_path / "log-uploads", charge_point_id="CP1",
                           security_log=security_log, diagnostics=diagnostics, timeout=10)
    yield uploader
    uploader.stop()


def get_log(log_type: str, request_id: int, location: str, **options: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"logType": log_type, "requestId": request_id,
                               "log": {"remoteLocation": location}, "retries": 0,
                               "retryInterval": 0}
    for name in ("oldestTimestamp", "latestTimestamp"):
        if name in options:
            payload["log"][name] = options.pop(name)
    return {**payload, **options}


def log_statuses(csms: CentralSystem) -> list[tuple[str, int | None]]:
    return [(p["status"], p.get("requestId")) for p in sent(csms, "LogStatusNotification")]


def lines(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.decode().splitlines()]


# --- the scenarios --------------------------------------------------------------------------------


async def test_get_log_uploads_the_security_events_of_the_window_without_a_secret(
        csms: CentralSystem, secure_bench, server: UploadServer, logs: LogUploader,
        security_log: SecurityLog) -> None:
    security_log.record("SettingSystemTime", time.time() - 7200, "two hours ago", True)
    cp = await secure_bench(logs=logs)
    cp.protocol.report_security_event(
        "ReconfigurationOfSecurityParameters",
        f"AuthorizationKey {AUTHORIZATION_KEY} set; firmware from "
        f"ftp://cp1:{FTP_PASSWORD}@files.example/pievse.whl")
    cp.protocol.report_security_event("InvalidCentralSystemCertificate", "expired on 2024-01-01")

    answer = await csms.call("CP1", "GetLog", get_log(
        "SecurityLog", 7, f"{server.url}/logs/", oldestTimestamp=now_iso(-3600),
        latestTimestamp=now_iso(60)))

    assert answer["status"] == "Accepted"
    name = answer["filename"]
    assert re.fullmatch(r"security-log-CP1-\d{8}T\d{6}Z\.jsonl", name)
    await eventually(lambda: log_statuses(csms) == [("Uploading", 7), ("Uploaded", 7)],
                     "Uploading, then Uploaded, with the requestId")
    events = lines(server.received[f"/logs/{name}"])
    assert [e["type"] for e in events] == ["ReconfigurationOfSecurityParameters",
                                           "InvalidCentralSystemCertificate"], \
        "the event from before oldestTimestamp is left out"
    assert events[0]["critical"] is False and events[1]["techInfo"] == "expired on 2024-01-01"
    assert events[0]["techInfo"] == ("AuthorizationKey [redacted] set; firmware from "
                                     "ftp://cp1:***@files.example/pievse.whl")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", events[0]["timestamp"])

    # Neither the upload, nor the file on the SD card, nor the CSMS ever saw a secret.
    on_disk = security_log.path.read_text()
    to_csms = json.dumps(sent(csms, "SecurityEventNotification"))
    for text in (server.received[f"/logs/{name}"].decode(), on_disk, to_csms):
        assert AUTHORIZATION_KEY not in text and FTP_PASSWORD not in text
    assert stat.S_IMODE(security_log.folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(security_log.path.stat().st_mode) == 0o600
    assert not [p for p in logs.work_dir.iterdir() if p.is_file()], "no copy left behind"


async def test_get_log_diagnostics_log_uploads_the_diagnostics_bundle(
        csms: CentralSystem, secure_bench, server: UploadServer, logs: LogUploader) -> None:
    await secure_bench(logs=logs)

    answer = await csms.call("CP1", "GetLog", get_log(
        "DiagnosticsLog", 8, f"{server.url}/bundles/", oldestTimestamp=now_iso(-3600)))

    assert answer["status"] == "Accepted"
    name = answer["filename"]
    assert re.fullmatch(r"diagnostics-CP1-\d{8}T\d{6}Z\.tar\.gz", name)
    await eventually(lambda: log_statuses(csms) == [("Uploading", 8), ("Uploaded", 8)],
                     "Uploaded")
    with tarfile.open(fileobj=BytesIO(server.received[f"/bundles/{name}"]), mode="r:gz") as tar:
        files = {m.name.rpartition("/")[2]: tar.extractfile(m).read().decode()  # type: ignore
                 for m in tar.getmembers()}
    assert {"config.toml", "version.txt"} <= set(files)
    assert 'password = ""' in files["config.toml"]
    assert all(AUTHORIZATION_KEY not in text for text in files.values())


@pytest.mark.parametrize("http_status, retries, reported", [
    pytest.param(500, 2, "UploadFailure", id="server-error"),
    pytest.param(403, 0, "PermissionDenied", id="forbidden"),
    pytest.param(405, 0, "NotSupportedOperation", id="method-not-allowed"),
    pytest.param(400, 0, "BadMessage", id="bad-request"),
])
async def test_an_upload_that_keeps_failing_is_reported_with_the_servers_reason(
        csms: CentralSystem, secure_bench, server: UploadServer, logs: LogUploader,
        http_status: int, retries: int, reported: str) -> None:
    await secure_bench(logs=logs)
    server.failures, server.failure_status = 100, http_status

    answer = await csms.call("CP1", "GetLog", get_log("SecurityLog", 9, f"{server.url}/up/",
                                                      retries=retries))

    assert answer["status"] == "Accepted"
    await eventually(lambda: log_statuses(csms) == [("Uploading", 9), (reported, 9)],
                     reported)
    assert server.attempts == retries + 1, "one try, then the retries asked for"
    assert not server.received


async def test_an_ftp_server_takes_the_log_and_refused_credentials_are_permission_denied(
        csms: CentralSystem, secure_bench, logs: LogUploader) -> None:
    ftp = FtpServer(user="cp1", password=FTP_PASSWORD)
    try:
        await secure_bench(logs=logs)
        answer = await csms.call("CP1", "GetLog", get_log(
            "SecurityLog", 10, ftp.url("/incoming/", password="wrong")))
        await eventually(lambda: log_statuses(csms)[-1:] == [("PermissionDenied", 10)],
                         "PermissionDenied")
        assert answer["status"] == "Accepted" and not ftp.received

        answer = await csms.call("CP1", "GetLog", get_log(
            "SecurityLog", 11, ftp.url("/incoming/", password=FTP_PASSWORD)))
        await eventually(lambda: log_statuses(csms)[-1:] == [("Uploaded", 11)], "Uploaded")
        assert f"/incoming/{answer['filename']}" in ftp.received
    finally:
        ftp.close()


async def test_a_second_get_log_cancels_the_first_and_a_trigger_tells_what_runs(
        csms: CentralSystem, secure_bench, server: UploadServer, logs: LogUploader) -> None:
    await secure_bench(logs=logs)

    async def trigger() -> tuple[str, int | None]:
        count = len(log_statuses(csms))
        answer = await csms.call("CP1", "ExtendedTriggerMessage",
                                 {"requestedMessage": "LogStatusNotification"})
        assert answer == {"status": "Accepted"}
        await eventually(lambda: len(log_statuses(csms)) > count, "the triggered notification")
        return log_statuses(csms)[-1]

    assert await trigger() == ("Idle", None), "nothing under way yet"
    server.gate.clear()  # the server holds every upload until the gate opens
    first = await csms.call("CP1", "GetLog", get_log("SecurityLog", 21, f"{server.url}/a/"))
    await eventually(lambda: server.attempts == 1, "the first upload under way")
    assert await trigger() == ("Uploading", 21)

    second = await csms.call("CP1", "GetLog", get_log("DiagnosticsLog", 22, f"{server.url}/b/"))
    assert first["status"] == "Accepted" and second["status"] == "AcceptedCanceled"
    await eventually(lambda: server.attempts == 2, "the second upload under way")
    server.gate.set()

    await eventually(lambda: ("Uploaded", 22) in log_statuses(csms), "the second uploaded")
    assert f"/b/{second['filename']}" in server.received
    assert [s for s in log_statuses(csms) if s[1] == 21] == [("Uploading", 21)] * 2, \
        "the cancelled upload reports nothing more"
    assert await trigger() == ("Idle", None)


async def test_get_log_is_rejected_for_a_log_not_kept_or_a_location_not_supported(
        csms: CentralSystem, secure_bench, diagnostics: DiagnosticsUploader,
        tmp_path: Path, server: UploadServer) -> None:
    no_security_log = LogUploader(tmp_path / "uploads", charge_point_id="CP1",
                                  security_log=None, diagnostics=diagnostics)
    await secure_bench(logs=no_security_log)

    for request in (get_log("SecurityLog", 31, f"{server.url}/up/"),
                    get_log("DiagnosticsLog", 32, "file:///etc/passwd"),
                    get_log("DiagnosticsLog", 33, "scp://csms.example/up/")):
        assert await csms.call("CP1", "GetLog", request) == {"status": "Rejected"}
    await asyncio.sleep(0.2)  # nothing follows a rejection
    assert log_statuses(csms) == [] and server.attempts == 0


async def test_the_security_log_is_bounded_and_its_rotation_is_reported_as_cleared(
        csms: CentralSystem, secure_bench, tmp_path: Path) -> None:
    small = SecurityLog(tmp_path / "small-log", max_bytes=4096)
    cp = await secure_bench(logs=LogUploader(tmp_path / "uploads", charge_point_id="CP1",
                                             security_log=small, diagnostics=None))

    for n in range(80):  # about 16 KiB of events: the first generation rotates out
        cp.protocol.report_security_event("InvalidMessages", f"frame {n}: " + "x" * 100)

    cleared = await eventually(
        lambda: [e for e in sent(csms, "SecurityEventNotification")
                 if e["type"] == "SecurityLogWasCleared"], "SecurityLogWasCleared")
    assert "oldest events were deleted" in cleared[0]["techInfo"]
    for path in (small.path, small.previous_path):
        assert path.stat().st_size <= small.max_bytes
    kept = small.entries()
    assert kept[-1].tech_info.startswith("frame 79:"), "the newest events are kept"
    assert any(e.type == "SecurityLogWasCleared" for e in kept), "the clearing is logged too"
    assert len(kept) < 80

    assert small.clear("cleared by the operator") == len(kept)
    await eventually(lambda: any("cleared by the operator" in (e.get("techInfo") or "")
                                 for e in sent(csms, "SecurityEventNotification")),
                     "SecurityLogWasCleared after clear()")
    assert [e.type for e in small.entries()] == ["SecurityLogWasCleared"]


async def test_the_log_uploader_is_built_from_the_configuration_beside_the_store(
        csms: CentralSystem, tmp_path: Path) -> None:
    config = station_config(csms.url, storage={"path": str(tmp_path / "pievse.sqlite3")},
                            ocpp={"security_profile": 1, "password": AUTHORIZATION_KEY})
    uploader = log_uploader(config, None, LinkSecurity(config))

    assert uploader.security_log is not None and uploader.diagnostics is None
    assert uploader.security_log.folder == tmp_path / "security-log"
    assert stat.S_IMODE(uploader.security_log.folder.stat().st_mode) == 0o700
    uploader.security_log.record("StartupOfTheDevice", tech_info=f"key {AUTHORIZATION_KEY}")
    assert AUTHORIZATION_KEY not in uploader.security_log.path.read_text(), \
        "the password in force is one of the secrets blanked"
    assert uploader.why_not(LogType.DIAGNOSTICS, "http://127.0.0.1/up/") == \
        "diagnostics are not set up on this charge point"
