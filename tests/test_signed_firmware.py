# ruff: noqa: F811 - tests take the shared fixtures imported from the 1.6 firmware tests
"""SignedUpdateFirmware of the OCPP 1.6 security extension, end to end, with real crypto.

A manufacturer PKI is made here with ``cryptography``: a root CA, which the CSMS installs on the
charge point as its ManufacturerRootCertificate (InstallCertificate, over the wire), and a
firmware signing certificate under it; a second, foreign root with a signing certificate of its
own plays someone the charge point must not trust. A wheel of this checkout is built and signed
in the test, served by a stdlib HTTP server on 127.0.0.1, and installed by pip into a throwaway
venv; the embedded CSMS records every SignedFirmwareStatusNotification and security event.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pievse.csms.server import CallErrorResponse, CentralSystem
from pievse.services.firmware_rollback import load_record
from pievse.services.firmware_signature import (
    SignatureError,
    check_signing_certificate,
    verify_file_signature,
)
from tests.conftest import eventually
from tests.test_firmware_update import (
    NEW,
    OLD,
    UPDATE_TIMEOUT,
    FileServer,
    TargetVenv,
    build_wheel,
    now_iso,
    target,  # noqa: F401 - the fixture, shared
    untouched_target,  # noqa: F401 - the fixture, shared
    updater_for,
    venv_template,  # noqa: F401 - the fixture, shared
)
from tests.test_get_log import SecureBench, sent

UTC = dt.timezone.utc
DAY = dt.timedelta(days=1)


# --- a manufacturer PKI -------------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    """A certificate and its key."""

    certificate: x509.Certificate
    key: Any

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def sign(self, data: bytes, rsa_padding: Any = None) -> str:
        """The base64 signature of ``data`` with SHA-256 (ECDSA, or RSA with ``rsa_padding``,
        PKCS#1 v1.5 by default), as a manufacturer's release tooling makes it."""
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            raw = self.key.sign(data, ec.ECDSA(hashes.SHA256()))
        else:
            raw = self.key.sign(data, rsa_padding or padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(raw).decode()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Pievse Test Manufacturer"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_root(common_name: str) -> Signer:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(_name(common_name))
        .issuer_name(_name(common_name)).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - DAY).not_valid_after(now + 3650 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256()))
    return Signer(certificate, key)


def make_signer(root: Signer, *, key: Any = None, usage: Any = ExtendedKeyUsageOID.CODE_SIGNING,
                digital_signature: bool = True, ca: bool = False,
                not_after: dt.datetime | None = None) -> Signer:
    """A firmware signing certificate issued by ``root`` (EC P-256 unless ``key`` is given)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(_name("Pievse Firmware Signing"))
        .issuer_name(root.certificate.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - DAY).not_valid_after(not_after or now + 365 * DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=digital_signature, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            key_cert_sign=ca, crl_sign=False, encipher_only=False, decipher_only=False),
            critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            root.key.public_key()), critical=False)
        .sign(root.key, hashes.SHA256()))
    return Signer(certificate, key)


@dataclass(frozen=True)
class ManufacturerPki:
    root: Signer
    signer: Signer
    foreign_root: Signer
    foreign_signer: Signer


@pytest.fixture(scope="module")
def pki() -> ManufacturerPki:
    root, foreign = make_root("Pievse Manufacturer Root"), make_root("Somebody Else's Root")
    return ManufacturerPki(root, make_signer(root), foreign, make_signer(foreign))


# --- the bench ------------------------------------------------------------------------------------


@pytest.fixture
async def secure_bench(csms: CentralSystem, tmp_path: Path) -> AsyncIterator:
    """Start secured charge points (certificates in ``tmp_path``, kept across restarts)."""
    started: list[SecureBench] = []

    async def start(**options: Any) -> SecureBench:
        started.append(await SecureBench(csms, tmp_path, **options).start())
        return started[-1]

    yield start
    for each in started:
        await each.stop()


@pytest.fixture
def server() -> Iterator[FileServer]:
    files = FileServer()
    yield files
    files.close()


@pytest.fixture(autouse=True)
def _no_pythonpath(monkeypatch: pytest.MonkeyPatch) -> None:
    """The updater's subprocesses must see the target venv's pievse, not a checkout's."""
    monkeypatch.delenv("PYTHONPATH", raising=False)


async def trust(csms: CentralSystem, root: Signer) -> None:
    """The CSMS installs the manufacturer's root on the charge point."""
    answer = await csms.call("CP1", "InstallCertificate", {
        "certificateType": "ManufacturerRootCertificate", "certificate": root.pem})
    assert answer == {"status": "Accepted"}


def signed_update(request_id: int, url: str, signer: Signer, signature: str, *,
                  install_in: float | None = None, retrieve_in: float = 0.0) -> dict[str, Any]:
    """A SignedUpdateFirmware.req; ``*_in``: seconds from now."""
    firmware = {"location": url, "retrieveDateTime": now_iso(retrieve_in),
                "signingCertificate": signer.pem, "signature": signature}
    if install_in is not None:
        firmware["installDateTime"] = now_iso(install_in)
    return {"requestId": request_id, "retries": 0, "retryInterval": 0, "firmware": firmware}


def signed_statuses(csms: CentralSystem) -> list[tuple[str, int | None]]:
    return [(p["status"], p.get("requestId"))
            for p in sent(csms, "SignedFirmwareStatusNotification")]


def security_events(csms: CentralSystem) -> list[str]:
    return [p["type"] for p in sent(csms, "SecurityEventNotification")]


# --- the scenarios --------------------------------------------------------------------------------


async def test_a_signed_update_is_verified_installed_at_its_time_and_reported_with_its_request_id(
        csms: CentralSystem, secure_bench, server: FileServer, pki: ManufacturerPki,
        target: TargetVenv, tmp_path: Path) -> None:
    state = tmp_path / "state"
    cp = await secure_bench(firmware=updater_for(state, target))
    await trust(csms, pki.root)
    wheel = build_wheel(tmp_path, NEW)
    request = signed_update(42, server.serve(wheel), pki.signer,
                            pki.signer.sign(wheel.read_bytes()), install_in=8)

    answer = await csms.call("CP1", "SignedUpdateFirmware", request)

    assert answer == {"status": "Accepted"}
    await eventually(lambda: cp.restarts == 1, "the restart after installing", UPDATE_TIMEOUT)
    await eventually(lambda: len(signed_statuses(csms)) == 6, "InstallRebooting delivered")
    assert signed_statuses(csms) == [
        (status, 42) for status in ("Downloading", "Downloaded", "SignatureVerified",
                                    "InstallScheduled", "Installing", "InstallRebooting")]
    installing = next(m.time for m in csms.messages
                      if m.action == "SignedFirmwareStatusNotification"
                      and m.direction == "in" and m.payload["status"] == "Installing")
    install_date = dt.datetime.fromisoformat(
        request["firmware"]["installDateTime"].replace("Z", "+00:00"))
    assert installing >= install_date, "not installed before installDateTime"
    assert not sent(csms, "FirmwareStatusNotification"), "a signed update speaks its own message"
    assert target.version() == f"pievse {NEW}"

    # The new version comes up, registers, and reports Installed for request 42; the CSMS also
    # hears the security event FirmwareUpdated; a trigger then hears Idle.
    await cp.stop()
    updater = updater_for(state, target)
    updater.resume(running_version=NEW)
    await secure_bench(firmware=updater)
    await eventually(lambda: signed_statuses(csms)[6:] == [("Installed", 42)], "Installed")
    await eventually(lambda: "FirmwareUpdated" in security_events(csms), "FirmwareUpdated")
    await eventually(lambda: load_record(state / "firmware")["phase"] == "confirmed", "confirmed")
    assert await csms.call("CP1", "ExtendedTriggerMessage", {
        "requestedMessage": "FirmwareStatusNotification"}) == {"status": "Accepted"}
    await eventually(lambda: signed_statuses(csms)[7:] == [("Idle", None)], "Idle on trigger")


async def test_a_signature_that_does_not_match_installs_nothing_and_raises_a_security_event(
        csms: CentralSystem, secure_bench, server: FileServer, pki: ManufacturerPki,
        untouched_target: TargetVenv, tmp_path: Path) -> None:
    updater = updater_for(tmp_path / "state", untouched_target)
    cp = await secure_bench(firmware=updater)
    await trust(csms, pki.root)
    wheel = build_wheel(tmp_path, NEW)
    # Signed by the right key, but over other bytes: what a wheel swapped on the server gets.
    signature = pki.signer.sign(wheel.read_bytes() + b"\n")

    answer = await csms.call("CP1", "SignedUpdateFirmware",
                             signed_update(7, server.serve(wheel), pki.signer, signature))

    assert answer == {"status": "Accepted"}
    await eventually(lambda: ("InvalidSignature", 7) in signed_statuses(csms), "InvalidSignature")
    assert signed_statuses(csms) == [("Downloading", 7), ("Downloaded", 7),
                                     ("InvalidSignature", 7)]
    await eventually(lambda: "InvalidFirmwareSignature" in security_events(csms),
                     "the security event InvalidFirmwareSignature")
    await updater.wait()
    assert cp.restarts == 0 and untouched_target.version() == f"pievse {OLD}"
    assert not list((tmp_path / "state" / "firmware" / "downloads").iterdir()), \
        "the file that failed its signature is deleted"


async def test_a_signing_certificate_from_another_root_is_answered_invalid_certificate(
        csms: CentralSystem, secure_bench, server: FileServer, pki: ManufacturerPki,
        untouched_target: TargetVenv, tmp_path: Path) -> None:
    await secure_bench(firmware=updater_for(tmp_path / "state", untouched_target))
    wheel = build_wheel(tmp_path, NEW)
    url = server.serve(wheel)

    # No manufacturer root installed yet: nothing can vouch for any signer.
    untrusted = await csms.call("CP1", "SignedUpdateFirmware", signed_update(
        1, url, pki.signer, pki.signer.sign(wheel.read_bytes())))
    await trust(csms, pki.root)
    foreign = await csms.call("CP1", "SignedUpdateFirmware", signed_update(
        2, url, pki.foreign_signer, pki.foreign_signer.sign(wheel.read_bytes())))

    assert untrusted == foreign == {"status": "InvalidCertificate"}
    await eventually(lambda: security_events(csms).count("InvalidFirmwareSigningCertificate")
                     == 2, "a security event for each")
    events = [e for e in sent(csms, "SecurityEventNotification")
              if e["type"] == "InvalidFirmwareSigningCertificate"]
    assert "no ManufacturerRootCertificate is installed" in events[0]["techInfo"]
    assert "does not chain to an installed ManufacturerRootCertificate" in events[1]["techInfo"]
    assert server.requests == [] and signed_statuses(csms) == [], "nothing was fetched"


async def test_a_new_signed_update_cancels_one_scheduled_and_the_trigger_tells_the_last_status(
        csms: CentralSystem, secure_bench, server: FileServer, pki: ManufacturerPki,
        untouched_target: TargetVenv, tmp_path: Path) -> None:
    updater = updater_for(tmp_path / "state", untouched_target)
    await secure_bench(firmware=updater)
    await trust(csms, pki.root)
    wheel = build_wheel(tmp_path, NEW)
    url = server.serve(wheel)

    async def trigger() -> tuple[str, int | None]:
        count = len(signed_statuses(csms))
        assert await csms.call("CP1", "ExtendedTriggerMessage", {
            "requestedMessage": "FirmwareStatusNotification"}) == {"status": "Accepted"}
        await eventually(lambda: len(signed_statuses(csms)) > count, "the triggered status")
        return signed_statuses(csms)[-1]

    assert await trigger() == ("Idle", None), "no update yet"
    later = await csms.call("CP1", "SignedUpdateFirmware", signed_update(
        1, url, pki.signer, pki.signer.sign(wheel.read_bytes()), retrieve_in=3600))
    await eventually(lambda: signed_statuses(csms) == [("Idle", None), ("DownloadScheduled", 1)],
                     "DownloadScheduled")
    assert await trigger() == ("DownloadScheduled", 1)

    now = await csms.call("CP1", "SignedUpdateFirmware", signed_update(
        2, url, pki.signer, pki.signer.sign(b"another release")))

    assert later == {"status": "Accepted"} and now == {"status": "AcceptedCanceled"}
    await eventually(lambda: ("InvalidSignature", 2) in signed_statuses(csms), "the second ends")
    assert len(server.requests) == 1, "the cancelled update was never fetched"
    assert await trigger() == ("InvalidSignature", 2), "the last status sent, with its request"
    await updater.wait()
    assert untouched_target.version() == f"pievse {OLD}"


async def test_unsigned_update_firmware_is_refused_once_a_manufacturer_root_is_installed(
        csms: CentralSystem, secure_bench, untouched_target: TargetVenv, pki: ManufacturerPki,
        tmp_path: Path) -> None:
    updater = updater_for(tmp_path / "state", untouched_target)
    await secure_bench(firmware=updater)
    unsigned = {"location": "http://127.0.0.1:9/pievse.whl", "retrieveDate": now_iso(),
                "retries": 0}

    assert await csms.call("CP1", "UpdateFirmware", unsigned) == {}, \
        "without a manufacturer PKI, the 1.6 way still works"
    await eventually(lambda: [p["status"] for p in sent(csms, "FirmwareStatusNotification")]
                     == ["Downloading", "DownloadFailed"], "the unsigned update ran")
    await trust(csms, pki.root)
    with pytest.raises(CallErrorResponse) as refused:
        await csms.call("CP1", "UpdateFirmware", unsigned)

    assert refused.value.code == "NotSupported"
    await updater.wait()
    assert len(sent(csms, "FirmwareStatusNotification")) == 2, "the refused update never ran"


# --- the signature and the signing certificate, at the functions ---------------------------------


@pytest.fixture(scope="module")
def rsa_signer(pki: ManufacturerPki) -> Signer:
    return make_signer(pki.root, key=rsa.generate_private_key(public_exponent=65537,
                                                               key_size=2048))


@pytest.mark.parametrize("scheme", ["ecdsa-p256", "rsa-pkcs1v15", "rsa-pss"])
def test_sha256_signatures_of_ecdsa_and_rsa_verify_and_fail_on_one_changed_byte(
        pki: ManufacturerPki, rsa_signer: Signer, tmp_path: Path, scheme: str) -> None:
    firmware = tmp_path / "pievse-1.1.0-py3-none-any.whl"
    firmware.write_bytes(bytes(range(256)) * 4096)  # 1 MiB, hashed in chunks
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
    signer, rsa_padding = {"ecdsa-p256": (pki.signer, None),
                           "rsa-pkcs1v15": (rsa_signer, None),
                           "rsa-pss": (rsa_signer, pss)}[scheme]
    signature = signer.sign(firmware.read_bytes(), rsa_padding)

    verify_file_signature(firmware, signature, signer.pem)

    data = bytearray(firmware.read_bytes())
    data[123456] ^= 0x01
    firmware.write_bytes(bytes(data))
    with pytest.raises(SignatureError, match="does not match"):
        verify_file_signature(firmware, signature, signer.pem)


def test_a_signature_that_is_not_base64_is_refused(pki: ManufacturerPki, tmp_path: Path) -> None:
    firmware = tmp_path / "firmware.whl"
    firmware.write_bytes(b"pievse")
    with pytest.raises(SignatureError, match="not base64"):
        verify_file_signature(firmware, "not base64 at all!", pki.signer.pem)


def test_the_signing_certificate_must_chain_to_a_manufacturer_root_and_be_fit_to_sign(
        pki: ManufacturerPki) -> None:
    roots = [pki.root.certificate]
    now = dt.datetime.now(UTC)
    refusals = {
        "another root": check_signing_certificate(pki.foreign_signer.pem, roots),
        "no root": check_signing_certificate(pki.signer.pem, []),
        "expired": check_signing_certificate(
            make_signer(pki.root, not_after=now - dt.timedelta(hours=1)).pem, roots),
        "a CA": check_signing_certificate(make_signer(pki.root, ca=True).pem, roots),
        "no signatures": check_signing_certificate(
            make_signer(pki.root, digital_signature=False).pem, roots),
        "for TLS servers": check_signing_certificate(
            make_signer(pki.root, usage=ExtendedKeyUsageOID.SERVER_AUTH).pem, roots),
        "not PEM": check_signing_certificate("-----BEGIN CERTIFICATE-----\nnope", roots),
    }

    assert check_signing_certificate(pki.signer.pem, roots) is None
    assert {why: bool(reason) for why, reason in refusals.items()} == dict.fromkeys(refusals, True)
    assert "does not chain" in refusals["another root"]
    assert "not now" in refusals["expired"]
    assert "CA certificate" in refusals["a CA"]
    assert "digital signatures" in refusals["no signatures"]
    assert "code signing" in refusals["for TLS servers"]
