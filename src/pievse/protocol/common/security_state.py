"""The SecurityProfile and AuthorizationKey in force, and who set them: the CSMS or the person
who edits the configuration.

The CSMS changes them with ChangeConfiguration (the OCPP 1.6 security white paper); the
configuration file gives the first ones and may be edited later. Whichever changed last wins,
so a person who corrects a mistyped password, or lowers the profile on site, is not overruled
by what the configuration said before; and the CSMS's changes survive restarts as long as the
configuration stays as it was.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from pievse.services.private_files import write_private_file

__all__ = ["SecurityProfile", "SecurityState", "check_profile_change"]

log = logging.getLogger("pievse.ocpp.security")


class SecurityProfile(enum.IntEnum):
    """OCPP security profile (configuration key SecurityProfile)."""

    NONE = 0
    BASIC_AUTH = 1
    TLS_BASIC_AUTH = 2
    TLS_CLIENT_CERTIFICATE = 3

    @property
    def uses_tls(self) -> bool:
        return self >= SecurityProfile.TLS_BASIC_AUTH

    @property
    def uses_basic_auth(self) -> bool:
        return self in (SecurityProfile.BASIC_AUTH, SecurityProfile.TLS_BASIC_AUTH)

    @property
    def uses_client_certificate(self) -> bool:
        return self is SecurityProfile.TLS_CLIENT_CERTIFICATE


def check_profile_change(current: SecurityProfile, requested: int, *,
                         authorization_key_set: bool, central_system_root_installed: bool,
                         client_certificate_installed: bool) -> str | None:
    """Why a new security profile must be Rejected (1.6's ChangeConfiguration SecurityProfile,
    2.0.1's SetNetworkProfile), or None to accept it.

    The white paper's and 2.0.1's rules (A05): the profile only goes up (a downgrade would let
    a man in the middle strip the security); and what the new profile needs must already be
    there, or the charge point would lock itself out at the next connection.
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


class SecurityState:
    """The SecurityProfile and AuthorizationKey in force, as the CSMS or the configuration last
    set them.

    Kept in one JSON file readable by its owner only (mode 0600), written atomically, with what
    the configuration said at the last start (the password as a digest). A value the CSMS set
    wins until the person edits that key of the configuration; then the edited value wins
    (:attr:`reconfigured` says what changed, for the log and the security event), and the
    profile may go down, as local maintenance may. A change is first *pending*: the previous
    pair is kept until a connection with the new one succeeds (:meth:`connected`); after
    ``fallback_after`` failed attempts (:meth:`attempt_failed`) the previous pair is restored.

    ``authorization_key`` None is no statement: a configuration without a password leaves the
    AuthorizationKey in force as it is.
    """

    def __init__(self, path: Path, *, profile: SecurityProfile,
                 authorization_key: str | None = None, fallback_after: int = 3) -> None:
        self.path = path
        self.fallback_after = fallback_after
        stored = self._read()
        self._previous: dict[str, Any] | None = stored.get("previous")
        self._failures = 0
        #: What the configuration said at the last start, to tell its edits from the CSMS's.
        self._configured: dict[str, Any] = dict(stored.get("configured") or {})
        #: What an edited configuration put in force at this start, one line each.
        self.reconfigured: list[str] = []
        self._profile = SecurityProfile(profile)
        self._key = authorization_key
        if stored and "configured" not in stored:
            # Written before the configuration was remembered: the CSMS's word stands, as then.
            self._profile = max(self._profile, SecurityProfile(stored.get("securityProfile", 0)))
            self._key = stored.get("authorizationKey") or authorization_key
            if self._key != authorization_key and authorization_key:
                log.warning("the AuthorizationKey in force is not [ocpp] password (the CSMS set "
                            "it); from now on, a change of [ocpp] password replaces it")
        elif stored:
            self._apply_configuration(SecurityProfile(stored.get("securityProfile", 0)),
                                      stored.get("authorizationKey"), authorization_key)
        self._configured.update(securityProfile=int(profile),
                                authorizationKey=_digest(authorization_key))
        self._write()

    def _apply_configuration(self, stored_profile: SecurityProfile, stored_key: str | None,
                             configured_key: str | None) -> None:
        configured_profile = self._profile
        self._profile, self._key = stored_profile, stored_key
        if self._configured.get("securityProfile") != int(configured_profile):
            self._profile = configured_profile
        if (configured_key is not None
                and self._configured.get("authorizationKey") != _digest(configured_key)):
            self._key = configured_key
        if self._profile.uses_basic_auth and not self._key:
            # The password gone from the configuration, the CSMS's profile cannot work.
            self._profile = configured_profile
        if self._profile != stored_profile:
            self.reconfigured.append(f"SecurityProfile {int(stored_profile)} -> "
                                     f"{int(self._profile)} by [ocpp] security_profile")
        if self._key != stored_key:
            self.reconfigured.append("AuthorizationKey replaced by [ocpp] password")
        for line in self.reconfigured:
            log.warning("the configuration was edited: %s", line)
        if self.reconfigured:
            self._previous = None  # a change the CSMS left pending gives way to the person's

    def configured(self, name: str) -> Any:
        """What the configuration said of ``name`` at the last start (KeyError: nothing
        recorded, a first start or a state from an older pievse)."""
        return self._configured[name]

    def remember_configured(self, name: str, value: Any) -> None:
        """Record what the configuration says of ``name`` now (JSON: numbers, text, lists)."""
        self._configured[name] = value
        self._write()

    @property
    def profile(self) -> SecurityProfile:
        return self._profile

    @property
    def authorization_key(self) -> str | None:
        return self._key

    @property
    def pending(self) -> bool:
        """A new profile or key awaits its first successful connection."""
        return self._previous is not None

    def __repr__(self) -> str:
        return (f"SecurityState(profile={int(self._profile)}, "
                f"authorization_key={'set' if self._key else 'unset'}, pending={self.pending})")

    def change(self, *, profile: SecurityProfile | None = None,
               authorization_key: str | None = None) -> None:
        """Put a new profile and/or key in force (already checked), keeping the old pair."""
        if profile is not None and profile < self._profile:
            raise ValueError("the security profile may only go up")
        if self._previous is None:
            self._previous = {"securityProfile": int(self._profile),
                              "authorizationKey": self._key}
        if profile is not None:
            self._profile = SecurityProfile(profile)
        if authorization_key is not None:
            self._key = authorization_key
        self._failures = 0
        self._write()

    def connected(self) -> None:
        """A connection with the settings in force succeeded: the previous pair is dropped."""
        self._failures = 0
        if self._previous is not None:
            self._previous = None
            self._write()
            log.info("security profile %s confirmed by a successful connection",
                     int(self._profile))

    def attempt_failed(self) -> bool:
        """Count a failed connection; True when it made the state fall back to the previous
        profile and key (the caller then reconnects with them and reports the event)."""
        if self._previous is None:
            return False
        self._failures += 1
        if self._failures < self.fallback_after:
            return False
        failed = int(self._profile)
        self._profile = SecurityProfile(self._previous["securityProfile"])
        self._key = self._previous["authorizationKey"]
        self._previous = None
        self._failures = 0
        self._write()
        log.warning("could not connect with security profile %s after %s attempts; falling "
                    "back to profile %s", failed, self.fallback_after, int(self._profile))
        return True

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            raise ValueError(f"{self.path}: unreadable security state ({error})") from None
        return data if isinstance(data, dict) else {}

    def _write(self) -> None:
        data = {"securityProfile": int(self._profile), "authorizationKey": self._key,
                "previous": self._previous, "configured": self._configured}
        write_private_file(self.path, json.dumps(data, indent=1).encode())


def _digest(secret: str | None) -> str | None:
    """What is remembered of a configured secret: enough to tell that it changed."""
    return hashlib.sha256(secret.encode()).hexdigest() if secret is not None else None
