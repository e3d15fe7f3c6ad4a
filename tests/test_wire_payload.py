"""The one-pass wire payload (``payload_of``) is what the ``ocpp`` package's three passes make,
for every 1.6 request and result dataclass, with any field values."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.v16 import call, call_result

from pievse.protocol.common.payloads import payload_of

CLASSES = [cls for module in (call, call_result) for cls in vars(module).values()
           if isinstance(cls, type) and dataclasses.is_dataclass(cls)]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: f"{cls.__module__[-11:]}.{cls.__name__}")
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_same_payload_as_the_ocpp_package_makes(cls, data) -> None:
    value = data.draw(st.from_type(cls))
    assert payload_of(value) == snake_to_camel_case(remove_nones(serialize_as_dict(value)))
