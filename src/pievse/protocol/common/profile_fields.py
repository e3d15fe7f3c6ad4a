"""What both OCPP versions' smart-charging codecs share: the names they give alike to the core's
enums, the strict readers of a profile's fields, and a schedule period both ways.

Numbers may come as ``Decimal`` from the ``ocpp`` package; a structural fault (missing key,
wrong type, a fraction where an integer belongs, an unknown enum value, a number no schedule can
mean) raises ``ProfileFormatError``. Whether a well-formed profile makes sense is the core's
question, asked when it is installed.
"""

from __future__ import annotations

import enum
import math
from decimal import Decimal
from typing import Any, TypeVar

from pievse.core.charging_profiles import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSchedule,
    ChargingSchedulePeriod,
    ClearChargingProfileStatus,
    CompositeScheduleStatus,
    RecurrencyKind,
)
from pievse.protocol.common.datetimes import format_datetime, parse_datetime

__all__ = [
    "CLEAR_STATUSES", "COMPOSITE_STATUSES", "KINDS", "RATE_UNITS", "RECURRENCIES",
    "ProfileFormatError", "datetime_field", "decode_periods", "decode_profile",
    "decode_schedule", "encode_period", "encode_profile", "encode_schedule", "enum_field",
    "integer", "member", "number", "require_object",
]

E = TypeVar("E", bound=enum.Enum)

#: Larger than any count or number of seconds a profile can mean (a year is 3.2e7 s); a bigger
#: integer is a fault of the sender, not a value to carry through the store and the schedules.
MAX_INTEGER = 2**31 - 1


class ProfileFormatError(ValueError):
    """The charging profile object is not shaped as the OCPP version says."""


KINDS = {
    ChargingProfileKind.ABSOLUTE: "Absolute",
    ChargingProfileKind.RECURRING: "Recurring",
    ChargingProfileKind.RELATIVE: "Relative",
}
RECURRENCIES = {RecurrencyKind.DAILY: "Daily", RecurrencyKind.WEEKLY: "Weekly"}
RATE_UNITS = {ChargingRateUnit.AMPS: "A", ChargingRateUnit.WATTS: "W"}
CLEAR_STATUSES = {
    ClearChargingProfileStatus.ACCEPTED: "Accepted",
    ClearChargingProfileStatus.UNKNOWN: "Unknown",
}
COMPOSITE_STATUSES = {
    CompositeScheduleStatus.ACCEPTED: "Accepted",
    CompositeScheduleStatus.REJECTED: "Rejected",
}


def decode_profile(obj: dict[str, Any], schedule: ChargingSchedule, *, id_key: str,
                   purposes: dict[ChargingProfilePurpose, str],
                   transaction_id: int | str | None) -> ChargingProfile:
    """The fields both versions share, under the version's name of the id and the purposes."""
    return ChargingProfile(
        charging_profile_id=integer(obj, id_key, required=True),
        stack_level=integer(obj, "stackLevel", required=True),
        purpose=enum_field(purposes, obj, "chargingProfilePurpose", required=True),
        kind=enum_field(KINDS, obj, "chargingProfileKind", required=True),
        schedule=schedule,
        transaction_id=transaction_id,
        recurrency_kind=enum_field(RECURRENCIES, obj, "recurrencyKind"),
        valid_from=datetime_field(obj, "validFrom"),
        valid_to=datetime_field(obj, "validTo"),
    )


def decode_schedule(sched: dict[str, Any], schedule_id: int | None = None) -> ChargingSchedule:
    return ChargingSchedule(
        charging_rate_unit=enum_field(RATE_UNITS, sched, "chargingRateUnit", required=True),
        periods=decode_periods(sched),
        duration=integer(sched, "duration"),
        start_schedule=datetime_field(sched, "startSchedule"),
        min_charging_rate=number(sched, "minChargingRate"),
        schedule_id=schedule_id,
    )


def encode_profile(profile: ChargingProfile, schedule: Any, *, id_key: str,
                   purposes: dict[ChargingProfilePurpose, str]) -> dict[str, Any]:
    """The camelCase object (absent fields left out), with ``schedule`` as the version has it
    (an object, or a list of them) and the transactionId as it is in the core."""
    out: dict[str, Any] = {
        id_key: profile.charging_profile_id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": purposes[profile.purpose],
        "chargingProfileKind": KINDS[profile.kind],
        "chargingSchedule": schedule,
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


def encode_schedule(schedule: ChargingSchedule) -> dict[str, Any]:
    out: dict[str, Any] = {
        "chargingRateUnit": RATE_UNITS[schedule.charging_rate_unit],
        "chargingSchedulePeriod": [encode_period(p) for p in schedule.periods],
    }
    if schedule.duration is not None:
        out["duration"] = schedule.duration
    if schedule.start_schedule is not None:
        out["startSchedule"] = format_datetime(schedule.start_schedule)
    if schedule.min_charging_rate is not None:
        out["minChargingRate"] = schedule.min_charging_rate
    return out


def decode_periods(sched: dict[str, Any]) -> tuple[ChargingSchedulePeriod, ...]:
    raw_periods = sched.get("chargingSchedulePeriod")
    if not isinstance(raw_periods, list):
        raise ProfileFormatError("chargingSchedulePeriod must be a list")
    periods = []
    for i, raw in enumerate(raw_periods):
        item = require_object(raw, f"chargingSchedulePeriod[{i}]")
        periods.append(
            ChargingSchedulePeriod(
                start_period=integer(item, "startPeriod", required=True),
                limit=number(item, "limit", required=True),
                number_phases=integer(item, "numberPhases"),
            )
        )
    return tuple(periods)


def encode_period(period: ChargingSchedulePeriod) -> dict[str, Any]:
    out: dict[str, Any] = {"startPeriod": period.start_period, "limit": period.limit}
    if period.number_phases is not None:
        out["numberPhases"] = period.number_phases
    return out


def require_object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProfileFormatError(f"{name} must be an object")
    return value


def _field(obj: dict[str, Any], key: str, required: bool) -> Any:
    value = obj.get(key)
    if value is None and required:
        raise ProfileFormatError(f"{key} is required")
    return value


def integer(obj: dict[str, Any], key: str, *, required: bool = False) -> Any:
    value = _field(obj, key, required)
    if value is None:
        return None
    # bool is an int in Python but never an integer on the wire; an integral Decimal or float
    # (1.0) is what some JSON layers make of an integer.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ProfileFormatError(f"{key} must be an integer")
    if not isinstance(value, int):
        if not math.isfinite(value) or value != int(value):
            raise ProfileFormatError(f"{key} must be an integer, not {value}")
        value = int(value)
    if abs(value) > MAX_INTEGER:
        raise ProfileFormatError(f"{key} {value} is out of range (at most {MAX_INTEGER})")
    return value


def number(obj: dict[str, Any], key: str, *, required: bool = False) -> Any:
    value = _field(obj, key, required)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ProfileFormatError(f"{key} must be a number")
    try:
        result = float(value)
    except OverflowError:
        result = math.inf
    if not math.isfinite(result):
        raise ProfileFormatError(f"{key} must be a finite number")
    return result


def enum_field(names: dict[E, str], obj: dict[str, Any], key: str, *,
               required: bool = False) -> Any:
    value = _field(obj, key, required)
    return None if value is None else member(names, key, value)


def member(names: dict[E, str], key: str, value: Any) -> E:
    for item, name in names.items():
        if name == value:
            return item
    allowed = ", ".join(names.values())
    raise ProfileFormatError(f"{key} {value!r} is not one of {allowed}")


def datetime_field(obj: dict[str, Any], key: str) -> float | None:
    value = _field(obj, key, required=False)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProfileFormatError(f"{key} must be an ISO 8601 string")
    try:
        return parse_datetime(value)
    except (ValueError, OverflowError) as error:
        raise ProfileFormatError(str(error)) from None
