"""The status page at ``GET /``: what the person standing at the wallbox sees on their phone.

``status_page.html`` ships inside the package: one self-contained file with its CSS and
JavaScript inline, so it works on a station with no internet (no CDN, no font, no framework).
It polls ``GET /api/status`` about once a second and shows the CSMS connection, each connector's
status, the current offered to the car over the control pilot and what limits it, the power, the
session's energy and the recent errors; a chart of the session's power (``GET /api/power``, drawn
as inline SVG); the recent sessions (``GET /api/sessions``); and the controls of a person at home
(max current, stop, enable/disable, and the charging mode when the status has one). A change the
API refuses with 401 makes the page ask for the ``[api] token`` once; it keeps it for the tab
(``sessionStorage``) and sends it as ``Authorization: Bearer``. Every value reaches the page as
text (``textContent``), never as markup.

Defence in depth, because the page shows strings that come from outside (id tags from cards,
messages logged about the CSMS): it is served with a Content-Security-Policy that allows only
its own inline script and style, by their SHA-256 hashes, and network requests only to its own
origin. Even a value that slipped past the escaping could neither run a script nor send
anything elsewhere.

The local API serves it with one branch before its JSON routes (``pievse.local_api.server``)::

    if request.path == STATUS_PAGE_PATH:
        return handle_status_page(request.method)

The page itself needs no token: it shows what the API tells it, which leaves out the id tags for
a client the API does not trust (:mod:`pievse.local_api.access`); its changes follow the API's
rules for every change.

``RecentErrors`` is the list of "last errors" the page shows: a logging handler on the
``pievse`` logger that keeps the newest ERROR and CRITICAL messages for ``GET /api/status``.
"""

from __future__ import annotations

import base64
import collections
import datetime
import functools
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from http import HTTPStatus
from importlib import resources
from typing import Any

__all__ = ["STATUS_PAGE_PATH", "RecentErrors", "StatusPage", "handle_status_page", "status_page"]

STATUS_PAGE_PATH = "/"
_RESOURCE = "status_page.html"
_METHODS = ("GET", "HEAD")

# The page's one inline <script> and one inline <style> (no attributes, as written in the file).
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def _csp_hash(source: str) -> str:
    """A CSP source expression that allows exactly this inline script or style."""
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


@dataclass(frozen=True, slots=True)
class StatusPage:
    """The page's bytes and the Content-Security-Policy that lets exactly its inline code run."""

    html: bytes
    content_security_policy: str

    @classmethod
    def from_html(cls, html: bytes) -> StatusPage:
        """Hash the inline script and style of ``html`` into its policy. A page without both
        would be blank or unstyled under that policy: refuse it here rather than serve it."""
        text = html.decode("utf-8")
        hashes: dict[str, list[str]] = {"script": [], "style": []}
        for match in _INLINE.finditer(text):
            hashes[match.group(1)].append(_csp_hash(match.group(2)))
        if not hashes["script"] or not hashes["style"]:
            raise ValueError("the status page needs an inline <script> and an inline <style>")
        policy = "; ".join([
            "default-src 'none'",
            "script-src " + " ".join(hashes["script"]),
            "style-src " + " ".join(hashes["style"]),
            "connect-src 'self'",  # its own API and nothing else
            "img-src data:",  # the empty favicon
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",  # no other site may frame the station's page
        ])
        return cls(html, policy)

    def response(self, method: str) -> bytes:
        """The whole HTTP/1.1 response to ``method /``: the page for GET, its head for HEAD,
        405 for any other method (the local API's JSON error shape)."""
        if method not in _METHODS:
            allow = ", ".join(_METHODS)
            body = json.dumps({"error": f"{STATUS_PAGE_PATH} allows {allow}, not {method}"})
            return _http(HTTPStatus.METHOD_NOT_ALLOWED, "application/json",
                         body.encode() + b"\n", {"Allow": allow})
        headers = {
            "Content-Security-Policy": self.content_security_policy,
            # The page changes only with a pievse upgrade; revalidate so the new one shows.
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }
        return _http(HTTPStatus.OK, "text/html; charset=utf-8", self.html, headers,
                     send_body=method == "GET")


def _http(
    status: HTTPStatus,
    content_type: str,
    body: bytes,
    headers: dict[str, str],
    *,
    send_body: bool = True,
) -> bytes:
    head = [
        f"HTTP/1.1 {status.value} {status.phrase}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close",  # the local API answers one request per connection
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + (body if send_body else b"")


@functools.cache
def status_page() -> StatusPage:
    """The page from the package data, read and hashed once per process."""
    page = resources.files("pievse.local_api").joinpath(_RESOURCE).read_bytes()
    return StatusPage.from_html(page)


def handle_status_page(method: str) -> bytes:
    """The whole HTTP response to a request for ``STATUS_PAGE_PATH`` with ``method``."""
    return status_page().response(method)


class RecentErrors(logging.Handler):
    """The newest ``size`` ERROR and CRITICAL log messages, newest first, for the status page.

    Attach it to the ``pievse`` logger and it sees what the daemon reports as going wrong: a
    fault input (RCD, emergency stop, welded contactor), a meter that stopped answering,
    transaction messages not delivered to the CSMS. Only the message's first line is kept,
    cut to ``max_chars``: a traceback belongs in the journal, not on a phone screen.
    """

    def __init__(self, size: int = 10, *, max_chars: int = 200) -> None:
        super().__init__(logging.ERROR)
        if size < 1 or max_chars < 1:
            raise ValueError("size and max_chars must be at least 1")
        self.max_chars = max_chars
        self._entries: collections.deque[dict[str, Any]] = collections.deque(maxlen=size)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            lines = record.getMessage().splitlines()
            message = lines[0] if lines else ""
            if len(message) > self.max_chars:
                message = message[: self.max_chars - 1] + "…"
            when = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
            entry = {
                "time": when.isoformat(timespec="seconds").replace("+00:00", "Z"),
                "level": record.levelname,
                "message": message,
            }
        except Exception:
            self.handleError(record)
            return
        with self.lock:
            self._entries.appendleft(entry)

    def as_json(self) -> list[dict[str, Any]]:
        """``[{"time": "2025-06-01T18:04:05Z", "level": "ERROR", "message": "..."}, ...]``,
        newest first."""
        with self.lock:
            return [dict(entry) for entry in self._entries]
