"""An ``ocpp`` request or result dataclass as the camelCase payload that goes on the wire.

The ``ocpp`` package gets there in three passes (``dataclasses.asdict``, which deep-copies every
value, then dropping the ``None`` fields, then renaming every key), which costs more than the
rest of sending a MeterValues. This is one pass with each class's field names and each key's
camelCase name worked out once: the same payload, for a fraction of the work, which matters in a
fleet of thousands of stations sharing one process.
"""

from __future__ import annotations

import functools
from dataclasses import fields, is_dataclass
from typing import Any

from ocpp.charge_point import snake_to_camel_case

__all__ = ["wire_payload"]


@functools.cache
def _camel(key: str) -> str:
    """``key`` in camelCase, by the ``ocpp`` package's own rules (its special cases included)."""
    return next(iter(snake_to_camel_case({key: None})))


@functools.cache
def _field_names(cls: type) -> tuple[tuple[str, str], ...] | None:
    """(field, camelCase key) of a dataclass, None for any other class."""
    if not is_dataclass(cls):
        return None
    return tuple((f.name, _camel(f.name)) for f in fields(cls))


#: Values that go on the wire as they are (an enum of the ``ocpp`` package is a ``str``).
_PLAIN = (str, int, float)


def wire_payload(value: Any) -> Any:
    """``value`` (a dataclass, dict, list or plain value) with every ``None`` left out and every
    key in camelCase: what ``snake_to_camel_case(remove_nones(serialize_as_dict(value)))``
    makes of it."""
    if isinstance(value, _PLAIN) or value is None:
        return value
    if isinstance(value, dict):
        return {_camel(key): item if isinstance(item, _PLAIN) else wire_payload(item)
                for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [item if isinstance(item, _PLAIN) else wire_payload(item)
                for item in value if item is not None]
    names = _field_names(type(value))
    if names is None:
        return value
    payload = {}
    for name, camel in names:
        item = getattr(value, name)
        if item is not None:
            payload[camel] = item if isinstance(item, _PLAIN) else wire_payload(item)
    return payload
