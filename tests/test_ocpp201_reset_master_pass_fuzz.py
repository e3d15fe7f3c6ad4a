"""A fuzzer for the two inputs a Reset of one EVSE and the master pass add (2.0.1): any evseId
the schema allows (any integer) and any MasterPassGroupId a SetVariables may carry. An EVSE the
station lacks is Rejected and restarts nothing; a group longer than an idToken is Rejected, any
other value is taken as it is (empty: no master pass).

The bench CSMS and a daemon on 2.0.1 run on an event loop of their own thread over a real
websocket, as in ``test_frame_fuzz``; the examples are bounded to run in CI.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_frame_fuzz import Rig, running_rig

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    yield from running_rig("2.0.1")


def _call(rig: Rig, action: str, payload: dict, n: int) -> dict:
    answer = rig.send(json.dumps([2, f"fz-{n}", action, payload]))
    assert answer is not None
    message = json.loads(answer)
    assert message[0] == 3, answer[:300]
    return message[2]


@FUZZ
@given(st.integers(-(2**31), 2**31 - 1), st.sampled_from(["Immediate", "OnIdle"]),
       st.integers(0, 10**6))
def test_a_reset_of_any_evse_id_answers_and_restarts_nothing(
        rig: Rig, evse_id: int, kind: str, n: int) -> None:
    answer = _call(rig, "Reset", {"type": kind, "evseId": evse_id}, n)
    assert answer["status"] == ("Accepted" if evse_id == 1 else "Rejected")
    assert not rig.task.done() and rig.csms.connected("CP1")


@FUZZ
@given(st.text(max_size=60), st.integers(0, 10**6))
def test_any_master_pass_group_id_is_taken_or_rejected_as_its_length_says(
        rig: Rig, value: str, n: int) -> None:
    async def setting() -> str | None:
        return rig.daemon.station.settings.master_pass_group_id

    before = rig.loop.run(setting())
    answer = _call(rig, "SetVariables", {"setVariableData": [{
        "component": {"name": "AuthCtrlr"}, "variable": {"name": "MasterPassGroupId"},
        "attributeValue": value}]}, n)
    [result] = answer["setVariableResult"]
    if len(value) > 36:
        assert result["attributeStatus"] == "Rejected"
        assert rig.loop.run(setting()) == before
    else:
        assert result["attributeStatus"] == "Accepted", result
        assert rig.loop.run(setting()) == (value or None)
