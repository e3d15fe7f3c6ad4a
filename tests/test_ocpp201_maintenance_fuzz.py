"""A fuzzer for the payloads of UpdateFirmware, GetLog and CustomerInformation (2.0.1): each
example is a complete, valid request with exactly one thing wrong, drawn from the official
schema (a required field left out, a field of the wrong JSON type, a field the schema does not
have, a string past its length, a word outside its enumeration, a date-time that is none). The
station must answer with the CALLERROR code 2.0.1 names for that fault, and change nothing: no
update starts, no upload, no report, no cache entry or session forgotten.

The bench CSMS and a daemon on 2.0.1 (with its store on disk, a firmware updater, a log
uploader) run on an event loop of their own thread over a real websocket, as in
``test_frame_fuzz``; the examples are bounded to run in CI.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ocpp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pievse.app.daemon import Daemon
from pievse.core.authorization import AuthorizationResult, AuthorizationStatus, IdToken
from pievse.core.authorization import IdTokenType
from pievse.csms.server import CentralSystem
from pievse.protocol.common.schemas import SchemaValidator
from tests.conftest import station_config
from tests.test_api_fuzz import LoopThread
from tests.test_frame_fuzz import Rig as FrameRig

SCHEMAS = os.path.join(os.path.dirname(ocpp.__file__), "v201", "schemas")
CARD = {"idToken": "04A1B2C3", "type": "ISO14443"}

#: A request of each action with every field the schema has filled in, valid as it stands.
VALID: dict[str, dict[str, Any]] = {
    "UpdateFirmware": {
        "requestId": 1, "retries": 0, "retryInterval": 0,
        "firmware": {"location": "http://127.0.0.1:9/pievse.whl",
                     "retrieveDateTime": "2099-01-01T00:00:00Z",
                     "installDateTime": "2099-01-01T00:00:00Z",
                     "signingCertificate": "-----BEGIN CERTIFICATE-----", "signature": "c2ln"}},
    "GetLog": {
        "logType": "SecurityLog", "requestId": 2, "retries": 0, "retryInterval": 0,
        "log": {"remoteLocation": "http://127.0.0.1:9/up/",
                "oldestTimestamp": "2020-01-01T00:00:00Z",
                "latestTimestamp": "2099-01-01T00:00:00Z"}},
    "CustomerInformation": {
        "requestId": 3, "report": True, "clear": True, "customerIdentifier": "C-42",
        "idToken": {**CARD, "additionalInfo": [{"additionalIdToken": "x", "type": "y"}]},
        "customerCertificate": {"hashAlgorithm": "SHA256", "issuerNameHash": "a",
                                "issuerKeyHash": "b", "serialNumber": "c"}},
}
#: What each kind of fault is answered with (OCPP-J 2.0.1 section 4.3).
CODES = {"missing": "OccurrenceConstraintViolation", "type": "TypeConstraintViolation",
         "extra": "FormatViolation", "property": "PropertyConstraintViolation"}


def _schema(action: str) -> dict[str, Any]:
    with open(os.path.join(SCHEMAS, f"{action}Request.json"), encoding="utf-8-sig") as file:
        return json.load(file)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return _resolve(root["definitions"][ref.rsplit("/", 1)[1]], root) if ref else schema


def _places(value: Any, schema: dict[str, Any], root: dict[str, Any],
            path: tuple = ()) -> Iterator[tuple[tuple, dict[str, Any], dict[str, Any]]]:
    """Every (path, schema, parent object's schema) in ``value``, customData left out."""
    schema = _resolve(schema, root)
    if isinstance(value, dict):
        for name, inner in value.items():
            sub = schema["properties"][name]
            yield path + (name,), _resolve(sub, root), schema
            yield from _places(inner, sub, root, path + (name,))
    elif isinstance(value, list):
        for n, inner in enumerate(value):
            yield from _places(inner, schema["items"], root, path + (n,))


def _at(payload: Any, path: tuple) -> tuple[Any, Any]:
    for key in path[:-1]:
        payload = payload[key]
    return payload, path[-1]


WRONG_TYPES = {"integer": ["7", True, 1.5, None, [1], {}], "string": [7, True, None, ["x"], {}],
               "boolean": ["true", 1, None, []], "object": ["x", 1, [], None],
               "array": ["x", 1, {}, None]}


@st.composite
def bad_requests(draw: st.DrawFn) -> tuple[str, dict[str, Any], str]:
    """(action, payload with one fault, the code it must be answered with)."""
    action = draw(st.sampled_from(sorted(VALID)))
    root = _schema(action)
    payload = copy.deepcopy(VALID[action])
    places = list(_places(payload, root, root))
    kinds = ["missing", "type", "extra", "property"]
    while True:
        kind = draw(st.sampled_from(kinds))
        if kind == "missing":
            candidates = [p for p in places if isinstance(p[0][-1], str)
                          and p[0][-1] in p[2].get("required", ())]
        elif kind == "type":
            candidates = [p for p in places if p[1].get("type") in WRONG_TYPES]
        elif kind == "extra":
            candidates = [((*p[0], "unexpectedField"), p[1], p[1]) for p in places
                          if p[1].get("type") == "object"
                          and p[1].get("additionalProperties") is False]
            candidates.append((("unexpectedField",), root, root))
        else:
            candidates = [p for p in places if p[1].get("type") == "string"
                          and ("maxLength" in p[1] or "enum" in p[1]
                               or p[1].get("format") == "date-time")]
        if candidates:
            break
    path, schema, _ = draw(st.sampled_from(candidates))
    parent, key = _at(payload, path)
    if kind == "missing":
        del parent[key]
    elif kind == "type":
        parent[key] = draw(st.sampled_from(WRONG_TYPES[schema["type"]]))
    elif kind == "extra":
        parent[key] = draw(st.one_of(st.integers(-1000, 1000), st.text(max_size=5)))
    elif "enum" in schema:
        parent[key] = draw(st.text(max_size=12).filter(lambda word: word not in schema["enum"]))
    elif schema.get("format") == "date-time":
        parent[key] = draw(st.sampled_from(["2030-02-30T00:00:00Z", "yesterday", "2030-01-01",
                                            "12:00:00Z", ""]))
    else:
        parent[key] = "x" * (schema["maxLength"] + draw(st.integers(1, 40)))
    return action, payload, CODES[kind]


class Rig(FrameRig):
    """The frame fuzzer's rig on 2.0.1, with its store on disk (so an updater and a log
    uploader); one card is in the cache and one session in the history."""

    def __init__(self, loop: LoopThread, folder: Path) -> None:
        self.loop = loop
        self.version = "2.0.1"
        self.csms = CentralSystem(host="127.0.0.1", port=0, heartbeat_interval=300)
        loop.run(self.csms.start())
        self.daemon = Daemon(station_config(
            self.csms.url, "CP1", ocpp={"version": self.version},
            storage={"path": str(folder / "pievse.sqlite3")},
            # Never the interpreter running the tests, should an update ever start.
            firmware={"python": str(folder / "no-such-python")}))
        self.task = loop.run(self._start())
        loop.run(self._seed())

    async def _seed(self) -> None:
        token = IdToken(CARD["idToken"], IdTokenType.ISO14443)
        self.daemon.dispatch(self.daemon.station.verdict_received(
            token, AuthorizationResult(AuthorizationStatus.ACCEPTED)))
        store = self.daemon.store
        store.transaction_started(900, 1, token, 0.0, 1.0)
        store.transaction_ended(900, ended_at=2.0, meter_stop_wh=10.0, stop_reason="Local")

    def held(self) -> tuple[Any, ...]:
        """What a bad request must leave as it is."""
        return self.loop.run(self._held())

    async def _held(self) -> tuple[Any, ...]:
        daemon = self.daemon
        return (daemon.station.access.cache_entries(),
                [s.id_token for s in daemon.store.sessions()],
                daemon.firmware is not None and daemon.firmware.busy,
                daemon.logs.status,
                [m.action for m in self.csms.messages if m.direction == "in"
                 and m.action in ("FirmwareStatusNotification", "LogStatusNotification",
                                  "NotifyCustomerInformation")])


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    loop = LoopThread()
    station = Rig(loop, tmp_path_factory.mktemp("maintenance-fuzz"))
    yield station
    station.close()
    loop.close()


def test_the_valid_requests_the_fuzzer_starts_from_are_valid(rig: Rig) -> None:
    validator = SchemaValidator("2.0.1")
    for action, payload in VALID.items():
        validator.validate_call(action, payload)
    assert rig.daemon.firmware is not None, "the rig has an updater to keep idle"


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(bad_requests(), st.integers(0, 10**6))
def test_a_request_with_one_fault_gets_its_callerror_and_changes_nothing(
        rig: Rig, bad: tuple[str, dict[str, Any], str], n: int) -> None:
    action, payload, code = bad
    before = rig.held()
    answer = rig.send(json.dumps([2, f"fz-{n}", action, payload]))
    assert answer is not None
    message = json.loads(answer)
    assert message[0] == 4 and message[2] == code, (payload, answer[:300])
    assert rig.csms.connected("CP1")
    assert rig.held() == before, payload
