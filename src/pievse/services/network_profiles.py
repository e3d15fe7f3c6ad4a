"""The connection profiles a CSMS gave the charge point (OCPP 2.0.1 SetNetworkProfile, B09), by
configuration slot.

Slot 0 is the configuration file's connection ([ocpp] url and security); the CSMS fills the
others. Which slots the charge point tries, and in what order, is the device model's
``OCPPCommCtrlr.NetworkConfigurationPriority``; a profile is used from the next connection on
(after a Reset, or when the slot before it in that order fails).

Kept in one JSON file readable by its owner only, beside the certificates, written atomically
(a power cut leaves the old profiles or the new ones).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pievse.services.private_files import write_private_file

__all__ = ["CONFIGURED_SLOT", "ConnectionProfile", "NetworkProfiles"]

log = logging.getLogger("pievse.ocpp.network")

#: The slot of the configuration file's own connection.
CONFIGURED_SLOT = 0


@dataclass(frozen=True)
class ConnectionProfile:
    """One connection to a CSMS, as SetNetworkProfile gave it (checked already)."""

    url: str
    security_profile: int
    message_timeout: int
    interface: str


class NetworkProfiles:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._profiles: dict[int, ConnectionProfile] = {}
        try:
            stored = json.loads(path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as error:
            # Only the CSMS's extra slots are lost; the configured connection still works.
            log.error("%s: unreadable network profiles, starting without them (%s)", path,
                      error)
            return
        for slot, fields in (stored if isinstance(stored, dict) else {}).items():
            try:
                self._profiles[int(slot)] = ConnectionProfile(**fields)
            except (TypeError, ValueError):
                log.error("%s: slot %s is unreadable, left out", path, slot)

    def get(self, slot: int) -> ConnectionProfile | None:
        return self._profiles.get(slot)

    def slots(self) -> list[int]:
        return sorted(self._profiles)

    def set(self, slot: int, profile: ConnectionProfile) -> None:
        """Keep ``profile`` in ``slot`` (OSError if it cannot be written: nothing changed)."""
        if slot == CONFIGURED_SLOT:
            raise ValueError("slot 0 is the configuration file's connection")
        profiles = {**self._profiles, slot: profile}
        write_private_file(self.path, json.dumps(
            {str(n): asdict(p) for n, p in sorted(profiles.items())}, indent=1).encode())
        self._profiles = profiles
        log.info("network profile slot %s: %s, security profile %s", slot, profile.url,
                 profile.security_profile)

    def as_json(self) -> dict[str, Any]:
        return {str(n): asdict(p) for n, p in self._profiles.items()}
