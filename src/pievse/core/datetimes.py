"""OCPP's date-times (ISO 8601, UTC) to and from the epoch seconds the core counts in."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["format_datetime", "parse_datetime"]


def parse_datetime(text: str) -> float:
    """ISO 8601 to epoch seconds. A time without an offset is taken as UTC, which OCPP requires
    anyway (some central systems leave the ``Z`` off). ValueError names the text."""
    try:
        when = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not an ISO 8601 date-time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def format_datetime(timestamp: float) -> str:
    """Epoch seconds to ISO 8601 in UTC with a ``Z``; milliseconds only when there are any."""
    when = datetime.fromtimestamp(timestamp, tz=UTC)
    spec = "seconds" if when.microsecond == 0 else "milliseconds"
    return when.isoformat(timespec=spec).replace("+00:00", "Z")
