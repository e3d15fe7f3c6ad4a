"""OCPP security profiles 1 to 3 over real websockets and real TLS, against a stand-in CSMS.

The PKI is generated for the test session (tests/tls_standins.py); the CSMS checks HTTP Basic
credentials or client certificates as a real one does, then completes a BootNotification. Each
refusal must come back as one line that names its cause. Over every test, no log line (debug
level included) and no refusal text may show an AuthorizationKey or a private key.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import pytest
from ocpp.v16 import call

from pievse.services.certificates import CertificateUse
from pievse.protocol.common.transport_security import (
    SecurityProfile,
    SecurityState,
    TransportSecurity,
    basic_authorization,
    refusal_security_event,
    tls_context,
    url_problems,
)
from tests.conftest import eventually
from tests.tls_standins import (
    SecureCentralSystem,
    TestPki,
    basic_token,
    key_material,
    leaks,
    logged_texts,
    online,
    refusal,
    secured_charge_point,
)


KEY = "pievse-key-0123456789"
NEW_KEY = "replacement-key-9876543210abcdef"
WRONG_KEY = "not-the-right-key-000"
SECRETS = [KEY, NEW_KEY, WRONG_KEY, *(basic_token("CP1", k) for k in (KEY, NEW_KEY, WRONG_KEY))]
P0, P1, P2, P3 = (SecurityProfile(n) for n in range(4))
WAIT = 20.0


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return TestPki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(autouse=True)
def no_secret_is_logged(caplog: pytest.LogCaptureFixture, pki: TestPki):
    """Every test runs with debug logging on, and no record may show a secret."""
    caplog.set_level(logging.DEBUG)
    yield
    secrets = SECRETS + [line for issued in (pki.client, pki.foreign_client, pki.server)
                         for line in key_material(issued.key_pem)]
    records = caplog.get_records("setup") + caplog.get_records("call")
    assert not leaks(logged_texts(records), secrets)


def assert_secret_free(*texts: str) -> None:
    assert not leaks(list(texts), SECRETS)


# --- profile 1: HTTP Basic authentication over ws:// -------------------------------------------


async def test_profile_1_sends_the_authorization_key_as_basic_credentials_and_registers(
        tmp_path: Path):
    charge_point = secured_charge_point(tmp_path, profile=1, authorization_key=KEY)
    async with SecureCentralSystem(authorization_keys={"CP1": KEY}) as csms:
        async with online(charge_point, csms.url()):
            await eventually(lambda: charge_point.registered, "BootNotification Accepted", WAIT)
    assert [c.authorization for c in csms.connections] == [basic_authorization("CP1", KEY)]
    assert csms.actions("BootNotification")


async def test_profile_1_with_a_wrong_key_is_refused_with_a_line_naming_the_credentials():
    async with SecureCentralSystem(authorization_keys={"CP1": KEY}) as csms:
        security = TransportSecurity(P1, WRONG_KEY)
        error = await refusal(csms.url(), security)
    line = security.describe_refusal(error)
    assert line.startswith("the CSMS refused the credentials (HTTP 401")
    assert "AuthorizationKey" in line
    assert refusal_security_event(error) == "FailedToAuthenticateAtCentralSystem"
    assert csms.refused == [("CP1", 401)] and not csms.connections
    assert_secret_free(line, str(error))


@pytest.mark.parametrize("profile", [P0, P1])
async def test_arthexis_answering_wrong_credentials_with_403_is_a_credentials_refusal(profile):
    """arthexis answers wrong Basic-auth credentials with 403, not 401. Where credentials were
    sent that is the same refusal; without them (profile 0) a 403 stays "forbidden"."""
    from websockets.asyncio.server import serve

    def forbid(connection, request):
        return connection.respond(403, "Forbidden\n")

    async with serve(lambda connection: connection.wait_closed(), "127.0.0.1", 0,
                     process_request=forbid) as server:
        port = server.sockets[0].getsockname()[1]
        security = TransportSecurity(profile, WRONG_KEY if profile is P1 else None)
        error = await refusal(f"ws://127.0.0.1:{port}/ocpp", security)
    line = security.describe_refusal(error)
    if profile is P1:
        assert line.startswith("the CSMS refused the credentials (HTTP 403")
        assert security.refusal_security_event(error) == "FailedToAuthenticateAtCentralSystem"
    else:
        assert line == "the CSMS forbids this charge point (HTTP 403 Forbidden)"
        assert security.refusal_security_event(error) is None
    assert_secret_free(line, str(error))


# --- profile 2: TLS, the CSMS verified, Basic authentication ----------------------------------


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_profile_2_connects_to_a_csms_certified_under_the_installed_root(
        tmp_path: Path, pki: TestPki, host: str):
    charge_point = secured_charge_point(tmp_path, profile=2, authorization_key=KEY)
    charge_point.certificates.seed(central_system_roots=[pki.root_file])
    async with SecureCentralSystem(ssl_context=pki.server_context(pki.server),
                                   authorization_keys={"CP1": KEY}) as csms:
        async with online(charge_point, csms.url(host)):
            await eventually(lambda: charge_point.registered, "BootNotification Accepted", WAIT)
    seen = csms.connections[0]
    assert seen.authorization == basic_authorization("CP1", KEY)
    assert seen.client_certificate is None


@pytest.mark.parametrize(
    ("server", "trusted", "cause"),
    [
        ("server", "foreign_root_file",
         "was not issued under an installed CentralSystemRootCertificate"),
        ("expired_server", "root_file", "has expired"),
        ("wrong_host_server", "root_file", "is not valid for 'localhost' (host name mismatch)"),
        ("self_signed_server", "root_file", "is self-signed"),
    ],
    ids=["wrong CA", "expired", "host name mismatch", "self-signed"],
)
async def test_profile_2_refuses_a_csms_it_cannot_trust_and_says_why(
        pki: TestPki, server: str, trusted: str, cause: str):
    security = TransportSecurity(P2, KEY, (getattr(pki, trusted),))
    async with SecureCentralSystem(ssl_context=pki.server_context(getattr(pki, server)),
                                   authorization_keys={"CP1": KEY}) as csms:
        error = await refusal(csms.url("localhost"), security)
    line = security.describe_refusal(error)
    assert line.startswith(f"TLS: the CSMS certificate {cause}")
    assert refusal_security_event(error) == "InvalidCentralSystemCertificate"
    # The Basic credentials never left the charge point: TLS failed before any HTTP.
    assert not csms.connections and not csms.refused
    assert_secret_free(line, str(error))


# --- profile 3: mutual TLS ----------------------------------------------------------------------


async def test_profile_3_presents_the_charge_point_certificate_and_no_password(
        tmp_path: Path, pki: TestPki):
    cert_file, key_file = pki.client.write(tmp_path, "factory")
    charge_point = secured_charge_point(tmp_path, profile=3)
    assert charge_point.certificates.seed(central_system_roots=[pki.root_file],
                                          cert_file=cert_file, key_file=key_file) == []
    context = pki.server_context(pki.server, client_ca=pki.root)
    async with SecureCentralSystem(ssl_context=context) as csms:
        async with online(charge_point, csms.url("localhost")):
            await eventually(lambda: charge_point.registered, "BootNotification Accepted", WAIT)
    seen = csms.connections[0]
    assert seen.authorization is None
    assert seen.client_certificate == pki.client.certificate


@pytest.mark.parametrize(
    ("profile", "client", "cause"),
    [
        (P2, None, "it may demand a client certificate (security profile 3)"),
        (P3, "foreign_client", "it most likely refused the charge point certificate"),
    ],
    ids=["without a client certificate", "with a certificate from another CA"],
)
async def test_a_csms_demanding_mutual_tls_refuses_and_the_line_says_which_side_failed(
        tmp_path: Path, pki: TestPki, profile: SecurityProfile, client: str | None, cause: str):
    files = getattr(pki, client).write(tmp_path, "client") if client else (None, None)
    security = TransportSecurity(profile, KEY if profile.uses_basic_auth else None,
                                 (pki.root_file,), *files)
    context = pki.server_context(pki.server, client_ca=pki.root)
    async with SecureCentralSystem(ssl_context=context) as csms:
        error = await refusal(csms.url("localhost"), security)
    line = security.describe_refusal(error)
    assert line.startswith("TLS: the CSMS hung up") and cause in line
    assert not csms.connections
    assert_secret_free(line, str(error))


# --- the rules of the configuration ---------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "profile", "wrong"),
    [
        ("wss://csms:443/ocpp", P0, "is plain ws://, but the URL is wss://"),
        ("wss://csms:443/ocpp", P1, "is plain ws://, but the URL is wss://"),
        ("ws://csms:80/ocpp", P2, "needs TLS, but the URL is ws://"),
        ("ws://csms:80/ocpp", P3, "needs TLS, but the URL is ws://"),
        ("ws://cp:secret@csms/ocpp", P1, "must not carry user:password@"),
        ("ws://csms/ocpp", P1, None),
        ("wss://csms/ocpp", P3, None),
    ],
)
def test_the_url_scheme_must_match_the_security_profile(url: str, profile: SecurityProfile,
                                                        wrong: str | None):
    problems = url_problems(url, profile)
    if wrong is None:
        assert problems == []
    else:
        assert len(problems) == 1 and wrong in problems[0]


def test_an_unusable_security_configuration_is_explained_key_by_key(tmp_path: Path,
                                                                    pki: TestPki):
    cert_file, key_file = pki.client.write(tmp_path, "client")
    key_file.chmod(0o644)
    cases = {
        TransportSecurity(P1): "needs the AuthorizationKey",
        TransportSecurity(P2, "short", (pki.root_file,)): "must be 16 to 40 characters long",
        TransportSecurity(P2, KEY, (tmp_path / "missing.pem",)): "No such file",
        TransportSecurity(P3, None, (pki.root_file,)): "needs the charge point certificate",
        TransportSecurity(P3, None, (pki.root_file,), cert_file, key_file): "chmod 600",
    }
    for security, expected in cases.items():
        url = "wss://csms/ocpp" if security.profile.uses_tls else "ws://csms/ocpp"
        problems = security.problems(url, "CP1")
        assert len(problems) == 1 and expected in problems[0], (security, problems)
    assert "':'" in TransportSecurity(P1, KEY).problems("ws://csms/ocpp", "CP:1")[0]
    key_file.chmod(0o600)
    assert TransportSecurity(P3, None, (pki.root_file,), cert_file, key_file).problems(
        "wss://csms/ocpp", "CP1") == []


def test_the_tls_context_demands_tls_1_2_aead_suites_and_checks_the_host(pki: TestPki):
    context = tls_context([pki.root_file])
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert context.check_hostname and context.verify_mode is ssl.CERT_REQUIRED
    tls12 = [c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert tls12 and all("GCM" in name for name in tls12)


# --- SecurityProfile and AuthorizationKey, as the CSMS changes them -----------------------------


def test_the_security_state_is_private_only_goes_up_and_survives_a_restart(tmp_path: Path):
    path = tmp_path / "security.json"
    state = SecurityState(path, profile=P1, authorization_key=KEY)
    assert path.stat().st_mode & 0o777 == 0o600
    state.change(profile=P2, authorization_key=NEW_KEY)
    with pytest.raises(ValueError, match="only go up"):
        state.change(profile=P1)
    # The configuration file still says profile 1 and the old key: the CSMS's word stands.
    again = SecurityState(path, profile=P1, authorization_key=KEY)
    assert (again.profile, again.authorization_key) == (P2, NEW_KEY)
    assert NEW_KEY not in repr(again)


def test_a_new_profile_that_cannot_connect_falls_back_to_the_previous_one(tmp_path: Path):
    state = SecurityState(tmp_path / "security.json", profile=P1, authorization_key=KEY,
                          fallback_after=3)
    state.change(profile=P2)
    assert state.pending
    assert [state.attempt_failed() for _ in range(3)] == [False, False, True]
    assert (state.profile, state.authorization_key, state.pending) == (P1, KEY, False)
    # Once a connection succeeded with the new profile, failures no longer undo it.
    state.change(profile=P2)
    state.connected()
    assert not any(state.attempt_failed() for _ in range(5))
    assert state.profile is P2


async def test_the_csms_changes_the_authorization_key_and_the_next_connection_uses_it(
        tmp_path: Path):
    changes: list[str] = []
    charge_point = secured_charge_point(tmp_path, profile=1, authorization_key=KEY,
                                        changes=changes)
    async with SecureCentralSystem(authorization_keys={"CP1": KEY}) as csms:
        async with online(charge_point, csms.url()):
            await eventually(lambda: charge_point.registered, "registered", WAIT)
            everything = await csms.call("CP1", call.GetConfiguration())
            shown = {k["key"]: k for k in everything.configuration_key}
            assert shown["AuthorizationKey"] == {"key": "AuthorizationKey", "readonly": False}
            assert shown["SecurityProfile"]["value"] == "1"
            asked = await csms.call("CP1", call.GetConfiguration(key=["AuthorizationKey"]))
            assert asked.configuration_key == [{"key": "AuthorizationKey", "readonly": False}]
            too_short = call.ChangeConfiguration(key="AuthorizationKey", value="short")
            assert (await csms.call("CP1", too_short)).status == "Rejected"
            change = call.ChangeConfiguration(key="AuthorizationKey", value=NEW_KEY)
            assert (await csms.call("CP1", change)).status == "Accepted"
            # Every other key is still the 1.6 adapter's.
            heartbeat = call.ChangeConfiguration(key="HeartbeatInterval", value="120")
            assert (await csms.call("CP1", heartbeat)).status == "Accepted"
            assert charge_point.configuration["HeartbeatInterval"] == 120
            await eventually(lambda: changes == ["authorization_key"], "the change announced")
            events = await eventually(lambda: csms.actions("SecurityEventNotification"))
            assert events[0]["type"] == "ReconfigurationOfSecurityParameters"
        csms.authorization_keys = {"CP1": NEW_KEY}
        async with online(charge_point, csms.url()):
            await eventually(lambda: charge_point.registered, "registered again", WAIT)
    assert csms.connections[-1].authorization == basic_authorization("CP1", NEW_KEY)
    state_file = tmp_path / "certificates" / "security.json"
    assert state_file.stat().st_mode & 0o777 == 0o600
    assert SecurityState(state_file, profile=P1).authorization_key == NEW_KEY


async def test_the_csms_raises_the_profile_only_when_the_charge_point_is_ready_for_it(
        tmp_path: Path, pki: TestPki):
    changes: list[str] = []
    charge_point = secured_charge_point(tmp_path, profile=1, authorization_key=KEY,
                                        changes=changes)
    async with SecureCentralSystem(authorization_keys={"CP1": KEY}) as csms:
        async with online(charge_point, csms.url()):
            await eventually(lambda: charge_point.registered, "registered", WAIT)

            async def change_profile(value: str) -> str:
                answer = await csms.call(
                    "CP1", call.ChangeConfiguration(key="SecurityProfile", value=value))
                return answer.status

            assert await change_profile("0") == "Rejected"  # never down
            assert await change_profile("2") == "Rejected"  # no CentralSystemRootCertificate
            assert await change_profile("3") == "Rejected"  # and no charge point certificate
            installed = await csms.call("CP1", call.InstallCertificate(
                certificate_type=CertificateUse.CENTRAL_SYSTEM_ROOT.value,
                certificate=pki.root.certificate_pem))
            assert installed.status == "Accepted"
            assert await change_profile("2") == "Accepted"
            await eventually(lambda: changes == ["profile"], "the change announced")
    assert charge_point.security_state.profile is P2 and charge_point.security_state.pending
    # The next connection is TLS, verified against the root the CSMS installed.
    tls = SecureCentralSystem(ssl_context=pki.server_context(pki.server),
                              authorization_keys={"CP1": KEY})
    async with tls:
        async with online(charge_point, tls.url("localhost")):
            await eventually(lambda: charge_point.registered, "registered over TLS", WAIT)
            charge_point.security_state.connected()
    assert not charge_point.security_state.pending


async def test_a_raised_profile_that_fails_to_connect_falls_back_and_connects_again(
        tmp_path: Path, pki: TestPki):
    charge_point = secured_charge_point(tmp_path, profile=1, authorization_key=KEY)
    charge_point.certificates.seed(central_system_roots=[pki.foreign_root_file])
    state = charge_point.security_state
    state.change(profile=P2)  # as an accepted ChangeConfiguration does
    lines = []
    async with SecureCentralSystem(ssl_context=pki.server_context(pki.server),
                                   authorization_keys={"CP1": KEY}) as tls:
        for _ in range(10):
            error = await refusal(tls.url("localhost"), charge_point.transport_security())
            lines.append(charge_point.transport_security().describe_refusal(error))
            if state.attempt_failed():
                break
    assert len(lines) == state.fallback_after
    assert all("not issued under an installed CentralSystemRootCertificate" in line
               for line in lines)
    async with SecureCentralSystem(authorization_keys={"CP1": KEY}) as plain:
        async with online(charge_point, plain.url()):
            await eventually(lambda: charge_point.registered, "registered on profile 1", WAIT)
    assert state.profile is P1
