"""A fuzzer for the frames a CSMS sends: CALLs for every action the station routes, with payloads
shaped by the official schemas of the version spoken (1.6 and 2.0.1) but filled with hostile
values (numbers past 64 bits or past
finite, NaN and Infinity, date-times at and past the years 1 and 9999, strings past their length,
nesting far past any message), plus frames that are not CALLs at all.

Whatever arrives, the station answers it, with a CALLRESULT or a CALLERROR carrying a code of its
version;
the link stays up and the daemon keeps running. The CSMS and a daemon with simulated drivers run
on an event loop of their own thread, talking over a real websocket on 127.0.0.1, so that
hypothesis drives them from a plain test; the examples are bounded to run in CI.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

import ocpp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pievse.app.daemon import Daemon, ExitReason
from pievse.csms.server import CentralSystem
from tests.conftest import station_config
from tests.test_api_fuzz import LoopThread
from tests.test_ocpp16_robustness import OCPP16_ERROR_CODES

#: Per version: the schema folder, the ending of a request's schema file, the CALLERROR codes.
VERSIONS = {
    "1.6": (os.path.join(os.path.dirname(ocpp.__file__), "v16", "schemas"), ".json",
            OCPP16_ERROR_CODES),
    "2.0.1": (os.path.join(os.path.dirname(ocpp.__file__), "v201", "schemas"), "Request.json",
              {"FormatViolation", "GenericError", "InternalError", "MessageTypeNotSupported",
               "NotImplemented", "NotSupported", "OccurrenceConstraintViolation",
               "PropertyConstraintViolation", "ProtocolError", "RpcFrameworkError",
               "SecurityError", "TypeConstraintViolation"}),
}

# What a CALL may do that ends the link or the daemon by design: a Reset restarts the station,
# a ChangeConfiguration of the security keys reconnects with them (so only other keys are sent).
SKIPPED = {"Reset"}
ORDINARY_KEYS = ["HeartbeatInterval", "MeterValueSampleInterval", "ClockAlignedDataInterval",
                 "ConnectionTimeOut", "MeterValuesSampledData", "LocalAuthListEnabled",
                 "WebSocketPingInterval", "TransactionMessageAttempts", "StopTxnSampledData",
                 "ResetRetries", "NoSuchKey"]

# --- what is sent ---------------------------------------------------------------------------------

# Lone surrogates too: JSON escapes them, and the reader refuses them as no text.
TEXT = st.text(st.characters(exclude_categories=()), max_size=30)
HUGE_INTEGERS = st.sampled_from([2**63 - 1, -(2**63), 2**63, 10**400, -(10**400)])
INTEGERS = st.one_of(st.integers(-3, 3), st.integers(-(2**70), 2**70), HUGE_INTEGERS)
NUMBERS = st.one_of(INTEGERS, st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([1.7e308, -1.7e308, 5e-324, 21.4]))
DATE_TIMES = st.one_of(
    st.sampled_from(["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00",
                     "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-23:59",
                     "9999-12-31T23:59:59.9999999Z", "2030-02-30T00:00:00Z",
                     "2030-01-01T00:00:60Z", "1970-01-01T00:00:00Z", "2030-01-01"]),
    st.datetimes(timezones=st.just(None)).map(lambda when: when.isoformat() + "Z"),
)
SCALARS = st.none() | st.booleans() | INTEGERS | NUMBERS | TEXT
ANY_JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8)


def _strings(schema: dict[str, Any]) -> st.SearchStrategy:
    if "enum" in schema:
        return st.sampled_from(schema["enum"]) | TEXT
    if schema.get("format") == "date-time":
        return DATE_TIMES
    longest = schema.get("maxLength", 50)
    return st.one_of(TEXT, st.integers(0, longest + 2).map(lambda n: "x" * n))


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy:
    """Values shaped by ``schema`` nine times in ten, anything JSON (or too deep) else."""
    kind = schema.get("type")
    if kind == "object":
        properties = {name: from_schema(sub) for name, sub in schema.get("properties", {}).items()}
        required = set(schema.get("required", ()))
        shaped: st.SearchStrategy = st.fixed_dictionaries(
            {name: value for name, value in properties.items() if name in required},
            optional={name: value for name, value in properties.items()
                      if name not in required})
    elif kind == "array":
        shaped = st.lists(from_schema(schema.get("items", {})), max_size=3)
    elif kind == "integer":
        shaped = INTEGERS
    elif kind == "number":
        shaped = NUMBERS
    elif kind == "string":
        shaped = _strings(schema)
    elif kind == "boolean":
        shaped = st.booleans()
    else:
        shaped = ANY_JSON
    hostile = ANY_JSON | st.integers(40, 1500).map(_nested)
    return st.integers(0, 9).flatmap(lambda pick: hostile if pick == 0 else shaped)


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def _schema(version: str, action: str) -> dict[str, Any]:
    folder, ending, _ = VERSIONS[version]
    with open(os.path.join(folder, f"{action}{ending}"), encoding="utf-8-sig") as file:
        return json.load(file)


def _encode(frame: Any) -> str:
    # Python writes NaN and Infinity as the literals a careless CSMS sends; nesting too deep for
    # json.dumps is written by hand.
    try:
        return json.dumps(frame, allow_nan=True)
    except (RecursionError, ValueError):
        return json.dumps(frame[:3])[:-1] + "," + "[" * 1500 + "]" * 1500 + "]"


def calls(version: str, actions: list[str]) -> st.SearchStrategy[str]:
    def call(action: str) -> st.SearchStrategy[str]:
        payloads = from_schema(_schema(version, action))
        if action == "ChangeConfiguration":
            payloads = st.fixed_dictionaries({
                "key": st.sampled_from(ORDINARY_KEYS),
                "value": st.one_of(TEXT, INTEGERS.map(str), NUMBERS.map(str))})
        return st.builds(lambda payload, n: _encode([2, f"fz-{n}", action, payload]),
                         payloads, st.integers(0, 10**6))

    garbage = st.one_of(
        st.builds(lambda value: _encode([2, "fz-raw", "Heartbeat", value]), ANY_JSON),
        st.sampled_from([
            '[2,"fz-n","UnlockConnector",{"connectorId":' + "9" * 5000 + "}]",
            '[2,"fz-d","DataTransfer",' + "[" * 3000 + "]" * 3000 + "]",
            '[2,"fz-i","ClearCache",{"x":Infinity}]', '[2,"fz-s"', "[2]", "[]", "null",
        ]),
    )
    return st.integers(0, 9).flatmap(
        lambda pick: garbage if pick == 0 else st.sampled_from(actions).flatmap(call))


# --- the station on its own thread ----------------------------------------------------------------


class Rig:
    """A bench CSMS and a daemon with simulated drivers on one event loop of their own."""

    def __init__(self, loop: LoopThread, version: str) -> None:
        self.loop = loop
        self.version = version
        self.csms = CentralSystem(host="127.0.0.1", port=0, heartbeat_interval=300)
        loop.run(self.csms.start())
        self.daemon = Daemon(station_config(self.csms.url, "CP1", ocpp={"version": version}))
        self.task = loop.run(self._start())
        self.actions = sorted(action for action in self.daemon.protocol.routes
                              if action not in SKIPPED)

    async def _start(self) -> asyncio.Task:
        task = asyncio.create_task(self.daemon.run())
        await asyncio.wait_for(self.daemon.started.wait(), 10)
        for _ in range(1000):
            if self.daemon.protocol.registered:
                break
            await asyncio.sleep(0.01)
        return task

    def send(self, frame: str) -> str | None:
        return self.loop.run(self.csms.send_raw("CP1", frame, timeout=10), timeout=30)

    def close(self) -> None:
        async def stop() -> None:
            self.daemon.stop()
            await asyncio.wait_for(self.task, 10)
            await self.csms.stop()

        self.loop.run(stop())


def running_rig(version: str) -> Iterator[Rig]:
    """A station of ``version`` on a loop of its own, for a module's fuzzers (a fixture body)."""
    loop = LoopThread()
    station = Rig(loop, version)
    yield station
    station.close()
    loop.close()


@pytest.fixture(scope="module", params=sorted(VERSIONS))
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    yield from running_rig(request.param)


def actions(version: str) -> list[str]:
    """Every request the version defines, by its schema files."""
    folder, ending, _ = VERSIONS[version]
    return sorted(name[: -len(ending)] for name in os.listdir(folder)
                  if name.endswith(ending) and not name.endswith("Response.json"))


FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


def test_the_rig_routes_the_actions_the_fuzzer_sends(rig):
    expected = ({"SetChargingProfile", "SendLocalList", "ReserveNow", "RemoteStartTransaction"}
                if rig.version == "1.6" else
                {"GetVariables", "SetVariables", "GetBaseReport", "RequestStartTransaction",
                 "SetChargingProfile", "ClearChargingProfile", "GetChargingProfiles",
                 "GetCompositeSchedule"})
    assert expected <= set(rig.actions)
    assert set(rig.actions) <= set(actions(rig.version))


@FUZZ
@given(st.data())
def test_any_call_is_answered_in_its_version_and_the_link_and_daemon_stay(rig, data):
    frame = data.draw(calls(rig.version, rig.actions))
    answer = rig.send(frame)
    assert answer is not None, f"no answer to {frame[:300]}"
    message = json.loads(answer)
    assert message[0] in (3, 4), answer[:300]
    if message[0] == 4:
        assert message[2] in VERSIONS[rig.version][2], answer[:300]
    assert rig.csms.connected("CP1"), f"the link closed after {frame[:300]}"
    assert not rig.task.done(), f"the daemon ended after {frame[:300]}"
    assert rig.daemon.exit_reason is ExitReason.STOPPED
