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

import enum
import math
from decimal import Decimal
from typing import Any, TypeVar

from ocpp.v16 import call_result

from pievse.core.charging_profiles import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingProfileStatus,
    ChargingRateUnit,
    ChargingSchedule,
    ChargingSchedulePeriod,
    ClearChargingProfileStatus,
    CompositeSchedule,
    CompositeScheduleStatus,
    RecurrencyKind,
)
from pievse.protocol.common.datetimes import format_datetime, parse_datetime

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

E = TypeVar("E", bound=enum.Enum)


class ProfileFormatError(ValueError):
    """The charging profile object is not shaped as OCPP 1.6 says (missing key, wrong type)."""


PURPOSES = {
    ChargingProfilePurpose.CHARGE_POINT_MAX_PROFILE: "ChargePointMaxProfile",
    ChargingProfilePurpose.TX_DEFAULT_PROFILE: "TxDefaultProfile",
    ChargingProfilePurpose.TX_PROFILE: "TxProfile",
}
KINDS = {
    ChargingProfileKind.ABSOLUTE: "Absolute",
    ChargingProfileKind.RECURRING: "Recurring",
    ChargingProfileKind.RELATIVE: "Relative",
}
RECURRENCIES = {RecurrencyKind.DAILY: "Daily", RecurrencyKind.WEEKLY: "Weekly"}
RATE_UNITS = {ChargingRateUnit.AMPS: "A", ChargingRateUnit.WATTS: "W"}
#: The rate units as the ChargingScheduleAllowedChargingRateUnit key names them.
RATE_UNIT_KEY_NAMES = {ChargingRateUnit.AMPS: "Current", ChargingRateUnit.WATTS: "Power"}

SET_STATUSES = {
    ChargingProfileStatus.ACCEPTED: "Accepted",
    ChargingProfileStatus.REJECTED: "Rejected",
    ChargingProfileStatus.NOT_SUPPORTED: "NotSupported",
}
CLEAR_STATUSES = {
    ClearChargingProfileStatus.ACCEPTED: "Accepted",
    ClearChargingProfileStatus.UNKNOWN: "Unknown",
}
COMPOSITE_STATUSES = {
    CompositeScheduleStatus.ACCEPTED: "Accepted",
    CompositeScheduleStatus.REJECTED: "Rejected",
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
    obj = _require_object(data, "chargingProfile")
    sched = _require_object(obj.get("chargingSchedule"), "chargingSchedule")
    raw_periods = sched.get("chargingSchedulePeriod")
    if not isinstance(raw_periods, list):
        raise ProfileFormatError("chargingSchedulePeriod must be a list")
    periods = []
    for i, raw in enumerate(raw_periods):
        item = _require_object(raw, f"chargingSchedulePeriod[{i}]")
        periods.append(
            ChargingSchedulePeriod(
                start_period=_integer(item, "startPeriod", required=True),
                limit=_number(item, "limit", required=True),
                number_phases=_integer(item, "numberPhases"),
            )
        )
    schedule = ChargingSchedule(
        charging_rate_unit=_enum(RATE_UNITS, sched, "chargingRateUnit", required=True),
        periods=tuple(periods),
        duration=_integer(sched, "duration"),
        start_schedule=_datetime(sched, "startSchedule"),
        min_charging_rate=_number(sched, "minChargingRate"),
    )
    return ChargingProfile(
        charging_profile_id=_integer(obj, "chargingProfileId", required=True),
        stack_level=_integer(obj, "stackLevel", required=True),
        purpose=_enum(PURPOSES, obj, "chargingProfilePurpose", required=True),
        kind=_enum(KINDS, obj, "chargingProfileKind", required=True),
        schedule=schedule,
        transaction_id=_integer(obj, "transactionId"),
        recurrency_kind=_enum(RECURRENCIES, obj, "recurrencyKind"),
        valid_from=_datetime(obj, "validFrom"),
        valid_to=_datetime(obj, "validTo"),
    )


def decode_purpose(value: str) -> ChargingProfilePurpose:
    """ClearChargingProfile's chargingProfilePurpose."""
    return _member(PURPOSES, "chargingProfilePurpose", value)


def decode_rate_unit(value: str) -> ChargingRateUnit:
    """GetCompositeSchedule's chargingRateUnit."""
    return _member(RATE_UNITS, "chargingRateUnit", value)


# --- to the wire ---------------------------------------------------------------------------------


def encode_charging_profile(profile: ChargingProfile) -> dict[str, Any]:
    """The camelCase object as SetChargingProfile carries it (absent fields left out)."""
    out: dict[str, Any] = {
        "chargingProfileId": profile.charging_profile_id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": PURPOSES[profile.purpose],
        "chargingProfileKind": KINDS[profile.kind],
        "chargingSchedule": encode_charging_schedule(profile.schedule),
    }
    if profile.transaction_id is not None:
        out["transactionId"] = profile.transaction_id
    if profile.recurrency_kind is not None:
        out["recurrencyKind"] = RECURRENCIES[profile.recurrency_kind]
    if profile.valid_from is not None:
        out["validFrom"] = format_datetime(profile.valid_from)
    if profile.valid_to is not None:
        out["validTo"] = format_datetime(profile.valid_to)
    return out


def encode_charging_schedule(schedule: ChargingSchedule) -> dict[str, Any]:
    out: dict[str, Any] = {
        "chargingRateUnit": RATE_UNITS[schedule.charging_rate_unit],
        "chargingSchedulePeriod": [_encode_period(p) for p in schedule.periods],
    }
    if schedule.duration is not None:
        out["duration"] = schedule.duration
    if schedule.start_schedule is not None:
        out["startSchedule"] = format_datetime(schedule.start_schedule)
    if schedule.min_charging_rate is not None:
        out["minChargingRate"] = schedule.min_charging_rate
    return out


def _encode_period(period: ChargingSchedulePeriod) -> dict[str, Any]:
    out: dict[str, Any] = {"startPeriod": period.start_period, "limit": period.limit}
    if period.number_phases is not None:
        out["numberPhases"] = period.number_phases
    return out


# --- strict field readers ------------------------------------------------------------------------


def _require_object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProfileFormatError(f"{name} must be an object")
    return value


def _field(obj: dict[str, Any], key: str, required: bool) -> Any:
    value = obj.get(key)
    if value is None and required:
        raise ProfileFormatError(f"{key} is required")
    return value


def _integer(obj: dict[str, Any], key: str, *, required: bool = False) -> Any:
    value = _field(obj, key, required)
    if value is None:
        return None
    # bool is an int in Python but never an integer on the wire; an integral Decimal or float
    # (1.0) is what some JSON layers make of an integer.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ProfileFormatError(f"{key} must be an integer")
    if isinstance(value, int):
        return value
    if not math.isfinite(value) or value != int(value):
        raise ProfileFormatError(f"{key} must be an integer, not {value}")
    return int(value)


def _number(obj: dict[str, Any], key: str, *, required: bool = False) -> Any:
    value = _field(obj, key, required)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ProfileFormatError(f"{key} must be a number")
    result = float(value)
    if not math.isfinite(result):
        raise ProfileFormatError(f"{key} must be a finite number")
    return result


def _enum(names: dict[E, str], obj: dict[str, Any], key: str, *, required: bool = False) -> Any:
    value = _field(obj, key, required)
    return None if value is None else _member(names, key, value)


def _member(names: dict[E, str], key: str, value: Any) -> E:
    for member, name in names.items():
        if name == value:
            return member
    allowed = ", ".join(names.values())
    raise ProfileFormatError(f"{key} {value!r} is not one of {allowed}")


def _datetime(obj: dict[str, Any], key: str) -> float | None:
    value = _field(obj, key, required=False)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProfileFormatError(f"{key} must be an ISO 8601 string")
    try:
        return parse_datetime(value)
    except ValueError as error:
        raise ProfileFormatError(str(error)) from None
