"""Charging profiles as the store keeps them: JSON of the core's own model.

Every field is spelled out under the core's name and enums are stored by their value, so what is
written reads back equal whichever OCPP version installed it or reads it again.
"""

from __future__ import annotations

from typing import Any

from pievse.core.charging_profiles import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSchedule,
    ChargingSchedulePeriod,
    InstalledProfile,
    RecurrencyKind,
)

__all__ = ["decode_installed_profile", "encode_installed_profile"]


def encode_installed_profile(entry: InstalledProfile) -> dict[str, Any]:
    profile, schedule = entry.profile, entry.profile.schedule
    return {
        "connector_id": entry.connector_id,
        "charging_profile_id": profile.charging_profile_id,
        "stack_level": profile.stack_level,
        "purpose": profile.purpose.value,
        "kind": profile.kind.value,
        "transaction_id": profile.transaction_id,
        "recurrency_kind": _value(profile.recurrency_kind),
        "valid_from": profile.valid_from,
        "valid_to": profile.valid_to,
        "schedule": {
            "charging_rate_unit": schedule.charging_rate_unit.value,
            "duration": schedule.duration,
            "start_schedule": schedule.start_schedule,
            "min_charging_rate": schedule.min_charging_rate,
            "periods": [
                {"start_period": p.start_period, "limit": p.limit,
                 "number_phases": p.number_phases}
                for p in schedule.periods
            ],
        },
    }


def decode_installed_profile(data: dict[str, Any]) -> InstalledProfile:
    """Raises KeyError, TypeError or ValueError when ``data`` is not what ``encode`` wrote."""
    s = data["schedule"]
    schedule = ChargingSchedule(
        charging_rate_unit=ChargingRateUnit(s["charging_rate_unit"]),
        periods=tuple(ChargingSchedulePeriod(p["start_period"], float(p["limit"]),
                                             p["number_phases"])
                      for p in s["periods"]),
        duration=s["duration"],
        start_schedule=s["start_schedule"],
        min_charging_rate=s["min_charging_rate"],
    )
    recurrency = data["recurrency_kind"]
    profile = ChargingProfile(
        charging_profile_id=data["charging_profile_id"],
        stack_level=data["stack_level"],
        purpose=ChargingProfilePurpose(data["purpose"]),
        kind=ChargingProfileKind(data["kind"]),
        schedule=schedule,
        transaction_id=data["transaction_id"],
        recurrency_kind=None if recurrency is None else RecurrencyKind(recurrency),
        valid_from=data["valid_from"],
        valid_to=data["valid_to"],
    )
    return InstalledProfile(data["connector_id"], profile)


def _value(member: Any) -> Any:
    return None if member is None else member.value
