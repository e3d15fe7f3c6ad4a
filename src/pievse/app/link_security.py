"""The security of the link to the CSMS, put together from the configuration: where the
certificates live, which profile and key are in force, and how the link learns of changes.

The CSMS can raise the security profile, set a new AuthorizationKey or sign a new charge point
certificate while the station runs. Each change takes effect with a new connection: the link asks
:meth:`LinkSecurity.transport` before every attempt, and :meth:`changed` makes it reconnect at
once. A change that cannot connect falls back to the previous settings after a few attempts
(:class:`~pievse.protocol.common.transport_security.SecurityState`); a new certificate that cannot
connect is rolled
back to the previous one. A refused connection is one log line naming the cause, and the CSMS
hears of it (SecurityEventNotification) once connected again.
"""

from __future__ import annotations

import logging
import os
import ssl
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pievse.app.config import Config, ConfigError
from pievse.services.certificates import CertificateStore, KeyType
from pievse.protocol.common.transport_security import (
    SecurityProfile,
    SecurityState,
    refusal_security_event,
)

if TYPE_CHECKING:
    from pievse.protocol.v16.security_ext import SecuredChargePoint16

__all__ = ["LinkSecurity"]

log = logging.getLogger("pievse.ocpp.security")

#: Failed attempts with a new profile or key before falling back to the previous ones.
FALLBACK_AFTER = 3


class LinkSecurity:
    def __init__(self, config: Config) -> None:
        ocpp = config.ocpp
        self.charge_point_id = config.charge_point.id
        self.open_timeout = 10.0
        try:
            self.directory = certificate_directory(ocpp.certificate_dir, config.storage.path)
            self.certificates = CertificateStore(self.directory)
        except OSError as error:
            key = (f"[ocpp] certificate_dir = {ocpp.certificate_dir!r}" if ocpp.certificate_dir
                   else f"[storage] path = {config.storage.path!r}")
            raise ConfigError([f"{key}: cannot make the certificate folder "
                               f"{error.filename or ''}: {error.strerror or error}"],
                              "[ocpp]") from None
        problems = self.certificates.seed(
            central_system_roots=[Path(ocpp.ca_file)] if ocpp.ca_file else [],
            cert_file=Path(ocpp.cert_file) if ocpp.cert_file else None,
            key_file=Path(ocpp.key_file) if ocpp.key_file else None)
        if problems:
            raise ConfigError(problems, "[ocpp]")
        self.state = SecurityState(self.directory / "security.json",
                                   profile=SecurityProfile(ocpp.security_profile),
                                   authorization_key=ocpp.password or None,
                                   fallback_after=FALLBACK_AFTER)
        self.key_type = KeyType(ocpp.csr_key_type)
        self.cpo_name = ocpp.cpo_name
        self.protocol: SecuredChargePoint16 | None = None
        self._certificate_on_trial = False
        if int(self.state.profile) == 0:
            log.warning("security profile 0: the link to the CSMS is neither authenticated nor "
                        "encrypted; use it for development only")

    # --- what the link asks -------------------------------------------------------------------

    def transport(self) -> tuple[ssl.SSLContext | None, Mapping[str, str]]:
        assert self.protocol is not None
        options = self.protocol.transport_security().connection_options(self.charge_point_id)
        return options.ssl, options.extra_headers

    def describe_failure(self, error: BaseException) -> str:
        assert self.protocol is not None
        event = refusal_security_event(error)
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
                "ReconfigurationOfSecurityParameters",
                f"fell back to security profile {int(self.state.profile)}")

    def changed(self, what: str) -> str:
        """The CSMS changed ``what`` ("profile", "authorization_key", "certificate"): the
        next connection uses it. Returns the reason to give the reconnection."""
        if what == "certificate":
            self._certificate_on_trial = True
        return f"new {what.replace('_', ' ')}"


def certificate_directory(configured: str, storage_path: str) -> Path:
    """``[ocpp] certificate_dir``, else a folder beside the store; a store in memory (tests,
    the demo) gets a private temporary folder."""
    if configured:
        path = Path(configured)
    elif storage_path == ":memory:":
        path = Path(tempfile.mkdtemp(prefix="pievse-certificates-"))
    else:
        path = Path(os.path.dirname(os.path.abspath(storage_path))) / "certificates"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
