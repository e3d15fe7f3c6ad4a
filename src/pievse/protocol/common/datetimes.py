"""OCPP date-times, read and written in one place for every protocol version and the bench CSMS.

OCPP sends instants as RFC 3339 text (1.6 says ISO 8601, 2.0.1 RFC 3339), and both versions ask
for UTC. What we **write** is one format: UTC with a ``Z``, to the nearest millisecond, written
when it is not 0 (what we write reads back to an instant that is written the same, even where a
float of epoch seconds holds a millisecond only to a few microseconds)::

    2025-01-01T12:00:00Z        2025-01-01T12:00:00.250Z

What we **read** is what central systems send: a ``Z`` or a numeric offset (``+02:00``, or ISO
8601's basic ``+0200``), any number of fraction digits (kept to the microsecond), ``t``/``z`` in
lower case, and no offset at all (taken as UTC: some central systems leave the ``Z`` off). The
date must exist in the calendar (no 30 February). A leap second (``23:59:60``, which RFC 3339
allows) is read as the second after ``23:59:59``, as POSIX time counts it.

Instants are epoch seconds (a float), as the station core counts time, or aware datetimes. An
instant outside the years 1 to 9999 in UTC raises ValueError, never OverflowError, so a caller
reading a peer's payload needs to catch one exception only; what is read can always be written
back (the schemas' ``format: date-time`` refuses the rest before a handler sees it).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone

__all__ = ["format_datetime", "is_datetime", "parse_datetime"]

_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?\Z"
)


def _read(text: str) -> datetime:
    """The aware UTC datetime ``text`` names; ValueError if it names none."""
    match = _DATE_TIME.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not an RFC 3339 date-time")
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    fraction, _, sign, offset_hours, offset_minutes = match.group(7, 8, 9, 10, 11)
    microsecond = int((fraction or "0")[:6].ljust(6, "0"))
    leap = second == 60
    zone = UTC
    if sign is not None:
        if int(offset_hours) > 23 or int(offset_minutes) > 59:
            raise ValueError(f"{text!r} has no valid UTC offset")
        offset = timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
        zone = timezone(-offset if sign == "-" else offset)
    try:
        when = datetime(year, month, day, hour, minute, 59 if leap else second, microsecond,
                        tzinfo=zone)
        when = (when + timedelta(seconds=1 if leap else 0)).astimezone(UTC)
        # Read as epoch seconds, the last microsecond of 9999 rounds into the year 10000: an
        # instant that cannot be written back is refused here, not where it is answered.
        datetime.fromtimestamp(when.timestamp(), UTC)
    except (ValueError, OverflowError, OSError) as error:
        raise ValueError(f"{text!r} is not a date-time in the calendar: {error}") from None
    return when


def parse_datetime(text: str) -> float:
    """The epoch seconds of an OCPP date-time. ValueError names the text if it is none."""
    return _read(text).timestamp()


def is_datetime(text: str) -> bool:
    """True if :func:`parse_datetime` reads ``text`` (the schemas' ``format: date-time``)."""
    try:
        _read(text)
    except ValueError:
        return False
    return True


#: The epoch seconds of 0001-01-01 and of 10000-01-01: the instants a datetime holds.
_FIRST, _END = -62_135_596_800, 253_402_300_800
# The last whole second written, and its text, swapped as one tuple (threads write too): a
# station (and a fleet, thousands of times a second) writes many instants of the same second.
_last_second: tuple[float, str] = (math.nan, "")


def format_datetime(moment: float | datetime) -> str:
    """An instant (epoch seconds, or a datetime: a naive one is taken as UTC) as OCPP writes it:
    UTC, ``Z``, to the nearest millisecond, written only when it is not 0."""
    global _last_second
    kind = type(moment)
    if (kind is float or kind is int) and _FIRST < moment < _END - 1:
        # As datetime.fromtimestamp reads it (rounded half to even to the microsecond), then
        # to the millisecond, without building a datetime per instant.
        fraction, whole = math.modf(moment)
        millis = (round(fraction * 1e6) + 500) // 1000
        if millis >= 1000:
            whole, millis = whole + 1, millis - 1000
        elif millis < 0:
            whole, millis = whole - 1, millis + 1000
        second, text = _last_second
        if second != whole:
            text = datetime.fromtimestamp(whole, UTC).replace(tzinfo=None).isoformat()
            _last_second = (whole, text)
        return f"{text}.{millis:03d}Z" if millis else text + "Z"
    try:
        if isinstance(moment, datetime):
            when = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        else:
            when = datetime.fromtimestamp(moment, UTC)
    except (ValueError, OverflowError, OSError) as error:
        raise ValueError(f"{moment!r} is not an instant between the years 1 and 9999: "
                         f"{error}") from None
    millis = (when.microsecond + 500) // 1000
    when = when.replace(microsecond=0, tzinfo=None)
    if millis == 1000:
        try:
            when, millis = when + timedelta(seconds=1), 0
        except OverflowError:  # the last half millisecond of 9999: as close as can be written
            millis = 999
    return f"{when.isoformat()}.{millis:03d}Z" if millis else when.isoformat() + "Z"
