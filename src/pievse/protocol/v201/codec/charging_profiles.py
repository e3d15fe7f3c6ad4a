"""OCPP 2.0.1 K Smart charging on the wire <-> the core's charging profiles.

2.0.1's profile is 1.6's with other names (``id``, ChargingStationMaxProfile, a string
transactionId) and a *list* of one to three schedules, each with its own id. The choice among
several is the car's, over ISO 15118 (its SAScheduleTupleID names one); without a 15118 session
there is no car to choose, so the first schedule is the one in force, and the
others are kept with the profile and reported back as they were set. Two schedules with one id
are refused (``ProfileFormatError``). Refused as ``ProfileUnsupported`` (Rejected, with why):
``phaseToUse`` (no phase switching here) and ChargingStationExternalConstraints, which only the
station itself may set (K01.FR.22).

A structural fault raises ``ProfileFormatError`` (bounded numbers and dates, as under 1.6);
whether a profile makes sense is the core's question.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pievse.core.charging_profiles import (
    ChargingProfile,
    ChargingProfilePurpose,
    ChargingProfileStatus,
    ChargingRateUnit,
    ChargingSchedule,
    CompositeSchedule,
)
from pievse.protocol.common.datetimes import format_datetime
from pievse.protocol.common.profile_fields import (
    CLEAR_STATUSES,
    COMPOSITE_STATUSES,
    RATE_UNITS,
    ProfileFormatError,
    decode_profile,
    decode_schedule,
    encode_profile,
    encode_schedule,
    encode_period,
    integer,
    member,
    require_object,
)

__all__ = [
    "EXTERNAL_CONSTRAINTS", "MAX_COMPOSITE_DURATION_S", "MAX_SCHEDULES", "ProfileFormatError",
    "ProfileUnsupported", "clear_status", "composite_status", "decode_charging_profile",
    "decode_purpose", "decode_rate_unit", "encode_charging_profile", "encode_composite_schedule",
    "encode_charging_schedule", "set_status", "status_info",
]

PURPOSES = {
    ChargingProfilePurpose.CHARGE_POINT_MAX_PROFILE: "ChargingStationMaxProfile",
    ChargingProfilePurpose.TX_DEFAULT_PROFILE: "TxDefaultProfile",
    ChargingProfilePurpose.TX_PROFILE: "TxProfile",
}
#: The purpose of the limits the station sets itself (here: the local limits).
EXTERNAL_CONSTRAINTS = "ChargingStationExternalConstraints"
#: GetCompositeSchedule asks for at most this far ahead: a week, the longest recurrence.
MAX_COMPOSITE_DURATION_S = 7 * 86_400
#: A profile carries at most this many schedules (for an ISO 15118 car to choose from).
MAX_SCHEDULES = 3
#: statusInfo's additionalInfo is at most this long.
MAX_INFO = 512


class ProfileUnsupported(ValueError):
    """A well-formed profile that asks for what this station does not do."""


def decode_charging_profile(data: Any) -> ChargingProfile:
    """The core's profile from a 2.0.1 ``chargingProfile``. Raises ``ProfileFormatError`` or
    ``ProfileUnsupported``."""
    obj = require_object(data, "chargingProfile")
    if obj.get("chargingProfilePurpose") == EXTERNAL_CONSTRAINTS:
        raise ProfileUnsupported(f"{EXTERNAL_CONSTRAINTS} is set by the station only")
    schedules = obj.get("chargingSchedule")
    if not isinstance(schedules, list) or not 1 <= len(schedules) <= MAX_SCHEDULES:
        raise ProfileFormatError(f"chargingSchedule must be a list of 1 to {MAX_SCHEDULES} "
                                 "schedules")
    decoded = [_decode_schedule(raw, f"chargingSchedule[{n}]")
               for n, raw in enumerate(schedules)]
    ids = [s.schedule_id for s in decoded]
    if len(set(ids)) < len(ids):
        raise ProfileFormatError(f"chargingSchedule ids {ids} are not unique")
    transaction_id = obj.get("transactionId")
    if transaction_id is not None and (not isinstance(transaction_id, str)
                                       or len(transaction_id) > 36):
        raise ProfileFormatError("transactionId must be a string of at most 36 characters")
    profile = decode_profile(obj, decoded[0], id_key="id", purposes=PURPOSES,
                             transaction_id=transaction_id)
    return replace(profile, other_schedules=tuple(decoded[1:]))


def _decode_schedule(data: Any, where: str) -> ChargingSchedule:
    sched = require_object(data, where)
    periods = sched.get("chargingSchedulePeriod")
    # Not a list: decode_schedule below says so in its own words.
    for i, raw in enumerate(periods if isinstance(periods, list) else []):
        if isinstance(raw, dict) and raw.get("phaseToUse") is not None:
            raise ProfileUnsupported(f"{where}.chargingSchedulePeriod[{i}]: phaseToUse (no "
                                     "phase switching here)")
    return decode_schedule(sched, integer(sched, "id", required=True))


def decode_purpose(value: Any) -> ChargingProfilePurpose:
    return member(PURPOSES, "chargingProfilePurpose", value)


def decode_rate_unit(value: Any) -> ChargingRateUnit:
    return member(RATE_UNITS, "chargingRateUnit", value)


def encode_charging_profile(profile: ChargingProfile) -> dict[str, Any]:
    """The ``chargingProfile`` as ReportChargingProfiles carries it."""
    out = encode_profile(
        profile, [encode_charging_schedule(s, profile.charging_profile_id)
                  for s in profile.schedules],
        id_key="id", purposes=PURPOSES)
    if profile.transaction_id is not None:
        out["transactionId"] = str(profile.transaction_id)
    return out


def encode_charging_schedule(schedule: ChargingSchedule, default_id: int) -> dict[str, Any]:
    """A ChargingScheduleType; ``default_id`` names a schedule that came without an id (from
    1.6, or saved before 2.0.1)."""
    return {"id": schedule.schedule_id if schedule.schedule_id is not None else default_id,
            **encode_schedule(schedule)}


def encode_composite_schedule(result: CompositeSchedule) -> dict[str, Any]:
    """GetCompositeScheduleResponse's fields (camelCase)."""
    out: dict[str, Any] = {"status": COMPOSITE_STATUSES[result.status]}
    if result.schedule is None:
        out["statusInfo"] = status_info("InvalidValue", "no such EVSE, or no duration")
        return out
    s = result.schedule
    out["schedule"] = {
        "evseId": result.connector_id,
        "duration": s.duration or 0,
        "scheduleStart": format_datetime(s.start_schedule or 0),
        "chargingRateUnit": RATE_UNITS[s.charging_rate_unit],
        "chargingSchedulePeriod": [encode_period(p) for p in s.periods],
    }
    return out


def set_status(status: ChargingProfileStatus) -> str:
    """2.0.1 knows Accepted and Rejected only."""
    return "Accepted" if status is ChargingProfileStatus.ACCEPTED else "Rejected"


def clear_status(status: Any) -> str:
    return CLEAR_STATUSES[status]


def composite_status(status: Any) -> str:
    return COMPOSITE_STATUSES[status]


def status_info(code: str, why: str | None) -> dict[str, Any]:
    """A StatusInfoType: a reasonCode (at most 20 characters) and the words of the refusal."""
    info: dict[str, Any] = {"reasonCode": code[:20]}
    if why:
        info["additionalInfo"] = why[:MAX_INFO]
    return info
