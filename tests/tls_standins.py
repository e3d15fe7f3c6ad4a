"""Stand-ins for the security tests: a throw-away PKI and a small OCPP 1.6 CSMS that speaks TLS.

Everything is generated at run time with ``cryptography``, so no key material lives in the
repository and nothing expires in it:

* :class:`TestPki` is a two-level CPO PKI (a root CA and an issuing CA under it), an unrelated
  root that the charge point does not trust, and the certificates the scenarios need: a good CSMS
  server certificate for ``localhost``/``127.0.0.1``, an expired one, one for another host name, a
  self-signed one, and charge point client certificates from the trusted and the foreign PKI. It
  also plays the CPO's certificate authority: :meth:`TestPki.sign_csr` turns a charge point's
  certificate signing request into a certificate.
* :class:`SecureCentralSystem` is a ``websockets.asyncio.server`` that checks what a real CSMS
  checks at the opening handshake (HTTP Basic credentials for security profiles 1 and 2, the client
  certificate for profile 3, done by the TLS layer), then completes an OCPP 1.6 BootNotification
  and answers the messages of the security extension. It records what it saw (the client
  certificate of each connection, every CALL) and lets a test send any CALL to a charge point.

Elliptic-curve keys (P-256) keep generation in the milliseconds, so a whole PKI costs less than a
tenth of a second.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime as dt
import http
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import ServerConnection, serve

from pievse.services.certificates import CertificateStore
from pievse.protocol.common.link import OcppLink
from pievse.protocol.common.rpc import RpcSession
from pievse.protocol.common.transport_security import (
    SecurityProfile,
    SecurityState,
    TransportSecurity,
)
from pievse.protocol.v16.security_ext import SecuredChargePoint16, redact_authorization_keys
from pievse.core.station import Station

UTC = dt.timezone.utc
DAY = dt.timedelta(days=1)
CPO_NAME = "Pievse Test CPO"


@dataclass(frozen=True)
class Issued:
    """A certificate, the key it certifies and the CA certificates above it (leaf first)."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    issuers: tuple[x509.Certificate, ...] = ()

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def chain_pem(self) -> str:
        """Leaf first, then every issuer below the root: what a TLS peer sends."""
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode()
                       for c in (self.certificate, *self.issuers))

    @property
    def key_pem(self) -> str:
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()

    def write(self, directory: Path, name: str) -> tuple[Path, Path]:
        """Write ``<name>.pem`` (the chain) and ``<name>.key`` (the key, 0600)."""
        cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
        cert_path.write_text(self.chain_pem)
        key_path.touch(mode=0o600)
        key_path.write_text(self.key_pem)
        return cert_path, key_path


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


class TestPki:
    """A CPO PKI for one test session, written to ``directory`` as PEM files."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, directory: Path, charge_point_id: str = "CP1") -> None:
        self.directory = directory
        now = dt.datetime.now(UTC)
        self.root = self.make_ca("Pievse Test Root CA")
        self.issuing_ca = self.make_ca("Pievse Test Issuing CA", issuer=self.root)
        self.foreign_root = self.make_ca("Somebody Else's Root CA")
        self.server = self.issue("localhost", issuer=self.issuing_ca,
                                 dns=("localhost",), ips=("127.0.0.1",))
        self.expired_server = self.issue(
            "localhost", issuer=self.issuing_ca, dns=("localhost",), ips=("127.0.0.1",),
            not_before=now - 30 * DAY, not_after=now - DAY)
        self.wrong_host_server = self.issue("csms.example.org", issuer=self.issuing_ca,
                                            dns=("csms.example.org",))
        self.self_signed_server = self.issue("localhost", issuer=None,
                                             dns=("localhost",), ips=("127.0.0.1",))
        self.client = self.issue(charge_point_id, issuer=self.issuing_ca, client=True,
                                 organization=CPO_NAME)
        self.foreign_client = self.issue(charge_point_id, issuer=self.foreign_root,
                                         client=True, organization=CPO_NAME)
        self.root_file = self.write_certificate(self.root.certificate, "root-ca")
        self.foreign_root_file = self.write_certificate(self.foreign_root.certificate,
                                                        "foreign-root-ca")

    # --- making certificates -------------------------------------------------------------------

    def make_ca(self, common_name: str, issuer: Issued | None = None) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(UTC)
        subject = _name(common_name, CPO_NAME)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.certificate.subject if issuer else subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - DAY)
            .not_valid_after(now + 3650 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
        )
        signer = issuer.key if issuer else key
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
            critical=False)
        certificate = builder.sign(signer, hashes.SHA256())
        return Issued(certificate, key, _chain_below_root(issuer))

    def issue(self, common_name: str, *, issuer: Issued | None, dns: tuple[str, ...] = (),
              ips: tuple[str, ...] = (), client: bool = False, organization: str | None = None,
              not_before: dt.datetime | None = None,
              not_after: dt.datetime | None = None) -> Issued:
        """An end-entity certificate (a CSMS server, or a charge point when ``client``);
        ``issuer=None`` makes it self-signed."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(common_name, organization)
        certificate = self._certify(
            key.public_key(), subject,
            issuer.certificate.subject if issuer else subject, issuer.key if issuer else key,
            dns=dns, ips=ips, client=client, not_before=not_before, not_after=not_after)
        return Issued(certificate, key, _chain_below_root(issuer))

    def sign_csr(self, csr_pem: str, *, issuer: Issued | None = None,
                 not_before: dt.datetime | None = None,
                 not_after: dt.datetime | None = None, common_name: str | None = None) -> str:
        """Play the CPO's CA: certify the key of a charge point's CSR, with the subject it asked
        for (or another ``common_name``); return the PEM chain (leaf, then the issuing CA) that
        CertificateSigned carries."""
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        issuer = issuer or self.issuing_ca
        subject = _name(common_name, CPO_NAME) if common_name else csr.subject
        leaf = self._certify(csr.public_key(), subject, issuer.certificate.subject,
                             issuer.key, client=True, not_before=not_before,
                             not_after=not_after)
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode()
                       for c in (leaf, *_chain_below_root(issuer)))

    def _certify(self, public_key: Any, subject: x509.Name, issuer_name: x509.Name,
                 signer: ec.EllipticCurvePrivateKey, *,
                 dns: tuple[str, ...] = (), ips: tuple[str, ...] = (), client: bool = False,
                 not_before: dt.datetime | None = None,
                 not_after: dt.datetime | None = None) -> x509.Certificate:
        import ipaddress

        now = dt.datetime.now(UTC)
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - DAY)
            .not_valid_after(not_after or now + 365 * DAY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=True, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                signer.public_key()), critical=False)
        )
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(signer, hashes.SHA256())

    # --- files ---------------------------------------------------------------------------------

    def write_certificate(self, certificate: x509.Certificate, name: str) -> Path:
        path = self.directory / f"{name}.pem"
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return path

    def server_context(self, issued: Issued, *, client_ca: Issued | None = None,
                       maximum_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        """The CSMS's TLS context; with ``client_ca`` it demands a client certificate issued
        under that CA (security profile 3)."""
        name = f"server-{issued.certificate.serial_number:x}"
        cert_path, key_path = issued.write(self.directory, name)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        if maximum_version is not None:
            context.maximum_version = maximum_version
            # OpenSSL 3 refuses TLS 1.0/1.1 at its default security level even as a server.
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        if client_ca is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cadata=client_ca.certificate_pem)
        return context


def _self_signed(certificate: x509.Certificate) -> bool:
    return certificate.issuer == certificate.subject


def _chain_below_root(issuer: Issued | None) -> tuple[x509.Certificate, ...]:
    """What a peer sends above its leaf: the issuing CAs, never the root (the verifier has it)."""
    if issuer is None or _self_signed(issuer.certificate):
        return ()
    return (issuer.certificate, *issuer.issuers)


# --- the CSMS ---------------------------------------------------------------------------------


@dataclass
class ConnectionSeen:
    """What the CSMS saw of one accepted connection."""

    charge_point_id: str
    authorization: str | None
    client_certificate: x509.Certificate | None


@dataclass
class _Received:
    action: str
    payload: dict[str, Any] = field(default_factory=dict)


class SecureCentralSystem:
    """An OCPP 1.6J CSMS on ``ws[s]://<host>:<port>/ocpp/<charge point id>``.

    ``ssl_context``: None for ws://, else the server context (from :meth:`TestPki.server_context`).
    ``authorization_keys``: charge point id -> AuthorizationKey; when given, the opening handshake
    must carry ``Authorization: Basic base64(id:key)`` or is answered 401, as a CSMS does in
    security profiles 1 and 2. ``sign``: the CA behind the CSMS (CSR PEM -> chain PEM, or None to
    sign nothing); when set, each accepted SignCertificate is followed by a CertificateSigned.
    """

    def __init__(self, *, host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None,
                 authorization_keys: dict[str, str] | None = None,
                 sign: Callable[[str], str | None] | None = None) -> None:
        self.host = host
        self.ssl_context = ssl_context
        self.authorization_keys = authorization_keys
        self.sign = sign
        self.connections: list[ConnectionSeen] = []
        self.refused: list[tuple[str, int]] = []
        self.received: list[_Received] = []
        self.certificate_signed_answers: list[str] = []
        self.sessions: dict[str, RpcSession] = {}
        self._server: Any = None
        self.log = logging.getLogger("tests.secure_csms")

    async def __aenter__(self) -> SecureCentralSystem:
        logger = logging.getLogger("tests.secure_csms.websockets")
        redact_authorization_keys(logger, self.log)
        self._server = await serve(self._serve, self.host, 0, ssl=self.ssl_context,
                                   subprotocols=["ocpp1.6"], process_request=self._check,
                                   logger=logger, ping_interval=None)
        return self

    async def __aexit__(self, *_: object) -> None:
        self._server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 5)

    @property
    def port(self) -> int:
        return self._server.sockets[0].getsockname()[1]

    def url(self, host: str | None = None) -> str:
        scheme = "wss" if self.ssl_context is not None else "ws"
        return f"{scheme}://{host or self.host}:{self.port}/ocpp"

    def actions(self, action: str) -> list[dict[str, Any]]:
        return [r.payload for r in self.received if r.action == action]

    async def call(self, charge_point_id: str, request: Any) -> Any:
        """Send a CALL to a connected charge point and return its answer (a result dataclass)."""
        return await self.sessions[charge_point_id].call(request, timeout=10)

    # --- the opening handshake -----------------------------------------------------------------

    def _check(self, connection: ServerConnection, request: Any) -> Any:
        cp_id = _charge_point_id(request.path)
        if self.authorization_keys is None:
            return None
        presented = _basic_credentials(request.headers.get("Authorization"))
        expected = self.authorization_keys.get(cp_id)
        if presented is None or expected is None or presented != (cp_id, expected):
            self.refused.append((cp_id, 401))
            response = connection.respond(http.HTTPStatus.UNAUTHORIZED, "Unauthorized\n")
            response.headers["WWW-Authenticate"] = 'Basic realm="OCPP", charset="UTF-8"'
            return response
        return None

    async def _serve(self, connection: ServerConnection) -> None:
        cp_id = _charge_point_id(connection.request.path)
        ssl_object = connection.transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        self.connections.append(ConnectionSeen(
            cp_id, connection.request.headers.get("Authorization"),
            x509.load_der_x509_certificate(der) if der else None))
        session = RpcSession(connection, _CentralSystemHandlers(self, cp_id), version="1.6",
                             response_timeout=10, logger=self.log)
        self.sessions[cp_id] = session
        try:
            await session.run()
        finally:
            if self.sessions.get(cp_id) is session:
                del self.sessions[cp_id]


def _charge_point_id(path: str) -> str:
    return unquote(urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1])


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, colon, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if colon else None


class _CentralSystemHandlers:
    """The CSMS side of one connection: registration, and the security extension's messages."""

    def __init__(self, csms: SecureCentralSystem, charge_point_id: str) -> None:
        self.csms = csms
        self.charge_point_id = charge_point_id

    def _record(self, action: str, payload: dict[str, Any]) -> None:
        """Keep the payload as it was on the wire (the router hands it over in snake_case)."""
        self.csms.received.append(_Received(action, snake_to_camel_case(payload)))

    @on(Action.boot_notification)
    def on_boot_notification(self, **payload: Any) -> call_result.BootNotification:
        self._record("BootNotification", payload)
        return call_result.BootNotification(
            current_time=dt.datetime.now(UTC).isoformat(), interval=300, status="Accepted")

    @on(Action.status_notification)
    def on_status_notification(self, **payload: Any) -> call_result.StatusNotification:
        self._record("StatusNotification", payload)
        return call_result.StatusNotification()

    @on(Action.heartbeat)
    def on_heartbeat(self, **payload: Any) -> call_result.Heartbeat:
        self._record("Heartbeat", payload)
        return call_result.Heartbeat(current_time=dt.datetime.now(UTC).isoformat())

    @on(Action.security_event_notification)
    def on_security_event(self, **payload: Any) -> call_result.SecurityEventNotification:
        self._record("SecurityEventNotification", payload)
        return call_result.SecurityEventNotification()

    @on(Action.sign_certificate)
    def on_sign_certificate(self, csr: str, **_: Any) -> call_result.SignCertificate:
        self._record("SignCertificate", {"csr": csr})
        return call_result.SignCertificate(status="Accepted")

    @after(Action.sign_certificate)
    async def after_sign_certificate(self, csr: str, **_: Any) -> None:
        if self.csms.sign is None:
            return
        chain = self.csms.sign(csr)
        if chain is None:
            return
        answer = await self.csms.call(self.charge_point_id,
                                      call.CertificateSigned(certificate_chain=chain))
        self.csms.certificate_signed_answers.append(answer.status)


# --- the charge point under test ---------------------------------------------------------------


def ignore_effects(effects: list[Any]) -> None:
    """No hardware behind these charge points: what the station decides goes nowhere."""


def secured_charge_point(directory: Path, *, profile: int = 0,
                         authorization_key: str | None = None, cpo_name: str = CPO_NAME,
                         changes: list[str] | None = None,
                         max_certificates: int = 10) -> SecuredChargePoint16:
    """A real 1.6 charge point with the security extension, its certificate store and security
    state in ``directory``; ``changes`` collects what ``on_security_change`` announces."""
    certificates = CertificateStore(directory / "certificates", max_certificates=max_certificates)
    state = SecurityState(directory / "certificates" / "security.json",
                          profile=SecurityProfile(profile), authorization_key=authorization_key)
    return SecuredChargePoint16(
        Station(1), ignore_effects, vendor="pievse", model="pievse-test",
        charge_point_id="CP1", certificates=certificates, security_state=state,
        cpo_name=cpo_name, response_timeout=10,
        on_security_change=changes.append if changes is not None else None)


@contextlib.asynccontextmanager
async def online(charge_point: SecuredChargePoint16, url: str) -> AsyncIterator[OcppLink]:
    """Connect ``charge_point`` to ``url`` with the transport security it holds now (as the
    daemon does for each connection) and keep it connected until the block ends."""
    options = charge_point.transport_security().connection_options(charge_point.charge_point_id)
    link = OcppLink(url, charge_point.charge_point_id, session_factory=charge_point.run_session,
                    ssl=options.ssl, extra_headers=options.extra_headers,
                    backoff_initial=0.05, backoff_max=0.5, ping_interval=0)
    task = asyncio.create_task(link.run())
    try:
        yield link
    finally:
        await link.close()
        await asyncio.wait({task}, timeout=10)


async def refusal(url: str, security: TransportSecurity, cp_id: str = "CP1") -> BaseException:
    """Try one connection as the charge point would; return why it failed."""
    from websockets.asyncio.client import connect

    options = security.connection_options(cp_id)
    try:
        connection = await connect(f"{url}/{cp_id}", subprotocols=["ocpp1.6"], ssl=options.ssl,
                                   additional_headers=options.extra_headers, open_timeout=10)
    except Exception as error:  # the refusal is what the test is about
        return error
    await connection.close()
    raise AssertionError(f"{url} accepted the connection")


# --- secrets must never reach a log line ---------------------------------------------------------


def key_material(pem: str) -> list[str]:
    """The full base64 lines of a PEM private key: what a leaked key would show in a log. (A
    short last line could turn up by chance in the public key's encoding, in a CSR say.)"""
    return [line for line in pem.splitlines() if len(line) == 64]


def basic_token(charge_point_id: str, authorization_key: str) -> str:
    return base64.b64encode(f"{charge_point_id}:{authorization_key}".encode()).decode()


def leaks(texts: list[str], secrets: list[str]) -> list[str]:
    """The texts that show a secret, or a PEM private key of any kind."""
    return [text for text in texts
            if "PRIVATE KEY" in text or any(secret in text for secret in secrets if secret)]


def logged_texts(records: list[logging.LogRecord]) -> list[str]:
    """Every log line as a handler would write it, exception tracebacks included."""
    formatter = logging.Formatter()
    texts = []
    for record in records:
        texts.append(record.getMessage())
        if record.exc_info:
            texts.append(formatter.formatException(record.exc_info))
    return texts
