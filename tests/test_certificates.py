"""Certificate management of the OCPP 1.6 security extension, end to end and at the store.

The charge point renews its own certificate (ExtendedTriggerMessage -> SignCertificate ->
CertificateSigned) over mutual TLS against the stand-in CSMS, whose CA is the session's test PKI,
and the next connection presents the new certificate. Root certificates are installed, listed and
deleted over the wire, and their hash data is checked against cryptography's own OCSP CertID.
No log line may show a private key.
"""

from __future__ import annotations

import datetime as dt
import logging
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from ocpp.v16 import call, call_result

from pievse.services.certificates import CertificateHashData, CertificateStore, CertificateUse
from pievse.services.certificates import KeyType
from tests.conftest import eventually
from tests.tls_standins import (
    CPO_NAME,
    SecureCentralSystem,
    TestPki,
    key_material,
    leaks,
    logged_texts,
    online,
    secured_charge_point,
)

WAIT = 20.0
ROOT = CertificateUse.CENTRAL_SYSTEM_ROOT
MANUFACTURER = CertificateUse.MANUFACTURER_ROOT


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return TestPki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(autouse=True)
def no_private_key_is_logged(caplog: pytest.LogCaptureFixture, pki: TestPki, tmp_path: Path):
    caplog.set_level(logging.DEBUG)
    yield
    secrets = [line for issued in (pki.client, pki.foreign_client, pki.root, pki.issuing_ca)
               for line in key_material(issued.key_pem)]
    # ... and the keys the charge points made during the test.
    for path in tmp_path.rglob("charge-point*"):
        if path.suffix in (".pem", ".key"):
            secrets += key_material(path.read_text().split("-----END PRIVATE KEY-----")[0])
    records = caplog.get_records("setup") + caplog.get_records("call")
    assert not leaks(logged_texts(records), secrets)


def owner_only(directory: Path) -> list[str]:
    """The paths under ``directory`` that someone other than their owner could read."""
    return [str(p) for p in [directory, *directory.rglob("*")]
            if p.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)]


# --- the certificate signing request ------------------------------------------------------------


@pytest.mark.parametrize(("key_type", "is_expected_key"), [
    (KeyType.EC_P256, lambda k: isinstance(k, ec.EllipticCurvePublicKey)
     and k.curve.name == "secp256r1"),
    (KeyType.RSA_2048, lambda k: isinstance(k, rsa.RSAPublicKey) and k.key_size == 2048),
])
def test_a_signing_request_names_the_charge_point_and_the_cpo_and_keeps_its_key_private(
        tmp_path: Path, key_type: KeyType, is_expected_key):
    store = CertificateStore(tmp_path / "certificates")
    csr = x509.load_pem_x509_csr(store.new_signing_request("CP1", CPO_NAME, key_type).encode())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP1"
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == CPO_NAME
    assert is_expected_key(csr.public_key())
    usage = csr.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert owner_only(tmp_path / "certificates") == []
    with pytest.raises(ValueError, match="CpoName"):
        store.new_signing_request("CP1", "")


# --- renewing the charge point certificate over the wire ---------------------------------------


async def test_the_csms_renews_the_certificate_and_the_next_connection_presents_it(
        tmp_path: Path, pki: TestPki):
    factory_cert, factory_key = pki.client.write(tmp_path, "factory")
    changes: list[str] = []
    charge_point = secured_charge_point(tmp_path, profile=3, changes=changes)
    store = charge_point.certificates
    assert store.seed(central_system_roots=[pki.root_file], cert_file=factory_cert,
                      key_file=factory_key) == []
    requests: list[x509.CertificateSigningRequest] = []

    def csms_ca(csr_pem: str) -> str:
        requests.append(x509.load_pem_x509_csr(csr_pem.encode()))
        return pki.sign_csr(csr_pem)

    context = pki.server_context(pki.server, client_ca=pki.root)
    async with SecureCentralSystem(ssl_context=context, sign=csms_ca) as csms:
        async with online(charge_point, csms.url("localhost")):
            await eventually(lambda: charge_point.registered, "registered", WAIT)
            trigger = call.ExtendedTriggerMessage(requested_message="SignChargePointCertificate")
            assert (await csms.call("CP1", trigger)).status == "Accepted"
            await eventually(lambda: csms.certificate_signed_answers, "CertificateSigned", WAIT)
            await eventually(lambda: changes == ["certificate"], "the switch announced")
        async with online(charge_point, csms.url("localhost")):
            await eventually(lambda: charge_point.registered, "registered again", WAIT)

    assert csms.certificate_signed_answers == ["Accepted"]
    (csr,) = requests
    assert csr.subject.rfc4514_string() == f"O={CPO_NAME},CN=CP1"
    assert isinstance(csr.public_key(), ec.EllipticCurvePublicKey)
    first, second = (c.client_certificate for c in csms.connections)
    assert first == pki.client.certificate
    assert second != first and second.public_key() == csr.public_key()
    assert store.charge_point_certificate(previous=True) == pki.client.certificate
    assert owner_only(tmp_path / "certificates") == []
    assert not list((tmp_path / "certificates").glob("*pending*"))


async def test_a_chain_from_an_unknown_ca_is_rejected_reported_and_the_old_certificate_kept(
        tmp_path: Path, pki: TestPki):
    factory_cert, factory_key = pki.client.write(tmp_path, "factory")
    charge_point = secured_charge_point(tmp_path, profile=3)
    charge_point.certificates.seed(central_system_roots=[pki.root_file], cert_file=factory_cert,
                                   key_file=factory_key)
    foreign_ca = lambda csr: pki.sign_csr(csr, issuer=pki.foreign_root)  # noqa: E731
    context = pki.server_context(pki.server, client_ca=pki.root)
    async with SecureCentralSystem(ssl_context=context, sign=foreign_ca) as csms:
        async with online(charge_point, csms.url("localhost")):
            await eventually(lambda: charge_point.registered, "registered", WAIT)
            trigger = call.ExtendedTriggerMessage(requested_message="SignChargePointCertificate")
            assert (await csms.call("CP1", trigger)).status == "Accepted"
            await eventually(lambda: csms.certificate_signed_answers, "CertificateSigned", WAIT)
            events = await eventually(lambda: csms.actions("SecurityEventNotification"))
    assert csms.certificate_signed_answers == ["Rejected"]
    assert events[0]["type"] == "InvalidChargePointCertificate"
    assert "does not chain to an installed root" in events[0]["techInfo"]
    assert charge_point.certificates.charge_point_certificate() == pki.client.certificate


def test_a_certificate_is_installed_only_if_it_is_for_our_key_our_name_and_still_valid(
        tmp_path: Path, pki: TestPki):
    store = CertificateStore(tmp_path / "certificates")
    store.install_root(ROOT, pki.root.certificate_pem)
    assert not store.install_charge_point_certificate(pki.client.chain_pem).accepted  # no CSR
    csr = store.new_signing_request("CP1", CPO_NAME)
    yesterday = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
    bad_chains = {
        pki.sign_csr(csr, common_name="CP2"): "CN 'CP2' is not the charge point id 'CP1'",
        pki.client.chain_pem: "does not certify the key of our signing request",
        pki.sign_csr(csr, not_before=yesterday - dt.timedelta(days=30),
                     not_after=yesterday): "expired",
        pki.sign_csr(csr, issuer=pki.foreign_root): "does not chain to an installed root",
        # The leaf alone: the issuing CA between it and the root is missing.
        pki.sign_csr(csr).split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n":
            "does not chain to an installed root",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n": "not a PEM",
    }
    for chain, reason in bad_chains.items():
        outcome = store.install_charge_point_certificate(chain)
        assert (outcome.status, reason in outcome.reason) == ("Rejected", True), outcome
        assert store.charge_point_certificate() is None
    good = pki.sign_csr(csr)
    assert store.install_charge_point_certificate(good).accepted
    assert store.has_valid_charge_point_certificate()
    assert not store.install_charge_point_certificate(good).accepted  # its CSR is used up


def test_the_previous_certificate_is_kept_for_a_rollback(tmp_path: Path, pki: TestPki):
    store = CertificateStore(tmp_path / "certificates")
    store.install_root(ROOT, pki.root.certificate_pem)
    installed = []
    for _ in range(3):
        chain = pki.sign_csr(store.new_signing_request("CP1", CPO_NAME))
        assert store.install_charge_point_certificate(chain).accepted
        installed.append(store.charge_point_certificate())
    assert store.charge_point_certificate(previous=True) == installed[1]
    assert store.rollback_charge_point_certificate()
    assert store.charge_point_certificate() == installed[1]
    assert not store.rollback_charge_point_certificate()  # one step back, no further
    assert store.client_certificate_file() == store.client_certificate_path
    assert owner_only(tmp_path / "certificates") == []


def test_a_certificate_near_its_end_is_due_for_renewal_and_a_future_one_waits_its_turn(
        tmp_path: Path, pki: TestPki):
    store = CertificateStore(tmp_path / "certificates")
    store.install_root(ROOT, pki.root.certificate_pem)
    now = dt.datetime.now(dt.timezone.utc)
    short = pki.sign_csr(store.new_signing_request("CP1", CPO_NAME),
                         not_after=now + dt.timedelta(days=10))
    assert store.install_charge_point_certificate(short).accepted
    assert store.renewal_due()  # within the month before it ends
    later = pki.sign_csr(store.new_signing_request("CP1", CPO_NAME),
                         not_before=now + dt.timedelta(days=2),
                         not_after=now + dt.timedelta(days=400))
    assert store.install_charge_point_certificate(later).accepted
    # Until the new one's validity begins, connections keep presenting the previous one.
    assert store.client_certificate_file() == tmp_path / "certificates/charge-point.previous.pem"
    assert store.client_certificate_file(now + dt.timedelta(days=3)) == (
        store.client_certificate_path)
    assert not store.renewal_due()


# --- root certificates over the wire -------------------------------------------------------------


def ocsp_cert_id(certificate: x509.Certificate) -> dict[str, str]:
    """The hash data of a root as cryptography's OCSP request builder computes its CertID."""
    request = ocsp.OCSPRequestBuilder().add_certificate(
        certificate, certificate, hashes.SHA256()).build()
    return {"hashAlgorithm": "SHA256", "issuerNameHash": request.issuer_name_hash.hex(),
            "issuerKeyHash": request.issuer_key_hash.hex(),
            "serialNumber": f"{request.serial_number:x}"}


def hash_data(answer: call_result.GetInstalledCertificateIds) -> list[dict[str, str]]:
    """The answer's hash data as on the wire (the router hands it over in snake_case)."""
    return [CertificateHashData.from_ocpp(h).to_ocpp() for h in answer.certificate_hash_data]


async def test_install_list_and_delete_root_certificates_round_trip(tmp_path: Path,
                                                                      pki: TestPki):
    charge_point = secured_charge_point(tmp_path, profile=0)
    async with SecureCentralSystem() as csms:
        async with online(charge_point, csms.url()):
            await eventually(lambda: charge_point.registered, "registered", WAIT)

            async def send(request):
                return await csms.call("CP1", request)

            def install(use: CertificateUse, pem: str):
                return send(call.InstallCertificate(certificate_type=use.value, certificate=pem))

            def listed(use: CertificateUse):
                return send(call.GetInstalledCertificateIds(certificate_type=use.value))

            assert (await listed(ROOT)).status == "NotFound"
            assert (await install(ROOT, pki.root.certificate_pem)).status == "Accepted"
            assert (await install(ROOT, pki.root.certificate_pem)).status == "Accepted"
            assert (await install(MANUFACTURER, pki.foreign_root.certificate_pem)
                    ).status == "Accepted"
            assert (await install(ROOT, pki.server.certificate_pem)).status == "Rejected"
            assert (await install(ROOT, pki.issuing_ca.certificate_pem)).status == "Rejected"

            roots = await listed(ROOT)
            assert roots.status == "Accepted"
            assert hash_data(roots) == [ocsp_cert_id(pki.root.certificate)]
            manufacturer = await listed(MANUFACTURER)
            assert hash_data(manufacturer) == [ocsp_cert_id(pki.foreign_root.certificate)]

            delete = call.DeleteCertificate(certificate_hash_data=roots.certificate_hash_data[0])
            assert (await send(delete)).status == "Accepted"
            assert (await listed(ROOT)).status == "NotFound"
            assert (await send(delete)).status == "NotFound"
            assert len((await listed(MANUFACTURER)).certificate_hash_data) == 1
            events = await eventually(
                lambda: len(csms.actions("SecurityEventNotification")) == 2
                and csms.actions("SecurityEventNotification"))
    assert {e["type"] for e in events} == {"InvalidCentralSystemCertificate"}
    assert owner_only(tmp_path / "certificates") == []


def test_hash_data_matches_whatever_the_case_and_leading_zeros(pki: TestPki):
    ours = CertificateHashData.of(pki.root.certificate)
    theirs = CertificateHashData.from_ocpp({
        **{k: v.upper() for k, v in ours.to_ocpp().items() if k != "hashAlgorithm"},
        "hashAlgorithm": "SHA256", "serialNumber": "00" + ours.serial_number.upper()})
    assert ours.matches(theirs)
    assert not ours.matches(CertificateHashData.of(pki.foreign_root.certificate))


async def test_the_last_central_system_root_stays_while_tls_depends_on_it(tmp_path: Path,
                                                                          pki: TestPki):
    charge_point = secured_charge_point(tmp_path, profile=2, authorization_key="k" * 16)
    store = charge_point.certificates
    store.seed(central_system_roots=[pki.root_file])
    async with SecureCentralSystem(ssl_context=pki.server_context(pki.server),
                                   authorization_keys={"CP1": "k" * 16}) as csms:
        async with online(charge_point, csms.url("localhost")):
            await eventually(lambda: charge_point.registered, "registered", WAIT)
            last = call.DeleteCertificate(certificate_hash_data=ocsp_cert_id(
                pki.root.certificate))
            assert (await csms.call("CP1", last)).status == "Failed"
            assert store.install_root(ROOT, pki.foreign_root.certificate_pem).accepted
            assert (await csms.call("CP1", last)).status == "Accepted"
    assert store.installed(ROOT) == [pki.foreign_root.certificate]


def test_a_full_certificate_store_refuses_more(tmp_path: Path, pki: TestPki):
    store = CertificateStore(tmp_path / "certificates", max_certificates=1)
    assert store.install_root(ROOT, pki.root.certificate_pem).accepted
    outcome = store.install_root(MANUFACTURER, pki.foreign_root.certificate_pem)
    assert (outcome.status, outcome.reason) == ("Rejected", "the certificate store is full (1)")


# --- ExtendedTriggerMessage and security events ------------------------------------------------


async def test_extended_trigger_message_answers_what_it_can_do(tmp_path: Path):
    charge_point = secured_charge_point(tmp_path, cpo_name="")
    async with SecureCentralSystem() as csms:
        async with online(charge_point, csms.url()):
            await eventually(lambda: charge_point.registered, "registered", WAIT)

            async def trigger(message: str, connector_id: int | None = None) -> str:
                answer = await csms.call("CP1", call.ExtendedTriggerMessage(
                    requested_message=message, connector_id=connector_id))
                return answer.status

            assert await trigger("LogStatusNotification") == "NotImplemented"
            assert await trigger("Heartbeat", connector_id=9) == "Rejected"
            assert await trigger("SignChargePointCertificate") == "Rejected"  # no CpoName
            for name, status in (("", "Rejected"), ("ACME Charging", "Accepted")):
                answer = await csms.call("CP1", call.ChangeConfiguration(key="CpoName",
                                                                         value=name))
                assert answer.status == status
            assert await trigger("SignChargePointCertificate") == "Accepted"
            (request,) = await eventually(lambda: csms.actions("SignCertificate"), "the CSR")
            csr = x509.load_pem_x509_csr(request["csr"].encode())
            assert csr.subject.rfc4514_string() == "O=ACME Charging,CN=CP1"
            assert await trigger("Heartbeat") == "Accepted"
            await eventually(lambda: csms.actions("Heartbeat"), "the triggered Heartbeat")
            assert await trigger("StatusNotification", connector_id=1) == "Accepted"
            await eventually(lambda: len(csms.actions("StatusNotification")) >= 2,
                             "the triggered StatusNotification")


async def test_a_critical_event_that_happened_offline_reaches_the_csms_after_registration(
        tmp_path: Path):
    charge_point = secured_charge_point(tmp_path)
    charge_point.report_security_event("StartupOfTheDevice", "pievse started")
    async with SecureCentralSystem() as csms:
        async with online(charge_point, csms.url()):
            events = await eventually(lambda: csms.actions("SecurityEventNotification"),
                                      "the queued event", WAIT)
    assert events[0]["type"] == "StartupOfTheDevice"
    assert events[0]["techInfo"] == "pievse started"
