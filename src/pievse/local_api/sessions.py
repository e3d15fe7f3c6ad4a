"""``GET /api/sessions`` and ``GET /api/sessions.csv``: the session history, read-only.

Both take the same query parameters, each at most once, all optional::

    since=2026-12-01            sessions that started at or after (a date, or an ISO 8601
                                date and time; UTC unless it names its offset)
    limit=100                   the newest this many (1 to 1000; default 100)

A parameter that is unknown, repeated or out of its bounds is refused (400) with what it allows.
The JSON is ``{"sessions": [...]}``, newest first, with the ongoing sessions (no end yet); the
CSV is a download (``Content-Disposition: attachment``). Like ``GET /api/status``, the answer
leaves out the id tags for a client the API does not trust.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from pievse.persistence.history import SessionRecord, parse_since, sessions_csv

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Download", "SessionQuery", "SessionSource", "read_query",
           "sessions_download", "sessions_json"]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_PARAMETERS = ("since", "limit")

#: (since, limit) -> the sessions, newest first: the store's ``sessions``.
SessionSource = Callable[[float | None, int], list[SessionRecord]]


@dataclass(frozen=True, slots=True)
class SessionQuery:
    since: float | None = None
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True, slots=True)
class Download:
    """An answer that is a file rather than JSON."""

    content: bytes
    content_type: str
    filename: str


def read_query(query: str) -> SessionQuery:
    """The parameters of a sessions request; ValueError naming the parameter and what it
    allows."""
    if len(query) > 200:
        raise ValueError("the query is too long: since=DATE&limit=N is all it takes")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query),
                          max_num_fields=len(_PARAMETERS))
    except ValueError:
        raise ValueError("a malformed query: since=DATE&limit=N, each at most once") from None
    seen: dict[str, str] = {}
    for name, value in pairs:
        if name not in _PARAMETERS:
            raise ValueError(f"unknown query parameter {name[:40]!r}: since or limit")
        if name in seen:
            raise ValueError(f"the query parameter {name} is given twice")
        seen[name] = value
    since = parse_since(seen["since"]) if "since" in seen else None
    limit = DEFAULT_LIMIT
    if "limit" in seen:
        text = seen["limit"]
        if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_LIMIT):
            raise ValueError(f"limit={text[:40]!r}: must be a whole number from 1 to {MAX_LIMIT}")
        limit = int(text)
    return SessionQuery(since, limit)


def sessions_json(source: SessionSource, query: str, show_id_tags: bool) -> dict[str, Any]:
    asked = read_query(query)
    return {"sessions": [record.as_json(show_id_tags)
                         for record in source(asked.since, asked.limit)]}


def sessions_download(source: SessionSource, query: str, show_id_tags: bool) -> Download:
    asked = read_query(query)
    text = sessions_csv(source(asked.since, asked.limit), show_id_tags)
    return Download(text.encode("utf-8"), "text/csv; charset=utf-8", "pievse-sessions.csv")
