"""OCPP 2.0.1 K Smart charging on the wire <-> the core's charging profiles.

2.0.1's profile is 1.6's with other names (``id``, ChargingStationMaxProfile, a string
transactionId) and a *list* of schedules. Up to three schedules are there for ISO 15118, for
the car to choose one of; without a 15118 stack the station has nothing to choose with, and the
core holds one schedule per profile, so a profile with more than one is refused
(``ProfileUnsupported``: Rejected, with why). So are ``phaseToUse`` (no phase switching here)
and ChargingStationExternalConstraints, which only the station itself may set (K01.FR.22).

A structural fault raises ``ProfileFormatError`` (bounded numbers and dates, as under 1.6);
whether a profile makes sense is the core's question.
"""

from __future__ import annotations

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
    "EXTERNAL_CONSTRAINTS", "MAX_COMPOSITE_DURATION_S", "ProfileFormatError",
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
    if not isinstance(schedules, list) or not schedules:
        raise ProfileFormatError("chargingSchedule must be a list of 1 to 3 schedules")
    if len(schedules) > 1:
        raise ProfileUnsupported(
            f"{len(schedules)} chargingSchedules: without ISO 15118 there is no car to choose "
            "one, this station takes one schedule per profile")
    sched = require_object(schedules[0], "chargingSchedule[0]")
    periods = sched.get("chargingSchedulePeriod")
    # Not a list: decode_schedule below says so in its own words.
    for i, raw in enumerate(periods if isinstance(periods, list) else []):
        if isinstance(raw, dict) and raw.get("phaseToUse") is not None:
            raise ProfileUnsupported(f"chargingSchedulePeriod[{i}]: phaseToUse (no phase "
                                     "switching here)")
    transaction_id = obj.get("transactionId")
    if transaction_id is not None and (not isinstance(transaction_id, str)
                                       or len(transaction_id) > 36):
        raise ProfileFormatError("transactionId must be a string of at most 36 characters")
    schedule = decode_schedule(sched, integer(sched, "id", required=True))
    return decode_profile(obj, schedule, id_key="id", purposes=PURPOSES,
                          transaction_id=transaction_id)


def decode_purpose(value: Any) -> ChargingProfilePurpose:
    return member(PURPOSES, "chargingProfilePurpose", value)


def decode_rate_unit(value: Any) -> ChargingRateUnit:
    return member(RATE_UNITS, "chargingRateUnit", value)


def encode_charging_profile(profile: ChargingProfile) -> dict[str, Any]:
    """The ``chargingProfile`` as ReportChargingProfiles carries it."""
    out = encode_profile(
        profile, [encode_charging_schedule(profile.schedule, profile.charging_profile_id)],
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
