"""Security: the certificates, security events and configuration keys of the OCPP 1.6 security
extension (the white paper "Improved security for OCPP 1.6-J").

* certificate management: the CSMS installs, lists and deletes root certificates
  (InstallCertificate, GetInstalledCertificateIds, DeleteCertificate) and renews the charge
  point's own certificate (ExtendedTriggerMessage(SignChargePointCertificate) -> the charge point
  makes a key and sends SignCertificate(csr) -> the CSMS's CA signs it -> CertificateSigned);
* SecurityEventNotification, through :mod:`pievse.protocol.v16.security_events`;
* configuration keys, whose rules are part of their definitions: SecurityProfile (only ever
  raised, and only to a profile whose needs are met), AuthorizationKey (write-only, never
  shown), CpoName (the O of the CSR, 1 to 64 characters), and read-only limits of the
  certificate store.

A new security profile, AuthorizationKey or charge point certificate takes effect with a new
connection: once the CSMS's answer has gone out, ``on_security_change(what)`` is called with
``"profile"``, ``"authorization_key"`` or ``"certificate"``, and the owner reconnects (see
:class:`~pievse.protocol.common.transport_security.SecurityState` for the fallback).

SignedUpdateFirmware is the firmware block's, GetLog the diagnostics block's, and
ExtendedTriggerMessage the remote control block's.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from pievse.protocol.common.certificate_management import CertificateManagement
from pievse.protocol.common.transport_security import (
    SecurityProfile,
    TransportSecurity,
    check_authorization_key,
    redact_credentials,
)
from pievse.protocol.v16.configuration import ChangeResult, KeyDefinition
from pievse.protocol.v16.configuration import KeyType as ConfigType
from pievse.protocol.v16.context import Context
from pievse.protocol.common.security_events import SecurityEvent
from pievse.services.certificates import CertificateHashData, CertificateUse, KeyType

__all__ = ["AuthorizationKeyRedactor", "SecurityBlock",
           "redact_authorization_keys"]


def _cpo_name_refusal(value: str) -> str | None:
    return None if 1 <= len(value) <= 64 else "1 to 64 characters"


def _authorization_key_refusal(value: str) -> str | None:
    wrong = check_authorization_key(value)
    return f"it {wrong}" if wrong else None


class AuthorizationKeyRedactor(logging.Filter):
    """Blanks the new key in the OCPP frames logged at debug level (the RPC layer's ``recv`` and
    ``send`` lines, and quoted frames in warnings): a ChangeConfiguration of AuthorizationKey
    carries it as its value."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
                isinstance(a, str) and "AuthorizationKey" in a for a in record.args):
            record.args = tuple(_without_authorization_key(a) if isinstance(a, str) else a
                                for a in record.args)
        return True


# The value next to "key": "AuthorizationKey" in a JSON object, in either order; a frame cut
# short for the log may lack the closing quote.
_KEY_THEN_VALUE = re.compile(
    r'("key"\s*:\s*"AuthorizationKey"\s*,\s*"value"\s*:\s*")(?:[^"\\]|\\.)*("?)')
_VALUE_THEN_KEY = re.compile(
    r'("value"\s*:\s*")(?:[^"\\]|\\.)*("\s*,\s*"key"\s*:\s*"AuthorizationKey")')


def _without_authorization_key(text: str) -> str:
    text = _KEY_THEN_VALUE.sub(r"\1[redacted]\2", text)
    return _VALUE_THEN_KEY.sub(r"\1[redacted]\2", text)


AUTHORIZATION_KEY_REDACTOR = AuthorizationKeyRedactor()


def redact_authorization_keys(*loggers: logging.Logger | logging.LoggerAdapter) -> None:
    """Keep AuthorizationKeys out of the logs: websockets' handshake lines, and the OCPP frames
    of the charge point (``pievse.ocpp``), the embedded CSMS (``pievse.csms``) and ``loggers``."""
    redact_credentials(*loggers)
    redact_credentials(logging.getLogger("pievse.ocpp"), logging.getLogger("pievse.csms"),
                       *loggers, redactor=AUTHORIZATION_KEY_REDACTOR)


class SecurityBlock:
    """Needs the context's certificate store, security state and security events."""

    def __init__(self, context: Context, *, charge_point_id: str, cpo_name: str = "",
                 key_type: KeyType = KeyType.EC_P256,
                 on_security_change: Callable[[str], None] | None = None) -> None:
        if (context.certificates is None or context.security_state is None
                or context.security_events is None):
            raise ValueError("the security extension needs a certificate store, a security "
                             "state and security events")
        redact_authorization_keys()
        self.context = context
        self.log = context.log
        self.certificates = context.certificates
        self.state = context.security_state
        self.events = context.security_events
        self.charge_point_id = charge_point_id
        self.cpo_name = cpo_name
        self.key_type = key_type
        #: What the CSMS's certificate requests do, shared with 2.0.1.
        self.management = CertificateManagement(
            self.certificates, self.state, self.events, self.log, identity=charge_point_id,
            key_type=key_type, on_security_change=on_security_change)
        context.extended_triggers.register("SignChargePointCertificate", self._sign_triggered,
                                           refusal=self._sign_refusal)

    def keys(self) -> list[KeyDefinition]:
        """The white paper's configuration keys."""
        state = self.state
        return [
            # The rule that a new root be signed by the old one is not implemented: say so.
            KeyDefinition("AdditionalRootCertificateCheck", ConfigType.BOOL, False,
                          readonly=True),
            KeyDefinition("CertificateSignedMaxChainSize", ConfigType.INT, 10000, readonly=True),
            KeyDefinition("CertificateStoreMaxLength", ConfigType.INT,
                          self.certificates.max_certificates, readonly=True),
            KeyDefinition("CpoName", ConfigType.STRING, self.cpo_name, check=_cpo_name_refusal),
            # The profile in force is the security state's (it may fall back on its own).
            KeyDefinition("SecurityProfile", ConfigType.INT, int(state.profile), minimum=0,
                          maximum=3, read=lambda: int(state.profile),
                          check=self._profile_refusal, write=self._change_security_profile,
                          answered=self._announce_change),
            # Write-only: the CSMS learns that the key exists, never its value.
            KeyDefinition("AuthorizationKey", ConfigType.STRING, None, write_only=True,
                          check=_authorization_key_refusal, write=self._change_authorization_key,
                          answered=self._announce_change),
        ]

    def transport_security(self) -> TransportSecurity:
        """The settings of the next connection: the profile and AuthorizationKey in force, the
        installed CentralSystemRootCertificates, and the charge point certificate."""
        return TransportSecurity.current(self.state, self.certificates)

    # --- the security keys ---------------------------------------------------------------------

    def _change_authorization_key(self, value: str) -> tuple[ChangeResult, str]:
        self.state.change(authorization_key=value)
        self.events.report(SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                           "AuthorizationKey changed")
        self.management.changed("authorization_key")
        return ChangeResult.ACCEPTED, "changed (the value is never logged)"

    def _profile_refusal(self, requested: int) -> str | None:
        return self.management.profile_refusal(requested)

    def _change_security_profile(self, requested: int) -> tuple[ChangeResult, str]:
        current = self.state.profile
        if requested == current:
            return ChangeResult.ACCEPTED, "unchanged"
        self.state.change(profile=SecurityProfile(requested))
        self.events.report(SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                           f"SecurityProfile {int(current)} -> {requested}")
        self.management.changed("profile")
        return ChangeResult.ACCEPTED, "changed"

    def _announce_change(self) -> None:
        self.management.announce()

    # --- the charge point certificate ----------------------------------------------------------

    async def request_charge_point_certificate(self) -> bool:
        """Make a new key and CSR (in a worker thread: RSA takes seconds on a Pi) and send
        SignCertificate. False if no CSR could be made (no CpoName)."""
        csr = await self.management.signing_request(str(self.context.configuration["CpoName"]))
        if csr is None:
            return False

        def answered(response: Any) -> None:
            if response is None or response.status != "Accepted":
                self.log.warning("the CSMS did not accept our certificate signing request (%s)",
                                 "no answer" if response is None else response.status)

        self.context.send(call.SignCertificate(csr=csr), answered)
        return True

    async def renew_certificate_if_due(self) -> bool:
        """The white paper's use case A03: ask for a new certificate a month before the
        installed one expires (call it daily; True if a request was sent)."""
        if not self.context.registered or not self.certificates.renewal_due():
            return False
        return await self.request_charge_point_certificate()

    def _sign_refusal(self) -> str | None:
        if not self.context.configuration["CpoName"]:
            self.log.warning("SignChargePointCertificate refused: CpoName is not set")
            return "Rejected"
        return None

    async def _sign_triggered(self, connector_id: int | None) -> None:
        if self.context.configuration["CpoName"]:
            await self.request_charge_point_certificate()

    @on(Action.certificate_signed)
    def on_certificate_signed(self, certificate_chain: str,
                              **_: Any) -> call_result.CertificateSigned:
        outcome = self.management.certificate_signed(certificate_chain)
        return call_result.CertificateSigned(status=outcome.status)

    @after(Action.certificate_signed)
    def after_certificate_signed(self, **_: Any) -> None:
        self._announce_change()

    # --- root certificates ---------------------------------------------------------------------

    @on(Action.install_certificate)
    def on_install_certificate(self, certificate_type: str, certificate: str,
                               **_: Any) -> call_result.InstallCertificate:
        outcome = self.management.install_root(CertificateUse(certificate_type), certificate)
        return call_result.InstallCertificate(status=outcome.status)

    @on(Action.get_installed_certificate_ids)
    def on_get_installed_certificate_ids(
            self, certificate_type: str, **_: Any) -> call_result.GetInstalledCertificateIds:
        found = self.management.installed_ids(CertificateUse(certificate_type))
        if not found:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(
            status="Accepted", certificate_hash_data=[h.to_ocpp() for h in found])

    @on(Action.delete_certificate)
    def on_delete_certificate(self, certificate_hash_data: dict,
                              **_: Any) -> call_result.DeleteCertificate:
        outcome = self.management.delete(CertificateHashData.from_ocpp(certificate_hash_data))
        return call_result.DeleteCertificate(status=outcome.status)
