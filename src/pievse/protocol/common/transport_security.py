"""Transport security for OCPP-J: the security profiles of the OCPP 1.6 security white paper.

The white paper ("Improved security for OCPP 1.6-J", edition 2 and later) defines how a charge
point proves who it is to the central system (CSMS) and how it knows it talks to the right CSMS:

* **profile 1**, unsecured transport with HTTP Basic authentication: ``ws://``; the opening
  handshake carries ``Authorization: Basic base64(<charge point id>:<AuthorizationKey>)``. The
  password crosses the network in clear text: only for closed networks (a VPN, a private APN).
* **profile 2**, TLS with Basic authentication: ``wss://``; the charge point checks the CSMS's
  server certificate against its installed CentralSystemRootCertificate(s) and that the
  certificate names the host it dialled, then authenticates with Basic as in profile 1.
* **profile 3**, TLS with a client certificate (mutual TLS): ``wss://``; the charge point
  presents its own certificate (issued by the CPO's CA, CN = the charge point id) in the TLS
  handshake. No Basic authentication.

Profile 0 (no authentication at all) is not in the white paper; pievse keeps it for the bench.
TLS is 1.2 or newer; for TLS 1.2 the cipher suites are the AEAD suites the white paper names plus
their ECDHE-RSA siblings (forward secrecy with RSA server keys). TLS 1.3 suites are all AEAD.

This module builds the options for one websocket connection (:class:`TransportSecurity`) and
turns a refused connection into one line that names the cause (:func:`describe_refusal`); the
profile and AuthorizationKey in force are kept by
:class:`~pievse.protocol.common.security_state.SecurityState`. The AuthorizationKey is never
logged: :func:`redact_credentials` keeps it out of websockets' debug log.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import ssl
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

# Kept importable from here, where the transport's users have always found them.
from pievse.protocol.common.security_state import SecurityProfile, SecurityState

if TYPE_CHECKING:
    from pievse.services.certificates import CertificateStore

__all__ = [
    "AUTHORIZATION_KEY_LENGTH",
    "ConnectionOptions",
    "CredentialRedactor",
    "SecurityProfile",
    "SecurityState",
    "TransportSecurity",
    "basic_authorization",
    "check_authorization_key",
    "describe_refusal",
    "redact_credentials",
    "refusal_security_event",
    "tls_context",
    "url_problems",
]

log = logging.getLogger("pievse.ocpp.security")

#: The AuthorizationKey's length in characters: at least 16 (white paper), at most 40 (OCPP 2.0.1,
#: which also fits the 20-byte keys that edition 1 had CSMSs send hex-encoded).
AUTHORIZATION_KEY_LENGTH = (16, 40)

#: TLS 1.2 suites: the white paper's (ECDHE-ECDSA and plain RSA, AES-GCM) and ECDHE-RSA-AES-GCM.
TLS12_CIPHERS = ":".join((
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
    "AES128-GCM-SHA256", "AES256-GCM-SHA384",
))


def check_authorization_key(key: str) -> str | None:
    """What is wrong with an AuthorizationKey (without quoting it), or None."""
    shortest, longest = AUTHORIZATION_KEY_LENGTH
    if not shortest <= len(key) <= longest:
        return f"must be {shortest} to {longest} characters long (it has {len(key)})"
    if not key.isascii() or not key.isprintable():
        return "must be printable ASCII (it is sent in an HTTP header)"
    return None


def basic_authorization(charge_point_id: str, authorization_key: str) -> str:
    """The ``Authorization`` header value of HTTP Basic authentication (RFC 7617) for OCPP:
    the user is the charge point id, the password the AuthorizationKey."""
    if ":" in charge_point_id:
        raise ValueError("a charge point id with ':' cannot be an HTTP Basic user name")
    token = base64.b64encode(f"{charge_point_id}:{authorization_key}".encode()).decode("ascii")
    return f"Basic {token}"


def url_problems(url: str, profile: SecurityProfile) -> list[str]:
    """Where the CSMS URL and the security profile contradict each other."""
    parts = urlsplit(url)
    problems = []
    if parts.username is not None or parts.password is not None:
        problems.append("the CSMS URL must not carry user:password@ (it would be logged); "
                        "set [ocpp] password instead")
    if parts.scheme == "wss" and not profile.uses_tls:
        problems.append(f"security profile {int(profile)} is plain ws://, but the URL is wss://: "
                        "use security profile 2 or 3 for TLS")
    if parts.scheme == "ws" and profile.uses_tls:
        problems.append(f"security profile {int(profile)} needs TLS, but the URL is ws://: "
                        "use wss://")
    return problems


def tls_context(ca_files: Iterable[Path] = (), cert_file: Path | None = None,
                key_file: Path | None = None) -> ssl.SSLContext:
    """A client TLS context that verifies the CSMS certificate and its host name.

    ``ca_files`` are the CentralSystemRootCertificate(s) to trust (PEM, one or more per file);
    none means the system's trusted CAs (a CSMS with a public certificate). ``cert_file`` (the
    charge point certificate chain, leaf first) and ``key_file`` add the client certificate of
    profile 3; a ``cert_file`` that also holds the key needs no ``key_file``.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    ca_files = list(ca_files)
    if ca_files:
        for path in ca_files:
            context.load_verify_locations(cafile=os.fspath(path))
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if cert_file is not None:
        context.load_cert_chain(os.fspath(cert_file),
                                os.fspath(key_file) if key_file is not None else None)
    return context


@dataclass(frozen=True)
class ConnectionOptions:
    """What :class:`~pievse.protocol.common.link.OcppLink` takes for one connection: its ``ssl`` and
    ``extra_headers`` arguments. The repr hides the header values."""

    ssl: ssl.SSLContext | None
    extra_headers: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class TransportSecurity:
    """The transport security of one charge point: profile, credentials, trust anchors.

    Built by the daemon from ``[ocpp]`` (and later from the security state and the
    certificate store); :meth:`problems` says what makes it unusable, each problem a sentence
    naming the key; :meth:`connection_options` builds the options of the next connection.
    """

    profile: SecurityProfile
    authorization_key: str | None = field(default=None, repr=False)
    ca_files: tuple[Path, ...] = ()
    cert_file: Path | None = None
    key_file: Path | None = None

    @classmethod
    def current(cls, state: SecurityState, certificates: CertificateStore) -> TransportSecurity:
        """The settings of the next connection: the profile and password in force, the
        installed CSMS root certificates, and the charge point certificate."""
        from pievse.services.certificates import CertificateUse

        return cls(state.profile, state.authorization_key,
                   tuple(certificates.root_files(CertificateUse.CENTRAL_SYSTEM_ROOT)),
                   certificates.client_certificate_file())

    def problems(self, url: str, charge_point_id: str) -> list[str]:
        profile = SecurityProfile(self.profile)
        problems = url_problems(url, profile)
        if profile.uses_basic_auth:
            if not self.authorization_key:
                problems.append(f"security profile {int(profile)} needs the AuthorizationKey: "
                                "set [ocpp] password")
            else:
                wrong = check_authorization_key(self.authorization_key)
                if wrong:
                    problems.append(f"[ocpp] password {wrong}")
            if ":" in charge_point_id:
                problems.append("HTTP Basic authentication cannot carry a charge point id "
                                "with ':'")
        # The files are checked whatever the profile: they are imported at the first start
        # so that the CSMS can raise the profile later.
        problems += [f"[ocpp] ca_file {path}: {why}" for path in self.ca_files
                     if (why := _unusable_roots(path))]
        if profile.uses_client_certificate and self.cert_file is None:
            problems.append("security profile 3 needs the charge point certificate: "
                            "set [ocpp] cert_file and key_file")
        elif self.cert_file is not None:
            problems += self._client_certificate_problems(profile)
        return problems

    def _client_certificate_problems(self, profile: SecurityProfile) -> list[str]:
        assert self.cert_file is not None
        problems = [f"[ocpp] {name} {path}: {why}"
                    for name, path in (("cert_file", self.cert_file), ("key_file", self.key_file))
                    if path is not None and (why := _unreadable(path))]
        key = self.key_file or self.cert_file
        if (profile.uses_client_certificate and key.exists()
                and key.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)):
            problems.append(f"[ocpp] key_file {key}: the private key must be readable "
                            "by its owner only (chmod 600)")
        if not problems:
            try:
                # A password callback, so that an encrypted key fails instead of prompting.
                ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(
                    os.fspath(self.cert_file), os.fspath(key), password=lambda: b"")
            except ssl.SSLError as error:
                if error.reason == "KEY_VALUES_MISMATCH":
                    why = "is not the key of the certificate in cert_file"
                else:
                    why = "holds no PEM certificate with its unencrypted private key" + (
                        f" ({error.reason})" if error.reason else "")
                name = "key_file" if self.key_file is not None else "cert_file"
                problems.append(f"[ocpp] {name} {key}: {why}")
        return problems

    def describe_refusal(self, error: BaseException, open_timeout: float | None = None) -> str:
        """:func:`describe_refusal` for a connection made with these settings."""
        return describe_refusal(error, open_timeout, profile=SecurityProfile(self.profile))

    def refusal_security_event(self, error: BaseException) -> str | None:
        """:func:`refusal_security_event` for a connection made with these settings."""
        return refusal_security_event(error, profile=SecurityProfile(self.profile))

    def connection_options(self, charge_point_id: str) -> ConnectionOptions:
        """The ``ssl`` context and headers for the next connection (ValueError or
        ``ssl.SSLError`` when the files cannot be used: call :meth:`problems` first)."""
        profile = SecurityProfile(self.profile)
        headers: dict[str, str] = {}
        if profile.uses_basic_auth:
            if not self.authorization_key:
                raise ValueError(f"security profile {int(profile)} needs an AuthorizationKey")
            headers["Authorization"] = basic_authorization(charge_point_id,
                                                           self.authorization_key)
        context = None
        if profile.uses_tls:
            context = tls_context(
                self.ca_files,
                self.cert_file if profile.uses_client_certificate else None,
                self.key_file if profile.uses_client_certificate else None,
            )
        return ConnectionOptions(context, headers)


def _unreadable(path: Path) -> str | None:
    try:
        with open(path, "rb"):
            return None
    except OSError as error:
        return error.strerror or str(error)
    except ValueError as error:  # a NUL in the path
        return str(error)


def _unusable_roots(path: Path) -> str | None:
    """Why the PEM file of CentralSystemRootCertificates at ``path`` cannot be used, or None."""
    why = _unreadable(path)
    if why is None:
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=os.fspath(path))
        except ssl.SSLError as error:
            why = f"holds no PEM certificate ({error.reason or error})"
    return why


# --- why a connection was refused --------------------------------------------------------------

# OpenSSL's X509_V_ERR_* codes for the server certificate, and what each means to an installer.
_VERIFY_CAUSES = {
    2: "was not issued under an installed CentralSystemRootCertificate (unknown issuer)",
    7: "has a signature that does not verify",
    9: "is not valid yet (check the charge point's clock)",
    10: "has expired",
    18: "is self-signed, not issued under an installed CentralSystemRootCertificate",
    19: "chains to a root that is not an installed CentralSystemRootCertificate",
    20: "was not issued under an installed CentralSystemRootCertificate (unknown issuer)",
    21: "was not issued under an installed CentralSystemRootCertificate (unknown issuer)",
    23: "has been revoked",
    62: "does not name the host dialled (host name mismatch)",
    64: "does not name the address dialled (IP address mismatch)",
}

_REJECTED = "the CSMS rejected the charge point certificate"
_OLD_TLS = "the CSMS offers only TLS older than 1.2, which OCPP forbids"
_NO_CIPHER = "no cipher suite in common with the CSMS"
_NOT_TLS = "the server does not speak TLS on that port (a ws:// endpoint?)"

# OpenSSL reasons of a failed handshake that was not about verifying the server certificate.
_HANDSHAKE_CAUSES = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED":
        "the CSMS requires a client certificate (security profile 3) and none was sent",
    "TLSV1_ALERT_UNKNOWN_CA":
        "the CSMS does not trust the charge point certificate (issued by a CA it does not know)",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the CSMS says the charge point certificate has expired",
    "SSLV3_ALERT_CERTIFICATE_REVOKED": "the CSMS says the charge point certificate is revoked",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "the CSMS ended the TLS handshake (no common cipher "
                                     "suite, or it refused the client certificate)",
    **dict.fromkeys(("SSLV3_ALERT_BAD_CERTIFICATE", "SSLV3_ALERT_CERTIFICATE_UNKNOWN"),
                    _REJECTED),
    **dict.fromkeys(("UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION",
                     "NO_PROTOCOLS_AVAILABLE"), _OLD_TLS),
    **dict.fromkeys(("NO_SHARED_CIPHER", "NO_CIPHERS_AVAILABLE"), _NO_CIPHER),
    **dict.fromkeys(("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE"), _NOT_TLS),
}


def _causes(error: BaseException) -> list[BaseException]:
    """The error and what it was raised from or while handling, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _root_cause(error: BaseException) -> BaseException:
    from websockets.exceptions import InvalidStatus

    for cause in _causes(error):
        if isinstance(cause, (InvalidStatus, ssl.SSLError)):
            return cause
    return error


def _hung_up(error: BaseException) -> str | None:
    """How the peer hung up without a word (no HTTP answer, no TLS alert): "after" the TLS
    handshake (the HTTP upgrade got no answer), "during" it, or None if it did not."""
    from websockets.exceptions import InvalidMessage

    causes = _causes(error)
    if any(isinstance(c, InvalidMessage) for c in causes):
        return "after"
    if any(isinstance(c, (ssl.SSLEOFError, ConnectionResetError)) for c in causes):
        return "during"
    return None


def describe_refusal(error: BaseException, open_timeout: float | None = None, *,
                     profile: SecurityProfile | None = None) -> str:
    """One line naming why the CSMS could not be reached or refused this charge point.

    Credentials (HTTP 401, or 403 under a profile with Basic auth), the CSMS's certificate
    (untrusted CA, expired, self-signed, host name mismatch) and the handshake (client
    certificate refused, TLS version, cipher) each get their own words; anything else is
    described by
    :func:`pievse.protocol.common.link.describe_connect_failure`.

    A CSMS that refuses a client certificate under TLS 1.3 often just closes the connection
    (the handshake had already completed on the charge point's side, and many servers send no
    alert): given the ``profile`` in use, that silence is named for what it most likely means.
    """
    from websockets.exceptions import InvalidStatus

    from pievse.protocol.common.link import describe_connect_failure

    cause = _root_cause(error)
    if _credentials_refused(cause, profile):
        assert isinstance(cause, InvalidStatus)
        status = cause.response.status_code
        return (f"the CSMS refused the credentials (HTTP {status} "
                f"{cause.response.reason_phrase}): it does not accept this charge point id with "
                "this AuthorizationKey")
    if isinstance(cause, InvalidStatus) and cause.response.status_code == 403:
        return "the CSMS forbids this charge point (HTTP 403 Forbidden)"
    if isinstance(cause, ssl.SSLCertVerificationError):
        why = _VERIFY_CAUSES.get(cause.verify_code)
        if why is None:
            return f"TLS: the CSMS certificate is not trusted ({cause.verify_message})"
        named = re.search(r"'([^']*)'", cause.verify_message or "")
        if cause.verify_code in (62, 64) and named:
            why = f"is not valid for {named.group(1)!r} ({why.rpartition('(')[2]}"
        return f"TLS: the CSMS certificate {why}"
    if isinstance(cause, ssl.SSLError) and cause.reason in _HANDSHAKE_CAUSES:
        return f"TLS: {_HANDSHAKE_CAUSES[cause.reason]}"
    hung_up = _hung_up(error) if profile is not None and profile.uses_tls else None
    if hung_up == "after":
        if profile is SecurityProfile.TLS_CLIENT_CERTIFICATE:
            return ("TLS: the CSMS hung up without answering the opening handshake: it most "
                    "likely refused the charge point certificate (unknown issuer, expired or "
                    "revoked)")
        return ("TLS: the CSMS hung up without answering the opening handshake: it may demand "
                "a client certificate (security profile 3)")
    if hung_up == "during":
        return ("TLS: the CSMS broke off the TLS handshake (it may refuse the charge point "
                "certificate, or offer no TLS version or cipher suite that OCPP allows)")
    if isinstance(cause, ssl.SSLError):
        return f"TLS handshake failed ({cause.reason or cause})"
    return describe_connect_failure(cause, open_timeout)


def _credentials_refused(cause: BaseException, profile: SecurityProfile | None) -> bool:
    """HTTP 401, or 403 where Basic credentials were sent: some CSMSs (arthexis) answer wrong
    credentials with 403, and with a password in play that is what it means."""
    from websockets.exceptions import InvalidStatus

    if not isinstance(cause, InvalidStatus):
        return False
    status = cause.response.status_code
    return status == 401 or (status == 403 and profile is not None and profile.uses_basic_auth)


def refusal_security_event(error: BaseException, *,
                           profile: SecurityProfile | None = None) -> str | None:
    """The white paper's security event type for a refused connection made under ``profile``,
    if it names one."""
    cause = _root_cause(error)
    if _credentials_refused(cause, profile):
        return "FailedToAuthenticateAtCentralSystem"
    if isinstance(cause, ssl.SSLCertVerificationError):
        return "InvalidCentralSystemCertificate"
    if isinstance(cause, ssl.SSLError):
        why = _HANDSHAKE_CAUSES.get(cause.reason or "")
        if why == _OLD_TLS:
            return "InvalidTLSVersion"
        if why == _NO_CIPHER:
            return "InvalidTLSCipherSuite"
    return None


# --- keeping the AuthorizationKey out of the logs ----------------------------------------------


class CredentialRedactor(logging.Filter):
    """Blanks credentials in websockets' debug records before any handler sees them.

    Its handshake lines show ``> Authorization: Basic …``, whose base64 is the AuthorizationKey
    in all but name. Its frame lines show a preview of each frame's start and end: the end of a
    ChangeConfiguration that sets a new AuthorizationKey is that key, while the words that would
    identify the frame may be cut out of the middle. Previews are therefore reduced to the
    frame's type and length (the RPC layer logs whole frames anyway, with the key blanked by
    :class:`pievse.protocol.v16.blocks.security.AuthorizationKeyRedactor`).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple):
            return True
        if (len(args) == 1 and record.msg in ("< %s", "> %s")
                and hasattr(args[0], "opcode") and hasattr(args[0], "data")):
            record.args = (f"{args[0].opcode.name} [{len(args[0].data)} bytes]",)
        elif (len(args) == 2 and isinstance(args[0], str)
              and args[0].lower() in ("authorization", "proxy-authorization")):
            record.args = (args[0], "[redacted]")
        return True


_REDACTOR = CredentialRedactor()


def redact_credentials(*loggers: logging.Logger | logging.LoggerAdapter,
                       redactor: logging.Filter = _REDACTOR) -> None:
    """Attach ``redactor`` to websockets' client and server loggers and to those given. (A
    filter acts on the records of its own logger only: the loggers that create them need it.)"""
    targets: list[Any] = [logging.getLogger("websockets.client"),
                          logging.getLogger("websockets.server"), *loggers]
    for target in targets:
        logger = target.logger if isinstance(target, logging.LoggerAdapter) else target
        if redactor not in logger.filters:
            logger.addFilter(redactor)
