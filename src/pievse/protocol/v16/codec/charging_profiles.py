"""OCPP 1.6 Smart Charging on the wire <-> the core's charging profiles.

``decode_charging_profile`` reads the ``csChargingProfiles`` object of SetChargingProfile (or the
``chargingProfile`` of RemoteStartTransaction): camelCase keys, ISO 8601 date-times, and numbers
that the ``ocpp`` package may hand over as ``Decimal``. A structural fault (missing key, wrong
type, a fraction where an integer belongs, unknown enum value) raises ``ProfileFormatError``;
whether a well-formed profile makes sense is the core's question, asked when it is installed.
``encode_charging_profile`` writes one back; ``encode_composite_schedule`` writes the answer to
GetCompositeSchedule. The names 1.6 gives the core's enums, answers included, are spelled out
here in tables: the core's values are its own, and another OCPP version maps them its own way.
"""

from __future__ import annotations

from typing import Any

from ocpp.v16 import call_result

from pievse.core.charging_profiles import (
    ChargingProfile,
    ChargingProfilePurpose,
    ChargingProfileStatus,
    ChargingRateUnit,
    ChargingSchedule,
    ClearChargingProfileStatus,
    CompositeSchedule,
)
from pievse.protocol.common.profile_fields import (
    CLEAR_STATUSES,
    COMPOSITE_STATUSES,
    RATE_UNITS,
    ProfileFormatError,
    decode_profile,
    decode_schedule,
    encode_profile,
    encode_schedule,
    integer,
    member,
    require_object,
)

__all__ = [
    "ProfileFormatError",
    "allowed_rate_units_key",
    "charging_profile_status",
    "clear_charging_profile_status",
    "decode_charging_profile",
    "decode_purpose",
    "decode_rate_unit",
    "encode_charging_profile",
    "encode_composite_schedule",
    "parse_allowed_rate_units",
]

PURPOSES = {
    ChargingProfilePurpose.CHARGE_POINT_MAX_PROFILE: "ChargePointMaxProfile",
    ChargingProfilePurpose.TX_DEFAULT_PROFILE: "TxDefaultProfile",
    ChargingProfilePurpose.TX_PROFILE: "TxProfile",
}
#: The rate units as the ChargingScheduleAllowedChargingRateUnit key names them.
RATE_UNIT_KEY_NAMES = {ChargingRateUnit.AMPS: "Current", ChargingRateUnit.WATTS: "Power"}

SET_STATUSES = {
    ChargingProfileStatus.ACCEPTED: "Accepted",
    ChargingProfileStatus.REJECTED: "Rejected",
    ChargingProfileStatus.NOT_SUPPORTED: "NotSupported",
}


# --- the core's answers --------------------------------------------------------------------------


def charging_profile_status(status: ChargingProfileStatus) -> str:
    """SetChargingProfile.conf's status."""
    return SET_STATUSES[status]


def clear_charging_profile_status(status: ClearChargingProfileStatus) -> str:
    """ClearChargingProfile.conf's status."""
    return CLEAR_STATUSES[status]


def encode_composite_schedule(result: CompositeSchedule) -> call_result.GetCompositeSchedule:
    """GetCompositeSchedule.conf: the status, and when Accepted the connector, the start and the
    schedule (the ``ocpp`` package leaves camelCase keys as they are)."""
    status = COMPOSITE_STATUSES[result.status]
    if result.schedule is None:
        return call_result.GetCompositeSchedule(status=status)
    schedule = encode_charging_schedule(result.schedule)
    return call_result.GetCompositeSchedule(
        status=status, connector_id=result.connector_id,
        schedule_start=schedule["startSchedule"], charging_schedule=schedule)


# --- the configuration key -----------------------------------------------------------------------


def allowed_rate_units_key(units: frozenset[ChargingRateUnit]) -> str:
    """ChargingScheduleAllowedChargingRateUnit's value: "Current", "Power" or "Current,Power"."""
    return ",".join(RATE_UNIT_KEY_NAMES[u] for u in ChargingRateUnit if u in units)


def parse_allowed_rate_units(value: str) -> frozenset[ChargingRateUnit]:
    """"Current,Power" -> {A, W}. Raises ValueError on an unknown or empty list."""
    by_name = {name.lower(): unit for unit, name in RATE_UNIT_KEY_NAMES.items()}
    units = set()
    for item in value.split(","):
        unit = by_name.get(item.strip().lower())
        if unit is None:
            raise ValueError(f"{item.strip()!r} is not Current or Power")
        units.add(unit)
    return frozenset(units)


# --- from the wire -------------------------------------------------------------------------------


def decode_charging_profile(data: Any) -> ChargingProfile:
    """The core's profile from a 1.6 ``csChargingProfiles``/``chargingProfile`` object. Raises
    ``ProfileFormatError``."""
    obj = require_object(data, "chargingProfile")
    sched = require_object(obj.get("chargingSchedule"), "chargingSchedule")
    return decode_profile(obj, decode_schedule(sched), id_key="chargingProfileId",
                          purposes=PURPOSES, transaction_id=integer(obj, "transactionId"))


def decode_purpose(value: str) -> ChargingProfilePurpose:
    """ClearChargingProfile's chargingProfilePurpose."""
    return member(PURPOSES, "chargingProfilePurpose", value)


def decode_rate_unit(value: str) -> ChargingRateUnit:
    """GetCompositeSchedule's chargingRateUnit."""
    return member(RATE_UNITS, "chargingRateUnit", value)


# --- to the wire ---------------------------------------------------------------------------------


def encode_charging_profile(profile: ChargingProfile) -> dict[str, Any]:
    """The camelCase object as SetChargingProfile carries it (absent fields left out)."""
    return encode_profile(profile, encode_charging_schedule(profile.schedule),
                          id_key="chargingProfileId", purposes=PURPOSES)


def encode_charging_schedule(schedule: ChargingSchedule) -> dict[str, Any]:
    return encode_schedule(schedule)
