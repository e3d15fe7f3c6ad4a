"""Config edits are not ignored: the password, the security profile, the CSMS roots in
``ca_file`` and the charge point certificate in ``cert_file`` seed the security state, the CSMS
may change them, and a person may edit the configuration later. What the CSMS set wins until the
person changes that key; then the edited value wins, is logged and is reported to the CSMS as
ReconfigurationOfSecurityParameters. Every store keeps its own security state and certificates,
even when stores share a folder."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from cryptography import x509

from pievse.app.config import Config, parse_config
from pievse.app.link_security import LinkSecurity
from pievse.protocol.common.security_state import SecurityProfile, SecurityState
from pievse.services.certificates import CertificateHashData, CertificateStore, CertificateUse
from tests.conftest import config_text, eventually
from tests.test_daemon_security import daemon_for, running
from tests.tls_standins import CPO_NAME, SecureCentralSystem, TestPki

K1, K2, CSMS_KEY = "first-key-0123456789", "second-key-0123456789", "csms-key-0123456789abc"
ROOTS = CertificateUse.CENTRAL_SYSTEM_ROOT


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return TestPki(tmp_path_factory.mktemp("pki"))


def config(folder: Path, store: str = "pievse.sqlite3", **ocpp) -> Config:
    sections = {
        "charge_point": {"id": "CP1"},
        "ocpp": {"url": "ws://127.0.0.1:9/ocpp", **ocpp},
        "api": {"listen": ""},
        "storage": {"path": str(folder / store)},
    }
    return parse_config(config_text(sections), "<test>")


def roots(security: LinkSecurity) -> set[x509.Certificate]:
    return set(security.certificates.installed(ROOTS))


def client_certificate(security: LinkSecurity) -> x509.Certificate | None:
    return security.certificates.charge_point_certificate()


def write_pem(path: Path, *certificates: x509.Certificate) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding

    path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certificates))
    return str(path)


# --- the password and the profile ---------------------------------------------------------------


def test_a_corrected_password_replaces_the_authorization_key_at_the_next_start(tmp_path, caplog):
    assert LinkSecurity(config(tmp_path, security_profile=1, password=K1)
                        ).state.authorization_key == K1
    caplog.set_level(logging.WARNING, logger="pievse.ocpp.security")
    corrected = LinkSecurity(config(tmp_path, security_profile=1, password=K2))
    assert corrected.state.authorization_key == K2
    assert corrected.state.reconfigured == ["AuthorizationKey replaced by [ocpp] password"]
    assert "AuthorizationKey replaced by [ocpp] password" in caplog.text
    assert K1 not in caplog.text and K2 not in caplog.text
    stored = (corrected.directory / "security.json").read_text()
    assert K1 not in stored, "what the configuration said is kept as a digest"


def test_an_authorization_key_the_csms_set_stands_until_the_password_is_edited(tmp_path):
    first = LinkSecurity(config(tmp_path, security_profile=1, password=K1))
    first.state.change(authorization_key=CSMS_KEY)  # as an accepted ChangeConfiguration does
    first.state.connected()
    same_config = LinkSecurity(config(tmp_path, security_profile=1, password=K1))
    assert same_config.state.authorization_key == CSMS_KEY
    assert same_config.state.reconfigured == []
    edited = LinkSecurity(config(tmp_path, security_profile=1, password=K2))
    assert edited.state.authorization_key == K2
    again = LinkSecurity(config(tmp_path, security_profile=1, password=K2))
    assert (again.state.authorization_key, again.state.reconfigured) == (K2, [])


def test_a_password_edited_while_a_csms_change_is_pending_wins_without_a_fallback(tmp_path):
    first = LinkSecurity(config(tmp_path, security_profile=1, password=K1))
    first.state.change(authorization_key=CSMS_KEY)
    edited = LinkSecurity(config(tmp_path, security_profile=1, password=K2))
    assert not edited.state.pending
    assert not any(edited.state.attempt_failed() for _ in range(5))
    assert edited.state.authorization_key == K2


def test_the_security_profile_edited_in_the_config_wins_over_the_csms_even_downwards(tmp_path):
    first = LinkSecurity(config(tmp_path, security_profile=1, password=K1))
    first.state.change(profile=SecurityProfile.TLS_BASIC_AUTH)
    first.state.connected()
    assert LinkSecurity(config(tmp_path, security_profile=1, password=K1)
                        ).state.profile is SecurityProfile.TLS_BASIC_AUTH
    lowered = LinkSecurity(config(tmp_path, security_profile=0, password=K1))
    assert lowered.state.profile is SecurityProfile.NONE
    assert lowered.state.reconfigured == ["SecurityProfile 2 -> 0 by [ocpp] security_profile"]


def test_a_state_from_before_the_configuration_was_remembered_keeps_the_csms_key(tmp_path):
    folder = tmp_path / "certificates" / "pievse.sqlite3"
    folder.mkdir(parents=True)
    (folder / "security.json").write_text(
        '{"securityProfile": 2, "authorizationKey": "%s", "previous": null}' % CSMS_KEY)
    security = LinkSecurity(config(tmp_path, security_profile=1, password=K1))
    assert (security.state.profile, security.state.authorization_key) == (2, CSMS_KEY)
    # From now on an edit of the password is seen.
    assert LinkSecurity(config(tmp_path, security_profile=1, password=K2)
                        ).state.authorization_key == K2


# --- the certificates -----------------------------------------------------------------------------


def test_a_ca_withdrawn_from_ca_file_is_no_longer_trusted(tmp_path, pki, caplog):
    ca_file = write_pem(tmp_path / "ca.pem", pki.root.certificate, pki.foreign_root.certificate)
    first = LinkSecurity(config(tmp_path, ca_file=ca_file))
    assert roots(first) == {pki.root.certificate, pki.foreign_root.certificate}
    write_pem(tmp_path / "ca.pem", pki.root.certificate)
    caplog.set_level(logging.WARNING, logger="pievse.ocpp.security")
    withdrawn = LinkSecurity(config(tmp_path, ca_file=ca_file))
    assert roots(withdrawn) == {pki.root.certificate}
    assert "Somebody Else's Root CA" in caplog.text and "withdrawn by [ocpp] ca_file" in caplog.text


def test_roots_the_csms_installed_or_deleted_stand_until_ca_file_is_edited(tmp_path, pki):
    ca_file = write_pem(tmp_path / "ca.pem", pki.root.certificate)
    first = LinkSecurity(config(tmp_path, ca_file=ca_file))
    # As InstallCertificate and DeleteCertificate do.
    assert first.certificates.install_root(ROOTS, pki.foreign_root.certificate_pem).accepted
    assert first.certificates.delete(CertificateHashData.of(pki.root.certificate)).accepted
    assert roots(LinkSecurity(config(tmp_path, ca_file=ca_file))) == {
        pki.foreign_root.certificate}
    another = pki.make_ca("Another Root CA")
    write_pem(tmp_path / "ca.pem", pki.root.certificate, another.certificate)
    edited = LinkSecurity(config(tmp_path, ca_file=ca_file))
    # The person added a root; the one the CSMS deleted stays deleted, its own stays.
    assert roots(edited) == {pki.foreign_root.certificate, another.certificate}


def test_a_ca_file_emptied_withdraws_its_roots_in_favour_of_the_systems(tmp_path, pki):
    ca_file = write_pem(tmp_path / "ca.pem", pki.root.certificate)
    LinkSecurity(config(tmp_path, ca_file=ca_file))
    assert roots(LinkSecurity(config(tmp_path, ca_file=""))) == set()


def test_a_new_cert_file_replaces_the_charge_point_certificate_the_csms_signed(tmp_path, pki):
    cert_file, key_file = pki.client.write(tmp_path, "factory")
    files = {"cert_file": str(cert_file), "key_file": str(key_file),
             "ca_file": str(pki.root_file)}
    first = LinkSecurity(config(tmp_path, **files))
    assert client_certificate(first) == pki.client.certificate
    # The CSMS has the charge point make a key and signs it (SignCertificate, CertificateSigned).
    csr = first.certificates.new_signing_request("CP1", CPO_NAME)
    assert first.certificates.install_charge_point_certificate(pki.sign_csr(csr)).accepted
    signed = client_certificate(first)
    assert signed != pki.client.certificate
    assert client_certificate(LinkSecurity(config(tmp_path, **files))) == signed
    replacement = pki.issue("CP1", issuer=pki.issuing_ca, client=True, organization=CPO_NAME)
    cert_file, key_file = replacement.write(tmp_path, "replacement")
    edited = LinkSecurity(config(tmp_path, **{**files, "cert_file": str(cert_file),
                                             "key_file": str(key_file)}))
    assert client_certificate(edited) == replacement.certificate


# --- one security state per store ----------------------------------------------------------------


def test_two_stores_in_one_folder_never_share_keys_or_certificates(tmp_path, pki):
    a = LinkSecurity(config(tmp_path, "a.sqlite3", security_profile=1, password=K1))
    b = LinkSecurity(config(tmp_path, "b.sqlite3", security_profile=1, password=K2))
    assert a.directory != b.directory
    assert {a.directory.parent, b.directory.parent} == {tmp_path / "certificates"}
    a.state.change(authorization_key=CSMS_KEY)
    a.certificates.install_root(ROOTS, pki.root.certificate_pem)
    a.certificates.new_signing_request("CP1", CPO_NAME)
    b = LinkSecurity(config(tmp_path, "b.sqlite3", security_profile=1, password=K2))
    assert b.state.authorization_key == K2
    assert roots(b) == set()
    assert not list(b.directory.glob("*pending*"))
    for folder in (a.directory, b.directory, tmp_path / "certificates"):
        assert folder.stat().st_mode & 0o077 == 0


def test_the_certificate_folder_stores_shared_before_goes_to_the_first_store_that_starts(
        tmp_path, pki):
    shared = tmp_path / "certificates"
    CertificateStore(shared).install_root(ROOTS, pki.root.certificate_pem)
    SecurityState(shared / "security.json", profile=SecurityProfile.BASIC_AUTH,
                  authorization_key=K1).change(authorization_key=CSMS_KEY)
    a = LinkSecurity(config(tmp_path, "a.sqlite3", security_profile=1, password=K1))
    assert a.directory == shared / "a.sqlite3"
    assert a.state.authorization_key == CSMS_KEY and roots(a) == {pki.root.certificate}
    b = LinkSecurity(config(tmp_path, "b.sqlite3", security_profile=1, password=K2))
    assert b.state.authorization_key == K2 and roots(b) == set()


# --- the CSMS hears of it -------------------------------------------------------------------------


async def test_an_edited_password_is_reported_as_reconfiguration_of_security_parameters(
        tmp_path):
    async with SecureCentralSystem(authorization_keys={"CP1": K1}) as csms:
        async with running(daemon_for(csms.url(), tmp_path, security_profile=1, password=K1)
                           ) as daemon:
            await eventually(lambda: daemon.protocol.registered, "registered with the key", 20)
        csms.authorization_keys = {"CP1": K2}
        async with running(daemon_for(csms.url(), tmp_path, security_profile=1, password=K2)
                           ) as daemon:
            await eventually(lambda: daemon.protocol.registered, "registered with the new key",
                             20)
            events = await eventually(
                lambda: [e for e in csms.actions("SecurityEventNotification")
                         if e["type"] == "ReconfigurationOfSecurityParameters"],
                "ReconfigurationOfSecurityParameters", 20)
    assert events[0]["techInfo"] == "AuthorizationKey replaced by [ocpp] password"
    assert all(K2 not in str(e) for e in csms.actions("SecurityEventNotification"))
