"""Certificate management, whatever the OCPP version: what InstallCertificate,
GetInstalledCertificateIds, DeleteCertificate, SignCertificate and CertificateSigned do.

The 1.6 security extension and OCPP 2.0.1 (A02, A03, M03-M05) ask the same of a charge point in
different words: install a root of a kind, list and delete the roots by hash data, make a key
here and have the CSMS's CA certify it. This is that behaviour, once; each version's block only
translates (its certificate type names, its status words, its security event names).

* A refused CSMS root (1.6 CentralSystemRootCertificate, 2.0.1 CSMSRootCertificate) is a
  security event: someone tried to make the charge point trust another CSMS.
* The last CSMS root is never deleted while the link runs on TLS: the charge point could not
  verify its CSMS again.
* The key of a certificate signing request is made in a worker thread (RSA takes seconds on a
  Pi) and never leaves the charge point; the certificate signed for it is checked against it
  (:meth:`~pievse.services.certificates.CertificateStore.install_charge_point_certificate`)
  before it is taken, and a refused one is a security event.
* A new charge point certificate takes effect with a new connection: once the answer to the
  CertificateSigned is out, ``on_security_change("certificate")`` lets the owner reconnect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from pievse.protocol.common.security_events import SecurityEvent
from pievse.protocol.common.security_state import check_profile_change

if TYPE_CHECKING:
    from pievse.protocol.common.security_events import SecurityEvents
    from pievse.protocol.common.security_state import SecurityState
    from pievse.services.certificates import (
        CertificateHashData,
        CertificateStore,
        CertificateUse,
        KeyType,
        Leaf,
        Outcome,
    )

__all__ = ["CertificateManagement", "profile_refusal"]


def profile_refusal(state: SecurityState, certificates: CertificateStore,
                    requested: int) -> str | None:
    """Why the charge point cannot move to security profile ``requested`` now, or None (see
    :func:`~pievse.protocol.common.security_state.check_profile_change`)."""
    from pievse.services.certificates import CertificateUse

    return check_profile_change(
        state.profile, requested, authorization_key_set=bool(state.authorization_key),
        central_system_root_installed=bool(
            certificates.root_files(CertificateUse.CENTRAL_SYSTEM_ROOT)),
        client_certificate_installed=certificates.has_valid_charge_point_certificate())


class CertificateManagement:
    """The certificate requests of a CSMS, carried out on the charge point's store.

    ``identity`` is the CN of every signing request; ``on_security_change(what)`` hears of a
    change that needs a new connection, once :meth:`announce` is called (after the answer).
    """

    def __init__(self, certificates: CertificateStore, state: SecurityState,
                 events: SecurityEvents, log: logging.Logger, *, identity: str,
                 key_type: KeyType | None = None,
                 on_security_change: Callable[[str], None] | None = None) -> None:
        self.certificates = certificates
        self.state = state
        self.events = events
        self.log = log
        self.identity = identity
        self.key_type = key_type
        self._on_security_change = on_security_change or (lambda what: None)
        self._changed: str | None = None

    # --- roots -----------------------------------------------------------------------------

    def install_root(self, use: CertificateUse, pem: str) -> Outcome:
        from pievse.services.certificates import CertificateUse

        outcome = self.certificates.install_root(use, pem)
        if not outcome.accepted:
            self.log.warning("InstallCertificate %s %s: %s", use.value, outcome.status,
                             outcome.reason)
            if use is CertificateUse.CENTRAL_SYSTEM_ROOT and outcome.status == "Rejected":
                self.events.report(SecurityEvent.INVALID_CENTRAL_SYSTEM_CERTIFICATE,
                                   outcome.reason)
        return outcome

    def installed_ids(self, use: CertificateUse) -> list[CertificateHashData]:
        return self.certificates.installed_ids(use)

    def delete(self, hash_data: CertificateHashData) -> Outcome:
        outcome = self.certificates.delete(
            hash_data, keep_last_central_system_root=self.state.profile.uses_tls)
        if not outcome.accepted:
            self.log.warning("DeleteCertificate %s: %s", outcome.status, outcome.reason)
        return outcome

    # --- certificates whose key is made here ---------------------------------------------

    async def signing_request(self, organization: str, leaf: Leaf | None = None) -> str | None:
        """A new key and its CSR (PEM) with CN = the identity and O = ``organization``; None
        if none could be made (no organization name, the disk)."""
        from pievse.services.certificates import KeyType, Leaf

        try:
            return await asyncio.to_thread(
                self.certificates.new_signing_request, self.identity, organization,
                self.key_type or KeyType.EC_P256, leaf or Leaf.CHARGE_POINT)
        except (ValueError, OSError) as error:
            self.log.error("cannot make a certificate signing request: %s", error)
            return None

    def certificate_signed(self, chain: str, leaf: Leaf | None = None) -> Outcome:
        """Take the certificate the CSMS's CA signed for our pending request, or say why not."""
        from pievse.services.certificates import Leaf

        leaf = leaf or Leaf.CHARGE_POINT
        outcome = self.certificates.install_charge_point_certificate(chain, leaf_kind=leaf)
        if outcome.accepted:
            if leaf is Leaf.CHARGE_POINT:
                self.changed("certificate")
        else:
            self.log.warning("CertificateSigned rejected: %s", outcome.reason)
            self.events.report(SecurityEvent.INVALID_CHARGE_POINT_CERTIFICATE, outcome.reason)
        return outcome

    # --- what needs a new connection -----------------------------------------------------

    def profile_refusal(self, requested: int) -> str | None:
        return profile_refusal(self.state, self.certificates, requested)

    def changed(self, what: str) -> None:
        """``what`` ("profile", "authorization_key", "certificate") changed; announced later."""
        self._changed = what

    def announce(self) -> None:
        """After the answer went out: let the owner reconnect with what changed."""
        changed, self._changed = self._changed, None
        if changed is not None:
            self._on_security_change(changed)
