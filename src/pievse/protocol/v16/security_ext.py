"""The OCPP 1.6 security extension: certificates, security events, and the keys that steer them.

The white paper "Improved security for OCPP 1.6-J" adds messages to OCPP 1.6:

* certificate management: the CSMS installs, lists and deletes root certificates
  (InstallCertificate, GetInstalledCertificateIds, DeleteCertificate) and renews the charge
  point's own certificate (ExtendedTriggerMessage(SignChargePointCertificate) -> the charge point
  makes a key and sends SignCertificate(csr) -> the CSMS's CA signs it -> CertificateSigned);
* ExtendedTriggerMessage, TriggerMessage's successor that can also ask for that renewal;
* SecurityEventNotification: the charge point reports security events through the redelivery
  queue (a critical one must reach the CSMS even if it happens offline: it is kept until the
  CSMS has answered it);
* configuration keys: SecurityProfile (only ever raised), AuthorizationKey (write-only, never
  shown), CpoName (the O of the CSR), and read-only limits of the certificate store.

GetLog and SignedUpdateFirmware are :mod:`~pievse.protocol.v16.secure_maintenance`'s; every
security event is also written to the security log (:mod:`pievse.services.security_log`) when one
is kept.

:class:`SecurityExtensionHandlers` holds the handlers, in the style of the smart charging mixin;
:class:`SecuredChargePoint16` is the 1.6 charge point with them. The mixin overrides the 1.6
adapter's GetConfiguration and ChangeConfiguration for the security keys only, so it must come
before ``ChargePoint16`` in the bases.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
from collections.abc import Callable
from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from pievse.services.certificates import (
    CertificateHashData,
    CertificateStore,
    CertificateUse,
    KeyType,
)
from pievse.aio import AsyncClock
from pievse.protocol.common.notifications import RedeliveryQueue, Rule
from pievse.protocol.common.transport_security import (
    SecurityProfile,
    SecurityState,
    TransportSecurity,
    check_authorization_key,
    redact_credentials,
)
from pievse.protocol.v16 import messages
from pievse.protocol.v16.charge_point import ChargePoint16
from pievse.protocol.v16.firmware_mgmt import FirmwareManagementHandlers
from pievse.protocol.v16.secure_maintenance import SecureMaintenanceHandlers
from pievse.protocol.v16.configuration import Configuration, KeyDefinition, KeyType as ConfigType
from pievse.protocol.v16.configuration import core_keys
from pievse.protocol.v16.smart_charging import smart_charging_keys
from pievse.services.security_log import SecurityLog
from pievse.core.station import Station

__all__ = [
    "AuthorizationKeyRedactor",
    "CRITICAL_SECURITY_EVENTS",
    "SecuredChargePoint16",
    "SecurityEvent",
    "SecurityExtensionHandlers",
    "check_profile_change",
    "redact_authorization_keys",
    "security_event_notification",
    "security_keys",
]

log = logging.getLogger("pievse.ocpp")
#: Every security event, critical or not, also goes to the system log (journal).
event_log = logging.getLogger("pievse.ocpp.security_events")

#: The most events kept while the CSMS cannot be reached.
MAX_QUEUED_EVENTS = 100

#: SecurityEventNotification's kind in the redelivery queue.
SECURITY_EVENT = "security event"


class SecurityEvent(str, enum.Enum):
    """The white paper's security events (the ``type`` of SecurityEventNotification)."""

    FIRMWARE_UPDATED = "FirmwareUpdated"
    FAILED_TO_AUTHENTICATE_AT_CENTRAL_SYSTEM = "FailedToAuthenticateAtCentralSystem"
    CENTRAL_SYSTEM_FAILED_TO_AUTHENTICATE = "CentralSystemFailedToAuthenticate"
    SETTING_SYSTEM_TIME = "SettingSystemTime"
    STARTUP_OF_THE_DEVICE = "StartupOfTheDevice"
    RESET_OR_REBOOT = "ResetOrReboot"
    SECURITY_LOG_WAS_CLEARED = "SecurityLogWasCleared"
    RECONFIGURATION_OF_SECURITY_PARAMETERS = "ReconfigurationOfSecurityParameters"
    MEMORY_EXHAUSTION = "MemoryExhaustion"
    INVALID_MESSAGES = "InvalidMessages"
    ATTEMPTED_REPLAY_ATTACKS = "AttemptedReplayAttacks"
    TAMPER_DETECTION_ACTIVATED = "TamperDetectionActivated"
    INVALID_FIRMWARE_SIGNATURE = "InvalidFirmwareSignature"
    INVALID_FIRMWARE_SIGNING_CERTIFICATE = "InvalidFirmwareSigningCertificate"
    INVALID_CENTRAL_SYSTEM_CERTIFICATE = "InvalidCentralSystemCertificate"
    INVALID_CHARGE_POINT_CERTIFICATE = "InvalidChargePointCertificate"
    INVALID_TLS_VERSION = "InvalidTLSVersion"
    INVALID_TLS_CIPHER_SUITE = "InvalidTLSCipherSuite"

    @property
    def critical(self) -> bool:
        return self in CRITICAL_SECURITY_EVENTS


#: The events the white paper marks critical: they must reach the CSMS, offline or not.
CRITICAL_SECURITY_EVENTS = frozenset({
    SecurityEvent.FIRMWARE_UPDATED, SecurityEvent.SETTING_SYSTEM_TIME,
    SecurityEvent.STARTUP_OF_THE_DEVICE, SecurityEvent.RESET_OR_REBOOT,
    SecurityEvent.SECURITY_LOG_WAS_CLEARED, SecurityEvent.MEMORY_EXHAUSTION,
    SecurityEvent.TAMPER_DETECTION_ACTIVATED,
})


#: Events that a working charge point has in its normal life: logged at INFO, the rest at WARNING.
_ROUTINE_EVENTS = frozenset({
    SecurityEvent.FIRMWARE_UPDATED, SecurityEvent.SETTING_SYSTEM_TIME,
    SecurityEvent.STARTUP_OF_THE_DEVICE, SecurityEvent.RESET_OR_REBOOT,
    SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS,
})


def security_event_notification(event: SecurityEvent | str, at: float,
                                tech_info: str | None = None) -> call.SecurityEventNotification:
    """The SecurityEventNotification of one event at ``at`` (epoch seconds)."""
    return call.SecurityEventNotification(
        type=SecurityEvent(event).value,
        timestamp=messages.timestamp(at),
        tech_info=tech_info[:255] if tech_info else None,
    )


def security_keys(certificates: CertificateStore, state: SecurityState,
                  cpo_name: str = "") -> list[KeyDefinition]:
    """The white paper's configuration keys, except AuthorizationKey: being write-only it is
    never stored with the others (see :class:`SecurityExtensionHandlers`)."""
    return [
        # The rule that a new root be signed by the old one is not implemented: say so.
        KeyDefinition("AdditionalRootCertificateCheck", ConfigType.BOOL, False, readonly=True),
        KeyDefinition("CertificateSignedMaxChainSize", ConfigType.INT, 10000, readonly=True),
        KeyDefinition("CertificateStoreMaxLength", ConfigType.INT, certificates.max_certificates,
                      readonly=True),
        KeyDefinition("CpoName", ConfigType.STRING, cpo_name),
        KeyDefinition("SecurityProfile", ConfigType.INT, int(state.profile), minimum=0,
                      maximum=3),
    ]


def check_profile_change(current: SecurityProfile, requested: int, *,
                         authorization_key_set: bool, central_system_root_installed: bool,
                         client_certificate_installed: bool) -> str | None:
    """Why ChangeConfiguration SecurityProfile must be Rejected, or None to accept it.

    The white paper's rules: the profile only goes up (a downgrade would let a man in the middle
    strip the security); and what the new profile needs must already be there, or the charge
    point would lock itself out at the next connection.
    """
    if requested not in tuple(SecurityProfile):
        return f"no security profile {requested}"
    wanted = SecurityProfile(requested)
    if wanted < current:
        return f"the security profile may only go up ({int(current)} -> {requested} refused)"
    if wanted.uses_basic_auth and not authorization_key_set:
        return f"profile {requested} needs an AuthorizationKey, and none is set"
    if wanted.uses_tls and not central_system_root_installed:
        return f"profile {requested} needs an installed CentralSystemRootCertificate"
    if wanted.uses_client_certificate and not client_certificate_installed:
        return "profile 3 needs a valid charge point certificate"
    return None


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


class SecurityExtensionHandlers:
    """The security extension's handlers; needs what :class:`SecuredChargePoint16` sets up
    (``certificates``, ``security_state``, ``charge_point_id``, ``key_type``) and what the 1.6
    charge point provides (``station``, ``configuration``, ``registered``, ``clock``,
    ``notifications``, ``_send``)."""

    station: Station
    configuration: Configuration
    certificates: CertificateStore
    security_state: SecurityState
    charge_point_id: str
    key_type: KeyType
    _on_security_change: Callable[[str], None]
    _changed: str | None

    #: Where every security event is also written, if the charge point keeps a security log.
    security_log: SecurityLog | None = None

    # Provided by the charge point and the other mixins: annotations only, since a method here
    # would shadow the real one.
    registered: bool
    clock: AsyncClock
    notifications: RedeliveryQueue
    logs: Any
    _send: Callable[..., None]
    after_trigger_message: Callable[..., None]
    send_log_status: Callable[[], None]
    send_signed_firmware_status: Callable[[], None]

    # --- security events -----------------------------------------------------------------------

    def report_security_event(self, event: SecurityEvent | str,
                              tech_info: str | None = None) -> None:
        """Log a security event and tell the CSMS; offline, it waits for the next registration
        (the oldest non-critical events give way first when too many wait)."""
        event, at = SecurityEvent(event), self.clock.now()
        if self.security_log is not None:  # on the SD card first, secrets blanked
            tech_info = self.security_log.scrub(tech_info)
            self.security_log.record(event.value, at, tech_info, event.critical)
        event_log.log(logging.INFO if event in _ROUTINE_EVENTS else logging.WARNING,
                      "security event %s%s", event.value, f": {tech_info}" if tech_info else "")
        self.notifications.put(SECURITY_EVENT, security_event_notification(event, at, tech_info))

    # --- the charge point certificate ----------------------------------------------------------

    async def request_charge_point_certificate(self) -> bool:
        """Make a new key and CSR (in a worker thread: RSA takes seconds on a Pi) and send
        SignCertificate. False if no CSR could be made (no CpoName)."""
        cpo_name = str(self.configuration["CpoName"])
        try:
            csr = await asyncio.to_thread(self.certificates.new_signing_request,
                                          self.charge_point_id, cpo_name, self.key_type)
        except (ValueError, OSError) as error:
            log.error("cannot make a certificate signing request: %s", error)
            return False

        def answered(response: Any) -> None:
            if response is None or response.status != "Accepted":
                log.warning("the CSMS did not accept our certificate signing request (%s)",
                            "no answer" if response is None else response.status)

        self._send(call.SignCertificate(csr=csr), answered)
        return True

    async def renew_certificate_if_due(self) -> bool:
        """The white paper's use case A03: ask for a new certificate a month before the
        installed one expires (call it daily; True if a request was sent)."""
        if not self.registered or not self.certificates.renewal_due():
            return False
        return await self.request_charge_point_certificate()

    @on(Action.certificate_signed)
    def on_certificate_signed(self, certificate_chain: str,
                              **_: Any) -> call_result.CertificateSigned:
        outcome = self.certificates.install_charge_point_certificate(certificate_chain)
        if outcome.accepted:
            self._changed = "certificate"
        else:
            log.warning("CertificateSigned rejected: %s", outcome.reason)
            self.report_security_event(SecurityEvent.INVALID_CHARGE_POINT_CERTIFICATE,
                                       outcome.reason)
        return call_result.CertificateSigned(status=outcome.status)

    @after(Action.certificate_signed)
    def after_certificate_signed(self, **_: Any) -> None:
        self._announce_change()

    # --- root certificates ---------------------------------------------------------------------

    @on(Action.install_certificate)
    def on_install_certificate(self, certificate_type: str, certificate: str,
                               **_: Any) -> call_result.InstallCertificate:
        use = CertificateUse(certificate_type)
        outcome = self.certificates.install_root(use, certificate)
        if not outcome.accepted:
            log.warning("InstallCertificate %s %s: %s", use.value, outcome.status, outcome.reason)
            if use is CertificateUse.CENTRAL_SYSTEM_ROOT and outcome.status == "Rejected":
                self.report_security_event(SecurityEvent.INVALID_CENTRAL_SYSTEM_CERTIFICATE,
                                           outcome.reason)
        return call_result.InstallCertificate(status=outcome.status)

    @on(Action.get_installed_certificate_ids)
    def on_get_installed_certificate_ids(
            self, certificate_type: str, **_: Any) -> call_result.GetInstalledCertificateIds:
        found = self.certificates.installed_ids(CertificateUse(certificate_type))
        if not found:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(
            status="Accepted", certificate_hash_data=[h.to_ocpp() for h in found])

    @on(Action.delete_certificate)
    def on_delete_certificate(self, certificate_hash_data: dict,
                              **_: Any) -> call_result.DeleteCertificate:
        outcome = self.certificates.delete(
            CertificateHashData.from_ocpp(certificate_hash_data),
            keep_last_central_system_root=self.security_state.profile.uses_tls)
        if not outcome.accepted:
            log.warning("DeleteCertificate %s: %s", outcome.status, outcome.reason)
        return call_result.DeleteCertificate(status=outcome.status)

    # --- ExtendedTriggerMessage ----------------------------------------------------------------

    @on(Action.extended_trigger_message)
    def on_extended_trigger_message(self, requested_message: str,
                                    connector_id: int | None = None,
                                    **_: Any) -> call_result.ExtendedTriggerMessage:
        if connector_id not in (None, 0) and connector_id not in self.station.connectors:
            return call_result.ExtendedTriggerMessage(status="Rejected")
        if requested_message == "LogStatusNotification" and self.logs is None:
            return call_result.ExtendedTriggerMessage(status="NotImplemented")
        if requested_message == "SignChargePointCertificate" and not self.configuration["CpoName"]:
            log.warning("SignChargePointCertificate refused: CpoName is not set")
            return call_result.ExtendedTriggerMessage(status="Rejected")
        return call_result.ExtendedTriggerMessage(status="Accepted")

    @after(Action.extended_trigger_message)
    async def after_extended_trigger_message(self, requested_message: str,
                                             connector_id: int | None = None,
                                             **_: Any) -> None:
        if connector_id not in (None, 0) and connector_id not in self.station.connectors:
            return
        if requested_message == "SignChargePointCertificate":
            if self.configuration["CpoName"]:
                await self.request_charge_point_certificate()
        elif requested_message == "LogStatusNotification":
            if self.logs is not None:
                self.send_log_status()
        elif requested_message == "FirmwareStatusNotification":
            self.send_signed_firmware_status()  # the white paper: SignedFirmwareStatusNotification
        else:
            # The messages TriggerMessage also knows: one way to send each, the core adapter's.
            self.after_trigger_message(requested_message, connector_id)

    # --- the security configuration keys -------------------------------------------------------

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None,
                             **_: Any) -> call_result.GetConfiguration:
        self.configuration.set_initial("SecurityProfile", int(self.security_state.profile))
        others = [k for k in key if k != "AuthorizationKey"] if key else None
        if key and not others:
            known: list[dict[str, Any]] = []
            unknown: list[str] = []
        else:
            known, unknown = self.configuration.get(others)
        if not key or "AuthorizationKey" in key:
            # Write-only: the CSMS learns that the key exists, never its value.
            known.append({"key": "AuthorizationKey", "readonly": False})
        return call_result.GetConfiguration(configuration_key=known or None,
                                            unknown_key=unknown or None)

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str,
                                **options: Any) -> call_result.ChangeConfiguration:
        if key == "AuthorizationKey":
            status = self._change_authorization_key(value)
        elif key == "SecurityProfile":
            status = self._change_security_profile(value)
        elif key == "CpoName" and not 1 <= len(value) <= 64:
            log.info("ChangeConfiguration CpoName rejected: 1 to 64 characters")
            status = "Rejected"
        else:
            return super().on_change_configuration(  # type: ignore[misc]
                key=key, value=value, **options)
        return call_result.ChangeConfiguration(status=status)

    @after(Action.change_configuration)
    def after_change_configuration(self, **_: Any) -> None:
        self._announce_change()

    def _change_authorization_key(self, value: str) -> str:
        wrong = check_authorization_key(value)
        if wrong:
            log.info("ChangeConfiguration AuthorizationKey rejected: it %s", wrong)
            return "Rejected"
        self.security_state.change(authorization_key=value)
        log.info("ChangeConfiguration AuthorizationKey accepted (the value is never logged)")
        self.report_security_event(SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                                   "AuthorizationKey changed")
        self._changed = "authorization_key"
        return "Accepted"

    def _change_security_profile(self, value: str) -> str:
        try:
            requested = int(value.strip())
        except ValueError:
            return "Rejected"
        current = self.security_state.profile
        why = check_profile_change(
            current, requested,
            authorization_key_set=bool(self.security_state.authorization_key),
            central_system_root_installed=bool(
                self.certificates.root_files(CertificateUse.CENTRAL_SYSTEM_ROOT)),
            client_certificate_installed=self.certificates.has_valid_charge_point_certificate())
        if why:
            log.info("ChangeConfiguration SecurityProfile %s rejected: %s", value, why)
            return "Rejected"
        if requested != current:
            self.security_state.change(profile=SecurityProfile(requested))
            self.configuration.set_initial("SecurityProfile", requested)
            self.report_security_event(SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                                       f"SecurityProfile {int(current)} -> {requested}")
            self._changed = "profile"
        return "Accepted"

    def _announce_change(self) -> None:
        """After the answer went out: let the owner reconnect with what changed."""
        changed, self._changed = self._changed, None
        if changed is not None:
            self._on_security_change(changed)


class SecuredChargePoint16(SecureMaintenanceHandlers, FirmwareManagementHandlers,
                           SecurityExtensionHandlers, ChargePoint16):
    """The OCPP 1.6J charge point with the security extension.

    ``on_security_change(what)`` is called once the CSMS's answer has gone out, with
    ``"profile"``, ``"authorization_key"`` or ``"certificate"``: the owner then reconnects with
    the new settings (see :class:`~pievse.protocol.common.transport_security.SecurityState` for the
    fallback).
    Every other argument is :class:`~pievse.protocol.v16.charge_point.ChargePoint16`'s.
    """

    def __init__(
        self,
        station: Station,
        dispatch: Callable[[list[Any]], None],
        *,
        charge_point_id: str,
        certificates: CertificateStore,
        security_state: SecurityState,
        cpo_name: str = "",
        key_type: KeyType = KeyType.EC_P256,
        on_security_change: Callable[[str], None] | None = None,
        configuration: Configuration | None = None,
        **options: Any,
    ) -> None:
        redact_authorization_keys()
        self.charge_point_id = charge_point_id
        self.certificates = certificates
        self.security_state = security_state
        self.key_type = key_type
        self._on_security_change = on_security_change or (lambda what: None)
        self._changed = None
        if configuration is None:
            configuration = Configuration(
                core_keys(len(station.connectors))
                + smart_charging_keys(station.charging.capabilities)
                + security_keys(certificates, security_state, cpo_name))
        super().__init__(station, dispatch, configuration=configuration, **options)
        # The white paper's "guaranteed delivery" of the critical events.
        self.notifications.rule(SECURITY_EVENT, Rule(
            must_arrive=lambda notification: SecurityEvent(notification.type).critical,
            limit=MAX_QUEUED_EVENTS))

    def transport_security(self) -> TransportSecurity:
        """The settings of the next connection: the profile and AuthorizationKey in force, the
        installed CentralSystemRootCertificates, and the charge point certificate."""
        return TransportSecurity(
            self.security_state.profile, self.security_state.authorization_key,
            tuple(self.certificates.root_files(CertificateUse.CENTRAL_SYSTEM_ROOT)),
            self.certificates.client_certificate_file())
