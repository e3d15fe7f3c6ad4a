"""Payload validation against the official OCPP JSON schemas, with the right error code per version.

Every OCPP-J message payload has a JSON schema published with the specification; the ``ocpp``
package ships them (``ocpp/v16/schemas``, ``ocpp/v201/schemas``). This module compiles them with
``fastjsonschema`` into plain Python functions, lazily (one action at a time, the first time it is
seen) and caches them: on a Pi that costs a few milliseconds once instead of a pure-Python schema
walk per message.

When a payload breaks its schema the peer must be told *how*, with an error code its version
defines. OCPP 1.6 (OCPP-J 1.6, section 4.2.3) and 2.0.1 disagree on the spelling:

* a required field is missing, or a list has too few or too many items:
  1.6 ``OccurenceConstraintViolation`` (sic), 2.0.1 ``OccurrenceConstraintViolation``;
* a field has the wrong JSON type: ``TypeConstraintViolation`` in both;
* a value breaks an enum, a length, a pattern, the date-time format, a range or multipleOf:
  ``PropertyConstraintViolation`` in both;
* a field the schema does not have, or a payload that is not an object:
  1.6 ``FormationViolation``, 2.0.1 ``FormatViolation``.

Two schema details need care:

* 1.6 decimals carry ``multipleOf: 0.1`` (a charging limit such as 21.4 A). In binary floating
  point 21.4 / 0.1 is 213.99999999999997, so a literal check rejects good profiles. The rule is
  lifted out of the schema before compiling and checked here with a tolerance instead.
* ``format: date-time`` is enforced (an ``expiryDate`` of "yesterday" is refused). The date must
  exist in the calendar; the UTC offset may be left out, because ISO 8601, which OCPP 1.6 refers
  to, allows it and some central systems omit it.
"""

from __future__ import annotations

import calendar
import functools
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ocpp.exceptions import (
    FormationViolationError,
    FormatViolationError,
    GenericError,
    InternalError,
    OccurenceConstraintViolationError,
    OccurrenceConstraintViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    ProtocolError,
    SecurityError,
    TypeConstraintViolationError,
)
from ocpp.exceptions import NotImplementedError as OcppNotImplementedError
from ocpp.exceptions import NotSupportedError as OcppNotSupportedError

__all__ = [
    "ErrorCodes",
    "MessageTypeNotSupportedError",
    "RpcFrameworkError",
    "SchemaValidator",
    "error_codes",
    "validator_for",
]


# ``ocpp.exceptions`` has every 1.6 code; 2.0.1 adds two for frames that are not valid RPC at all.
class RpcFrameworkError(OCPPError):
    """2.0.1: the frame is not a valid RPC message (e.g. its message id cannot be read)."""

    code = "RpcFrameworkError"
    default_description = "Content of the call is not a valid RPC request"


class MessageTypeNotSupportedError(OCPPError):
    """2.0.1: the frame's MessageTypeId is not one the receiver knows."""

    code = "MessageTypeNotSupported"
    default_description = "A message with a MessageTypeId that is not supported was received"


@dataclass(frozen=True, slots=True)
class ErrorCodes:
    """The CALLERROR classes one OCPP version uses for each kind of failure.

    The class names of ``ocpp.exceptions`` follow its own (1.6-backwards) reading of
    NotImplemented and NotSupported; here the fields carry the meaning of the specification:
    ``not_implemented`` answers an action the version does not define, ``not_supported`` one it
    defines but this end does not handle.
    """

    not_implemented: type[OCPPError]
    not_supported: type[OCPPError]
    internal: type[OCPPError]
    protocol: type[OCPPError]
    security: type[OCPPError]
    formation: type[OCPPError]
    property_constraint: type[OCPPError]
    occurrence_constraint: type[OCPPError]
    type_constraint: type[OCPPError]
    generic: type[OCPPError]
    #: A frame that cannot be read as an RPC message at all (bad JSON, not an array).
    framing: type[OCPPError]
    #: An array with elements missing or of the wrong kind (e.g. a unique id that is no string).
    incomplete_frame: type[OCPPError]
    #: A frame whose MessageTypeId is not 2, 3 or 4.
    message_type: type[OCPPError]


_CODES_16 = ErrorCodes(
    not_implemented=OcppNotImplementedError,
    not_supported=OcppNotSupportedError,
    internal=InternalError,
    protocol=ProtocolError,
    security=SecurityError,
    formation=FormationViolationError,
    property_constraint=PropertyConstraintViolationError,
    occurrence_constraint=OccurenceConstraintViolationError,
    type_constraint=TypeConstraintViolationError,
    generic=GenericError,
    # 1.6 has no dedicated codes for broken frames: "syntactically incorrect" is the closest.
    framing=FormationViolationError,
    incomplete_frame=ProtocolError,
    message_type=ProtocolError,
)

_CODES_201 = ErrorCodes(
    not_implemented=OcppNotImplementedError,
    not_supported=OcppNotSupportedError,
    internal=InternalError,
    protocol=ProtocolError,
    security=SecurityError,
    formation=FormatViolationError,
    property_constraint=PropertyConstraintViolationError,
    occurrence_constraint=OccurrenceConstraintViolationError,
    type_constraint=TypeConstraintViolationError,
    generic=GenericError,
    framing=RpcFrameworkError,
    incomplete_frame=RpcFrameworkError,
    message_type=MessageTypeNotSupportedError,
)

# version -> (schema directory inside the ocpp package, request file suffix, error codes)
_VERSIONS: dict[str, tuple[str, str, ErrorCodes]] = {
    "1.6": ("v16", "", _CODES_16),
    "2.0.1": ("v201", "Request", _CODES_201),
}


def error_codes(version: str) -> ErrorCodes:
    """The CALLERROR classes of ``version`` ("1.6" or "2.0.1")."""
    try:
        return _VERSIONS[version][2]
    except KeyError:
        raise ValueError(f"unsupported OCPP version {version!r}") from None


# --- date-time ------------------------------------------------------------------------------------

_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?"
    r"(?:[Zz]|[+-](\d{2}):?(\d{2}))?\Z"
)


def _is_date_time(text: str) -> bool:
    """ISO 8601 / RFC 3339 date and time of day whose date exists (30 February does not)."""
    match = _DATE_TIME.match(text)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
        return False
    # 60 seconds: a leap second, which RFC 3339 allows.
    if hour > 23 or minute > 59 or second > 60:
        return False
    offset_hours, offset_minutes = match.group(7, 8)
    return offset_hours is None or (int(offset_hours) <= 23 and int(offset_minutes) <= 59)


# --- multipleOf -----------------------------------------------------------------------------------

#: A path into a payload: property names, and ``None`` for "every item of this list".
_Path = tuple[str | None, ...]


def _lift_multiple_of(schema: Any, root: dict[str, Any], path: _Path,
                      found: list[tuple[_Path, float]], seen_refs: frozenset[str]) -> Any:
    """Return a copy of ``schema`` without ``multipleOf``, recording where each one applied."""
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/") and ref not in seen_refs:
        # Follow the reference only to find multipleOf rules behind it; the definition itself is
        # rewritten where it lives (under "definitions"), so the $ref stays as it is.
        target = root.get("definitions", {}).get(ref.rsplit("/", 1)[1])
        _lift_multiple_of(target, root, path, found, seen_refs | {ref})
    copy: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "multipleOf":
            found.append((path, float(value)))
        elif key == "properties" and isinstance(value, dict):
            copy[key] = {
                name: _lift_multiple_of(sub, root, (*path, name), found, seen_refs)
                for name, sub in value.items()
            }
        elif key == "items":
            copy[key] = _lift_multiple_of(value, root, (*path, None), found, seen_refs)
        elif key == "definitions" and isinstance(value, dict):
            # Rewritten without recording: their rules were recorded where they are referenced.
            copy[key] = {name: _lift_multiple_of(sub, root, (), [], seen_refs)
                         for name, sub in value.items()}
        else:
            copy[key] = value
    return copy


def _values_at(payload: Any, path: _Path, shown: str = "") -> Any:
    """Yield ``(field name, value)`` for every value of ``payload`` found at ``path``."""
    if not path:
        yield shown, payload
        return
    head, rest = path[0], path[1:]
    if head is None:
        if isinstance(payload, list):
            for index, item in enumerate(payload):
                yield from _values_at(item, rest, f"{shown}[{index}]")
    elif isinstance(payload, dict) and head in payload:
        yield from _values_at(payload[head], rest, f"{shown}.{head}" if shown else head)


def _is_multiple(value: float, step: float) -> bool:
    quotient = value / step
    return abs(quotient - round(quotient)) <= 1e-9 * max(1.0, abs(quotient))


# --- the validator --------------------------------------------------------------------------------

#: fastjsonschema rule -> the ErrorCodes field that reports it.
_RULE_KINDS = {
    "required": "occurrence_constraint",
    "minItems": "occurrence_constraint",
    "maxItems": "occurrence_constraint",
    "type": "type_constraint",
    "enum": "property_constraint",
    "const": "property_constraint",
    "maxLength": "property_constraint",
    "minLength": "property_constraint",
    "pattern": "property_constraint",
    "format": "property_constraint",
    "minimum": "property_constraint",
    "maximum": "property_constraint",
    "exclusiveMinimum": "property_constraint",
    "exclusiveMaximum": "property_constraint",
    "multipleOf": "property_constraint",
    "uniqueItems": "property_constraint",
    "additionalProperties": "formation",
    "additionalItems": "formation",
}


class SchemaValidator:
    """Validates OCPP payloads of one version against the official schemas.

    >>> SchemaValidator("1.6").validate_call("Heartbeat", {})
    >>> SchemaValidator("1.6").knows("FlyToTheMoon")
    False

    Failures raise an ``ocpp.exceptions.OCPPError`` whose ``code`` is the one this version defines
    (see the module docstring) and whose description names the field and the rule,
    ready to be sent back in a CALLERROR. Use :func:`validator_for` to share one instance (and
    its compiled schemas) per version.
    """

    def __init__(self, version: str = "1.6") -> None:
        try:
            directory, self._request_suffix, self.codes = _VERSIONS[version]
        except KeyError:
            raise ValueError(f"unsupported OCPP version {version!r}") from None
        self.version = version
        self._schemas = resources.files("ocpp") / directory / "schemas"
        self._file_names: frozenset[str] = frozenset()
        self._known_actions: frozenset[str] | None = None
        self._compiled: dict[str, tuple[Any, list[tuple[_Path, float]]]] = {}

    # --- what the version defines -----------------------------------------------------------------

    def knows(self, action: str) -> bool:
        """True if ``action`` is a message this version defines (in either direction)."""
        return action in self._actions()

    def _actions(self) -> frozenset[str]:
        # Actions are looked up in this set, never joined into a path unchecked: the action name
        # comes from the wire and could be "../../something".
        if self._known_actions is None:
            self._file_names = frozenset(entry.name for entry in self._schemas.iterdir())
            request_end = f"{self._request_suffix}.json"
            self._known_actions = frozenset(
                name[: -len(request_end)]
                for name in self._file_names
                if name.endswith(request_end) and not name.endswith("Response.json")
            )
        return self._known_actions

    # --- validation ----------------------------------------------------------------------------

    def validate_call(self, action: str, payload: Any) -> None:
        """Check the payload of a CALL (a request) for ``action``."""
        if not self.knows(action):
            raise self.codes.not_implemented(f"{action} is not an OCPP {self.version} action")
        self._validate(f"{action}{self._request_suffix}.json", action, payload)

    def validate_result(self, action: str, payload: Any) -> None:
        """Check the payload of the CALLRESULT answering a CALL for ``action``."""
        if not self.knows(action):
            raise self.codes.not_implemented(f"{action} is not an OCPP {self.version} action")
        self._validate(f"{action}Response.json", action, payload)

    def _validate(self, file_name: str, action: str, payload: Any) -> None:
        validate, multiples = self._compiled.get(file_name) or self._compile(file_name)
        import fastjsonschema

        try:
            validate(payload)
        except fastjsonschema.JsonSchemaValueException as failure:
            raise self._explain(failure, action) from None
        for path, step in multiples:
            for field, value in _values_at(payload, path):
                if isinstance(value, (int, float)) and not isinstance(value, bool) and (
                    not _is_multiple(float(value), step)
                ):
                    raise self.codes.property_constraint(
                        f"{action}: {field} must be a multiple of {step:g}, got {value!r}",
                        {"field": field, "rule": "multipleOf"},
                    )

    def _compile(self, file_name: str) -> tuple[Any, list[tuple[_Path, float]]]:
        import fastjsonschema  # ~20 ms to import: only paid when the first message arrives

        self._actions()
        if file_name not in self._file_names:
            raise self.codes.not_implemented(f"no {self.version} schema {file_name}")
        # The 2.0.1 files start with a byte order mark.
        schema = json.loads((self._schemas / file_name).read_text(encoding="utf-8-sig"))
        multiples: list[tuple[_Path, float]] = []
        schema = _lift_multiple_of(schema, schema, (), multiples, frozenset())
        validate = fastjsonschema.compile(
            schema, formats={"date-time": _is_date_time}, use_default=False
        )
        self._compiled[file_name] = (validate, multiples)
        return validate, multiples

    def _explain(self, failure: Any, action: str) -> OCPPError:
        """Turn a fastjsonschema failure into the CALLERROR this version expects."""
        rule = failure.rule or ""
        field = _field_name(failure.name or "data")
        value = failure.value
        definition = failure.definition if isinstance(failure.definition, dict) else {}
        kind = _RULE_KINDS.get(rule, "formation")
        if rule == "required" and isinstance(value, dict):
            missing = [name for name in definition.get("required", ()) if name not in value]
            names = ", ".join(_join(field, name) for name in missing)
            reason = f"required field {names or field} is missing"
        elif rule == "additionalProperties" and isinstance(value, dict):
            allowed = definition.get("properties", {})
            extra = [name for name in value if name not in allowed]
            names = ", ".join(_join(field, name) for name in extra)
            reason = (f"{names} are not fields of this message" if len(extra) > 1
                      else f"{names or field} is not a field of this message")
        elif rule == "type" and not field:
            kind = "formation"
            reason = f"the payload must be a JSON object, got {_json_type(value)}"
        elif rule == "type":
            reason = f"{field} must be of type {definition.get('type')}, got {_json_type(value)}"
        elif rule == "enum":
            reason = f"{field} must be one of {', '.join(map(str, definition.get('enum', ())))}" \
                f", got {value!r}"
        elif rule == "maxLength":
            reason = f"{field} must be at most {definition['maxLength']} characters, " \
                f"got {len(value)}"
        elif rule == "format":
            reason = f"{field} must be a {definition.get('format')}, got {value!r}"
        elif rule in ("minItems", "maxItems"):
            reason = f"{field} must have {'at least' if rule == 'minItems' else 'at most'} " \
                f"{definition[rule]} items, got {len(value)}"
        else:
            reason = f"{field or 'the payload'} breaks the rule {rule}: {failure.message}"
        details = {"field": field, "rule": rule}
        return getattr(self.codes, kind)(f"{action}: {reason}", details)


def _field_name(name: str) -> str:
    """``data.idTagInfo.expiryDate`` -> ``idTagInfo.expiryDate``; the payload itself is ''."""
    if name == "data":
        return ""
    return name[5:] if name.startswith("data.") else name.removeprefix("data")


def _join(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


@functools.cache
def validator_for(version: str) -> SchemaValidator:
    """The shared validator of ``version``, so each schema is compiled once per process."""
    return SchemaValidator(version)
