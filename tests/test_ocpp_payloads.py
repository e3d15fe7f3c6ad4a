"""Payload keys and frames written by pievse's RPC layer are the ones the ``ocpp`` package
writes: checked against the package's own functions, on every field name of the official 1.6
and 2.0.1 schemas and on arbitrary names, so that the two cannot drift apart."""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path
from typing import Any

import ocpp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ocpp import messages
from ocpp.charge_point import camel_to_snake_case as ocpp_camel_to_snake
from ocpp.charge_point import remove_nones as ocpp_remove_nones
from ocpp.charge_point import serialize_as_dict
from ocpp.charge_point import snake_to_camel_case as ocpp_snake_to_camel
from ocpp.v16 import call, call_result, datatypes

from pievse.protocol.common.frames import Call, CallError, CallResult, read_frame
from pievse.protocol.common.payloads import (
    camel_to_snake_case,
    payload_of,
    remove_nones,
    snake_to_camel_case,
)

SCHEMAS = Path(ocpp.__file__).parent


def _property_names(schema: Any, found: set[str]) -> set[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                found.update(value)
            _property_names(value, found)
    elif isinstance(schema, list):
        for value in schema:
            _property_names(value, found)
    return found


def field_names(version: str) -> list[str]:
    names: set[str] = set()
    for path in (SCHEMAS / version / "schemas").glob("*.json"):
        _property_names(json.loads(path.read_text(encoding="utf-8-sig")), names)
    return sorted(names)


def dataclass_fields(version: str) -> list[str]:
    names: set[str] = set()
    for module in ("call", "call_result", "datatypes"):
        for value in vars(importlib.import_module(f"ocpp.{version}.{module}")).values():
            if dataclasses.is_dataclass(value):
                names.update(field.name for field in dataclasses.fields(value))
    return sorted(names)


@pytest.mark.parametrize("version", ["v16", "v201"])
def test_every_field_name_of_the_schemas_converts_as_the_ocpp_package_converts_it(
        version: str) -> None:
    names = field_names(version)
    assert len(names) > 90  # the schemas were found
    wire = {name: index for index, name in enumerate(names)}
    snake = camel_to_snake_case(wire)
    assert snake == ocpp_camel_to_snake(wire)
    assert snake_to_camel_case(snake) == ocpp_snake_to_camel(snake) == wire


@pytest.mark.parametrize("version", ["v16", "v201"])
def test_every_dataclass_field_reaches_the_wire_under_its_schema_name(version: str) -> None:
    fields = {name: None for name in dataclass_fields(version)}
    assert snake_to_camel_case(fields) == ocpp_snake_to_camel(fields)
    assert set(snake_to_camel_case(fields)) <= set(field_names(version))


def test_the_spec_spells_some_words_its_own_way() -> None:
    assert snake_to_camel_case({"full_soc": 1, "responder_url": 2, "ocpp_csms_url": 3,
                                "csms_root_certificate": 4, "ev_max_v2x_power": 5,
                                "connector_socket": 6}) == {
        "fullSoC": 1, "responderURL": 2, "ocppCsmsUrl": 3, "CSMSRootCertificate": 4,
        "evMaxV2XPower": 5, "connectorSocket": 6}
    assert camel_to_snake_case({"ocppCSMSURL": 1, "bulkSoC": 2, "maxV2GPower": 3}) == {
        "ocpp_csms_url": 1, "bulk_soc": 2, "max_v2g_power": 3}


# Letters and pieces that the special cases are made of, so that examples hit them often.
_PIECES = st.lists(st.sampled_from([
    "soc", "SoC", "socket", "Socket", "_", "v2x", "V2X", "v2g", "V2G", "csms", "CSMS", "url",
    "URL", "ocpp", "ocppCSMSURL", "limit", "Reached", "id", "Tag", "a", "B", "C", "x", "0", "9",
    " ", "\n", "é",
]), max_size=8).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_PIECES, st.text(max_size=12)))
def test_any_key_converts_as_the_ocpp_package_converts_it(key: str) -> None:
    nested = {key: [{key: {key: 1}}, None, 2]}
    assert camel_to_snake_case(nested) == ocpp_camel_to_snake(nested)
    assert snake_to_camel_case(nested) == ocpp_snake_to_camel(nested)


def test_a_dataclass_becomes_its_payload_without_the_fields_left_out() -> None:
    request = call.StartTransaction(connector_id=1, id_tag="04A1B2C3", meter_start=0,
                                    timestamp="2024-05-01T12:00:00Z")
    answer = call_result.StartTransaction(
        transaction_id=7, id_tag_info=datatypes.IdTagInfo(status="Accepted"))
    for message in (request, answer):
        expected = ocpp_snake_to_camel(ocpp_remove_nones(serialize_as_dict(message)))
        assert payload_of(message) == expected
    assert payload_of(answer) == {"transactionId": 7, "idTagInfo": {"status": "Accepted"}}
    assert payload_of({"id_tag": "A", "parent_id_tag": None}) == {"idTag": "A"}
    assert remove_nones({"a": [None, {"b": None, "c": 1}]}) == {"a": [{"c": 1}]}


@pytest.mark.parametrize("payload", [
    {}, {"idTag": "04A1B2C3", "connectorId": 1}, {"text": "Grüße ☃", "limit": 21.4},
    {"list": [1, 2.5, None, True, {"deep": [[]]}]},
])
def test_frames_are_written_as_the_ocpp_package_writes_them(payload: dict[str, Any]) -> None:
    assert Call("id-1", "DataTransfer", payload).to_json() == messages.Call(
        "id-1", "DataTransfer", payload).to_json()
    assert CallResult("id-2", payload).to_json() == messages.CallResult(
        "id-2", payload).to_json()
    assert CallError("id-3", "FormationViolation", "bad ☃", payload).to_json() == (
        messages.CallError("id-3", "FormationViolation", "bad ☃", payload).to_json())


def test_a_written_frame_reads_back_as_the_same_frame() -> None:
    frame = read_frame(Call("u1", "Heartbeat", {}).to_json())
    assert (frame.message_type, frame.unique_id, frame.action, frame.payload, frame.fault) == (
        2, "u1", "Heartbeat", {}, None)
    error = read_frame(CallError("u2", "InternalError", "why", {"a": 1}).to_json())
    assert error.well_formed and error.payload == {
        "errorCode": "InternalError", "errorDescription": "why", "errorDetails": {"a": 1}}
