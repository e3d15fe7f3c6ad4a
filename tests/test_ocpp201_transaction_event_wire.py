"""2.0.1's TransactionEvent and MeterValues, built in the wire's own terms, are what the same
events built as the ``ocpp`` package's dataclasses make on the wire (the package's own
serialisation, field for field: names, values, what is left out), and the official schema takes
them: across generated transactions (Started, Updated by samples and changes of state, Ended
with its Transaction.End value), with and without an idToken, offline, a reservation, a remote
start, on any EVSE."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import ocpp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.v201 import call, datatypes

from pievse.core.authorization import IdToken, IdTokenType
from pievse.core import effects as fx
from pievse.core.hardware import MeterReading
from pievse.core.tx_points import StartCause
from pievse.core.vocabulary import ConnectorStatus, ErrorCode, ReadingContext, StopReason
from pievse.protocol.common.datetimes import format_datetime
from pievse.protocol.common.measurands import SUPPORTED_MEASURANDS, measurements
from pievse.protocol.common.schemas import validator_for
from pievse.protocol.v201.codec import transactions as events
from pievse.protocol.v201.codec import words

SCHEMAS = Path(ocpp.__file__).parent / "v201" / "schemas"
ENERGY = "Energy.Active.Import.Register"
TRIGGERS = {ReadingContext.SAMPLE_CLOCK: "MeterValueClock", ReadingContext.TRIGGER: "Trigger"}


def official(action: str) -> Any:
    schema = json.loads((SCHEMAS / f"{action}Request.json").read_text(encoding="utf-8-sig"))
    return jsonschema.validators.validator_for(schema)(schema)


OFFICIAL = {action: official(action) for action in ("TransactionEvent", "MeterValues")}
OURS = validator_for("2.0.1")


def on_the_wire(request: Any) -> dict[str, Any]:
    """The payload as the ``ocpp`` package writes a dataclass."""
    return snake_to_camel_case(remove_nones(serialize_as_dict(request)))


def sent(request: Any) -> dict[str, Any]:
    """A wire request's payload, checked by both schemas and as a frame travels (JSON)."""
    action, payload = request
    OFFICIAL[action].validate(payload)
    OURS.validate_call(action, payload)
    return json.loads(json.dumps(payload))


# --- the events as the ``ocpp`` package's dataclasses -------------------------------------------

def dataclass_token(token: IdToken | None) -> datatypes.IdTokenType | None:
    if token is None:
        return None
    return datatypes.IdTokenType(id_token=token.value, type=words.encode_id_token(token)["type"])


def dataclass_value(sample: fx.MeterSample,
                    measurands: list[str]) -> datatypes.MeterValueType | None:
    sampled = [datatypes.SampledValueType(
        value=round(number, 3), context=sample.context.value, measurand=measurand, phase=phase,
        location="Outlet", unit_of_measure=datatypes.UnitOfMeasureType(unit=unit))
        for measurand, number, unit, phase in measurements(sample, measurands)]
    if not sampled:
        return None
    return datatypes.MeterValueType(timestamp=format_datetime(sample.timestamp),
                                    sampled_value=sampled)


def energy_value(wh: float, context: ReadingContext, at: float) -> datatypes.MeterValueType:
    return datatypes.MeterValueType(timestamp=format_datetime(at), sampled_value=[
        datatypes.SampledValueType(value=round(wh, 3), context=context.value, measurand=ENERGY,
                                   location="Outlet",
                                   unit_of_measure=datatypes.UnitOfMeasureType(unit="Wh"))])


def dataclass_event(event_type: str, at: float, trigger: str, seq_no: int,
                    info: datatypes.TransactionType, offline: bool,
                    values: list[datatypes.MeterValueType], **more: Any) -> call.TransactionEvent:
    return call.TransactionEvent(
        event_type=event_type, timestamp=format_datetime(at), trigger_reason=trigger,
        seq_no=seq_no, transaction_info=info, meter_value=values or None,
        offline=offline or None, number_of_phases_used=None, cable_max_current=None, **more)


# --- generated effects ---------------------------------------------------------------------------

instants = st.integers(1_500_000_000_000, 2_500_000_000_000).map(lambda ms: ms / 1000)
numbers = st.floats(-1e6, 1e7, allow_nan=False, allow_infinity=False)
phases = st.sampled_from([(), (1,), (1, 2, 3)])
readings = st.builds(
    lambda energy, at, power, currents, volts, frequency: MeterReading(
        abs(energy), at, power, tuple(currents[: len(volts)]), volts, frequency),
    numbers, instants, st.none() | numbers, st.lists(numbers, min_size=3, max_size=3),
    phases.flatmap(lambda shape: st.tuples(*[numbers for _ in shape])), st.none() | numbers)
tokens = st.builds(IdToken, st.text("0123456789ABCDEFabcdef-", min_size=1, max_size=36),
                   st.sampled_from(IdTokenType))
evses = st.integers(1, 8)
refs = st.integers(1, 10_000)
optional_ids = st.none() | st.integers(0, 2**31 - 1)
measurand_lists = st.lists(st.sampled_from(SUPPORTED_MEASURANDS), unique=True)
transaction_ids = st.uuids().map(str)
seq_nos = st.integers(0, 10_000)


def samples(contexts: list[ReadingContext]) -> st.SearchStrategy[fx.MeterSample]:
    return st.builds(fx.MeterSample, evses, refs, st.sampled_from(contexts), readings,
                     st.floats(0, 80), instants)


SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(effect=st.builds(fx.TransactionStarted, refs, evses, st.none() | tokens, numbers.map(abs),
                        instants, optional_ids, st.sampled_from(StartCause), optional_ids,
                        st.booleans()),
       transaction_id=transaction_ids, seq_no=seq_nos, offline=st.booleans(),
       measurands=measurand_lists)
def test_started(effect, transaction_id, seq_no, offline, measurands) -> None:
    wire = events.started(effect, transaction_id, seq_no, offline=offline,
                          started_measurands=tuple(measurands))
    if effect.cause is StartCause.CABLE_PLUGGED_IN:
        trigger = "CablePluggedIn"
    elif effect.cause is StartCause.ENERGY_TRANSFER:
        trigger = "ChargingStateChanged"
    else:
        trigger = "Authorized" if effect.remote_start_id is None else "RemoteStart"
    info = datatypes.TransactionType(transaction_id=transaction_id,
                                     charging_state=events.started_charging_state(effect),
                                     remote_start_id=effect.remote_start_id)
    values = ([energy_value(effect.meter_start_wh, ReadingContext.TRANSACTION_BEGIN,
                            effect.timestamp)] if ENERGY in measurands else [])
    expected = dataclass_event(
        "Started", effect.timestamp, trigger, seq_no, info, offline, values,
        reservation_id=effect.reservation_id,
        evse=datatypes.EVSEType(id=effect.connector_id, connector_id=1),
        id_token=dataclass_token(effect.id_token))
    assert sent(wire) == on_the_wire(expected)
    assert wire.payload == on_the_wire(expected)


@SETTINGS
@given(sample=samples(list(ReadingContext)), transaction_id=transaction_ids, seq_no=seq_nos,
       offline=st.booleans(), measurands=measurand_lists,
       state=st.none() | st.sampled_from(["EVConnected", "Charging", "SuspendedEV"]))
def test_updated_by_a_sample(sample, transaction_id, seq_no, offline, measurands, state) -> None:
    wire = events.updated(sample, transaction_id, seq_no, offline=offline,
                          measurands=tuple(measurands), charging_state=state)
    value = dataclass_value(sample, measurands)
    if value is None:
        assert wire is None
        return
    info = datatypes.TransactionType(
        transaction_id=transaction_id,
        charging_state=state if sample.context is ReadingContext.TRIGGER else None)
    expected = dataclass_event("Updated", sample.timestamp,
                               TRIGGERS.get(sample.context, "MeterValuePeriodic"), seq_no, info,
                               offline, [value])
    assert sent(wire) == on_the_wire(expected)


@SETTINGS
@given(effect=st.builds(fx.TransactionStopped, refs, st.none() | transaction_ids, evses,
                        st.none() | tokens, numbers.map(abs), instants,
                        st.sampled_from(StopReason),
                        st.lists(samples(list(ReadingContext)), max_size=4).map(tuple)),
       transaction_id=transaction_ids, seq_no=seq_nos, offline=st.booleans(),
       sampled=measurand_lists, aligned=measurand_lists)
def test_ended(effect, transaction_id, seq_no, offline, sampled, aligned) -> None:
    wire = events.ended(effect, transaction_id, seq_no, offline=offline,
                        sampled_measurands=tuple(sampled), aligned_measurands=tuple(aligned))
    values = [value for sample in effect.transaction_data if (value := dataclass_value(
        sample, aligned if sample.context is ReadingContext.SAMPLE_CLOCK else sampled))]
    if all(sample.context is not ReadingContext.TRANSACTION_END
           for sample in effect.transaction_data):
        values.append(energy_value(effect.meter_stop_wh, ReadingContext.TRANSACTION_END,
                                   effect.timestamp))
    gone = effect.reason in (StopReason.EV_DISCONNECTED, StopReason.TIMEOUT)
    info = datatypes.TransactionType(transaction_id=transaction_id,
                                     charging_state="Idle" if gone else "EVConnected",
                                     stopped_reason=words.stopped_reason(effect.reason))
    expected = dataclass_event("Ended", effect.timestamp, words.stop_trigger_reason(effect.reason),
                               seq_no, info, offline, values,
                               id_token=dataclass_token(effect.id_token))
    assert sent(wire) == on_the_wire(expected)


@SETTINGS
@given(authorized=st.builds(fx.TransactionAuthorized, refs, evses, tokens, instants, optional_ids),
       deauthorized=st.builds(fx.TransactionDeauthorized, refs, evses, st.sampled_from(StopReason),
                              st.none() | tokens, instants),
       connection=st.builds(fx.EVConnectionChanged, refs, evses, st.booleans(), instants),
       status=st.builds(fx.StatusChanged, evses, st.sampled_from(ConnectorStatus),
                        st.sampled_from(ErrorCode), st.none(), instants),
       transaction_id=transaction_ids, seq_no=seq_nos, offline=st.booleans())
def test_updated_by_a_change_of_state(authorized, deauthorized, connection, status,
                                      transaction_id, seq_no, offline) -> None:
    def expected(effect: Any, trigger: str, state: str | None = None,
                 **more: Any) -> dict[str, Any]:
        info = datatypes.TransactionType(transaction_id=transaction_id, charging_state=state,
                                         remote_start_id=more.pop("remote_start_id", None))
        return on_the_wire(dataclass_event("Updated", effect.timestamp, trigger, seq_no, info,
                                           offline, [], **more))

    made = {"offline": offline}
    assert sent(events.authorized(authorized, transaction_id, seq_no, **made)) == expected(
        authorized, "Authorized" if authorized.remote_start_id is None else "RemoteStart",
        remote_start_id=authorized.remote_start_id,
        id_token=dataclass_token(authorized.id_token))
    assert sent(events.deauthorized(deauthorized, transaction_id, seq_no, **made)) == expected(
        deauthorized, words.stop_trigger_reason(deauthorized.reason), "EVConnected",
        id_token=dataclass_token(deauthorized.id_token))
    assert sent(events.ev_connection(connection, transaction_id, seq_no, **made)) == expected(
        connection, "CablePluggedIn" if connection.connected else "EVCommunicationLost",
        "EVConnected" if connection.connected else "Idle")
    wire = events.charging_state_changed(status, transaction_id, seq_no, **made)
    state = words.charging_state(status.status)
    if state is None:
        assert wire is None
    else:
        assert sent(wire) == expected(status, "ChargingStateChanged", state)


@SETTINGS
@given(sample=samples([ReadingContext.SAMPLE_CLOCK, ReadingContext.TRIGGER]),
       measurands=measurand_lists)
def test_meter_values_outside_a_transaction(sample, measurands) -> None:
    wire = events.meter_values(sample, tuple(measurands))
    value = dataclass_value(sample, measurands)
    if value is None:
        assert wire is None
        return
    assert sent(wire) == on_the_wire(call.MeterValues(evse_id=sample.connector_id,
                                                      meter_value=[value]))


@pytest.mark.parametrize("offline", [False, True])
def test_a_periodic_sample_on_the_wire(offline: bool) -> None:
    """One event spelled out, so that a reader sees the shape the properties above compare."""
    reading = MeterReading(1234.5, 1_767_225_600.0, 7360.0, (16.0, 16.0, 16.0),
                           (230.0, 230.1, 229.9))
    sample = fx.MeterSample(2, 7, ReadingContext.SAMPLE_PERIODIC, reading, 16.0, 1_767_225_600.25)
    wire = events.updated(sample, "tx-1", 3, offline=offline,
                          measurands=(ENERGY, "Power.Active.Import"))
    expected = {
        "eventType": "Updated", "timestamp": "2026-01-01T00:00:00.250Z",
        "triggerReason": "MeterValuePeriodic", "seqNo": 3,
        "transactionInfo": {"transactionId": "tx-1"},
        "meterValue": [{"timestamp": "2026-01-01T00:00:00.250Z", "sampledValue": [
            {"value": 1234.5, "context": "Sample.Periodic", "measurand": ENERGY,
             "location": "Outlet", "unitOfMeasure": {"unit": "Wh"}},
            {"value": 7360.0, "context": "Sample.Periodic", "measurand": "Power.Active.Import",
             "location": "Outlet", "unitOfMeasure": {"unit": "W"}}]}],
    }
    if offline:
        expected["offline"] = True
    assert wire == ("TransactionEvent", expected)
    assert sent(wire) == expected
