"""The CALLERROR codes of each OCPP version, and which code names each kind of failure.

A CALLERROR must carry a code the peer's version defines, and OCPP 1.6 and 2.0.1 spell some of
them differently. Each kind of failure is decided once here, for both ends of a connection (the
charge point and the bench CSMS), after the specifications' tables (OCPP-J 1.6 section 4.2.3,
OCPP-J 2.0.1 section 4.3):

=====================================  ============================  =============================
failure                                1.6                           2.0.1
=====================================  ============================  =============================
action the version does not define     NotImplemented                NotImplemented
action defined, not handled here       NotSupported                  NotSupported
required field missing; list too       OccurenceConstraintViolation  OccurrenceConstraintViolation
  short or too long (cardinality)
field of the wrong JSON type           TypeConstraintViolation       TypeConstraintViolation
value breaks an enum, a length, a      PropertyConstraintViolation   PropertyConstraintViolation
  pattern, the date-time format, a
  range, multipleOf or uniqueness
field the schema does not have;        FormationViolation            FormatViolation
  payload not an object; other rules
not an RPC frame (bad JSON, no array)  FormationViolation            RpcFrameworkError
array with elements missing or of      ProtocolError                 RpcFrameworkError
  the wrong kind
MessageTypeId not 2, 3 or 4            ProtocolError                 MessageTypeNotSupported
=====================================  ============================  =============================

1.6 has no code for frames that are not RPC at all: "syntactically incorrect" (FormationViolation)
and "incomplete" (ProtocolError) are the closest.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    "SCHEMA_RULES",
    "ErrorCodes",
    "MessageTypeNotSupportedError",
    "RpcFrameworkError",
    "error_codes",
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


#: JSON-schema keyword -> the ErrorCodes field that reports its failure. A keyword missing here
#: (none of the official schemas uses one) is reported as ``formation``.
SCHEMA_RULES: dict[str, str] = {
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


@dataclass(frozen=True, slots=True)
class ErrorCodes:
    """The CALLERROR classes one OCPP version uses for each kind of failure.

    The class names of ``ocpp.exceptions`` follow its own (1.6-backwards) reading of
    NotImplemented and NotSupported; here the fields carry the meaning of the specification:
    ``not_implemented`` answers an action the version does not define, ``not_supported`` one it
    defines but this end does not handle.
    """

    version: str
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

    def for_schema_rule(self, rule: str) -> type[OCPPError]:
        """The class reporting a payload that breaks the JSON-schema keyword ``rule``."""
        return getattr(self, SCHEMA_RULES.get(rule, "formation"))


# The codes both versions spell alike.
_SHARED: dict[str, type[OCPPError]] = {
    "not_implemented": OcppNotImplementedError,
    "not_supported": OcppNotSupportedError,
    "internal": InternalError,
    "protocol": ProtocolError,
    "security": SecurityError,
    "property_constraint": PropertyConstraintViolationError,
    "type_constraint": TypeConstraintViolationError,
    "generic": GenericError,
}

# The codes they spell differently: field -> (1.6, 2.0.1).
_SPELLED: dict[str, tuple[type[OCPPError], type[OCPPError]]] = {
    "formation": (FormationViolationError, FormatViolationError),
    "occurrence_constraint": (OccurenceConstraintViolationError,
                              OccurrenceConstraintViolationError),
    "framing": (FormationViolationError, RpcFrameworkError),
    "incomplete_frame": (ProtocolError, RpcFrameworkError),
    "message_type": (ProtocolError, MessageTypeNotSupportedError),
}

_CODES = {
    version: ErrorCodes(version=version, **_SHARED,
                        **{field: spellings[column] for field, spellings in _SPELLED.items()})
    for column, version in enumerate(("1.6", "2.0.1"))
}


def error_codes(version: str) -> ErrorCodes:
    """The CALLERROR classes of ``version`` ("1.6" or "2.0.1")."""
    try:
        return _CODES[version]
    except KeyError:
        raise ValueError(f"unsupported OCPP version {version!r}") from None
