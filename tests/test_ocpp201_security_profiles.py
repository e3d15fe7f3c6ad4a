# ruff: noqa: F811 - tests take the shared `pki` fixture imported from test_daemon_security
"""The daemon on OCPP 2.0.1 under security profiles 1-3, end to end against the bench CSMS over
real websockets and real TLS with certificates the test generates: Basic auth (1), TLS with
Basic auth (2), mutual TLS (3); a new BasicAuthPassword the CSMS refuses falls back to the old
one (A01), and a certificate renewed under mutual TLS is presented at the next connection (A02).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from pievse.app.daemon import Daemon
from tests.conftest import eventually
from tests.ocpp201 import get_variable, set_variable
from tests.test_daemon_security import daemon_for as daemon_16_style
from tests.test_daemon_security import pki  # noqa: F401 - a fixture
from tests.test_daemon_security import running as started
from tests.test_ocpp201_network_profiles import profile
from tests.tls_standins import CPO_NAME, SecureCentralSystem, basic_token

pytestmark = pytest.mark.asyncio

KEY, NEW_KEY = "pievse-key-0123456789", "pievse-new-key-9876543210"


def daemon_for(url: str, tmp_path: Path, **ocpp) -> Daemon:
    """The daemon of test_daemon_security, on 2.0.1, quick to retry."""
    daemon = daemon_16_style(url, tmp_path, version="2.0.1", cpo_name=CPO_NAME, **ocpp)
    assert daemon.link is not None
    daemon.link.backoff_initial = daemon.link.backoff_max = 0.1
    return daemon


@contextlib.asynccontextmanager
async def running(daemon: Daemon):
    async with started(daemon):
        await eventually(lambda: daemon.protocol.registered, "registered", 20)
        yield daemon


async def _get(csms: SecureCentralSystem, component: str, variable: str) -> dict:
    return await get_variable(csms.central, component, variable)


async def test_a_security_profile_1_basic_authentication(tmp_path):
    async with SecureCentralSystem(authorization_keys={"CP1": KEY}) as csms:
        async with running(daemon_for(csms.url(), tmp_path, security_profile=1, password=KEY)):
            assert csms.central.session("CP1").websocket.subprotocol == "ocpp2.0.1"
            assert (await _get(csms, "SecurityCtrlr", "SecurityProfile"))[
                "attributeValue"] == "1"
    assert csms.connections[0].authorization == f"Basic {basic_token('CP1', KEY)}"


async def test_a_security_profile_2_tls_with_basic_authentication(tmp_path, pki):
    async with SecureCentralSystem(ssl_context=pki.server_context(pki.server),
                                   authorization_keys={"CP1": KEY}) as csms:
        daemon = daemon_for(csms.url("localhost"), tmp_path, security_profile=2, password=KEY,
                            ca_file=str(pki.root_file))
        async with running(daemon):
            # The root of the configuration is the station's CSMSRootCertificate.
            answer = await csms.central.call("CP1", "GetInstalledCertificateIds",
                                             {"certificateType": ["CSMSRootCertificate"]})
            assert answer["status"] == "Accepted"
            # The last CSMS root cannot be deleted while the link depends on it.
            [installed] = answer["certificateHashDataChain"]
            answer = await csms.central.call("CP1", "DeleteCertificate", {
                "certificateHashData": installed["certificateHashData"]})
            assert answer["status"] == "Failed"
    assert csms.connections[0].client_certificate is None
    assert csms.connections[0].authorization == f"Basic {basic_token('CP1', KEY)}"


async def test_a_security_profile_3_mutual_tls_and_a02_the_renewed_certificate_is_presented(
        tmp_path, pki):
    cert_file, key_file = pki.client.write(tmp_path, "factory")
    async with SecureCentralSystem(ssl_context=pki.server_context(pki.server, client_ca=pki.root),
                                   sign=pki.sign_csr) as csms:
        daemon = daemon_for(csms.url("localhost"), tmp_path, security_profile=3,
                            ca_file=str(pki.root_file), cert_file=str(cert_file),
                            key_file=str(key_file))
        async with running(daemon):
            assert csms.connections[0].client_certificate == pki.client.certificate
            assert csms.connections[0].authorization is None
            answer = await csms.central.call("CP1", "TriggerMessage", {
                "requestedMessage": "SignChargingStationCertificate"})
            assert answer["status"] == "Accepted"
            await eventually(lambda: len(csms.connections) >= 2 and daemon.protocol.registered,
                             "reconnected with the new certificate", 20)
    renewed = csms.connections[-1].client_certificate
    assert renewed is not None and renewed != pki.client.certificate
    assert csms.certificate_signed_answers == ["Accepted"]


async def test_a01_a_new_password_the_csms_refuses_falls_back_to_the_old_one(tmp_path):
    async with SecureCentralSystem(authorization_keys={"CP1": KEY}) as csms:
        daemon = daemon_for(csms.url(), tmp_path, security_profile=1, password=KEY)
        async with running(daemon):
            assert await set_variable(csms.central, "SecurityCtrlr", "BasicAuthPassword",
                                      NEW_KEY) == "Accepted"
            # The CSMS still knows only the old one: three refusals, then the old one again.
            await eventually(lambda: len(csms.refused) >= 3, "the new password refused", 20)
            await eventually(lambda: len(csms.connections) >= 2 and daemon.protocol.registered,
                             "connected again with the old password", 20)
            assert daemon.security.state.authorization_key == KEY
            await eventually(lambda: any(
                e["type"] == "ReconfigurationOfSecurityParameters"
                and "fell back" in (e.get("techInfo") or "")
                for e in csms.actions("SecurityEventNotification")), "the fallback reported", 20)
    assert {c.authorization for c in csms.connections} == {f"Basic {basic_token('CP1', KEY)}"}


async def test_a05_a_higher_profile_comes_with_set_network_profile_not_set_variables(
        tmp_path, pki):
    """A05/B09: profile 1 -> 2 through a network profile, used after a Reset."""
    async with SecureCentralSystem(authorization_keys={"CP1": KEY}) as plain, \
            SecureCentralSystem(ssl_context=pki.server_context(pki.server),
                                authorization_keys={"CP1": KEY}) as tls:
        async with running(daemon_for(plain.url(), tmp_path, security_profile=1,
                                      password=KEY)) as daemon:
            central = plain.central
            assert await set_variable(central, "SecurityCtrlr", "SecurityProfile", "2") == \
                "Rejected"
            answer = await central.call("CP1", "SetNetworkProfile", profile(
                tls.url("localhost"), security_profile=2))
            assert answer["status"] == "Rejected", "no CSMS root to verify it with yet"
            answer = await central.call("CP1", "InstallCertificate", {
                "certificateType": "CSMSRootCertificate", "certificate": pki.root.certificate_pem})
            assert answer["status"] == "Accepted"
            answer = await central.call("CP1", "SetNetworkProfile", profile(
                tls.url("localhost"), security_profile=2))
            assert answer["status"] == "Accepted"
            assert await set_variable(central, "OCPPCommCtrlr", "NetworkConfigurationPriority",
                                      "1") == "RebootRequired"
            await central.call("CP1", "Reset", {"type": "Immediate"})
            await eventually(lambda: daemon.exit_reason.value == "soft reset", "the reset")
        async with running(daemon_for(plain.url(), tmp_path, security_profile=1,
                                      password=KEY)) as daemon:
            assert tls.connections and daemon.security.state.profile == 2
            assert (await _get(tls, "SecurityCtrlr", "SecurityProfile"))["attributeValue"] == "2"
