"""An id token as the store keeps it: its value and its type (by the core's own enum value), so a
session started under one OCPP version is billed under another with the same token.

What was written before the types were kept (an open transaction or an outbox entry of schema 3
and earlier, the 1.6 payloads of schema 1) holds an id tag alone: that is a card, ISO14443, as
OCPP 1.6's idTag is read.
"""

from __future__ import annotations

from typing import Any

from pievse.core.authorization import IdToken, IdTokenType

__all__ = ["UNTYPED_ID_TAG_TYPE", "decode_id_token", "encode_id_token", "id_token_type",
           "untyped_id_tag"]

#: The type of an id tag the store kept without one.
UNTYPED_ID_TAG_TYPE = IdTokenType.ISO14443

_TYPES = {t.value: t for t in IdTokenType}


def encode_id_token(token: IdToken) -> dict[str, str]:
    return {"value": token.value, "type": token.type.value}


def decode_id_token(data: dict[str, Any]) -> IdToken:
    """KeyError for a type this version does not know, ValueError for an empty value."""
    return IdToken(data["value"], _TYPES[data["type"]])


def id_token_type(stored: str) -> IdTokenType:
    """The type as ``encode_id_token`` spells it (KeyError if unknown)."""
    return _TYPES[stored]


def untyped_id_tag(id_tag: str) -> IdToken:
    """An id tag the store kept before it kept types."""
    return IdToken(id_tag, UNTYPED_ID_TAG_TYPE)
