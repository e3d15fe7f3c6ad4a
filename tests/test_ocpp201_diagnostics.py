# ruff: noqa: F811 - tests take the shared `server` fixture imported from test_diagnostics
"""OCPP 2.0.1 N Diagnostics, the log part (N01 GetLog), end to end: the daemon on 2.0.1 with its
own log uploader (the security log and the diagnostics bundle beside its store), the bench CSMS
sending GetLog over a real websocket, and the log going by HTTP PUT to a stdlib server on
127.0.0.1, which the test then opens. Named after the OCTT test cases (TC_N_*)."""

from __future__ import annotations

import asyncio
import json
import re
import tarfile
from io import BytesIO

import pytest

from tests.conftest import eventually
from tests.ocpp201 import OCPP201
from tests.test_diagnostics import UploadServer, server  # noqa: F401 - the fixture, shared
from tests.test_firmware_update import now_iso
from tests.test_get_log import get_log, log_statuses

pytestmark = pytest.mark.asyncio


async def trigger(csms) -> tuple[str, int | None]:
    count = len(log_statuses(csms))
    answer = await csms.call("CP1", "TriggerMessage",
                             {"requestedMessage": "LogStatusNotification"})
    assert answer == {"status": "Accepted"}
    await eventually(lambda: len(log_statuses(csms)) > count, "the triggered notification")
    return log_statuses(csms)[-1]


async def test_tc_n_25_diagnostics_log_is_uploaded_with_its_request_id(
        csms, start_station, server: UploadServer) -> None:
    await start_station(ocpp=OCPP201)

    answer = await csms.call("CP1", "GetLog", get_log(
        "DiagnosticsLog", 8, f"{server.url}/bundles/", oldestTimestamp=now_iso(-3600)))

    assert answer["status"] == "Accepted"
    name = answer["filename"]
    assert re.fullmatch(r"diagnostics-CP1-\d{8}T\d{6}Z\.tar\.gz", name)
    await eventually(lambda: log_statuses(csms) == [("Uploading", 8), ("Uploaded", 8)],
                     "Uploading, then Uploaded, with the requestId")
    with tarfile.open(fileobj=BytesIO(server.received[f"/bundles/{name}"]), mode="r:gz") as tar:
        names = {m.name.rpartition("/")[2] for m in tar.getmembers()}
    assert {"config.toml", "version.txt"} <= names


async def test_tc_n_35_security_log_is_uploaded(csms, start_station,
                                                server: UploadServer) -> None:
    station = await start_station(ocpp=OCPP201)
    station.protocol.report_security_event("InvalidMessages", "expired on 2024-01-01")

    answer = await csms.call("CP1", "GetLog", get_log(
        "SecurityLog", 7, f"{server.url}/logs/", oldestTimestamp=now_iso(-3600),
        latestTimestamp=now_iso(60)))

    assert answer["status"] == "Accepted"
    name = answer["filename"]
    assert re.fullmatch(r"security-log-CP1-\d{8}T\d{6}Z\.jsonl", name)
    await eventually(lambda: log_statuses(csms) == [("Uploading", 7), ("Uploaded", 7)],
                     "Uploaded")
    events = [json.loads(line) for line in server.received[f"/logs/{name}"].splitlines()]
    assert "InvalidMessages" in [e["type"] for e in events]


async def test_tc_n_34_get_log_rejected_for_a_location_not_supported(
        csms, start_station, server: UploadServer) -> None:
    await start_station(ocpp=OCPP201)
    for request in (get_log("DiagnosticsLog", 32, "file:///etc/passwd"),
                    get_log("SecurityLog", 33, "scp://csms.example/up/")):
        answer = await csms.call("CP1", "GetLog", request)
        assert answer["status"] == "Rejected" and "filename" not in answer
        assert "only http, https and ftp" in answer["statusInfo"]["additionalInfo"]
    await asyncio.sleep(0.2)  # nothing follows a rejection
    assert log_statuses(csms) == [] and server.attempts == 0


async def test_tc_n_36_a_second_request_cancels_the_first_and_a_trigger_tells_what_runs(
        csms, start_station, server: UploadServer) -> None:
    await start_station(ocpp=OCPP201)
    assert await trigger(csms) == ("Idle", None), "nothing under way yet"
    server.gate.clear()  # the server holds every upload until the gate opens
    first = await csms.call("CP1", "GetLog", get_log("SecurityLog", 21, f"{server.url}/a/"))
    await eventually(lambda: server.attempts == 1, "the first upload under way")
    assert await trigger(csms) == ("Uploading", 21)

    second = await csms.call("CP1", "GetLog", get_log("DiagnosticsLog", 22, f"{server.url}/b/"))
    assert first["status"] == "Accepted" and second["status"] == "AcceptedCanceled"
    await eventually(lambda: ("AcceptedCanceled", 21) in log_statuses(csms),
                     "the cancelled upload is told AcceptedCanceled")
    await eventually(lambda: server.attempts == 2, "the second upload under way")
    server.gate.set()

    await eventually(lambda: ("Uploaded", 22) in log_statuses(csms), "the second uploaded")
    assert f"/b/{second['filename']}" in server.received
    assert [s for s in log_statuses(csms) if s[1] == 21] == [
        ("Uploading", 21), ("Uploading", 21), ("AcceptedCanceled", 21)]
    assert await trigger(csms) == ("Idle", None)
