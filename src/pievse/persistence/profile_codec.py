"""Charging profiles as the store keeps them: JSON of the core's own model.

Every field is spelled out under the core's name and enums are stored by their value, so what is
written reads back equal whichever OCPP version installed it or reads it again. Schema 1 of the
store kept OCPP 1.6's SetChargingProfile payloads instead; ``from_schema_1`` turns one of those
into this form, for the migration that upgrades such a store.
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
from pievse.protocol.common.datetimes import parse_datetime

__all__ = ["decode_installed_profile", "encode_installed_profile", "from_schema_1"]


def encode_installed_profile(entry: InstalledProfile) -> dict[str, Any]:
    profile = entry.profile
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
        "schedule": _encode_schedule(profile.schedule),
        "other_schedules": [_encode_schedule(s) for s in profile.other_schedules],
    }


def _encode_schedule(schedule: ChargingSchedule) -> dict[str, Any]:
    return {
        "charging_rate_unit": schedule.charging_rate_unit.value,
        "duration": schedule.duration,
        "start_schedule": schedule.start_schedule,
        "min_charging_rate": schedule.min_charging_rate,
        "schedule_id": schedule.schedule_id,
        "periods": [
            {"start_period": p.start_period, "limit": p.limit, "number_phases": p.number_phases}
            for p in schedule.periods
        ],
    }


def _decode_schedule(s: dict[str, Any]) -> ChargingSchedule:
    return ChargingSchedule(
        charging_rate_unit=ChargingRateUnit(s["charging_rate_unit"]),
        periods=tuple(ChargingSchedulePeriod(p["start_period"], float(p["limit"]),
                                             p["number_phases"])
                      for p in s["periods"]),
        duration=s["duration"],
        start_schedule=s["start_schedule"],
        min_charging_rate=s["min_charging_rate"],
        schedule_id=s.get("schedule_id"),  # absent from what was saved before 2.0.1
    )


def decode_installed_profile(data: dict[str, Any]) -> InstalledProfile:
    """Raises KeyError, TypeError or ValueError when ``data`` is not what ``encode`` wrote."""
    recurrency = data["recurrency_kind"]
    profile = ChargingProfile(
        charging_profile_id=data["charging_profile_id"],
        stack_level=data["stack_level"],
        purpose=ChargingProfilePurpose(data["purpose"]),
        kind=ChargingProfileKind(data["kind"]),
        schedule=_decode_schedule(data["schedule"]),
        # Absent from what was saved before profiles had more than one schedule.
        other_schedules=tuple(_decode_schedule(s) for s in data.get("other_schedules", ())),
        transaction_id=data["transaction_id"],
        recurrency_kind=None if recurrency is None else RecurrencyKind(recurrency),
        valid_from=data["valid_from"],
        valid_to=data["valid_to"],
    )
    return InstalledProfile(data["connector_id"], profile)


def from_schema_1(payload: dict[str, Any]) -> dict[str, Any]:
    """One profile as schema 1 stored it (``{"connectorId": n, "csChargingProfiles": {...}}``,
    written by pievse itself, so well formed) in today's form. A frozen reading of what that
    version wrote, not the live OCPP 1.6 codec: the store must not change with the protocol.
    Raises KeyError, TypeError or ValueError on anything else."""
    profile = payload["csChargingProfiles"]
    schedule = profile["chargingSchedule"]
    return {
        "connector_id": payload["connectorId"],
        "charging_profile_id": profile["chargingProfileId"],
        "stack_level": profile["stackLevel"],
        "purpose": _SCHEMA_1_NAMES[profile["chargingProfilePurpose"]].value,
        "kind": _SCHEMA_1_NAMES[profile["chargingProfileKind"]].value,
        "transaction_id": profile.get("transactionId"),
        "recurrency_kind": _value(_SCHEMA_1_NAMES.get(profile.get("recurrencyKind"))),
        "valid_from": _instant(profile.get("validFrom")),
        "valid_to": _instant(profile.get("validTo")),
        "schedule": {
            "charging_rate_unit": ChargingRateUnit(schedule["chargingRateUnit"]).value,
            "duration": schedule.get("duration"),
            "start_schedule": _instant(schedule.get("startSchedule")),
            "min_charging_rate": schedule.get("minChargingRate"),
            "periods": [
                {"start_period": p["startPeriod"], "limit": float(p["limit"]),
                 "number_phases": p.get("numberPhases")}
                for p in schedule["chargingSchedulePeriod"]
            ],
        },
    }


#: The enum values schema 1 wrote (OCPP 1.6's names), as the core's members.
_SCHEMA_1_NAMES: dict[Any, Any] = {
    "ChargePointMaxProfile": ChargingProfilePurpose.CHARGE_POINT_MAX_PROFILE,
    "TxDefaultProfile": ChargingProfilePurpose.TX_DEFAULT_PROFILE,
    "TxProfile": ChargingProfilePurpose.TX_PROFILE,
    "Absolute": ChargingProfileKind.ABSOLUTE,
    "Recurring": ChargingProfileKind.RECURRING,
    "Relative": ChargingProfileKind.RELATIVE,
    "Daily": RecurrencyKind.DAILY,
    "Weekly": RecurrencyKind.WEEKLY,
}


def _value(member: Any) -> Any:
    return None if member is None else member.value


def _instant(text: str | None) -> float | None:
    return None if text is None else parse_datetime(text)
