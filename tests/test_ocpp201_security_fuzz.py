"""A fuzzer for the new 2.0.1 security surfaces: the certificate payloads (InstallCertificate,
DeleteCertificate, CertificateSigned, GetInstalledCertificateIds) and the network profile
(SetNetworkProfile).

A frame that breaks the schema gets the CALLERROR its break calls for (a required field missing:
OccurrenceConstraintViolation; a value of the wrong JSON type: TypeConstraintViolation; a value
outside its enumeration or past its length: PropertyConstraintViolation; a field the message
does not have: FormatViolation); a frame that fits the schema but says nonsense (text where a
certificate belongs, hash data of no certificate, a slot or version the station does not take)
is answered Rejected or NotFound. Either way nothing changes: the certificate store, the network
profiles and the security state are as they were, and the link stays up. A daemon with
simulated drivers and the bench CSMS run on an event loop of their own thread, over a real
websocket; the examples are bounded to run in CI.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_frame_fuzz import Rig, running_rig

NETWORK = {"configurationSlot": 1, "connectionData": {
    "ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": "ws://127.0.0.1:9/ocpp",
    "messageTimeout": 30, "securityProfile": 0, "ocppInterface": "Wired0"}}
HASH = {"hashAlgorithm": "SHA256", "issuerNameHash": "ab" * 32, "issuerKeyHash": "cd" * 32,
        "serialNumber": "1f"}

#: Per action: a payload that fits the schema, and where it can be broken: (path, kind of field,
#: its maxLength, its enumeration, required?).
SURFACES: dict[str, tuple[dict[str, Any], list[tuple[tuple, str, int | None, tuple, bool]]]] = {
    "InstallCertificate": (
        {"certificateType": "CSMSRootCertificate", "certificate": "not a certificate"},
        [(("certificateType",), "string", None, ("CSMSRootCertificate",), True),
         (("certificate",), "string", 5500, (), True)]),
    "DeleteCertificate": (
        {"certificateHashData": HASH},
        [(("certificateHashData",), "object", None, (), True),
         (("certificateHashData", "hashAlgorithm"), "string", None, ("SHA256",), True),
         (("certificateHashData", "issuerNameHash"), "string", 128, (), True),
         (("certificateHashData", "serialNumber"), "string", 40, (), True)]),
    "CertificateSigned": (
        {"certificateChain": "not a chain", "certificateType": "ChargingStationCertificate"},
        [(("certificateChain",), "string", 10000, (), True),
         (("certificateType",), "string", None, ("V2GCertificate",), False)]),
    "GetInstalledCertificateIds": (
        {"certificateType": ["CSMSRootCertificate"]},
        [(("certificateType",), "array", None, (), False)]),
    "SetNetworkProfile": (
        NETWORK,
        [(("configurationSlot",), "integer", None, (), True),
         (("connectionData",), "object", None, (), True),
         (("connectionData", "ocppVersion"), "string", None, ("OCPP20",), True),
         (("connectionData", "ocppTransport"), "string", None, ("JSON",), True),
         (("connectionData", "ocppCsmsUrl"), "string", 512, (), True),
         (("connectionData", "messageTimeout"), "integer", None, (), True),
         (("connectionData", "securityProfile"), "integer", None, (), True),
         (("connectionData", "ocppInterface"), "string", None, ("Wired0",), True)]),
}

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
#: Integers the RPC layer holds: one past 64 bits is refused before the schema is read
#: (PropertyConstraintViolation, fuzzed in test_frame_fuzz), which is not the break looked at here.
INTEGERS = st.integers(-(2**63), 2**63 - 1)
#: Values of another JSON type than the field's (no floats: 1.0 may pass as an integer).
WRONG = {
    "string": st.one_of(INTEGERS, st.booleans(), st.none(), st.lists(TEXT, max_size=2),
                        st.dictionaries(TEXT, TEXT, max_size=2)),
    "integer": st.one_of(TEXT, st.none(), st.lists(INTEGERS, max_size=2),
                         st.dictionaries(TEXT, INTEGERS, max_size=2)),
    "object": st.one_of(TEXT, INTEGERS, st.none(), st.lists(INTEGERS, max_size=2)),
    "array": st.one_of(TEXT, INTEGERS, st.none(), st.dictionaries(TEXT, TEXT, max_size=2)),
}


def _at(payload: dict[str, Any], path: tuple) -> tuple[dict[str, Any], str]:
    for key in path[:-1]:
        payload = payload[key]
    return payload, path[-1]


@st.composite
def broken(draw: Any) -> tuple[str, str, str]:
    """(action, frame, the CALLERROR code it must get)."""
    action = draw(st.sampled_from(sorted(SURFACES)))
    base, fields = SURFACES[action]
    path, kind, longest, enum, required = draw(st.sampled_from(fields))
    ways = ["type", "extra"] + ["drop"] * required + ["enum"] * bool(enum) \
        + ["long"] * bool(longest)
    way = draw(st.sampled_from(ways))
    payload = copy.deepcopy(base)
    parent, name = _at(payload, path)
    if way == "drop":
        del parent[name]
        code = "OccurrenceConstraintViolation"
    elif way == "type":
        parent[name] = draw(WRONG[kind])
        code = "TypeConstraintViolation"
    elif way == "enum":
        parent[name] = draw(TEXT.filter(lambda text: text not in enum))
        code = "PropertyConstraintViolation"
    elif way == "long":
        assert longest is not None
        parent[name] = "x" * (longest + draw(st.integers(1, 100)))
        code = "PropertyConstraintViolation"
    else:
        target = parent[name] if kind == "object" else parent
        target[draw(st.sampled_from(["extra", "password", "basicAuthPassword"]))] = draw(TEXT)
        code = "FormatViolation"
    return action, json.dumps([2, f"sec-{draw(st.integers(0, 10**6))}", action, payload]), code


@st.composite
def nonsense(draw: Any) -> tuple[str, str, set[str]]:
    """(action, frame that fits the schema, the statuses it may get)."""
    action = draw(st.sampled_from(["InstallCertificate", "DeleteCertificate",
                                   "CertificateSigned", "SetNetworkProfile"]))
    hex_text = st.text("0123456789abcdef", min_size=1, max_size=40)
    if action == "InstallCertificate":
        payload = {"certificateType": draw(st.sampled_from(
            ["CSMSRootCertificate", "ManufacturerRootCertificate", "V2GRootCertificate",
             "MORootCertificate"])), "certificate": draw(TEXT)}
        statuses = {"Rejected"}
    elif action == "DeleteCertificate":
        payload = {"certificateHashData": {
            "hashAlgorithm": draw(st.sampled_from(["SHA256", "SHA384", "SHA512"])),
            "issuerNameHash": draw(hex_text), "issuerKeyHash": draw(hex_text),
            "serialNumber": draw(hex_text)}}
        statuses = {"NotFound"}
    elif action == "CertificateSigned":
        payload = {"certificateChain": draw(TEXT), "certificateType": draw(st.sampled_from(
            ["ChargingStationCertificate", "V2GCertificate"]))}
        statuses = {"Rejected"}
    else:
        payload = copy.deepcopy(NETWORK)
        data = payload["connectionData"]
        change = draw(st.sampled_from(["slot", "version", "transport", "url", "profile"]))
        if change == "slot":
            payload["configurationSlot"] = draw(st.one_of(st.integers(-(2**63), 0),
                                                          st.integers(4, 2**63 - 1)))
        elif change == "version":
            data["ocppVersion"] = draw(st.sampled_from(["OCPP12", "OCPP15", "OCPP16"]))
        elif change == "transport":
            data["ocppTransport"] = "SOAP"
        elif change == "url":
            data["ocppCsmsUrl"] = draw(TEXT.filter(lambda t: not t.startswith("ws")))
        else:
            data["securityProfile"] = draw(st.one_of(st.integers(-(2**63), -1),
                                                     st.integers(1, 2**63 - 1)))
        statuses = {"Rejected"}
    return action, json.dumps([2, f"sec-{draw(st.integers(0, 10**6))}", action, payload]), \
        statuses


def _state(rig: Rig) -> tuple[Any, ...]:
    """Everything the frames could change: the certificate folder's files and contents, the
    network profiles, the security profile and password."""
    security = rig.daemon.security
    files = sorted((str(path.relative_to(security.directory)),
                    hashlib.sha256(path.read_bytes()).hexdigest())
                   for path in security.directory.rglob("*") if path.is_file()
                   and path.name != "security.json")
    return (files, security.network_profiles.as_json(), int(security.state.profile),
            security.state.authorization_key)


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    yield from running_rig("2.0.1")


FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


@FUZZ
@given(broken())
def test_a_frame_that_breaks_the_schema_gets_its_callerror_and_changes_nothing(rig, case):
    action, frame, code = case
    before = _state(rig)
    answer = rig.send(frame)
    assert answer is not None, f"no answer to {frame[:300]}"
    message = json.loads(answer)
    assert message[0] == 4 and message[2] == code, (frame[:300], answer[:300])
    assert _state(rig) == before
    assert rig.csms.connected("CP1") and not rig.task.done()


@FUZZ
@given(nonsense())
def test_a_frame_that_fits_the_schema_but_says_nonsense_is_refused_and_changes_nothing(
        rig, case):
    action, frame, statuses = case
    before = _state(rig)
    answer = rig.send(frame)
    assert answer is not None, f"no answer to {frame[:300]}"
    message = json.loads(answer)
    assert message[0] == 3 and message[2]["status"] in statuses, (frame[:300], answer[:300])
    assert _state(rig) == before
    assert rig.csms.connected("CP1") and not rig.task.done()
