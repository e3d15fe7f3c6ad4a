# ruff: noqa: F811 - tests take the shared `pki` fixture imported from test_daemon_security
"""OCPP 2.0.1 certificate management, end to end over websockets against the bench CSMS: roots
installed, listed and deleted (M03-M05), the charging station's and the V2G certificate renewed
with a key made on the station (A02), and the request repeated when no certificate comes. Named
after the OCTT test cases where one exists, else after the use case."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from pievse.services.certificates import CertificateHashData, Leaf
from tests.conftest import eventually
from tests.ocpp201 import OCPP201, get_variable, sent, set_variable
from tests.test_ocpp16_sessions import next_one, sent_at
from tests.test_daemon_security import pki  # noqa: F401 - a fixture
from tests.tls_standins import CPO_NAME, DAY

pytestmark = pytest.mark.asyncio

SECURE = {**OCPP201, "cpo_name": CPO_NAME}


async def _install(csms, kind: str, pem: str) -> dict:
    return await csms.call("CP1", "InstallCertificate", {"certificateType": kind,
                                                         "certificate": pem})


async def _installed(csms, *kinds: str) -> dict:
    return await csms.call("CP1", "GetInstalledCertificateIds",
                           {"certificateType": list(kinds)} if kinds else {})


def _hash_of(certificate: x509.Certificate) -> dict:
    return CertificateHashData.of(certificate).to_ocpp()


@pytest.mark.parametrize("kind", ["CSMSRootCertificate", "ManufacturerRootCertificate",
                                  "V2GRootCertificate", "MORootCertificate"])
async def test_tc_m_01_to_04_install_ca_certificate_and_get_installed_ids(
        csms, start_station, pki, kind):
    await start_station(ocpp=SECURE)
    assert (await _installed(csms, kind))["status"] == "NotFound"
    assert (await _install(csms, kind, pki.root.certificate_pem))["status"] == "Accepted"
    answer = await _installed(csms, kind)
    assert answer["status"] == "Accepted"
    assert answer["certificateHashDataChain"] == [
        {"certificateType": kind, "certificateHashData": _hash_of(pki.root.certificate)}]
    assert (await get_variable(csms, "SecurityCtrlr", "CertificateEntries"))[
        "attributeValue"] == "1"


async def test_m05_a_leaf_is_no_root_and_a_refused_csms_root_is_a_security_event(
        csms, start_station, pki):
    await start_station(ocpp=SECURE)
    answer = await _install(csms, "CSMSRootCertificate", pki.client.certificate_pem)
    assert answer["status"] == "Rejected" and answer["statusInfo"]["additionalInfo"]
    await eventually(lambda: any(e["type"] == "InvalidCsmsCertificate"
                                 for e in sent(csms, "SecurityEventNotification")),
                     what="InvalidCsmsCertificate")
    assert (await _installed(csms))["status"] == "NotFound"


async def test_tc_m_20_delete_a_certificate_and_tc_m_22_no_matching_certificate(
        csms, start_station, pki):
    await start_station(ocpp=SECURE)
    for root in (pki.root, pki.foreign_root):
        await _install(csms, "ManufacturerRootCertificate", root.certificate_pem)
    hashes = [c["certificateHashData"] for c in (await _installed(csms))[
        "certificateHashDataChain"]]
    assert _hash_of(pki.root.certificate) in hashes
    answer = await csms.call("CP1", "DeleteCertificate",
                             {"certificateHashData": _hash_of(pki.root.certificate)})
    assert answer["status"] == "Accepted"
    hashes = [c["certificateHashData"] for c in (await _installed(csms))[
        "certificateHashDataChain"]]
    assert hashes == [_hash_of(pki.foreign_root.certificate)]
    answer = await csms.call("CP1", "DeleteCertificate",
                             {"certificateHashData": _hash_of(pki.root.certificate)})
    assert answer["status"] == "NotFound"


async def _renewed(csms, station, pki, trigger: str, kind: str) -> x509.Certificate:
    csms.sign = pki.sign_csr
    root_kind = "V2GRootCertificate" if kind == "V2GCertificate" else "CSMSRootCertificate"
    await _install(csms, root_kind, pki.root.certificate_pem)
    answer = await csms.call("CP1", "TriggerMessage", {"requestedMessage": trigger})
    assert answer["status"] == "Accepted"
    message = await csms.wait_for_message("CP1", "CertificateSigned", "in")
    assert message.payload["status"] == "Accepted"
    [request] = sent(csms, "SignCertificate")
    assert request["certificateType"] == kind
    csr = x509.load_pem_x509_csr(request["csr"].encode())
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP1"
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == CPO_NAME
    leaf = Leaf.V2G if kind == "V2GCertificate" else Leaf.CHARGE_POINT
    installed = station.security.certificates.charge_point_certificate(leaf=leaf)
    assert installed is not None and installed.public_key() == csr.public_key()
    return installed


async def test_tc_a_11_update_charging_station_certificate_by_request_of_csms(
        csms, start_station, pki):
    station = await start_station(ocpp=SECURE)
    connections = csms.charge_points["CP1"].connections
    await _renewed(csms, station, pki, "SignChargingStationCertificate",
                   "ChargingStationCertificate")
    # Used from the next connection on: the station reconnects to present it.
    await eventually(lambda: csms.charge_points["CP1"].connections > connections
                     and station.protocol.registered, timeout=20, what="reconnected")


async def test_a02_the_v2g_certificate_is_made_the_same_way_and_listed_as_a_chain(
        csms, start_station, pki):
    station = await start_station(ocpp=SECURE)
    certificate = await _renewed(csms, station, pki, "SignV2GCertificate", "V2GCertificate")
    answer = await _installed(csms, "V2GCertificateChain")
    [chain] = answer["certificateHashDataChain"]
    assert chain["certificateHashData"] == CertificateHashData.of(
        certificate, pki.issuing_ca.certificate).to_ocpp()
    # The station's own certificate is not among the deletable ones.
    assert station.security.certificates.charge_point_certificate() is None


async def test_a02_a_certificate_not_for_our_key_is_rejected_and_reported(
        csms, start_station, pki):
    await start_station(ocpp=SECURE)
    await _install(csms, "CSMSRootCertificate", pki.root.certificate_pem)
    # Signed for another key than the one the station made: never taken.
    csms.sign = lambda csr: pki.client.chain_pem
    await csms.call("CP1", "TriggerMessage",
                    {"requestedMessage": "SignChargingStationCertificate"})
    message = await csms.wait_for_message("CP1", "CertificateSigned", "in")
    assert message.payload["status"] == "Rejected"
    await eventually(lambda: any(e["type"] == "InvalidChargingStationCertificate"
                                 for e in sent(csms, "SecurityEventNotification")),
                     what="InvalidChargingStationCertificate")


async def test_a02_without_an_organization_name_no_certificate_can_be_asked_for(
        csms, start_station):
    await start_station(ocpp=OCPP201)
    answer = await csms.call("CP1", "TriggerMessage",
                             {"requestedMessage": "SignChargingStationCertificate"})
    assert answer["status"] == "Rejected"
    # OrganizationName is 1.6's CpoName: set under either version, it holds for both.
    assert await set_variable(csms, "SecurityCtrlr", "OrganizationName", CPO_NAME) == "Accepted"
    answer = await csms.call("CP1", "TriggerMessage",
                             {"requestedMessage": "SignChargingStationCertificate"})
    assert answer["status"] == "Accepted"
    await eventually(lambda: sent(csms, "SignCertificate"), what="SignCertificate")


async def test_a02_fr_17_no_certificate_signed_the_request_is_repeated_with_doubling_waits(
        csms, start_station, fake_clock):
    csms.on_call = lambda cp, action, payload: (
        {"status": "Accepted"} if action == "SignCertificate" else None)
    await start_station(ocpp=SECURE)
    assert await set_variable(csms, "SecurityCtrlr", "CertSigningWaitMinimum", "10") == \
        "Accepted"
    assert await set_variable(csms, "SecurityCtrlr", "CertSigningRepeatTimes", "2") == \
        "Accepted"
    await csms.call("CP1", "TriggerMessage",
                    {"requestedMessage": "SignChargingStationCertificate"})
    await eventually(lambda: sent(csms, "SignCertificate"), what="the first request")
    first = sent_at(csms, "SignCertificate")[0]
    second = await next_one(fake_clock, csms, "SignCertificate", 10)
    third = await next_one(fake_clock, csms, "SignCertificate", 20)
    assert [second - first, third - second] == [10, 20]
    requests = sent(csms, "SignCertificate")
    assert len({r["csr"] for r in requests}) == 1, "the same request, for the same key"
    for _ in range(100):
        await fake_clock.advance(1)
    assert len(sent(csms, "SignCertificate")) == 3, "no more than CertSigningRepeatTimes"


async def test_a03_the_station_asks_for_a_new_certificate_a_month_before_its_own_expires(
        csms, start_station, pki, tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    ending = pki.issue("CP1", issuer=pki.issuing_ca, client=True, organization=CPO_NAME,
                       not_after=now + 10 * DAY)
    cert_file, key_file = ending.write(tmp_path, "ending")
    csms.sign = pki.sign_csr
    station = await start_station(ocpp={**SECURE, "ca_file": str(pki.root_file),
                                        "cert_file": str(cert_file), "key_file": str(key_file)})
    message = await csms.wait_for_message("CP1", "CertificateSigned", "in")
    assert message.payload["status"] == "Accepted"
    [request] = sent(csms, "SignCertificate")
    assert request["certificateType"] == "ChargingStationCertificate"
    renewed = station.security.certificates.charge_point_certificate()
    assert renewed is not None and renewed.not_valid_after_utc > now + 30 * DAY
