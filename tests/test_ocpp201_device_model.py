"""The 2.0.1 device model's declarations are shared by the stations of a process built alike;
each station keeps its own values and reads its own state."""

from __future__ import annotations

import pytest

from pievse.core.station import Station
from pievse.protocol.common.charge_point_parts import ChargePointParts
from pievse.protocol.v201.adapter import ChargePoint201
from pievse.protocol.v201.device_model import DataType, DeviceModel, Mutability, Variable


def _station(identity: str, connectors: int = 1) -> ChargePoint201:
    parts = ChargePointParts(vendor="v", model="m", charge_point_id=identity)
    return ChargePoint201(Station(connectors), lambda effects: None, parts, max_power_w=11_000)


def _get(model: DeviceModel, component: str, variable: str, evse: int | None = None) -> str:
    where = {"name": component, **({"evse": {"id": evse}} if evse is not None else {})}
    status, value = model.get(where, {"name": variable}, None)
    assert status == "Accepted", (component, variable, status)
    assert value is not None
    return value


def test_stations_built_alike_share_declarations_and_keep_their_own_values():
    one, two = _station("FLEET-00001"), _station("FLEET-00002")
    a, b = one.device_model, two.device_model
    assert a.declarations is b.declarations
    # The default that differs per station (its identity) is that station's.
    assert _get(a, "SecurityCtrlr", "Identity") == "FLEET-00001"
    assert _get(b, "SecurityCtrlr", "Identity") == "FLEET-00002"
    assert _get(b, "ISO15118Ctrlr", "SeccId") == "FLEET-00002"
    # A change is one station's.
    answer = a.set({"name": "OCPPCommCtrlr"}, {"name": "HeartbeatInterval"}, None, "42")
    assert answer[0].value == "Accepted"
    assert _get(a, "OCPPCommCtrlr", "HeartbeatInterval") == "42"
    assert _get(b, "OCPPCommCtrlr", "HeartbeatInterval") == "300"
    # A value read from elsewhere is read from that station's own blocks.
    one.station.change_availability(1, False)
    assert _get(a, "EVSE", "AvailabilityState", evse=1) == "Unavailable"
    assert _get(b, "EVSE", "AvailabilityState", evse=1) == "Available"


def test_stations_built_otherwise_have_declarations_of_their_own():
    one, two = _station("A"), _station("B", connectors=2)
    assert one.device_model.declarations is not two.device_model.declarations
    assert _get(two.device_model, "EVSE", "AvailabilityState", evse=2) == "Available"
    status, _ = one.device_model.get({"name": "EVSE", "evse": {"id": 2}},
                                     {"name": "AvailabilityState"}, None)
    assert status == "UnknownComponent"


class _ClosureBlock:
    """Declares a variable the old way: a callback that closes over the block."""

    def variables(self) -> list[Variable]:
        return [Variable("Ctrlr", "Value", DataType.INTEGER, 0, Mutability.READ_ONLY,
                         read=lambda: 1)]


def test_a_callback_that_is_not_given_the_block_is_refused_by_name():
    with pytest.raises(TypeError, match="Ctrlr.Value: read is given the block"):
        DeviceModel().declare([_ClosureBlock()])


class _ListBlock:
    """Declares its values as a list, which cannot be hashed."""

    def variables(self) -> list[Variable]:
        return [Variable("Ctrlr", "Choice", DataType.OPTION_LIST, "a",
                         values_list=["a", "b"])]  # type: ignore[arg-type]


def test_declarations_that_cannot_be_shared_still_serve_their_station():
    one, two = DeviceModel(), DeviceModel()
    one.declare([_ListBlock()])
    two.declare([_ListBlock()])
    assert one.declarations is not two.declarations
    assert one.set({"name": "Ctrlr"}, {"name": "Choice"}, None, "b")[0].value == "Accepted"
    assert (one["Ctrlr.Choice"], two["Ctrlr.Choice"]) == ("b", "a")
