"""OCPP payloads between their two forms: camelCase JSON objects on the wire, snake_case keyword
arguments and dataclasses (those of ``ocpp.v16.call`` and ``call_result``) in Python.

The conversion is the one the ``ocpp`` package defines for its dataclasses, so that a payload
reaches an ``@on`` handler with the keyword names it expects and a dataclass leaves with the
field names the schema has. It lives here rather than being imported from
``ocpp.charge_point``, which imports ``ocpp.messages`` and with it ``jsonschema`` (about 6 MiB
resident) only to validate payloads that pievse validates with its own compiled schemas.

The specification spells some words its own way, which a plain case change would lose: "SoC",
"CSMS", "URL" (as in ``responderURL``, but ``ocppCsmsUrl``), "V2X" and "V2G". (``ocpp`` also
lists "SOCLimitReached", an enumeration value rather than a field name, which its earlier
"soc" rule always pre-empts: spelled here as the package spells it in effect.) A test checks
both directions against the package's own functions on every field name of the 1.6 and 2.0.1
schemas, so the two cannot drift apart.
"""

from __future__ import annotations

import functools
import re
from dataclasses import fields, is_dataclass
from typing import Any, NamedTuple

__all__ = [
    "WirePayload", "WireRequest", "action_of", "camel_to_snake_case", "payload_of",
    "remove_nones", "snake_to_camel_case",
]

# camelCase -> snake_case: irregular spellings first, each replaced wherever it occurs.
_FROM_CAMEL = (("ocppCSMSURL", "ocpp_csms_url"), ("V2X", "_v2x"), ("V2G", "_v2g"))
# A word starts at a capital followed by small letters (anywhere but the start), or at a capital
# that follows a small letter or digit, unless that capital ends the name ("evMaxSoC": a final
# "C" stays with its "So").
_WORD_START = re.compile(r"(?<=.)(?=[A-Z][a-z])|(?<=[a-z0-9])(?=[A-Z]\S)")

# snake_case -> camelCase: the spec's spellings, in this order ("soc" turns the "soc" of
# "socket" into "SoC" too, which the next rule mends; "ocpp_csms_url" must go before "csms").
_TO_CAMEL = (
    ("soc", "SoC"), ("_SoCket", "Socket"), ("_v2x", "V2X"), ("ocpp_csms_url", "ocppCsmsUrl"),
    ("csms", "CSMS"), ("_url", "URL"), ("_v2g", "V2G"),
)

# Field names are few; a bounded cache keeps a peer sending ever new keys from growing it.
_CACHED_KEYS = 2048


@functools.lru_cache(maxsize=_CACHED_KEYS)
def _snake_key(key: str) -> str:
    for irregular, regular in _FROM_CAMEL:
        key = key.replace(irregular, regular)
    return _WORD_START.sub("_", key).lower()


@functools.lru_cache(maxsize=_CACHED_KEYS)
def _camel_key(key: str) -> str:
    for spelled, spec in _TO_CAMEL:
        key = key.replace(spelled, spec)
    first, *words = key.split("_")
    return first + "".join(word[:1].upper() + word[1:] for word in words)


def _rekeyed(data: Any, rename: Any) -> Any:
    if isinstance(data, dict):
        return {rename(key): _rekeyed(value, rename) for key, value in data.items()}
    if isinstance(data, list):
        return [_rekeyed(value, rename) for value in data]
    return data


def camel_to_snake_case(data: Any) -> Any:
    """``data`` with every key of every object in it in snake_case (values unchanged)."""
    return _rekeyed(data, _snake_key)


def snake_to_camel_case(data: Any) -> Any:
    """``data`` with every key of every object in it in the spec's camelCase."""
    return _rekeyed(data, _camel_key)


def remove_nones(data: Any) -> Any:
    """``data`` without the None values of its objects and lists: an optional field left out."""
    if isinstance(data, dict):
        return {key: remove_nones(value) for key, value in data.items() if value is not None}
    if isinstance(data, list):
        return [remove_nones(value) for value in data if value is not None]
    return data


@functools.cache
def _field_keys(cls: type) -> tuple[tuple[str, str], ...] | None:
    """(field, camelCase key) of a dataclass, None for any other class."""
    if not is_dataclass(cls):
        return None
    return tuple((f.name, _camel_key(f.name)) for f in fields(cls))


class WirePayload(dict):
    """A part of a payload built in the wire's own terms (camelCase keys, no None values, plain
    values): :func:`payload_of` takes it as it is instead of walking it again. A MeterValues
    sample is built this way once; converting its ten or so sampled values key by key cost a
    fleet of thousands of stations more than building them."""

    __slots__ = ()


class WireRequest(NamedTuple):
    """A request built in the wire's own terms, sent as it is: no dataclass to convert (a
    fleet's stations send MeterValues by the thousand a second)."""

    action: str
    payload: dict[str, Any]


def action_of(request: Any) -> str:
    """The action a request (an ``ocpp`` call dataclass or a :class:`WireRequest`) is for."""
    if type(request) is WireRequest:
        return request.action
    return type(request).__name__.removesuffix("Payload")


#: Values that go on the wire as they are (an enumeration of the ``ocpp`` package is a ``str``).
_PLAIN = (str, int, float)


def payload_of(message: Any) -> Any:
    """The wire payload of a request or response dataclass (or of a snake_case dict): what
    ``snake_to_camel_case(remove_nones(asdict(message)))`` makes of it, in one pass and without
    ``asdict``'s deep copy of every value (a MeterValues costs a fraction of the three passes,
    which matters to a fleet of thousands of stations in one process)."""
    if isinstance(message, _PLAIN) or message is None:
        return message
    if type(message) is WirePayload:
        return message
    if isinstance(message, dict):
        return {_camel_key(key): item if isinstance(item, _PLAIN) else payload_of(item)
                for key, item in message.items() if item is not None}
    if isinstance(message, list | tuple):
        return [item if isinstance(item, _PLAIN) else payload_of(item)
                for item in message if item is not None]
    keys = _field_keys(type(message))
    if keys is None:
        return message
    payload = {}
    for name, camel in keys:
        item = getattr(message, name)
        if item is not None:
            payload[camel] = item if isinstance(item, _PLAIN) else payload_of(item)
    return payload
