"""Which connection the link to the CSMS uses: the configuration slots of OCPP 2.0.1's
``OCPPCommCtrlr.NetworkConfigurationPriority`` in turn (B09, B10).

Slot 0 is the configuration file's ``[ocpp] url``; the CSMS fills the others with
SetNetworkProfile (:mod:`pievse.services.network_profiles`). At the start the first slot of the
priority that holds a connection is used; after ``NetworkProfileConnectionAttempts`` failed
attempts in a row the next one is tried, round the list. A slot's security profile is put in
force as the CSMS's own change would be: only ever up, and with the security state's fallback
if it cannot connect; the slot's messageTimeout is how long a CALL waits for its answer on that
connection (slot 0's is ``[ocpp] response_timeout``). Under 1.6, or with only slot 0 in the
priority, the configuration's URL is all there is.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pievse.protocol.common.link import charge_point_url
from pievse.protocol.common.security_state import SecurityProfile
from pievse.services.network_profiles import CONFIGURED_SLOT

if TYPE_CHECKING:
    from pievse.app.link_security import LinkSecurity
    from pievse.app.protocols import ConfigurationKeys
    from pievse.protocol.common.link import OcppLink

__all__ = ["NetworkSelection"]

log = logging.getLogger("pievse.ocpp.network")

PRIORITY = "OCPPCommCtrlr.NetworkConfigurationPriority"
ATTEMPTS = "OCPPCommCtrlr.NetworkProfileConnectionAttempts"


class NetworkSelection:
    """Set :attr:`link` once the link exists; give it :meth:`url` and :meth:`attempt`."""

    def __init__(self, configured_url: str, keys: ConfigurationKeys, security: LinkSecurity,
                 charge_point_id: str, *, configured_timeout: float = 30.0) -> None:
        self.configured_url = configured_url
        self.configured_timeout = configured_timeout
        self.keys = keys
        self.security = security
        self.charge_point_id = charge_point_id
        self.link: OcppLink | None = None
        self.order = self._order()
        self._index = 0
        self._failures = 0
        self._apply()

    @property
    def slot(self) -> int:
        return self.order[self._index]

    def _order(self) -> list[int]:
        """The slots of the priority that hold a connection, in its order."""
        if PRIORITY not in self.keys:
            return [CONFIGURED_SLOT]
        profiles = self.security.network_profiles
        order: list[int] = []
        for item in str(self._value(PRIORITY)).split(","):
            slot = int(item) if item.strip().isdigit() else None
            if slot is None or slot in order:
                continue
            if slot == CONFIGURED_SLOT or profiles.get(slot) is not None:
                order.append(slot)
            else:
                log.warning("%s names slot %s, which holds no network profile", PRIORITY, slot)
        return order or [CONFIGURED_SLOT]

    def _value(self, name: str) -> Any:
        return self.keys[name]  # type: ignore[index]

    def message_timeout(self) -> float:
        """How long a CALL waits for its answer on the slot in use (s)."""
        profile = self.security.network_profiles.get(self.slot)
        return self.configured_timeout if profile is None else float(profile.message_timeout)

    def url(self) -> str:
        """The CSMS URL of the slot in use."""
        profile = self.security.network_profiles.get(self.slot)
        return self.configured_url if profile is None else profile.url

    def attempt(self, succeeded: bool) -> None:
        """How a connection attempt went: the security state hears of it, and enough failures
        in a row move on to the next slot."""
        self.security.attempt(succeeded)
        if succeeded:
            self._failures = 0
            return
        self._failures += 1
        if len(self.order) < 2 or self._failures < int(self._value(ATTEMPTS)):
            return
        self._failures = 0
        failed = self.slot
        self._index = (self._index + 1) % len(self.order)
        self._apply()
        log.warning("network profile slot %s failed %s times: trying slot %s (%s)", failed,
                    self._value(ATTEMPTS), self.slot, self.url())
        if self.link is not None:
            self.link.url = charge_point_url(self.url(), self.charge_point_id)

    def _apply(self) -> None:
        profile = self.security.network_profiles.get(self.slot)
        state = self.security.state
        if profile is not None and profile.security_profile > state.profile:
            state.change(profile=SecurityProfile(profile.security_profile))
            log.warning("network profile slot %s: security profile %s", self.slot,
                        profile.security_profile)
