# ruff: noqa: F811 - tests take the shared fixtures imported from the 1.6 firmware tests
"""OCPP 2.0.1 L Firmware management, end to end over websockets against the bench CSMS, with the
same updater as 1.6 and real parts: wheels of this checkout built here, served by a stdlib HTTP
server on 127.0.0.1, installed by pip into a throwaway venv; a manufacturer PKI made with
``cryptography``; the restart played as the 1.6 test plays it (the rollback check runs the new
version, then a charging station with a resumed updater registers again).

Named after the OCTT test cases they follow (TC_L_*: L01 secure update, L02 without signature).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pievse.core.authorization import IdToken, IdTokenType
from pievse.core.effects import TokenAnswered
from pievse.core.iec61851 import PilotState
from pievse.csms.server import CentralSystem
from pievse.protocol.common.charge_point_parts import ChargePointParts
from pievse.protocol.common.transport_security import SecurityProfile, SecurityState
from pievse.protocol.v201.adapter import ChargePoint201
from pievse.services.certificates import CertificateStore
from pievse.services.diagnostics import DiagnosticsUploader
from pievse.services.firmware import FirmwareStatus, FirmwareUpdater
from pievse.services.firmware_rollback import load_record
from tests.conftest import eventually
from tests.ocpp201 import sent, set_variable
from tests.test_firmware_update import (
    NEW,
    OLD,
    UPDATE_TIMEOUT,
    Bench,
    FileServer,
    TargetVenv,
    build_wheel,
    now_iso,
    restarted,
    server,  # noqa: F401 - the fixture, shared
    target,  # noqa: F401 - the fixture, shared
    untouched_target,  # noqa: F401 - the fixture, shared
    updater_for,
    venv_template,  # noqa: F401 - the fixture, shared
)
from tests.test_signed_firmware import ManufacturerPki, Signer, pki, trust  # noqa: F401

pytestmark = pytest.mark.asyncio


@pytest.fixture(autouse=True)
def _no_pythonpath(monkeypatch: pytest.MonkeyPatch) -> None:
    """The updater's subprocesses must see the target venv's pievse, not a checkout's."""
    monkeypatch.delenv("PYTHONPATH", raising=False)


class Bench201(Bench):
    """The 1.6 bench's charging station on 2.0.1, its certificates in ``folder`` (kept across
    restarts)."""

    def __init__(self, csms: CentralSystem, folder: Path, firmware: FirmwareUpdater | None,
                 connectors: int = 1) -> None:
        self.certificates = CertificateStore(folder / "certificates")
        self.security = SecurityState(folder / "certificates" / "security.json",
                                      profile=SecurityProfile(0))
        super().__init__(csms, "CP1", firmware, connectors=connectors)

    def make_protocol(self, cp_id: str, firmware: FirmwareUpdater | None,
                      diagnostics: DiagnosticsUploader | None) -> Any:
        return ChargePoint201(self.station, self.dispatch, ChargePointParts(
            vendor="pievse", model="bench", charge_point_id=cp_id, response_timeout=5,
            firmware=firmware, certificates=self.certificates, security_state=self.security))



@pytest.fixture
async def bench(csms: CentralSystem, tmp_path: Path) -> AsyncIterator:
    started: list[Bench201] = []

    async def start(firmware: FirmwareUpdater | None, connectors: int = 1) -> Bench201:
        started.append(await Bench201(csms, tmp_path, firmware, connectors).start())
        return started[-1]

    yield start
    for each in started:
        await each.stop()


def update_firmware(request_id: int, url: str, signer: Signer | None = None,
                    signature: str | None = None, *,
                    install_in: float | None = None) -> dict[str, Any]:
    """An UpdateFirmwareRequest; ``install_in``: seconds from now."""
    firmware: dict[str, Any] = {"location": url, "retrieveDateTime": now_iso()}
    if signer is not None:
        firmware["signingCertificate"] = signer.pem
    if signature is not None:
        firmware["signature"] = signature
    if install_in is not None:
        firmware["installDateTime"] = now_iso(install_in)
    return {"requestId": request_id, "retries": 0, "retryInterval": 0, "firmware": firmware}


def statuses(csms: CentralSystem) -> list[tuple[str, int | None]]:
    return [(p["status"], p.get("requestId")) for p in sent(csms, "FirmwareStatusNotification")]


def security_events(csms: CentralSystem) -> list[str]:
    return [p["type"] for p in sent(csms, "SecurityEventNotification")]


async def trusting_bench(csms: CentralSystem, bench, pki: ManufacturerPki, target: TargetVenv,
                         tmp_path: Path) -> tuple[Bench201, FirmwareUpdater, Path]:
    """A station that trusts the manufacturer's root, its updater, and a wheel to offer it."""
    updater = updater_for(tmp_path / "state", target)
    cp = await bench(updater)
    await trust(csms, pki.root)
    return cp, updater, build_wheel(tmp_path, NEW)


async def trigger(csms: CentralSystem) -> dict[str, Any]:
    return await csms.call("CP1", "TriggerMessage",
                           {"requestedMessage": "FirmwareStatusNotification"})


async def test_tc_l_01_secure_update_installs_reboots_and_reports_installed_after_restart(
        csms: CentralSystem, bench, server: FileServer, target: TargetVenv,
        pki: ManufacturerPki, tmp_path: Path) -> None:
    state = tmp_path / "state"
    cp = await bench(updater_for(state, target))
    await trust(csms, pki.root)
    wheel = build_wheel(tmp_path, NEW)

    answer = await csms.call("CP1", "UpdateFirmware", update_firmware(
        42, server.serve(wheel), pki.signer, pki.signer.sign(wheel.read_bytes()), install_in=4))

    assert answer == {"status": "Accepted"}
    await eventually(lambda: cp.restarts == 1, "the restart after installing", UPDATE_TIMEOUT)
    await eventually(lambda: len(statuses(csms)) == 6, "InstallRebooting delivered")
    assert statuses(csms) == [(status, 42) for status in (
        "Downloading", "Downloaded", "SignatureVerified", "InstallScheduled", "Installing",
        "InstallRebooting")]
    assert target.version() == f"pievse {NEW}"

    await cp.stop()
    boots = len(sent(csms, "BootNotification"))
    assert {b["reason"] for b in sent(csms, "BootNotification")} == {"PowerUp"}
    # The new version registers and reports Installed with the requestId, and FirmwareUpdated.
    await bench(restarted(state, target))
    assert sent(csms, "BootNotification")[boots]["reason"] == "FirmwareUpdate"
    await eventually(lambda: statuses(csms)[6:] == [("Installed", 42)], "Installed")
    await eventually(lambda: "FirmwareUpdated" in security_events(csms), "FirmwareUpdated")
    await eventually(lambda: load_record(state / "firmware")["report"] is None,
                     "Installed delivered and its report cleared")
    assert load_record(state / "firmware")["phase"] == "confirmed"
    # F06: after Installed, a trigger hears Idle, without a requestId.
    assert await trigger(csms) == {"status": "Accepted"}
    await eventually(lambda: statuses(csms)[7:] == [("Idle", None)], "Idle on trigger")


async def test_l02_update_without_signature_installs_after_the_transaction_ends(
        csms: CentralSystem, bench, server: FileServer, target: TargetVenv,
        tmp_path: Path) -> None:
    updater = updater_for(tmp_path / "state", target)
    cp = await bench(updater)
    cp.dispatch(cp.station.pilot_changed(1, PilotState.B))
    cp.dispatch(cp.station.token_presented(IdToken("04A1B2C3", IdTokenType.ISO14443)))
    await eventually(lambda: cp.station.transactions(), "a transaction under way")

    answer = await csms.call("CP1", "UpdateFirmware", update_firmware(
        5, server.serve(build_wheel(tmp_path, NEW))))

    assert answer == {"status": "Accepted"}
    await eventually(lambda: ("InstallScheduled", 5) in statuses(csms), "InstallScheduled")
    await asyncio.sleep(20 * updater.idle_poll)
    assert updater.status is FirmwareStatus.INSTALL_SCHEDULED, "nothing installed under a car"
    assert target.version() == f"pievse {OLD}" and cp.restarts == 0
    assert await trigger(csms) == {"status": "Accepted"}
    await eventually(lambda: statuses(csms)[-1] == ("InstallScheduled", 5),
                     "the trigger tells the step under way")

    cp.dispatch(cp.station.pilot_changed(1, PilotState.A))  # the car leaves: the session ends
    await eventually(lambda: cp.restarts == 1, "installed, then a restart", UPDATE_TIMEOUT)
    await eventually(lambda: len(statuses(csms)) == 6, "InstallRebooting delivered")
    assert [s for s, _ in statuses(csms)] == [
        "Downloading", "Downloaded", "InstallScheduled", "InstallScheduled", "Installing",
        "InstallRebooting"]
    assert target.version() == f"pievse {NEW}"


def evse_statuses(csms: CentralSystem, evse_id: int) -> list[str]:
    return [p["connectorStatus"] for p in sent(csms, "StatusNotification")
            if p["evseId"] == evse_id]


def present(cp: Bench201, evse_id: int, tag: str) -> list[TokenAnswered]:
    """Plug in on ``evse_id`` and present ``tag``: what the station answered at once (nothing
    while it asks the CSMS)."""
    cp.dispatch(cp.station.pilot_changed(evse_id, PilotState.B))
    effects = cp.station.token_presented(IdToken(tag, IdTokenType.ISO14443))
    cp.dispatch(effects)
    return [e for e in effects if isinstance(e, TokenAnswered)]


async def charging(cp: Bench201, evse_id: int, tag: str) -> None:
    assert present(cp, evse_id, tag) == []
    await eventually(lambda: any(t.connector_id == evse_id for t in cp.station.transactions()),
                     f"a transaction on EVSE {evse_id}")


@pytest.mark.parametrize("allow_new_sessions", [False, True])
async def test_tc_l_13_an_install_waiting_for_a_transaction_holds_the_other_evses(
        csms: CentralSystem, bench, server: FileServer, target: TargetVenv,
        pki: ManufacturerPki, tmp_path: Path, allow_new_sessions: bool) -> None:
    updater = updater_for(tmp_path / "state", target)
    cp = await bench(updater, connectors=2)
    await trust(csms, pki.root)
    if allow_new_sessions:
        assert await set_variable(csms, "ChargingStation",
                                  "AllowNewSessionsPendingFirmwareUpdate", "true") == "Accepted"
    await charging(cp, 1, "04A1B2C3")
    wheel = build_wheel(tmp_path, NEW)

    answer = await csms.call("CP1", "UpdateFirmware", update_firmware(
        13, server.serve(wheel), pki.signer, pki.signer.sign(wheel.read_bytes())))

    assert answer == {"status": "Accepted"}
    await eventually(lambda: ("InstallScheduled", 13) in statuses(csms), "InstallScheduled")
    if allow_new_sessions:
        assert evse_statuses(csms, 2)[-1] == "Available"
        await charging(cp, 2, "04B0B0B0")  # the CSMS lets new sessions start
        cp.dispatch(cp.station.pilot_changed(2, PilotState.A))
    else:
        # L01.FR.07: the EVSE not in use is Unavailable, and no session starts there.
        await eventually(lambda: evse_statuses(csms, 2)[-1:] == ["Unavailable"], "Unavailable")
        [refused] = present(cp, 2, "04B0B0B0")
        assert not refused.accepted and cp.station.connector(2).transaction is None
        assert cp.station.connector(2).operative, "the CSMS's availability is its own"
    assert evse_statuses(csms, 1)[-1] == "Occupied", "the running session goes on"
    assert target.version() == f"pievse {OLD}" and cp.restarts == 0

    cp.dispatch(cp.station.pilot_changed(1, PilotState.A))  # the session ends
    await eventually(lambda: cp.restarts == 1, "installed, then a restart", UPDATE_TIMEOUT)
    if not allow_new_sessions:
        await eventually(lambda: evse_statuses(csms, 1)[-1:] == ["Unavailable"],
                         "held until the restart")
    assert target.version() == f"pievse {NEW}"


async def test_tc_l_06_a_signature_that_does_not_verify_installs_nothing(
        csms: CentralSystem, bench, server: FileServer, untouched_target: TargetVenv,
        pki: ManufacturerPki, tmp_path: Path) -> None:
    cp, updater, wheel = await trusting_bench(csms, bench, pki, untouched_target, tmp_path)
    signature = pki.signer.sign(wheel.read_bytes() + b"\n")  # the right key, other bytes

    answer = await csms.call("CP1", "UpdateFirmware", update_firmware(
        7, server.serve(wheel), pki.signer, signature))

    assert answer == {"status": "Accepted"}
    await eventually(lambda: ("InvalidSignature", 7) in statuses(csms), "InvalidSignature")
    assert statuses(csms) == [("Downloading", 7), ("Downloaded", 7), ("InvalidSignature", 7)]
    await eventually(lambda: "InvalidFirmwareSignature" in security_events(csms),
                     "the security event InvalidFirmwareSignature")
    await updater.wait()
    assert cp.restarts == 0 and untouched_target.version() == f"pievse {OLD}"
    assert await trigger(csms) == {"status": "Accepted"}
    await eventually(lambda: statuses(csms)[3:] == [("InvalidSignature", 7)],
                     "the trigger tells the last status sent")


async def test_tc_l_05_invalid_signing_certificate_is_answered_invalid_certificate(
        csms: CentralSystem, bench, server: FileServer, untouched_target: TargetVenv,
        pki: ManufacturerPki, tmp_path: Path) -> None:
    await bench(updater_for(tmp_path / "state", untouched_target))
    wheel = build_wheel(tmp_path, NEW)
    url = server.serve(wheel)

    untrusted = await csms.call("CP1", "UpdateFirmware", update_firmware(
        1, url, pki.signer, pki.signer.sign(wheel.read_bytes())))
    await trust(csms, pki.root)
    foreign = await csms.call("CP1", "UpdateFirmware", update_firmware(
        2, url, pki.foreign_signer, pki.foreign_signer.sign(wheel.read_bytes())))

    assert untrusted["status"] == foreign["status"] == "InvalidCertificate"
    await eventually(lambda: security_events(csms).count("InvalidFirmwareSigningCertificate")
                     == 2, "a security event for each")
    assert server.requests == [] and statuses(csms) == [], "nothing was fetched"

    # Once a manufacturer root is installed, firmware without a signature is refused too.
    unsigned = await csms.call("CP1", "UpdateFirmware", update_firmware(3, url))
    half = await csms.call("CP1", "UpdateFirmware", update_firmware(4, url, pki.signer))
    assert unsigned["status"] == half["status"] == "Rejected"
    assert server.requests == []


async def test_tc_l_03_tc_l_10_a_new_update_cancels_one_download_scheduled(
        csms: CentralSystem, bench, server: FileServer, untouched_target: TargetVenv,
        pki: ManufacturerPki, tmp_path: Path) -> None:
    cp, updater, wheel = await trusting_bench(csms, bench, pki, untouched_target, tmp_path)
    url = server.serve(wheel)
    later = update_firmware(8, url, pki.signer, pki.signer.sign(wheel.read_bytes()))
    later["firmware"]["retrieveDateTime"] = now_iso(3600)
    assert (await csms.call("CP1", "UpdateFirmware", later))["status"] == "Accepted"
    await eventually(lambda: statuses(csms) == [("DownloadScheduled", 8)], "DownloadScheduled")

    broken = update_firmware(9, url, pki.signer, pki.signer.sign(b"other bytes"))
    assert (await csms.call("CP1", "UpdateFirmware", broken))["status"] == "AcceptedCanceled"
    await eventually(lambda: ("InvalidSignature", 9) in statuses(csms), "the new one ran")
    await updater.wait()
    assert untouched_target.version() == f"pievse {OLD}"


async def test_tc_l_07_a_download_that_fails_ends_in_download_failed(
        csms: CentralSystem, bench, server: FileServer, untouched_target: TargetVenv,
        pki: ManufacturerPki, tmp_path: Path) -> None:
    cp, updater, wheel = await trusting_bench(csms, bench, pki, untouched_target, tmp_path)
    url = server.serve(wheel) + ".gone"

    answer = await csms.call("CP1", "UpdateFirmware", update_firmware(
        11, url, pki.signer, pki.signer.sign(b"whatever")))

    assert answer == {"status": "Accepted"}
    await eventually(lambda: ("DownloadFailed", 11) in statuses(csms), "DownloadFailed")
    assert statuses(csms) == [("Downloading", 11), ("DownloadFailed", 11)]
    assert cp.restarts == 0 and untouched_target.version() == f"pievse {OLD}"


async def test_update_firmware_is_rejected_where_no_updater_is_set_up(
        csms: CentralSystem, bench) -> None:
    await bench(None)
    answer = await csms.call("CP1", "UpdateFirmware", update_firmware(1, "http://127.0.0.1/x"))
    assert answer["status"] == "Rejected"
    assert answer["statusInfo"]["reasonCode"] == "NotSupported"
    assert await trigger(csms) == {"status": "Accepted"}
    await eventually(lambda: statuses(csms) == [("Idle", None)], "Idle")
