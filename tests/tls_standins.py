"""Stand-ins for the security tests: a throw-away PKI and a small OCPP 1.6 CSMS that speaks TLS.

Everything is generated at run time with ``cryptography``, so no key material lives in the
repository and nothing expires in it:

* :class:`TestPki` is a two-level CPO PKI (a root CA and an issuing CA under it), an unrelated
  root that the charge point does not trust, and the certificates the scenarios need: a good CSMS
  server certificate for ``localhost``/``127.0.0.1``, an expired one, one for another host name, a
  self-signed one, and charge point client certificates from the trusted and the foreign PKI. It
  also plays the CPO's certificate authority: :meth:`TestPki.sign_csr` turns a charge point's
  certificate signing request into a certificate.
* :class:`SecureCentralSystem` is the bench CSMS (``pievse.csms``) with TLS, checking what a
  real CSMS checks at the opening handshake (HTTP Basic credentials for security profiles 1 and 2,
  the client certificate for profile 3, done by the TLS layer), with a test's CA behind it to sign
  certificate requests. It records what it saw (the credentials and client certificate of each
  connection, every frame) and lets a test send any CALL to a charge point.

Elliptic-curve keys (P-256) keep generation in the milliseconds, so a whole PKI costs less than a
tenth of a second.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from websockets.asyncio.server import ServerConnection

from pievse.csms.server import CentralSystem
from pievse.services.certificates import CertificateStore
from pievse.protocol.common.frames import CALL, CALLRESULT
from pievse.protocol.common.link import OcppLink
from pievse.protocol.common.transport_security import (
    SecurityProfile,
    SecurityState,
    TransportSecurity,
)
from pievse.protocol.common.charge_point_parts import ChargePointParts
from pievse.protocol.v16.adapter import ChargePoint16
from pievse.protocol.v16.blocks.security import redact_authorization_keys
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


class SecureCentralSystem:
    """The bench CSMS (``pievse.csms``) on ``ws[s]://<host>:<port>/ocpp/<charge point id>``,
    checking at the opening handshake what a real CSMS checks.

    ``ssl_context``: None for ws://, else the server context (from :meth:`TestPki.server_context`).
    ``authorization_keys``: charge point id -> AuthorizationKey; when given, the opening handshake
    must carry ``Authorization: Basic base64(id:key)`` or is answered 401, as a CSMS does in
    security profiles 1 and 2. ``sign``: the CA behind the CSMS (CSR PEM -> chain PEM, or None to
    sign nothing); each SignCertificate is accepted, and followed by a CertificateSigned when
    ``sign`` gives a chain. What it saw is kept: the credentials and client certificate of each
    connection, every frame (in ``central``'s ledger); a test may send any CALL to a charge point.
    """

    def __init__(self, *, host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None,
                 authorization_keys: dict[str, str] | None = None,
                 sign: Callable[[str], str | None] | None = None) -> None:
        self.sign = sign
        self.connections: list[ConnectionSeen] = []
        self.log = logging.getLogger("tests.secure_csms")
        self.central = CentralSystem(host, 0, ssl_context=ssl_context,
                                     authorization_keys=authorization_keys, sign=self._sign,
                                     response_timeout=10, logger=self.log)
        self.central.on_connect = self._connected

    async def __aenter__(self) -> SecureCentralSystem:
        redact_authorization_keys(self.central.websockets_log, self.log)
        await self.central.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.central.stop()

    @property
    def authorization_keys(self) -> dict[str, str] | None:
        return self.central.authorization_keys

    @authorization_keys.setter
    def authorization_keys(self, keys: dict[str, str] | None) -> None:
        self.central.authorization_keys = keys

    @property
    def refused(self) -> list[tuple[str, int]]:
        """Every refused opening handshake: (charge point id, HTTP status)."""
        return self.central.refused

    @property
    def port(self) -> int:
        return self.central.port

    def url(self, host: str | None = None) -> str:
        scheme = "wss" if self.central.ssl_context is not None else "ws"
        return f"{scheme}://{host or self.central.host}:{self.port}/ocpp"

    def actions(self, action: str) -> list[dict[str, Any]]:
        """The payloads of the CALLs of ``action`` the charge points sent, as on the wire."""
        return [m.payload for m in self.central.messages
                if m.direction == "in" and m.message_type == CALL and m.action == action]

    @property
    def certificate_signed_answers(self) -> list[str]:
        """The statuses the charge points answered our CertificateSigned with."""
        return [m.payload["status"] for m in self.central.messages
                if m.direction == "in" and m.message_type == CALLRESULT
                and m.action == "CertificateSigned"]

    async def call(self, charge_point_id: str, request: Any) -> Any:
        """Send a CALL to a connected charge point and return its answer (a result dataclass)."""
        return await self.central.send(charge_point_id, request, timeout=10)

    def _sign(self, csr: str) -> str | None:
        return self.sign(csr) if self.sign is not None else None

    def _connected(self, charge_point_id: str, connection: ServerConnection) -> None:
        ssl_object = connection.transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        self.connections.append(ConnectionSeen(
            charge_point_id, connection.request.headers.get("Authorization"),
            x509.load_der_x509_certificate(der) if der else None))


# --- the charge point under test ---------------------------------------------------------------


def ignore_effects(effects: list[Any]) -> None:
    """No hardware behind these charge points: what the station decides goes nowhere."""


def secured_charge_point(directory: Path, *, profile: int = 0,
                         authorization_key: str | None = None, cpo_name: str = CPO_NAME,
                         changes: list[str] | None = None,
                         max_certificates: int = 10) -> ChargePoint16:
    """A real 1.6 charge point with the security extension, its certificate store and security
    state in ``directory``; ``changes`` collects what ``on_security_change`` announces."""
    certificates = CertificateStore(directory / "certificates", max_certificates=max_certificates)
    state = SecurityState(directory / "certificates" / "security.json",
                          profile=SecurityProfile(profile), authorization_key=authorization_key)
    return ChargePoint16(Station(1), ignore_effects, ChargePointParts(
        vendor="pievse", model="pievse-test", charge_point_id="CP1", certificates=certificates,
        security_state=state, organization_name=cpo_name, response_timeout=10,
        on_security_change=changes.append if changes is not None else None))


@contextlib.asynccontextmanager
async def online(charge_point: ChargePoint16, url: str) -> AsyncIterator[OcppLink]:
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
