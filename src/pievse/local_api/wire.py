"""HTTP/1.x on the wire for the local API: reading one bounded request, writing one JSON answer.

Every limit is bounded (request line, headers, body); anything malformed raises ``Refused`` with
the status to answer, so that a port scanner or a half-written request never reaches the routes.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

__all__ = ["MAX_BODY_BYTES", "MAX_HEADER_BYTES", "Refused", "Request", "file_response",
           "json_response", "read_request"]

MAX_REQUEST_LINE = 2048
MAX_HEADER_BYTES = 8192
MAX_HEADERS = 50
MAX_BODY_BYTES = 16384


class Refused(Exception):
    """The request is not served as sent: ``status`` is the HTTP status to answer, ``headers``
    any header that answer needs (Allow, WWW-Authenticate). The message is for the client."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    #: Names in lower case.
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: What follows the "?" of the target, undecoded ("" if none).
    query: str = ""


def json_response(
    status: HTTPStatus, body: dict[str, Any], headers: dict[str, str] | None = None
) -> bytes:
    """A whole HTTP response; raises TypeError or ValueError if ``body`` is not JSON."""
    payload = json.dumps(body, allow_nan=False).encode() + b"\n"
    head = [
        f"HTTP/1.1 {status.value} {status.phrase}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + payload


def file_response(content: bytes, content_type: str, filename: str) -> bytes:
    """A 200 response that a browser saves as ``filename`` (a plain ASCII name)."""
    head = [
        "HTTP/1.1 200 OK",
        f"Content-Type: {content_type}",
        f'Content-Disposition: attachment; filename="{filename}"',
        f"Content-Length: {len(content)}",
        "Connection: close",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + content


# The characters of an HTTP "token" (method and header names, RFC 9110).
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


async def read_request(reader: asyncio.StreamReader) -> Request:
    """Read one HTTP/1.x request; Refused (with the status to answer) on anything malformed."""
    line = await _read_line(reader, MAX_REQUEST_LINE, HTTPStatus.REQUEST_URI_TOO_LONG)
    parts = line.split(" ")
    if len(parts) != 3 or not parts[0] or not set(parts[0]) <= _TOKEN_CHARS:
        raise Refused("malformed request line")
    method, target, version = parts
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise Refused("only HTTP/1.0 and HTTP/1.1 are spoken here",
                      HTTPStatus.HTTP_VERSION_NOT_SUPPORTED)
    if not target.startswith("/"):
        # Absolute form ("http://host/api/status"), which HTTP/1.1 servers must accept.
        from urllib.parse import urlsplit

        target = urlsplit(target).path
        if not target.startswith("/"):
            raise Refused("malformed request target")
    path, _, query = target.split("#", 1)[0].partition("?")

    headers: dict[str, str] = {}
    size = 0
    while True:
        line = await _read_line(reader, MAX_HEADER_BYTES)
        if line == "":
            break
        size += len(line)
        if size > MAX_HEADER_BYTES or len(headers) >= MAX_HEADERS:
            raise Refused("headers too large", HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
        name, colon, value = line.partition(":")
        if not colon or not name or not set(name) <= _TOKEN_CHARS:
            raise Refused("malformed header line")
        name, value = name.lower(), value.strip()
        if name in headers and headers[name] != value and name in _SINGLE:
            # Two lengths are how request smuggling starts, two hosts or origins how a check is
            # dodged: refuse rather than pick one.
            raise Refused(f"conflicting {name} headers")
        headers[name] = value

    if "transfer-encoding" in headers:
        raise Refused("send the body with a Content-Length, not a Transfer-Encoding",
                      HTTPStatus.LENGTH_REQUIRED)
    length_text = headers.get("content-length", "0")
    if not length_text.isascii() or not length_text.isdigit():
        raise Refused("malformed Content-Length")
    length = int(length_text)
    if length > MAX_BODY_BYTES:
        raise Refused(f"the body is larger than {MAX_BODY_BYTES} bytes",
                      HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    try:
        body = await reader.readexactly(length) if length else b""
    except asyncio.IncompleteReadError:
        raise Refused("the body is shorter than its Content-Length") from None
    return Request(method, path, headers, body, query)


#: Headers that a request may carry once: the checks of the API read exactly one of each.
_SINGLE = frozenset({"content-length", "content-type", "host", "origin", "sec-fetch-site",
                     "authorization"})


async def _read_line(
    reader: asyncio.StreamReader,
    limit: int,
    too_long: HTTPStatus = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
) -> str:
    """One line without its CRLF (a bare LF is accepted too), as ASCII text."""
    try:
        raw = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise Refused("line too long", too_long) from None
    except asyncio.IncompleteReadError as error:
        if not error.partial:
            raise  # the client sent nothing more: no one to answer
        raise Refused("the request ended in the middle of a line") from None
    if len(raw) > limit:
        raise Refused("line too long", too_long)
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise Refused("the request line and headers must be ASCII") from None
    text = text.removesuffix("\n").removesuffix("\r")
    if any(not c.isprintable() and c != "\t" for c in text):
        raise Refused("control characters in the request")
    return text
