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


@pytest.mark.parametrize(("change", "error"), [
    ({"chargingProfilePurpose": "ChargingStationExternalConstraints"}, codec.ProfileUnsupported),
    ({"chargingSchedule": [PROFILE["chargingSchedule"][0]] * 2}, codec.ProfileUnsupported),
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
    again = codec.decode_charging_profile(codec.encode_charging_profile(profile))
    assert again == profile
