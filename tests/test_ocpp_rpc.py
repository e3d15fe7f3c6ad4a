"""OCPP-J RPC over a real websocket on 127.0.0.1: CALL, CALLRESULT, CALLERROR in both directions.

Most scenarios put an RpcSession on the charge point end and let the test play a central system
that writes raw frames, so that exactly what goes over the wire is checked. Where both ends are
ours, both are RpcSessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ocpp.exceptions import SecurityError
from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from pievse.aio import FakeClock
from pievse.protocol.common.rpc import (
    CallErrorReceived,
    ConnectionLost,
    InvalidRequest,
    InvalidResponse,
    ResponseTimeout,
    RpcSession,
    route_map,
)
from pievse.protocol.common.errors import SCHEMA_RULES, error_codes
from pievse.protocol.common.schemas import SchemaValidator
from tests.conftest import eventually

WAIT = 10.0  # generous: only a broken implementation ever waits this long
NOW = "2024-05-01T12:00:00Z"


class ChargePointHandler:
    """The charge point end: a few CSMS-initiated actions, some of them deliberately broken."""

    def __init__(self) -> None:
        self.session: RpcSession | None = None
        self.remote_starts: list[tuple[str, int | None]] = []
        self.reset_ids: list[str] = []
        self.heartbeat_answers: list[Any] = []

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(self, id_tag: str, connector_id: int | None = None,
                                    **_: Any) -> call_result.RemoteStartTransaction:
        self.remote_starts.append((id_tag, connector_id))
        return call_result.RemoteStartTransaction(status="Accepted")

    @on(Action.reset)
    async def on_reset(self, type: str, call_unique_id: str) -> call_result.Reset:
        self.reset_ids.append(call_unique_id)
        return call_result.Reset(status="Accepted")

    @on(Action.reserve_now)
    def on_reserve_now(self, **_: Any) -> call_result.ReserveNow:
        return call_result.ReserveNow(status="Accepted")

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, **_: Any) -> call_result.SetChargingProfile:
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.clear_cache)
    def on_clear_cache(self) -> call_result.ClearCache:
        return call_result.ClearCache(status="Accepted")

    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id: int) -> call_result.UnlockConnector:
        raise RuntimeError("the latch motor is stuck")

    @on(Action.change_availability)
    def on_change_availability(self, **_: Any) -> call_result.ChangeAvailability:
        raise SecurityError("not from this CSMS")

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self) -> dict[str, Any]:
        return {"list_version": "seven"}  # a bug of ours: listVersion is an integer

    @on(Action.data_transfer)
    async def on_data_transfer(self, **_: Any) -> call_result.DataTransfer:
        assert self.session is not None
        await self.session.call(call.Heartbeat())  # must not wait for an answer nobody reads
        return call_result.DataTransfer(status="Accepted")

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str,
                           **_: Any) -> call_result.TriggerMessage:
        return call_result.TriggerMessage(status="Accepted")

    @after(Action.trigger_message)
    async def after_trigger_message(self, requested_message: str, **_: Any) -> None:
        assert self.session is not None
        if requested_message == "Heartbeat":
            self.heartbeat_answers.append(await self.session.call(call.Heartbeat()))


class CentralSystemHandler:
    """The central system end of the sessions where both ends are ours."""

    def __init__(self) -> None:
        self.boots: list[tuple[str, str]] = []

    @on(Action.boot_notification)
    def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str,
                             **_: Any) -> call_result.BootNotification:
        self.boots.append((charge_point_vendor, charge_point_model))
        return call_result.BootNotification(current_time=NOW, interval=300, status="Accepted")

    @on(Action.heartbeat)
    def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=NOW)


class Wire:
    """Both ends of one real websocket: ``csms`` (server side) and ``charge_point`` (client)."""

    def __init__(self, csms: Any, charge_point: Any) -> None:
        self.csms = csms
        self.charge_point = charge_point
        self.tasks: list[asyncio.Task] = []

    def start(self, session: RpcSession) -> RpcSession:
        self.tasks.append(asyncio.create_task(session.run()))
        return session

    def charge_point_session(self, handler: object | None = None, **options: Any) -> RpcSession:
        handler = handler if handler is not None else ChargePointHandler()
        session = RpcSession(self.charge_point, handler, **options)
        if isinstance(handler, ChargePointHandler):
            handler.session = session
        return self.start(session)

    async def csms_sends(self, frame: str | bytes | list[Any]) -> None:
        await self.csms.send(json.dumps(frame) if isinstance(frame, list) else frame)

    async def csms_receives(self) -> list[Any]:
        return json.loads(await asyncio.wait_for(self.csms.recv(), WAIT))

    async def csms_asks(self, frame: list[Any]) -> list[Any]:
        await self.csms_sends(frame)
        return await self.csms_receives()


@pytest.fixture
async def wire() -> AsyncIterator[Wire]:
    async with open_wire() as link:
        yield link


@contextlib.asynccontextmanager
async def open_wire() -> AsyncIterator[Wire]:
    """Both ends of a websocket on 127.0.0.1, the sessions' tasks cancelled at the end."""
    accepted: asyncio.Queue[Any] = asyncio.Queue()

    async def keep(connection: Any) -> None:
        await accepted.put(connection)
        await connection.wait_closed()

    async with serve(keep, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:
        port = server.sockets[0].getsockname()[1]
        url = f"ws://127.0.0.1:{port}/ocpp/CP1"
        async with connect(url, subprotocols=["ocpp1.6"]) as charge_point:
            csms = await asyncio.wait_for(accepted.get(), WAIT)
            link = Wire(csms, charge_point)
            try:
                yield link
            finally:
                for task in link.tasks:
                    task.cancel()
                await asyncio.gather(*link.tasks, return_exceptions=True)


def warnings_from(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "pievse.ocpp.rpc" and r.levelno == logging.WARNING]


# --- round trips ------------------------------------------------------------------------------


async def test_boot_notification_travels_from_charge_point_to_central_system_and_back(wire):
    central = CentralSystemHandler()
    wire.start(RpcSession(wire.csms, central))
    charge_point = wire.charge_point_session()

    answer = await charge_point.call(
        call.BootNotification(charge_point_vendor="pievse", charge_point_model="Pi Zero 2 W")
    )

    assert isinstance(answer, call_result.BootNotification)
    assert (answer.status, answer.interval, answer.current_time) == ("Accepted", 300, NOW)
    assert central.boots == [("pievse", "Pi Zero 2 W")]


async def test_remote_start_from_the_central_system_reaches_the_handler_in_snake_case(wire):
    handler = ChargePointHandler()
    wire.charge_point_session(handler)
    central = wire.start(RpcSession(wire.csms, CentralSystemHandler()))

    answer = await central.call(call.RemoteStartTransaction(id_tag="04A2B3C4", connector_id=2))

    assert answer == call_result.RemoteStartTransaction(status="Accepted")
    assert handler.remote_starts == [("04A2B3C4", 2)]


async def test_a_handler_that_names_call_unique_id_is_given_the_frame_id(wire):
    handler = ChargePointHandler()
    wire.charge_point_session(handler)

    answer = await wire.csms_asks([2, "reset-17", "Reset", {"type": "Soft"}])

    assert answer == [3, "reset-17", {"status": "Accepted"}]
    assert handler.reset_ids == ["reset-17"]


async def test_every_frame_is_logged_at_debug_with_its_direction(wire, caplog):
    caplog.set_level(logging.DEBUG, logger="pievse.ocpp.rpc")
    wire.charge_point_session()

    await wire.csms_asks([2, "cc-1", "ClearCache", {}])

    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert 'recv [2, "cc-1", "ClearCache", {}]' in lines
    assert 'send [3,"cc-1",{"status":"Accepted"}]' in lines


# --- frames that are not OCPP-J ----------------------------------------------------------------

GARBAGE = [
    pytest.param("this is not json", "FormationViolation", "-1", id="invalid JSON"),
    pytest.param('{"messageTypeId": 2}', "FormationViolation", "-1", id="not an array"),
    pytest.param(b"\xff\xfe\x00", "FormationViolation", "-1", id="binary non-UTF-8 frame"),
    pytest.param("[]", "ProtocolError", "-1", id="empty array"),
    pytest.param('[7, "m-1", "ClearCache", {}]', "ProtocolError", "m-1",
                 id="unknown MessageTypeId"),
    pytest.param('[2, "m-2", "ClearCache"]', "ProtocolError", "m-2", id="CALL without payload"),
    pytest.param('[2, 17, "ClearCache", {}]', "ProtocolError", "-1", id="numeric unique id"),
    pytest.param('[2, "m-3", 42, {}]', "ProtocolError", "m-3", id="numeric action"),
    pytest.param('[2, "m-4", "ClearCache", []]', "FormationViolation", "m-4",
                 id="payload not an object"),
    pytest.param('[2, "m-5", "ClearCache", {}, "extra"]', "FormationViolation", "m-5",
                 id="CALL with a fifth element"),
]


@pytest.mark.parametrize(("frame", "code", "unique_id"), GARBAGE)
async def test_a_malformed_frame_gets_a_callerror_and_the_session_keeps_answering(
    wire, caplog, frame, code, unique_id
):
    caplog.set_level(logging.WARNING, logger="pievse.ocpp.rpc")
    wire.charge_point_session()

    await wire.csms_sends(frame)
    refusal = await wire.csms_receives()

    assert refusal[:3] == [4, unique_id, code]
    assert isinstance(refusal[3], str) and refusal[3]
    assert refusal[4] == {}
    assert len(warnings_from(caplog)) == 1
    assert await wire.csms_asks([2, "next", "ClearCache", {}]) == [
        3, "next", {"status": "Accepted"}
    ]


async def test_an_action_ocpp16_does_not_define_is_answered_not_implemented(wire):
    wire.charge_point_session()

    answer = await wire.csms_asks([2, "x-1", "FlyToTheMoon", {}])

    assert answer[:3] == [4, "x-1", "NotImplemented"]


async def test_a_known_action_without_handler_is_answered_not_supported(wire):
    wire.charge_point_session()

    answer = await wire.csms_asks(
        [2, "x-2", "GetDiagnostics", {"location": "ftp://logs.example/"}]
    )

    assert answer[:3] == [4, "x-2", "NotSupported"]


# --- payloads that break the 1.6 schemas ---------------------------------------------------------

VIOLATIONS = [
    pytest.param("RemoteStartTransaction", {"idTag": "X" * 21}, "PropertyConstraintViolation",
                 "idTag", id="idTag longer than 20 characters"),
    pytest.param("Reset", {"type": "Medium"}, "PropertyConstraintViolation", "type",
                 id="Reset type not in the enum"),
    pytest.param("ReserveNow", {"connectorId": 1, "expiryDate": "yesterday", "idTag": "A",
                                "reservationId": 9},
                 "PropertyConstraintViolation", "expiryDate", id="expiryDate not a date-time"),
    pytest.param("ReserveNow", {"connectorId": 1, "expiryDate": "2025-02-29T10:00:00Z",
                                "idTag": "A", "reservationId": 9},
                 "PropertyConstraintViolation", "expiryDate", id="29 February of a common year"),
    pytest.param("RemoteStartTransaction", {"connectorId": 1}, "OccurenceConstraintViolation",
                 "idTag", id="required idTag missing"),
    pytest.param("RemoteStartTransaction", {"idTag": "A", "connectorId": "one"},
                 "TypeConstraintViolation", "connectorId", id="connectorId a string"),
    pytest.param("RemoteStartTransaction", {"idTag": "A", "colour": "red"},
                 "FormationViolation", "colour", id="field the schema does not have"),
]


class ResetBlock:
    """One functional block: Reset, and what follows its answer."""

    def __init__(self) -> None:
        self.after: list[str] = []

    @on(Action.reset)
    def on_reset(self, type: str, **_: Any) -> call_result.Reset:
        return call_result.Reset(status="Accepted")

    @after(Action.reset)
    def after_reset(self, type: str, **_: Any) -> None:
        self.after.append(type)


class ClearCacheBlock:
    @on(Action.clear_cache)
    def on_clear_cache(self) -> call_result.ClearCache:
        return call_result.ClearCache(status="Rejected")


async def test_a_route_map_of_several_blocks_answers_each_blocks_actions(wire):
    reset = ResetBlock()
    wire.start(RpcSession(wire.charge_point, None, routes=route_map(reset, ClearCacheBlock())))
    assert await wire.csms_asks([2, "r-1", "Reset", {"type": "Soft"}]) == [
        3, "r-1", {"status": "Accepted"}]
    assert await wire.csms_asks([2, "c-1", "ClearCache", {}]) == [3, "c-1", {"status": "Rejected"}]
    await eventually(lambda: reset.after == ["Soft"], what="the @after of Reset")
    answer = await wire.csms_asks([2, "u-1", "UnlockConnector", {"connectorId": 1}])
    assert answer[:3] == [4, "u-1", "NotSupported"]


class AnotherResetBlock:
    @after(Action.reset)
    def after_reset(self, **_: Any) -> None:
        pass


def test_an_action_two_blocks_route_is_refused() -> None:
    with pytest.raises(ValueError, match="Reset is routed by both ResetBlock and AnotherReset"):
        route_map(ResetBlock(), ClearCacheBlock(), AnotherResetBlock())
    with pytest.raises(TypeError):
        RpcSession(object(), ResetBlock(), routes=route_map(ClearCacheBlock()))  # type: ignore


@pytest.mark.parametrize(("action", "payload", "code", "field"), VIOLATIONS)
async def test_a_payload_that_breaks_its_schema_is_refused_with_the_16_code(
    wire, action, payload, code, field
):
    handler = ChargePointHandler()
    wire.charge_point_session(handler)

    answer = await wire.csms_asks([2, "v-1", action, payload])

    assert answer[:3] == [4, "v-1", code]
    assert field in answer[3]
    assert handler.remote_starts == []


def charging_profile(limit: float) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 7,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "startSchedule": "2024-05-01T00:00:00Z",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16.0},
                    {"startPeriod": 3600, "limit": limit},
                ],
            },
        },
    }


async def test_a_charging_limit_of_21_4_amps_is_a_multiple_of_0_1_despite_binary_floats(wire):
    wire.charge_point_session()

    accepted = await wire.csms_asks([2, "p-1", "SetChargingProfile", charging_profile(21.4)])
    refused = await wire.csms_asks([2, "p-2", "SetChargingProfile", charging_profile(21.45)])

    assert accepted == [3, "p-1", {"status": "Accepted"}]
    assert refused[:3] == [4, "p-2", "PropertyConstraintViolation"]
    assert "chargingSchedulePeriod[1].limit" in refused[3]


@pytest.mark.parametrize("limit", [21.4, 0.1 + 0.2, 32 * 0.7, 6.0, 80, 0.7 * 3])
def test_computed_limits_with_one_decimal_pass_validation(limit):
    SchemaValidator("1.6").validate_call("SetChargingProfile", charging_profile(limit))


def test_ocpp201_payloads_are_refused_with_the_201_spellings():
    validator = SchemaValidator("2.0.1")
    id_token = {"idToken": "04A2B3C4", "type": "ISO14443"}

    with pytest.raises(Exception) as missing:
        validator.validate_call("Authorize", {})
    with pytest.raises(Exception) as extra:
        validator.validate_call("Authorize", {"idToken": id_token, "colour": "red"})
    validator.validate_call("Authorize", {"idToken": id_token})

    assert missing.value.code == "OccurrenceConstraintViolation"
    assert extra.value.code == "FormatViolation"
    assert validator.knows("NotifyEVChargingNeeds") and not validator.knows("Authorize.json")


# --- one error-code table per version ------------------------------------------------------------

# (OCPP-J 1.6 section 4.2.3, OCPP-J 2.0.1 section 4.3): the code each failure gets, per version.
OCCURRENCE = ("OccurenceConstraintViolation", "OccurrenceConstraintViolation")
PROPERTY = ("PropertyConstraintViolation", "PropertyConstraintViolation")
TYPE = ("TypeConstraintViolation", "TypeConstraintViolation")
FORMATION = ("FormationViolation", "FormatViolation")
SCHEMA_RULE_CODES = {
    "required": OCCURRENCE, "minItems": OCCURRENCE, "maxItems": OCCURRENCE,
    "type": TYPE,
    "enum": PROPERTY, "const": PROPERTY, "maxLength": PROPERTY, "minLength": PROPERTY,
    "pattern": PROPERTY, "format": PROPERTY, "minimum": PROPERTY, "maximum": PROPERTY,
    "exclusiveMinimum": PROPERTY, "exclusiveMaximum": PROPERTY, "multipleOf": PROPERTY,
    "uniqueItems": PROPERTY,
    "additionalProperties": FORMATION, "additionalItems": FORMATION,
    "someFutureKeyword": FORMATION,
}
FAILURE_CODES = {
    "not_implemented": ("NotImplemented", "NotImplemented"),
    "not_supported": ("NotSupported", "NotSupported"),
    "internal": ("InternalError", "InternalError"),
    "protocol": ("ProtocolError", "ProtocolError"),
    "security": ("SecurityError", "SecurityError"),
    "generic": ("GenericError", "GenericError"),
    "formation": FORMATION,
    "framing": ("FormationViolation", "RpcFrameworkError"),
    "incomplete_frame": ("ProtocolError", "RpcFrameworkError"),
    "message_type": ("ProtocolError", "MessageTypeNotSupported"),
}
VERSIONS = ("1.6", "2.0.1")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("rule", sorted(SCHEMA_RULE_CODES))
def test_each_schema_rule_has_one_code_per_version(version, rule):
    expected = SCHEMA_RULE_CODES[rule][VERSIONS.index(version)]
    assert error_codes(version).for_schema_rule(rule).code == expected
    assert rule in SCHEMA_RULES or rule == "someFutureKeyword"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("failure", sorted(FAILURE_CODES))
def test_each_kind_of_failure_has_one_code_per_version(version, failure):
    expected = FAILURE_CODES[failure][VERSIONS.index(version)]
    assert getattr(error_codes(version), failure).code == expected


def soc(value: int) -> dict[str, Any]:
    """A 2.0.1 NotifyEVChargingNeeds whose state of charge (0 to 100 %) is ``value``."""
    dc = {"evMaxCurrent": 100, "evMaxVoltage": 400, "stateOfCharge": value}
    return {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "DC",
                                           "dcChargingParameters": dc}}


def token(**more: Any) -> dict[str, Any]:
    return {"idToken": {"idToken": "04A2B3C4", "type": "ISO14443"}, **more}


HASH = {"hashAlgorithm": "SHA256", "issuerNameHash": "a", "issuerKeyHash": "b",
        "serialNumber": "c", "responderURL": "http://ocsp.example"}

# Every rule the official schemas use, broken for real: (version, action, payload, rule).
BROKEN_PAYLOADS = [
    ("1.6", "Authorize", {}, "required"),
    ("1.6", "Authorize", {"idTag": 42}, "type"),
    ("1.6", "Authorize", {"idTag": "X" * 21}, "maxLength"),
    ("1.6", "Reset", {"type": "Sideways"}, "enum"),
    ("1.6", "ReserveNow", {"connectorId": 1, "expiryDate": "2025-02-29T10:00:00Z", "idTag": "A",
                           "reservationId": 9}, "format"),
    ("1.6", "MeterValues", {"connectorId": 1, "meterValue": []}, "minItems"),
    ("1.6", "SetChargingProfile", charging_profile(21.45), "multipleOf"),
    ("1.6", "Authorize", {"idTag": "A", "colour": "red"}, "additionalProperties"),
    ("2.0.1", "Authorize", {}, "required"),
    ("2.0.1", "Authorize", {"idToken": {"idToken": 5, "type": "ISO14443"}}, "type"),
    ("2.0.1", "Authorize", {"idToken": {"idToken": "X" * 37, "type": "ISO14443"}}, "maxLength"),
    ("2.0.1", "Authorize", {"idToken": {"idToken": "A", "type": "Bogus"}}, "enum"),
    ("2.0.1", "Authorize", token(iso15118CertificateHashData=[]), "minItems"),
    ("2.0.1", "Authorize", token(iso15118CertificateHashData=[HASH] * 5), "maxItems"),
    ("2.0.1", "NotifyEVChargingNeeds", soc(-1), "minimum"),
    ("2.0.1", "NotifyEVChargingNeeds", soc(101), "maximum"),
    ("2.0.1", "Authorize", token(colour="red"), "additionalProperties"),
]


@pytest.mark.parametrize(("version", "action", "payload", "rule"), BROKEN_PAYLOADS)
def test_a_payload_breaking_a_rule_is_refused_with_the_code_of_the_table(version, action,
                                                                          payload, rule):
    with pytest.raises(Exception) as refused:
        SchemaValidator(version).validate_call(action, payload)
    assert refused.value.code == SCHEMA_RULE_CODES[rule][VERSIONS.index(version)]
    assert refused.value.details["rule"] == rule


@pytest.mark.parametrize("version", VERSIONS)
def test_a_payload_that_is_not_an_object_is_a_formation_fault_not_a_type_one(version):
    with pytest.raises(Exception) as refused:
        SchemaValidator(version).validate_call("Heartbeat", [])
    assert refused.value.code == FORMATION[VERSIONS.index(version)]


# --- handlers that fail ------------------------------------------------------------------------


async def test_a_handler_that_crashes_is_answered_internal_error_and_logged_once(wire, caplog):
    wire.charge_point_session()

    answer = await wire.csms_asks([2, "u-1", "UnlockConnector", {"connectorId": 1}])

    assert answer[:3] == [4, "u-1", "InternalError"]
    assert "stuck" not in answer[3]  # the CSMS learns that it failed, not our internals
    tracebacks = [r for r in caplog.records if r.exc_info and r.name == "pievse.ocpp.rpc"]
    assert len(tracebacks) == 1
    assert await wire.csms_asks([2, "u-2", "ClearCache", {}]) == [
        3, "u-2", {"status": "Accepted"}
    ]


async def test_an_ocpp_error_raised_by_a_handler_keeps_its_code(wire):
    wire.charge_point_session()

    answer = await wire.csms_asks(
        [2, "a-1", "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}]
    )

    assert answer == [4, "a-1", "SecurityError", "not from this CSMS", {}]


async def test_an_answer_of_ours_that_breaks_its_schema_is_replaced_by_internal_error(wire):
    wire.charge_point_session()

    answer = await wire.csms_asks([2, "l-1", "GetLocalListVersion", {}])

    assert answer[:3] == [4, "l-1", "InternalError"]


async def test_a_call_from_inside_an_on_handler_fails_fast_instead_of_deadlocking(wire):
    wire.charge_point_session(response_timeout=60 * WAIT)

    answer = await wire.csms_asks([2, "d-1", "DataTransfer", {"vendorId": "pievse"}])

    assert answer[:3] == [4, "d-1", "InternalError"]


# --- our outgoing calls -------------------------------------------------------------------------


async def test_a_callerror_answer_raises_call_error_received_and_the_session_stays_usable(wire):
    session = wire.charge_point_session()
    heartbeat = asyncio.create_task(session.call(call.Heartbeat()))
    request = await wire.csms_receives()
    await wire.csms_sends([4, request[1], "GenericError", "database down", {"retry": True}])

    with pytest.raises(CallErrorReceived) as refused:
        await heartbeat

    assert (refused.value.code, refused.value.description, refused.value.details) == (
        "GenericError", "database down", {"retry": True}
    )
    second = asyncio.create_task(session.call(call.Heartbeat()))
    request = await wire.csms_receives()
    await wire.csms_sends([3, request[1], {"currentTime": NOW}])
    assert (await second).current_time == NOW


async def test_an_unanswered_call_raises_response_timeout_and_a_late_answer_is_dropped(
    wire, caplog
):
    session = wire.charge_point_session(response_timeout=0.2)
    first = asyncio.create_task(session.call(call.Heartbeat()))
    unanswered = await wire.csms_receives()

    with pytest.raises(ResponseTimeout) as timed_out:
        await first
    await wire.csms_sends([3, unanswered[1], {"currentTime": NOW}])  # too late

    assert isinstance(timed_out.value, asyncio.TimeoutError)
    second = asyncio.create_task(session.call(call.Heartbeat(), timeout=WAIT))
    request = await wire.csms_receives()
    assert request[1] != unanswered[1]
    await wire.csms_sends([3, request[1], {"currentTime": "2024-05-01T12:00:05Z"}])
    assert (await second).current_time == "2024-05-01T12:00:05Z"
    assert any(unanswered[1] in line for line in warnings_from(caplog))


async def test_only_one_call_is_outstanding_a_second_waits_for_the_first_answer(wire):
    session = wire.charge_point_session()
    first = asyncio.create_task(session.call(call.Heartbeat()))
    second = asyncio.create_task(
        session.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                             status="Available"))
    )

    request = await wire.csms_receives()
    # Round trip a CALL of our own: had the second CALL been sent, it would arrive before the
    # answer, because a websocket delivers frames in order.
    answer = await wire.csms_asks([2, "probe", "ClearCache", {}])

    assert request[2] == "Heartbeat"
    assert answer == [3, "probe", {"status": "Accepted"}]
    assert not second.done()
    await wire.csms_sends([3, request[1], {"currentTime": NOW}])
    request = await wire.csms_receives()
    assert request[2] == "StatusNotification"
    await wire.csms_sends([3, request[1], {}])
    assert (await first).current_time == NOW
    assert await second == call_result.StatusNotification()


async def test_an_after_handler_can_call_back_without_deadlock(wire):
    handler = ChargePointHandler()
    wire.charge_point_session(handler)
    central = wire.start(RpcSession(wire.csms, CentralSystemHandler()))

    answer = await central.call(call.TriggerMessage(requested_message="Heartbeat"))

    assert answer.status == "Accepted"
    await eventually(lambda: handler.heartbeat_answers, "the Heartbeat sent by @after")
    assert handler.heartbeat_answers == [call_result.Heartbeat(current_time=NOW)]


async def test_an_answer_that_breaks_the_response_schema_raises_invalid_response(wire):
    session = wire.charge_point_session()
    boot = asyncio.create_task(
        session.call(call.BootNotification(charge_point_vendor="pievse", charge_point_model="Pi"))
    )
    request = await wire.csms_receives()
    await wire.csms_sends([3, request[1], {"status": "Maybe", "currentTime": NOW,
                                           "interval": 60}])

    with pytest.raises(InvalidResponse) as invalid:
        await boot

    assert "status" in invalid.value.reason
    assert invalid.value.code == "PropertyConstraintViolation"


async def test_a_request_that_breaks_its_schema_is_never_sent(wire):
    session = wire.charge_point_session()

    with pytest.raises(InvalidRequest, match="idTag"):
        await session.call(call.Authorize(id_tag="X" * 21))

    heartbeat = asyncio.create_task(session.call(call.Heartbeat()))
    first_frame = await wire.csms_receives()
    assert first_frame[2] == "Heartbeat"
    await wire.csms_sends([3, first_frame[1], {"currentTime": NOW}])
    await heartbeat


async def test_a_connection_closed_while_waiting_raises_connection_lost(wire):
    session = wire.charge_point_session()
    run = wire.tasks[-1]
    heartbeat = asyncio.create_task(session.call(call.Heartbeat()))
    await wire.csms_receives()

    await wire.csms.close()

    with pytest.raises(ConnectionLost):
        await heartbeat
    assert await asyncio.wait_for(run, WAIT) is None  # run() returns normally on close
    assert session.closed
    with pytest.raises(ConnectionLost):
        await session.call(call.Heartbeat())


async def test_an_ocpp201_session_answers_unreadable_frames_with_rpc_framework_error(wire):
    wire.charge_point_session(version="2.0.1")

    await wire.csms_sends("not json")
    refusal = await wire.csms_receives()
    unknown_type = await wire.csms_asks([9, "t-1", "Heartbeat", {}])

    assert refusal[:3] == [4, "-1", "RpcFrameworkError"]
    assert unknown_type[:3] == [4, "t-1", "MessageTypeNotSupported"]


async def test_the_response_timeout_runs_on_the_sessions_clock(wire):
    clock = FakeClock()
    session = wire.charge_point_session(response_timeout=30, clock=clock)
    waiting = asyncio.create_task(session.call(call.Heartbeat()))
    await wire.csms_receives()

    await clock.advance(29)
    assert not waiting.done()
    await clock.advance(1)
    with pytest.raises(ResponseTimeout, match="within 30 s"):
        await waiting


async def test_each_call_times_out_from_its_own_send_with_one_timer_for_the_session(wire):
    # The session's timer, armed for the first CALL's deadline, finds the second one waiting
    # when it fires: it moves on to that CALL's own deadline instead of timing it out early.
    clock = FakeClock()
    session = wire.charge_point_session(response_timeout=30, clock=clock)
    first = asyncio.create_task(session.call(call.Heartbeat()))
    request = await wire.csms_receives()
    await wire.csms_sends([3, request[1], {"currentTime": NOW}])
    assert (await first).current_time == NOW

    await clock.advance(10)
    second = asyncio.create_task(session.call(call.Heartbeat()))
    later = await wire.csms_receives()
    await clock.advance(29)  # t = 39, past the first CALL's deadline
    assert not second.done()
    await clock.advance(1)
    with pytest.raises(ResponseTimeout, match="within 30 s"):
        await second
    assert later[1] != request[1] and len(later[1]) <= 36


# --- frames beyond what the station can hold -----------------------------------------------------


@pytest.mark.parametrize(("number", "code"), [
    ("1" + "0" * 400, "PropertyConstraintViolation"),
    ("9" * 5000, "PropertyConstraintViolation"),
    ("1e400", "PropertyConstraintViolation"),
    ("NaN", "TypeConstraintViolation"),
    ("-Infinity", "TypeConstraintViolation"),
])
async def test_a_number_beyond_64_bits_or_finite_is_refused_with_the_sessions_code(
    wire, number, code
):
    wire.charge_point_session()
    await wire.csms_sends(f'[2,"n-1","UnlockConnector",{{"connectorId":{number}}}]')
    answer = await wire.csms_receives()
    assert answer[:3] == [4, "n-1", code]
    assert await wire.csms_asks([2, "n-2", "ClearCache", {}]) == [
        3, "n-2", {"status": "Accepted"}
    ]


@pytest.mark.parametrize("depth", [40, 999, 5000])
async def test_a_frame_nested_deeper_than_any_message_is_a_formation_violation_and_keeps_the_link(
    wire, depth
):
    wire.charge_point_session()
    await wire.csms_sends('[2,"deep","DataTransfer",{"vendorId":"x","data":'
                          + "[" * depth + "]" * depth + "}]")
    answer = await wire.csms_receives()
    assert answer[:3] == [4, "deep", "FormationViolation"]
    assert await wire.csms_asks([2, "d-2", "ClearCache", {}]) == [
        3, "d-2", {"status": "Accepted"}
    ]


async def test_a_number_the_schema_check_cannot_divide_is_answered_and_keeps_the_session(wire):
    # 1.7e308 / 0.1 is infinite: rounding it for the multipleOf check raised OverflowError
    # outside any handler, which ended the session.
    wire.charge_point_session()
    answer = await wire.csms_asks([2, "x-1", "SetChargingProfile", charging_profile(1.7e308)])
    assert answer[0] in (3, 4) and answer[1] == "x-1"
    assert await wire.csms_asks([2, "x-2", "ClearCache", {}]) == [
        3, "x-2", {"status": "Accepted"}
    ]
