"""The JSON bodies of the local API: decoded within bounds, then taken field by field.

A body is a flat JSON object of a few scalars, so anything else is refused before Python builds
it: nesting beyond ``MAX_DEPTH`` (a deep array would exhaust the decoder's recursion), numbers
with more digits than any field can hold, and the ``NaN``/``Infinity`` literals that Python
accepts but JSON does not. Each refusal is a ``Refused`` (400) whose message names the problem.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from pievse.core.solar import SolarMode
from pievse.local_api.wire import Refused

__all__ = ["LIMIT_AMPS", "MAX_DEPTH", "Field", "decode_body", "read_body"]

#: How deep a body may nest: an object holding arrays or objects holding scalars. The fields
#: are all scalars; a little room lets a wrong body be answered with the field it gets wrong.
MAX_DEPTH = 3
#: The most digits of a JSON number: far beyond any field's range, far below what makes
#: converting it slow (CPython refuses integers past 4,300 digits with a ValueError).
MAX_NUMBER_DIGITS = 40

_NOT_AN_OBJECT = "the body must be a JSON object"


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a JSON body: its type, whether it may be left out, and what it allows."""

    name: str
    kind: type  # int, float, str or bool
    default: Any = ...  # ... = required
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False

    def allowed(self) -> str:
        if self.choices:
            return "must be one of " + ", ".join(json.dumps(c) for c in self.choices)
        if self.kind is str:
            return f"must be a string of {self.minimum:g} to {self.maximum:g} characters"
        what = {int: "an integer", float: "a number", bool: "true or false"}[self.kind]
        if self.minimum is not None and self.maximum is not None:
            what += f" from {self.minimum:g} to {self.maximum:g}"
        elif self.minimum is not None:
            what += f" of at least {self.minimum:g}"
        return f"must be {what}" + (" or null" if self.nullable else "")

    def take(self, body: dict[str, Any]) -> Any:
        if self.name not in body:
            if self.default is ...:
                raise Refused(f'"{self.name}" is missing; it {self.allowed()}')
            return self.default
        value = body[self.name]
        if value is None and self.nullable:
            return None
        # JSON true is not the connector number 1.
        fits = type(value) is self.kind or (self.kind is float and type(value) is int)
        if fits and self.kind is str:
            fits = (
                (self.minimum is None or len(value) >= self.minimum)
                and (self.maximum is None or len(value) <= self.maximum)
                and value.isprintable()
                and not any(c.isspace() for c in value)
            )
        elif fits and self.kind in (int, float):
            fits = (self.minimum is None or value >= self.minimum) and (
                self.maximum is None or value <= self.maximum
            )
        if fits and self.choices:
            fits = value in self.choices
        if not fits:
            raise Refused(f'"{self.name}" = {_shown(value)}: {self.allowed()}')
        return float(value) if self.kind is float else value


#: The amperes of a local limit: ``POST /api/limit``'s "amps", and MQTT's max current.
LIMIT_AMPS = Field("amps", float, minimum=0, maximum=80, nullable=True)
#: The charging mode: ``POST /api/mode``'s "mode", and MQTT's mode select.
MODE = Field("mode", str, choices=tuple(mode.value for mode in SolarMode))


def _shown(value: Any) -> str:
    """A value of the body as JSON, cut short: what the client sent, not all of it."""
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def read_body(raw: bytes, fields: tuple[Field, ...]) -> dict[str, Any]:
    """Decode a JSON object body and take ``fields`` out of it; Refused on anything else."""
    body = decode_body(raw)
    names = [f.name for f in fields]
    unknown = [name for name in body if name not in names]
    if unknown:
        raise Refused(f"unknown field {_shown(unknown[0])}; allowed fields: " + ", ".join(names))
    return {f.name: f.take(body) for f in fields}


def decode_body(raw: bytes) -> dict[str, Any]:
    """The JSON object in ``raw`` (an empty body is ``{}``), within the bounds above."""
    depth = _depth(raw)
    if depth > MAX_DEPTH:
        levels = "more than 100" if depth > 100 else str(depth)
        raise Refused(f"the body nests {levels} levels deep; at most {MAX_DEPTH} are allowed")
    try:
        body = json.loads(raw or b"{}", parse_int=_integer, parse_float=_number,
                          parse_constant=_constant)
    except Refused:
        raise
    except (UnicodeDecodeError, ValueError):
        raise Refused(_NOT_AN_OBJECT) from None
    if not isinstance(body, dict):
        raise Refused(_NOT_AN_OBJECT)
    return body


def _depth(raw: bytes) -> int:
    """How deep the arrays and objects of ``raw`` nest (brackets inside strings do not count),
    counted without decoding; stops counting past 100."""
    brackets = raw.count(b"[") + raw.count(b"{")
    if brackets <= MAX_DEPTH:
        return brackets  # no deeper than that, and within bounds: no need to look closer
    deepest = depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > 100:
                    break
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def _digits(text: str) -> str:
    if sum(c.isdigit() for c in text) > MAX_NUMBER_DIGITS:
        raise Refused(f"a number in the body has more than {MAX_NUMBER_DIGITS} digits")
    return text


def _integer(text: str) -> int:
    return int(_digits(text))


def _number(text: str) -> float:
    value = float(_digits(text))
    if not math.isfinite(value):
        raise Refused(f"the number {text[:40]} in the body is too large")
    return value


def _constant(name: str) -> Any:
    raise Refused(f"{name} is not a JSON number")
