"""The OCPP 1.6 codec of Smart Charging: a csChargingProfiles object to the core's profile and
back, every field and every enum, the numbers and date-times a CSMS really sends, what is too
malformed to read, and the core's answers in 1.6's words."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

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
from pievse.protocol.common.datetimes import parse_datetime
from pievse.protocol.common.rpc import RpcSession
from pievse.protocol.common.schemas import validator_for
from pievse.protocol.v16.codec.charging_profiles import (
    ProfileFormatError,
    allowed_rate_units_key,
    charging_profile_status,
    clear_charging_profile_status,
    decode_charging_profile,
    decode_purpose,
    decode_rate_unit,
    encode_charging_profile,
    encode_composite_schedule,
    parse_allowed_rate_units,
)

MONDAY = parse_datetime("2026-01-05T00:00:00Z")
DAY = 86_400

#: Every field a csChargingProfiles object can carry.
FULL = {
    "chargingProfileId": 5,
    "transactionId": 42,
    "stackLevel": 2,
    "chargingProfilePurpose": "TxProfile",
    "chargingProfileKind": "Recurring",
    "recurrencyKind": "Weekly",
    "validFrom": "2026-01-05T00:00:00Z",
    "validTo": "2026-02-04T00:00:00Z",
    "chargingSchedule": {
        "duration": DAY,
        "startSchedule": "2026-01-05T00:00:00Z",
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 16.5},
            {"startPeriod": 900, "limit": 6.0, "numberPhases": 1},
        ],
        "minChargingRate": 6.0,
    },
}
FULL_PROFILE = ChargingProfile(
    charging_profile_id=5,
    stack_level=2,
    purpose=ChargingProfilePurpose.TX_PROFILE,
    kind=ChargingProfileKind.RECURRING,
    schedule=ChargingSchedule(
        ChargingRateUnit.AMPS,
        (ChargingSchedulePeriod(0, 16.5), ChargingSchedulePeriod(900, 6.0, 1)),
        duration=DAY,
        start_schedule=MONDAY,
        min_charging_rate=6.0,
    ),
    transaction_id=42,
    recurrency_kind=RecurrencyKind.WEEKLY,
    valid_from=MONDAY,
    valid_to=MONDAY + 30 * DAY,
)


def minimal(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {"chargingRateUnit": "A", "startSchedule": "2026-01-05T00:00:00Z",
                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]},
    }
    obj.update(changes)
    return obj


def test_every_field_is_read_into_the_core_profile() -> None:
    assert decode_charging_profile(FULL) == FULL_PROFILE


def test_a_profile_survives_the_trip_to_ocpp_json_and_back() -> None:
    assert encode_charging_profile(decode_charging_profile(FULL)) == FULL
    assert decode_charging_profile(encode_charging_profile(FULL_PROFILE)) == FULL_PROFILE


def test_absent_fields_stay_absent() -> None:
    obj = minimal()
    profile = decode_charging_profile(obj)
    assert (profile.transaction_id, profile.recurrency_kind, profile.valid_from,
            profile.valid_to) == (None, None, None, None)
    assert (profile.schedule.duration, profile.schedule.min_charging_rate) == (None, None)
    assert profile.schedule.periods == (ChargingSchedulePeriod(0, 16.0),)
    assert encode_charging_profile(profile) == obj


def test_what_it_writes_is_a_valid_set_charging_profile() -> None:
    validator_for("1.6").validate_call(
        "SetChargingProfile",
        {"connectorId": 1, "csChargingProfiles": encode_charging_profile(FULL_PROFILE)})


@pytest.mark.parametrize(
    ("key", "names"),
    [
        ("chargingProfilePurpose", {
            "ChargePointMaxProfile": ChargingProfilePurpose.CHARGE_POINT_MAX_PROFILE,
            "TxDefaultProfile": ChargingProfilePurpose.TX_DEFAULT_PROFILE,
            "TxProfile": ChargingProfilePurpose.TX_PROFILE}),
        ("chargingProfileKind", {
            "Absolute": ChargingProfileKind.ABSOLUTE,
            "Recurring": ChargingProfileKind.RECURRING,
            "Relative": ChargingProfileKind.RELATIVE}),
        ("recurrencyKind", {"Daily": RecurrencyKind.DAILY, "Weekly": RecurrencyKind.WEEKLY}),
    ],
)
def test_each_enum_has_its_1_6_name(key: str, names: dict[str, Any]) -> None:
    for name, member in names.items():
        obj = minimal(**{key: name})
        profile = decode_charging_profile(obj)
        assert member in (profile.purpose, profile.kind, profile.recurrency_kind)
        assert encode_charging_profile(profile)[key] == name
    assert set(names.values()) == set(type(next(iter(names.values()))))


def test_each_rate_unit_has_its_1_6_name() -> None:
    for name, unit in (("A", ChargingRateUnit.AMPS), ("W", ChargingRateUnit.WATTS)):
        obj = minimal()
        obj["chargingSchedule"]["chargingRateUnit"] = name
        assert decode_charging_profile(obj).schedule.charging_rate_unit is unit
        assert decode_rate_unit(name) is unit
    assert decode_purpose("TxProfile") is ChargingProfilePurpose.TX_PROFILE
    with pytest.raises(ProfileFormatError, match="is not one of"):
        decode_rate_unit("kW")


def test_datetimes_with_offsets_fractions_or_no_zone_and_decimal_numbers_are_read() -> None:
    obj = minimal()
    obj["chargingSchedule"]["startSchedule"] = "2026-01-05T02:00:00.250+02:00"
    obj["validTo"] = "2026-01-06T00:00:00"  # no zone: OCPP times are UTC
    obj["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] = Decimal("16.1")
    prof = decode_charging_profile(obj)
    assert prof.schedule.start_schedule == MONDAY + 0.25
    assert prof.valid_to == MONDAY + DAY
    assert prof.schedule.periods[0].limit == 16.1
    assert encode_charging_profile(prof)["chargingSchedule"]["startSchedule"] == (
        "2026-01-05T00:00:00.250Z")


def test_decimal_and_integral_float_integers_are_read_as_integers() -> None:
    obj = minimal(chargingProfileId=Decimal("7"), stackLevel=3.0)
    obj["chargingSchedule"]["duration"] = Decimal("3600")
    obj["chargingSchedule"]["minChargingRate"] = Decimal("6.5")
    obj["chargingSchedule"]["chargingSchedulePeriod"] = [
        {"startPeriod": Decimal("0"), "limit": Decimal("10"), "numberPhases": Decimal("3")}]
    prof = decode_charging_profile(obj)
    assert (prof.charging_profile_id, prof.stack_level, prof.schedule.duration) == (7, 3, 3600)
    assert type(prof.charging_profile_id) is int and type(prof.schedule.duration) is int
    assert prof.schedule.periods == (ChargingSchedulePeriod(0, 10.0, 3),)
    assert type(prof.schedule.periods[0].limit) is float
    assert prof.schedule.min_charging_rate == 6.5
    json.dumps(encode_charging_profile(prof))  # nothing of Decimal left to trip the wire


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(lambda o: o.pop("chargingProfileId"), "chargingProfileId is required",
                     id="missing id"),
        pytest.param(lambda o: o.update(stackLevel=True), "stackLevel must be an integer",
                     id="bool as integer"),
        pytest.param(lambda o: o.update(chargingProfilePurpose="TxMaxProfile"), "is not one of",
                     id="unknown purpose"),
        pytest.param(lambda o: o.update(validFrom="yesterday"), "not an RFC 3339 date-time",
                     id="bad date"),
        pytest.param(lambda o: o.update(validTo=20260105), "must be an ISO 8601 string",
                     id="date not a string"),
        pytest.param(lambda o: o["chargingSchedule"]["chargingSchedulePeriod"][0].update(
            startPeriod=1.5), "startPeriod must be an integer", id="fractional startPeriod"),
        pytest.param(lambda o: o["chargingSchedule"]["chargingSchedulePeriod"][0].update(
            limit=float("nan")), "limit must be a finite number", id="limit not finite"),
        pytest.param(lambda o: o["chargingSchedule"]["chargingSchedulePeriod"][0].update(
            limit="16"), "limit must be a number", id="limit as text"),
        pytest.param(lambda o: o["chargingSchedule"].update(chargingSchedulePeriod={}),
                     "must be a list", id="periods not a list"),
        pytest.param(lambda o: o.update(chargingSchedule=[]), "chargingSchedule must be an object",
                     id="schedule not an object"),
    ],
)
def test_a_malformed_profile_object_raises_a_format_error(change: Any, message: str) -> None:
    obj = minimal()
    change(obj)
    with pytest.raises(ProfileFormatError, match=message):
        decode_charging_profile(obj)


def test_a_profile_that_is_not_an_object_raises_a_format_error() -> None:
    with pytest.raises(ProfileFormatError, match="chargingProfile must be an object"):
        decode_charging_profile("TxProfile")


# --- the answers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "name"), [
    (ChargingProfileStatus.ACCEPTED, "Accepted"),
    (ChargingProfileStatus.REJECTED, "Rejected"),
    (ChargingProfileStatus.NOT_SUPPORTED, "NotSupported"),
])
def test_set_charging_profile_statuses(status: ChargingProfileStatus, name: str) -> None:
    assert charging_profile_status(status) == name
    validator_for("1.6").validate_result("SetChargingProfile", {"status": name})


@pytest.mark.parametrize(("status", "name"), [
    (ClearChargingProfileStatus.ACCEPTED, "Accepted"),
    (ClearChargingProfileStatus.UNKNOWN, "Unknown"),
])
def test_clear_charging_profile_statuses(status: ClearChargingProfileStatus, name: str) -> None:
    assert clear_charging_profile_status(status) == name
    validator_for("1.6").validate_result("ClearChargingProfile", {"status": name})


def composite_payload(result: CompositeSchedule) -> dict[str, Any]:
    """What goes on the wire, made the way the RPC layer makes it."""
    payload = RpcSession._payload_of(encode_composite_schedule(result))
    validator_for("1.6").validate_result("GetCompositeSchedule", payload)
    return payload


def test_an_accepted_composite_schedule_is_written_as_get_composite_schedule_says() -> None:
    schedule = ChargingSchedule(
        ChargingRateUnit.WATTS,
        (ChargingSchedulePeriod(0, 11_000.0), ChargingSchedulePeriod(600, 2_300.0, 1)),
        duration=3600, start_schedule=MONDAY + 0.5)
    assert composite_payload(CompositeSchedule(CompositeScheduleStatus.ACCEPTED, 2, schedule)) \
        == {
            "status": "Accepted",
            "connectorId": 2,
            "scheduleStart": "2026-01-05T00:00:00.500Z",
            "chargingSchedule": {
                "duration": 3600,
                "startSchedule": "2026-01-05T00:00:00.500Z",
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 11_000.0},
                    {"startPeriod": 600, "limit": 2_300.0, "numberPhases": 1},
                ],
            },
        }


def test_a_rejected_composite_schedule_is_the_status_alone() -> None:
    assert composite_payload(CompositeSchedule(CompositeScheduleStatus.REJECTED, 3)) == {
        "status": "Rejected"}


# --- the configuration key -----------------------------------------------------------------------


def test_the_allowed_rate_unit_key_reads_and_writes_ocpp_names() -> None:
    assert allowed_rate_units_key(frozenset(ChargingRateUnit)) == "Current,Power"
    assert allowed_rate_units_key(frozenset({ChargingRateUnit.WATTS})) == "Power"
    assert parse_allowed_rate_units(" power ") == {ChargingRateUnit.WATTS}
    with pytest.raises(ValueError, match="not Current or Power"):
        parse_allowed_rate_units("Current,Volts")
