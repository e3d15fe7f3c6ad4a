"""Payload validation against the official OCPP JSON schemas, with the right error code per version.

Every OCPP-J message payload has a JSON schema published with the specification; the ``ocpp``
package ships them (``ocpp/v16/schemas``, ``ocpp/v201/schemas``). This module compiles them with
``fastjsonschema`` into plain Python functions, lazily (one action at a time, the first time it is
seen) and caches them: on a Pi that costs a few milliseconds once instead of a pure-Python schema
walk per message.

When a payload breaks its schema the peer must be told *how*, with an error code its version
defines: :mod:`pievse.protocol.common.errors` decides which code names each rule.

Two schema details need care:

* 1.6 decimals carry ``multipleOf: 0.1`` (a charging limit such as 21.4 A). In binary floating
  point 21.4 / 0.1 is 213.99999999999997, so a literal check rejects good profiles. The rule is
  lifted out of the schema before compiling and checked here with a tolerance instead.
* ``format: date-time`` is enforced (an ``expiryDate`` of "yesterday" is refused) by the one
  date-time reader, :mod:`pievse.protocol.common.datetimes`: what passes here, the codecs can
  read.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from ocpp.exceptions import OCPPError

from pievse.protocol.common.datetimes import is_datetime
from pievse.protocol.common.errors import ErrorCodes, error_codes

__all__ = ["SchemaValidator", "validator_for"]


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
    if not abs(quotient) < 2.0**53:
        # A float this large has no digits left below ``step``: it is a multiple (and its
        # quotient may even be infinite, which round() refuses).
        return True
    return abs(quotient - round(quotient)) <= 1e-9 * max(1.0, abs(quotient))


# --- the validator --------------------------------------------------------------------------------

# version -> (schema directory inside the ocpp package, request file suffix)
_SCHEMA_FILES: dict[str, tuple[str, str]] = {"1.6": ("v16", ""), "2.0.1": ("v201", "Request")}


class SchemaValidator:
    """Validates OCPP payloads of one version against the official schemas.

    >>> SchemaValidator("1.6").validate_call("Heartbeat", {})
    >>> SchemaValidator("1.6").knows("FlyToTheMoon")
    False

    Failures raise an ``ocpp.exceptions.OCPPError`` whose ``code`` is the one this version defines
    (see :mod:`pievse.protocol.common.errors`) and whose description names the field and the rule,
    ready to be sent back in a CALLERROR. Use :func:`validator_for` to share one instance (and
    its compiled schemas) per version.
    """

    def __init__(self, version: str = "1.6") -> None:
        self.codes: ErrorCodes = error_codes(version)
        directory, self._request_suffix = _SCHEMA_FILES[version]
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
                    raise self.codes.for_schema_rule("multipleOf")(
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
            schema, formats={"date-time": is_datetime}, use_default=False
        )
        self._compiled[file_name] = (validate, multiples)
        return validate, multiples

    def _explain(self, failure: Any, action: str) -> OCPPError:
        """Turn a fastjsonschema failure into the CALLERROR this version expects."""
        rule = failure.rule or ""
        field = _field_name(failure.name or "data")
        value = failure.value
        definition = failure.definition if isinstance(failure.definition, dict) else {}
        error_class = self.codes.for_schema_rule(rule)
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
            # Not a wrong field type: the payload is not the PDU at all.
            error_class = self.codes.formation
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
        return error_class(f"{action}: {reason}", details)


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
