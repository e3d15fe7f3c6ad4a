"""K Smart charging: SetChargingProfile, ClearChargingProfile, GetChargingProfiles (answered by
ReportChargingProfiles) and GetCompositeSchedule, translated to the station core, which keeps
the profiles and decides the limits exactly as under 1.6; and SmartChargingCtrlr, whose
variables are the 1.6 Smart Charging keys.

EVSE n is the core's connector n, EVSE 0 the station as a whole (1.6's connector 0). A profile
the codec cannot read or the core refuses is Rejected with a statusInfo that says why, before
anything changes.

The local limits in force (the house's: see external_limits) are external constraints: the
composite schedule takes them in, and GetChargingProfiles reports each as a
ChargingStationExternalConstraints profile of its source (EMS, Other), in reports of their own.
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import after, on
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from pievse.core.charging_profiles import ChargingProfilePurpose, InstalledProfile
from pievse.protocol.common.payloads import snake_to_camel_case
from pievse.protocol.common.profile_fields import ProfileFormatError
from pievse.protocol.v201.blocks.external_limits import ExternalLimits, external_profile
from pievse.protocol.v201.codec import charging_profiles as codec
from pievse.protocol.v201.context import Context
from pievse.protocol.v201.device_model import DataType, Mutability, Variable

__all__ = ["PROFILES_PER_REPORT", "SmartChargingBlock"]

RO = Mutability.READ_ONLY
#: Profiles in one ReportChargingProfiles: well inside any CSMS's message size.
PROFILES_PER_REPORT = 8
#: Every profile here came from the CSMS (the local limits are reported by NotifyChargingLimit,
#: see external_limits).
CSO = "CSO"
EXTERNAL = "ChargingStationExternalConstraints"


class SmartChargingBlock:
    def __init__(self, context: Context) -> None:
        self.context = context
        self.external_limits = ExternalLimits(context)

    def variables(self) -> list[Variable]:
        """What the station can hold, read-only, under the 1.6 keys' names."""
        limits = self.context.station.charging.capabilities
        units = ",".join(u.value for u in sorted(limits.allowed_rate_units,
                                                 key=lambda u: u.value))
        ctrlr = "SmartChargingCtrlr"
        return [
            Variable(ctrlr, "Enabled", DataType.BOOLEAN, True, RO),
            Variable(ctrlr, "Available", DataType.BOOLEAN, True, RO),
            Variable(ctrlr, "ProfileStackLevel", DataType.INTEGER, limits.max_stack_level, RO,
                     key="ChargeProfileMaxStackLevel"),
            # 1.6's ChargingScheduleAllowedChargingRateUnit spells the same units
            # "Current,Power": both are read from the same capability, not stored.
            Variable(ctrlr, "RateUnit", DataType.MEMBER_LIST, units, RO,
                     values_list=("A", "W")),
            Variable(ctrlr, "PeriodsPerSchedule", DataType.INTEGER,
                     limits.max_schedule_periods, RO, key="ChargingScheduleMaxPeriods"),
            Variable(ctrlr, "Entries", DataType.INTEGER, limits.max_profiles_installed, RO,
                     instance="ChargingProfiles", key="MaxChargingProfilesInstalled"),
            # No phase switching, no ISO 15118 schedule choice, no external control signals.
            Variable(ctrlr, "ACPhaseSwitchingSupported", DataType.BOOLEAN, False, RO),
            Variable(ctrlr, "ExternalControlSignalsEnabled", DataType.BOOLEAN, False, RO),
            # Percent: a local limit that moved less is not reported (NotifyChargingLimit).
            Variable(ctrlr, "LimitChangeSignificance", DataType.DECIMAL, 5.0, minimum=0,
                     maximum=100, unit="Percent"),
        ]

    # --- SetChargingProfile, ClearChargingProfile ----------------------------------------------

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any],
                                **_: Any) -> call_result.SetChargingProfile:
        context = self.context
        try:
            profile = codec.decode_charging_profile(snake_to_camel_case(charging_profile))
        except (ProfileFormatError, codec.ProfileUnsupported) as error:
            code = ("InvalidValue" if isinstance(error, ProfileFormatError)
                    else "UnsupportedRequest")
            context.log.info("SetChargingProfile on EVSE %s refused: %s", evse_id, error)
            return call_result.SetChargingProfile(status="Rejected",
                                                  status_info=codec.status_info(code, str(error)))
        if profile.purpose is ChargingProfilePurpose.TX_PROFILE and profile.transaction_id is None:
            why = "a TxProfile names its transactionId"  # K01.FR.03
            return call_result.SetChargingProfile(
                status="Rejected", status_info=codec.status_info("TxNotFound", why))
        answer = context.station.set_charging_profile(evse_id, profile)
        status = codec.set_status(context.answer(answer))
        if answer.reason is not None:
            context.log.info("SetChargingProfile %s on EVSE %s: %s", profile.label, evse_id,
                             answer.reason)
            return call_result.SetChargingProfile(
                status=status, status_info=codec.status_info("InvalidProfile", answer.reason))
        return call_result.SetChargingProfile(status=status)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, charging_profile_id: int | None = None,
                                  charging_profile_criteria: dict[str, Any] | None = None,
                                  **_: Any) -> call_result.ClearChargingProfile:
        criteria = charging_profile_criteria or {}
        try:
            purpose = (codec.decode_purpose(criteria["charging_profile_purpose"])
                       if criteria.get("charging_profile_purpose") else None)
        except ProfileFormatError as error:
            # ChargingStationExternalConstraints: none of those are the CSMS's to clear.
            return call_result.ClearChargingProfile(
                status="Unknown", status_info=codec.status_info("InvalidValue", str(error)))
        answer = self.context.station.clear_charging_profile(
            charging_profile_id, criteria.get("evse_id"), purpose, criteria.get("stack_level"))
        return call_result.ClearChargingProfile(
            status=codec.clear_status(self.context.answer(answer)))

    # --- GetChargingProfiles -> ReportChargingProfiles ----------------------------------------

    def _found(self, evse_id: int | None,
               criterion: dict[str, Any]) -> list[tuple[str, int, dict[str, Any]]]:
        """What matches, as (chargingLimitSource, EVSE, profile): the CSMS's profiles and the
        local limits in force, for the sources asked for (all when none is named)."""
        sources = criterion.get("charging_limit_source")
        found = [] if sources and CSO not in sources else [
            (CSO, e.connector_id, codec.encode_charging_profile(e.profile))
            for e in self._matching(evse_id, criterion)]
        ids = criterion.get("charging_profile_id")
        purpose = criterion.get("charging_profile_purpose")
        if purpose not in (None, EXTERNAL) or criterion.get("stack_level") not in (None, 0):
            return found
        for n in self.context.evse_ids():
            limit = self.external_limits.current(n)
            if limit is None or evse_id not in (None, n) or (sources and limit[0] not in sources):
                continue
            profile = external_profile(n, limit[1], self.context.clock.now())
            if not ids or profile["id"] in ids:
                found.append((limit[0], n, profile))
        return found

    def _matching(self, evse_id: int | None,
                  criterion: dict[str, Any]) -> list[InstalledProfile]:
        ids = criterion.get("charging_profile_id")
        purpose = criterion.get("charging_profile_purpose")
        stack_level = criterion.get("stack_level")
        found = []
        for entry in self.context.station.charging.profiles.installed:
            p = entry.profile
            if (evse_id is None or entry.connector_id == evse_id) \
                    and (not ids or p.charging_profile_id in ids) \
                    and (purpose is None or codec.PURPOSES[p.purpose] == purpose) \
                    and (stack_level is None or p.stack_level == stack_level):
                found.append(entry)
        return found

    @on(Action.get_charging_profiles)
    def on_get_charging_profiles(self, request_id: int, charging_profile: dict[str, Any],
                                 evse_id: int | None = None,
                                 **_: Any) -> call_result.GetChargingProfiles:
        found = self._found(evse_id, charging_profile)
        return call_result.GetChargingProfiles(status="Accepted" if found else "NoProfiles")

    @after(Action.get_charging_profiles)
    def after_get_charging_profiles(self, request_id: int, charging_profile: dict[str, Any],
                                    evse_id: int | None = None, **_: Any) -> None:
        for report in self.reports(request_id, self._found(evse_id, charging_profile)):
            self.context.reply(report)

    @staticmethod
    def reports(request_id: int, found: list[tuple[str, int, dict[str, Any]]]
                ) -> list[call.ReportChargingProfiles]:
        """One ReportChargingProfiles per source, EVSE and ``PROFILES_PER_REPORT`` profiles,
        all but the last ``tbc``."""
        parts: list[tuple[str, int, list[dict[str, Any]]]] = []
        for source, evse in sorted({(s, e) for s, e, _ in found}, key=lambda k: (k[0] != CSO,
                                                                                  k)):
            mine = [p for s, e, p in found if (s, e) == (source, evse)]
            parts += [(source, evse, mine[i:i + PROFILES_PER_REPORT])
                      for i in range(0, len(mine), PROFILES_PER_REPORT)]
        return [call.ReportChargingProfiles(
                    request_id=request_id, charging_limit_source=source, evse_id=evse,
                    charging_profile=profiles, tbc=n < len(parts) - 1)
                for n, (source, evse, profiles) in enumerate(parts)]

    # --- GetCompositeSchedule --------------------------------------------------------------------

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, duration: int, evse_id: int,
                                  charging_rate_unit: str | None = None,
                                  **_: Any) -> call_result.GetCompositeSchedule:
        if not 0 < duration <= codec.MAX_COMPOSITE_DURATION_S:
            return call_result.GetCompositeSchedule(status="Rejected", status_info=(
                codec.status_info("InvalidValue", f"duration {duration} s is not 1 to "
                                  f"{codec.MAX_COMPOSITE_DURATION_S} s")))
        unit = codec.decode_rate_unit(charging_rate_unit) if charging_rate_unit else None
        answer = codec.encode_composite_schedule(
            self.context.station.composite_schedule(evse_id, duration, unit, local_limits=True))
        return call_result.GetCompositeSchedule(
            status=answer["status"], schedule=answer.get("schedule"),
            status_info=answer.get("statusInfo"))
