"""B09 SetNetworkProfile: the CSMS stores another connection in a configuration slot, and
OCPPCommCtrlr.NetworkConfigurationPriority says in which order the slots are tried.

Slot 0 is the configuration file's own connection; the CSMS may fill slots 1 to
:data:`SLOTS`. A profile is checked before it is kept: OCPP 2.0.1 over JSON only, a URL whose
scheme fits its security profile, and a security profile the station can move to now (never
below the one in force, A05/B09: a lower one would let a man in the middle strip the
security; Basic auth needs SecurityCtrlr.BasicAuthPassword, TLS an installed CSMS root, mutual
TLS a valid charging station certificate). It is used from the next connection on: after a
Reset, or when the slot before it in the priority fails NetworkProfileConnectionAttempts times
(the owner of the link does that; see :mod:`pievse.app.network_selection`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from pievse.protocol.common.certificate_management import profile_refusal
from pievse.protocol.common.link import charge_point_url
from pievse.protocol.common.security_state import SecurityProfile
from pievse.protocol.common.transport_security import url_problems
from pievse.protocol.v201.context import Context
from pievse.protocol.v201.device_model import DataType, Variable

if TYPE_CHECKING:
    from pievse.services.network_profiles import NetworkProfiles

__all__ = ["PRIORITY", "SLOTS", "NetworkProfilesBlock"]

#: The configuration slots the CSMS may fill (slot 0 is the configuration file's).
SLOTS = 3
COMM = "OCPPCommCtrlr"
#: The stored names of the two variables the owner of the link reads.
PRIORITY = f"{COMM}.NetworkConfigurationPriority"
ATTEMPTS = f"{COMM}.NetworkProfileConnectionAttempts"


class NetworkProfilesBlock:
    """Without a place to keep profiles (a station built without security), every
    SetNetworkProfile is Rejected."""

    def __init__(self, context: Context, *, profiles: NetworkProfiles | None) -> None:
        self.context = context
        self.profiles = profiles

    def variables(self) -> list[Variable]:
        return [
            # Takes effect at the next start: the link in use is not dropped for it.
            Variable(COMM, "NetworkConfigurationPriority", DataType.SEQUENCE_LIST, "0",
                     values_list=tuple(str(n) for n in range(SLOTS + 1)),
                     reboot_required=True, check=self._priority_refusal),
            Variable(COMM, "NetworkProfileConnectionAttempts", DataType.INTEGER, 3, minimum=1,
                     maximum=100),
        ]

    def _priority_refusal(self, value: str) -> str | None:
        """A slot in the priority must hold a connection (slot 0 always does)."""
        stored = self.profiles.slots() if self.profiles is not None else []
        empty = [slot for slot in value.split(",") if slot and int(slot) not in (0, *stored)]
        return f"no network profile in slot {', '.join(empty)}" if empty else None

    def refusal(self, slot: int, data: dict[str, Any]) -> str | None:
        """Why this profile cannot be kept in that slot, or None."""
        certificates, state = self.context.certificates, self.context.security_state
        if self.profiles is None or certificates is None or state is None:
            return "this station keeps no network profiles"
        if not 1 <= slot <= SLOTS:
            return f"configurationSlot must be 1 to {SLOTS} (0 is the configuration file's)"
        if data["ocpp_version"] != "OCPP20":
            return f"this station speaks OCPP 2.0.1 here, not {data['ocpp_version']}"
        if data["ocpp_transport"] != "JSON":
            return "only OCPP-J (JSON over websockets) is spoken"
        if data["message_timeout"] <= 0:
            return "messageTimeout must be positive"
        requested = data["security_profile"]
        wrong = profile_refusal(state, certificates, requested)
        if wrong:
            return wrong
        problems = url_problems(data["ocpp_csms_url"], SecurityProfile(requested))
        try:
            charge_point_url(data["ocpp_csms_url"], "id")
        except ValueError as error:
            problems.append(str(error))
        return "; ".join(problems) or None

    @on(Action.set_network_profile)
    def on_set_network_profile(self, configuration_slot: int, connection_data: dict[str, Any],
                               **_: Any) -> call_result.SetNetworkProfile:
        from pievse.services.network_profiles import ConnectionProfile

        wrong = self.refusal(configuration_slot, connection_data)
        if wrong is None:
            assert self.profiles is not None
            try:
                self.profiles.set(configuration_slot, ConnectionProfile(
                    url=connection_data["ocpp_csms_url"],
                    security_profile=connection_data["security_profile"],
                    message_timeout=connection_data["message_timeout"],
                    interface=connection_data["ocpp_interface"]))
            except OSError as error:
                wrong = f"cannot keep it: {error.strerror or error}"
        if wrong is not None:
            self.context.log.warning("SetNetworkProfile slot %s Rejected: %s", configuration_slot,
                                     wrong)
            return call_result.SetNetworkProfile(
                status="Rejected", status_info={"reasonCode": "InvalidProfile",
                                                "additionalInfo": wrong[:512]})
        return call_result.SetNetworkProfile(status="Accepted")
