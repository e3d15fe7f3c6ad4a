"""The security of the link to the CSMS, put together from the configuration: where the
certificates live, which profile and key are in force, and how the link learns of changes.

The CSMS can raise the security profile, set a new AuthorizationKey or sign a new charge point
certificate while the station runs. Each change takes effect with a new connection: the link asks
:meth:`LinkSecurity.transport` before every attempt, and :meth:`changed` makes it reconnect at
once. A change that cannot connect falls back to the previous settings after a few attempts
(:class:`~pievse.protocol.common.security_state.SecurityState`); a new certificate that cannot
connect is rolled back to the previous one. A refused connection is one log line naming the
cause, and the CSMS hears of it (SecurityEventNotification) once connected again.

The configuration gives the first profile, password and certificates, and a person may edit it
later: what the CSMS set wins until the person changes that key, then the edited value wins.
Roots added to or withdrawn from ``[ocpp] ca_file`` are installed or removed (the roots the CSMS
installed or deleted stay as the CSMS left them), a new ``cert_file`` replaces the charge point
certificate. Each such change is logged and reported to the CSMS as
ReconfigurationOfSecurityParameters.

Every store keeps its own certificates and security state (``certificates/<store file>`` beside
it): two charge points whose stores share a folder never share a key or a certificate.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pievse.app.config import Config, ConfigError, OcppConfig
from pievse.app.state_folders import private_folder, unusable_folder
from pievse.protocol.common.security_state import SecurityProfile, SecurityState
from pievse.services.certificates import (
    CertificateHashData,
    CertificateStore,
    CertificateUse,
    KeyType,
)
from pievse.services.cryptography_modules import hashes, serialization, x509
from pievse.services.network_profiles import NetworkProfiles

if TYPE_CHECKING:
    from pievse.app.protocols import Adapter

__all__ = ["LinkSecurity", "certificate_directory"]

log = logging.getLogger("pievse.ocpp.security")

#: Failed attempts with a new profile or key before falling back to the previous ones.
FALLBACK_AFTER = 3

#: The white paper's security event for a change of the security settings.
RECONFIGURATION = "ReconfigurationOfSecurityParameters"


class LinkSecurity:
    def __init__(self, config: Config) -> None:
        ocpp = config.ocpp
        self.charge_point_id = config.charge_point.id
        self.open_timeout = 10.0
        try:
            self.directory = certificate_directory(ocpp.certificate_dir, config.storage.path)
            self.certificates = CertificateStore(self.directory)
        except OSError as error:
            if unusable_folder(error, config.storage.path):
                raise  # the folder's owner is wrong, not the configuration
            key = (f"[ocpp] certificate_dir = {ocpp.certificate_dir!r}" if ocpp.certificate_dir
                   else f"[storage] path = {config.storage.path!r}")
            raise ConfigError([f"{key}: cannot make the certificate folder "
                               f"{error.filename or ''}: {error.strerror or error}"],
                              "[ocpp]") from None
        self.state = SecurityState(self.directory / "security.json",
                                   profile=SecurityProfile(ocpp.security_profile),
                                   authorization_key=ocpp.password or None,
                                   fallback_after=FALLBACK_AFTER)
        #: The connections the CSMS stored (2.0.1 SetNetworkProfile), beside the certificates.
        self.network_profiles = NetworkProfiles(self.directory / "network-profiles.json")
        problems, edits = configured_certificates(self.certificates, self.state, ocpp)
        if problems:
            raise ConfigError(problems, "[ocpp]")
        for edit in edits:
            log.warning("the configuration was edited: %s", edit)
        #: What an edited configuration changed at this start, for the CSMS once the link runs.
        self._edits = [*self.state.reconfigured, *edits]
        self.key_type = KeyType(ocpp.csr_key_type)
        self.cpo_name = ocpp.cpo_name
        #: The OCPP adapter that reports security events and holds the settings of the link.
        self.protocol: Adapter | None = None
        self._certificate_on_trial = False
        if int(self.state.profile) == 0:
            log.warning("security profile 0: the link to the CSMS is neither authenticated nor "
                        "encrypted; use it for development only")

    # --- what the link asks -------------------------------------------------------------------

    def transport(self) -> tuple[ssl.SSLContext | None, Mapping[str, str]]:
        assert self.protocol is not None
        if self._edits:
            # Queued like every event, sent once registered; asked before the first attempt.
            self.protocol.report_security_event(RECONFIGURATION, "; ".join(self._edits))
            self._edits = []
        options = self.protocol.transport_security().connection_options(self.charge_point_id)
        return options.ssl, options.extra_headers

    def describe_failure(self, error: BaseException) -> str:
        assert self.protocol is not None
        event = self.protocol.transport_security().refusal_security_event(error)
        if event is not None:
            # Told to the CSMS once a connection works again (queued while offline).
            self.protocol.report_security_event(event, type(error).__name__)
        return self.protocol.transport_security().describe_refusal(error, self.open_timeout)

    def attempt(self, succeeded: bool) -> None:
        if succeeded:
            self.state.connected()
            self._certificate_on_trial = False
            return
        if self._certificate_on_trial:
            if self.certificates.rollback_charge_point_certificate():
                log.error("the new charge point certificate could not connect: rolled back to "
                          "the previous one")
            self._certificate_on_trial = False
        if self.state.attempt_failed() and self.protocol is not None:
            self.protocol.report_security_event(
                RECONFIGURATION, f"fell back to security profile {int(self.state.profile)}")

    def changed(self, what: str) -> str:
        """The CSMS changed ``what`` ("profile", "authorization_key", "certificate"): the
        next connection uses it. Returns the reason to give the reconnection."""
        if what == "certificate":
            self._certificate_on_trial = True
        return f"new {what.replace('_', ' ')}"


def certificate_directory(configured: str, storage_path: str) -> Path:
    """``[ocpp] certificate_dir``, else the store's own folder in ``certificates`` beside it;
    a store in memory (tests, the demo) gets a private temporary folder."""
    if configured:
        path = Path(configured)
    elif storage_path == ":memory:":
        path = private_folder("certificates")
    else:
        store = Path(os.path.abspath(storage_path))
        shared = store.parent / "certificates"
        path = shared / store.name
        shared.mkdir(mode=0o700, exist_ok=True)
        _claim_shared_folder(shared, path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _claim_shared_folder(shared: Path, own: Path) -> None:
    """Earlier versions kept one certificate folder for every store of a folder: the first
    store to start takes it as its own, the others start afresh from their configuration."""
    if own.exists() or not (shared / "security.json").exists():
        return
    own.mkdir(mode=0o700)
    for entry in list(shared.iterdir()):
        if entry != own:
            os.replace(entry, own / entry.name)
    log.warning("%s held the certificates of every store in %s: they are now %s's alone (%s)",
                shared, shared.parent, own.name, own)


# --- the certificates of the configuration -------------------------------------------------------


def configured_certificates(certificates: CertificateStore, state: SecurityState,
                            ocpp: OcppConfig) -> tuple[list[str], list[str]]:
    """Put the certificates of ``[ocpp]`` in force: at the first start into an empty store;
    afterwards only what the person changed in the configuration since the last start, so that
    the CSMS's installs and deletions stand until then. Returns the problems (nothing was
    recorded then) and the changes made, one line each."""
    problems, edits = _configured_roots(certificates, state, ocpp.ca_file)
    if problems:
        return problems, []
    if not ocpp.cert_file:
        # No statement about the charge point certificate; naming one again later is an edit.
        state.remember_configured("chargePointCertificate", None)
        return [], edits
    problems, more = _configured_client_certificate(
        certificates, state, Path(ocpp.cert_file), Path(ocpp.key_file or ocpp.cert_file))
    return problems, edits + more


def _configured_roots(certificates: CertificateStore, state: SecurityState,
                      ca_file: str) -> tuple[list[str], list[str]]:
    use = CertificateUse.CENTRAL_SYSTEM_ROOT
    try:
        roots = x509.load_pem_x509_certificates(Path(ca_file).read_bytes()) if ca_file else []
    except (OSError, ValueError) as error:
        return [f"[ocpp] ca_file {ca_file}: cannot read a certificate ({error})"], []
    now = {_fingerprint(root): root for root in roots}
    installed = {path.stem: path for path in certificates.root_files(use)}
    try:
        before = set(state.configured("centralSystemRoots"))
        first = False
    except KeyError:
        # A first start fills an empty store; one from an older pievse keeps what it holds.
        before, first = set(now) if installed else set(), True
    problems, edits = [], []
    for fingerprint in sorted(before - set(now)):
        if fingerprint in installed:
            withdrawn = x509.load_pem_x509_certificate(installed[fingerprint].read_bytes())
            certificates.delete(CertificateHashData.of(withdrawn))
            edits.append(f"{use.value} {withdrawn.subject.rfc4514_string()} withdrawn by "
                         "[ocpp] ca_file")
    for fingerprint, root in now.items():
        if fingerprint not in before:
            pem = root.public_bytes(serialization.Encoding.PEM).decode()
            outcome = certificates.install_root(use, pem)
            if not outcome.accepted:
                problems.append(f"[ocpp] ca_file {ca_file}: {outcome.reason}")
            elif fingerprint not in installed:
                edits.append(f"{use.value} {root.subject.rfc4514_string()} added by "
                             "[ocpp] ca_file")
    if problems:
        return problems, []
    state.remember_configured("centralSystemRoots", sorted(now))
    return [], [] if first else edits


def _configured_client_certificate(certificates: CertificateStore, state: SecurityState,
                                   cert_file: Path, key_file: Path) -> tuple[list[str], list[str]]:
    try:
        leaf = x509.load_pem_x509_certificates(cert_file.read_bytes())[0]
    except (OSError, ValueError) as error:
        return [f"[ocpp] cert_file {cert_file}: cannot read a certificate ({error})"], []
    try:
        edited = state.configured("chargePointCertificate") != _fingerprint(leaf)
    except KeyError:
        # A first start installs it; one from an older pievse keeps the certificate it has.
        edited = False
        problems = certificates.seed(cert_file=cert_file, key_file=key_file)
    else:
        problems = certificates.import_client_certificate(cert_file, key_file) if edited else []
    if problems:
        return problems, []
    state.remember_configured("chargePointCertificate", _fingerprint(leaf))
    return [], [f"charge point certificate {leaf.subject.rfc4514_string()} installed from "
                "[ocpp] cert_file"] if edited else []


def _fingerprint(certificate: x509.Certificate) -> str:
    """How the store names a root's file, and the configuration's certificates are told apart."""
    return certificate.fingerprint(hashes.SHA256()).hex()
