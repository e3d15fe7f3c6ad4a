"""The 2.0.1 charging profile codec: what it reads comes back as it was written, and whatever a
schema-valid (or invalid) chargingProfile holds, it either reads it or says why it cannot, with
its own two errors and never another exception."""

from __future__ import annotations

import json
import os
from typing import Any

import ocpp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pievse.core.charging_profiles import ChargingProfilePurpose
from pievse.protocol.common.profile_fields import ProfileFormatError
from pievse.protocol.v201.codec import charging_profiles as codec
from tests.test_frame_fuzz import ANY_JSON, from_schema

PROFILE = {
    "id": 3, "stackLevel": 2, "chargingProfilePurpose": "TxProfile",
    "chargingProfileKind": "Recurring", "recurrencyKind": "Daily", "transactionId": "tx-1",
    "validFrom": "2030-01-01T00:00:00Z", "validTo": "2031-01-01T00:00:00Z",
    "chargingSchedule": [{"id": 9, "startSchedule": "2030-01-01T18:00:00Z", "duration": 3600,
                          "chargingRateUnit": "W", "minChargingRate": 1400.0,
                          "chargingSchedulePeriod": [
                              {"startPeriod": 0, "limit": 11000.0, "numberPhases": 3},
                              {"startPeriod": 1800, "limit": 4140.0, "numberPhases": 1}]}],
}


def _profile_schema() -> dict[str, Any]:
    path = os.path.join(os.path.dirname(ocpp.__file__), "v201", "schemas",
                        "SetChargingProfileRequest.json")
    with open(path, encoding="utf-8-sig") as file:
        schema = json.load(file)
    definitions = schema["definitions"]

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    return inline(definitions["ChargingProfileType"])


def test_a_profile_reads_into_the_core_and_writes_back_as_it_came() -> None:
    profile = codec.decode_charging_profile(PROFILE)
    assert profile.purpose is ChargingProfilePurpose.TX_PROFILE
    assert profile.transaction_id == "tx-1" and profile.schedule.schedule_id == 9
    assert codec.encode_charging_profile(profile) == PROFILE


def test_up_to_three_schedules_are_kept_and_the_first_is_in_force() -> None:
    first = PROFILE["chargingSchedule"][0]
    body = {**PROFILE, "chargingSchedule": [
        first, {**first, "id": 10, "chargingRateUnit": "A"},
        {"id": 11, "chargingRateUnit": "A", "startSchedule": "2030-01-02T00:00:00Z",
         "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0}]}]}
    profile = codec.decode_charging_profile(body)
    assert profile.schedule.schedule_id == 9
    assert [s.schedule_id for s in profile.schedules] == [9, 10, 11]
    assert codec.encode_charging_profile(profile) == body


@pytest.mark.parametrize(("change", "error"), [
    ({"chargingProfilePurpose": "ChargingStationExternalConstraints"}, codec.ProfileUnsupported),
    # Two schedules with one id: the car could not name the one it chose.
    ({"chargingSchedule": [PROFILE["chargingSchedule"][0]] * 2}, ProfileFormatError),
    ({"chargingSchedule": [{**PROFILE["chargingSchedule"][0], "id": n} for n in range(4)]},
     ProfileFormatError),
    ({"chargingSchedule": [PROFILE["chargingSchedule"][0],
                           {**PROFILE["chargingSchedule"][0], "id": 10, "chargingSchedulePeriod": [
                               {"startPeriod": 0, "limit": 6.0, "phaseToUse": 1}]}]},
     codec.ProfileUnsupported),
    ({"chargingSchedule": []}, ProfileFormatError),
    ({"stackLevel": 2**40}, ProfileFormatError),
    ({"validFrom": "2030-13-45T00:00:00Z"}, ProfileFormatError),
    ({"transactionId": "x" * 37}, ProfileFormatError),
    # Found by the fuzzer: the periods a number, not a list.
    ({"chargingSchedule": [{**PROFILE["chargingSchedule"][0], "chargingSchedulePeriod": 1}]},
     ProfileFormatError),
])
def test_what_it_cannot_take_is_named(change: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        codec.decode_charging_profile({**PROFILE, **change})


@settings(max_examples=200, deadline=None)
@given(st.one_of(from_schema(_profile_schema()),
                 st.dictionaries(st.sampled_from(sorted(PROFILE)), ANY_JSON)))
def test_any_profile_is_read_or_refused_with_the_codecs_own_errors(data: Any) -> None:
    try:
        profile = codec.decode_charging_profile(data)
    except (ProfileFormatError, codec.ProfileUnsupported):
        return
    assert 1 <= len(profile.schedules) <= codec.MAX_SCHEDULES
    assert len({s.schedule_id for s in profile.schedules}) == len(profile.schedules)
    again = codec.decode_charging_profile(codec.encode_charging_profile(profile))
    assert again == profile


#: A schedule the codec reads: an id, a unit and periods from 0 on, some optional fields.
GOOD_SCHEDULE = st.fixed_dictionaries({
    "id": st.integers(0, 2**31 - 1),
    "chargingRateUnit": st.sampled_from(["A", "W"]),
    "chargingSchedulePeriod": st.lists(st.integers(1, 86_400), max_size=4, unique=True).flatmap(
        lambda starts: st.tuples(*[st.floats(0, 1e6, allow_nan=False) for _ in range(
            len(starts) + 1)]).map(lambda limits: [
                {"startPeriod": start, "limit": limit}
                for start, limit in zip([0, *sorted(starts)], limits, strict=True)])),
}, optional={"duration": st.integers(1, 86_400), "minChargingRate": st.floats(0, 1e4)})
#: One to three schedules with distinct ids, well formed or drawn from the schema (which the
#: fuzzer above seldom makes more than one of that the codec reads).
SCHEDULES = st.lists(st.one_of(GOOD_SCHEDULE, from_schema(
    _profile_schema()["properties"]["chargingSchedule"]["items"])),
    min_size=1, max_size=3, unique_by=lambda s: repr(s.get("id") if isinstance(s, dict) else s))


@settings(max_examples=100, deadline=None)
@given(SCHEDULES)
def test_one_to_three_schedules_read_and_write_back_in_order(schedules: list[Any]) -> None:
    try:
        profile = codec.decode_charging_profile({**PROFILE, "chargingSchedule": schedules})
    except (ProfileFormatError, codec.ProfileUnsupported):
        return
    assert [s.schedule_id for s in profile.schedules] == [s["id"] for s in schedules]
    # The written form, not the profile: times are written to the millisecond, and the schema
    # draws microseconds.
    written = codec.encode_charging_profile(profile)
    assert codec.encode_charging_profile(codec.decode_charging_profile(written)) == written
