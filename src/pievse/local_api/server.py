"""The local HTTP API: the station's status, and control of the simulated car, card and faults.

A deliberately small HTTP/1.1 server on ``asyncio.start_server`` (no dependency, a few
milliseconds to import on a Pi Zero). One request per connection, answered with
``Connection: close``; JSON in and out. Every limit is bounded (request line, headers, body,
time to send them, connections at once), and anything malformed gets a 400 and a closed
connection: a stray port scanner or a half-written request never reaches the backend, and never
stops the server.

Routes::

    GET  /api/status       the backend's status() as JSON
    POST /api/sim/ev       {"connector": 1, "state": "A"|"B"|"C", "max_current": 32}
    POST /api/sim/token    {"id_token": "04A1B2C3"}
    POST /api/sim/fault    {"connector": 1, "fault": "rcd"|"emergency_stop"|"welded"|"pilot",
                            "active": true}

A successful POST answers 200 ``{"ok": true}``. Errors answer ``{"error": "..."}``: 400 for a body
that does not fit (naming the field and what it allows) or a ``ValueError`` from the backend, 409
when the backend raises ``SimulationUnavailable`` (the station runs real drivers), 500 for any
other exception, which is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol

from pievse.drivers.contracts import FaultKind
from pievse.local_api.status_page import STATUS_PAGE_PATH, handle_status_page

__all__ = ["ApiBackend", "ApiServer", "SimulationUnavailable"]

log = logging.getLogger("pievse.api")

MAX_REQUEST_LINE = 2048
MAX_HEADER_BYTES = 8192
MAX_HEADERS = 50
MAX_BODY_BYTES = 16384
#: A client has this long to send its whole request (a stalled one must not hold a connection).
REQUEST_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 16


class SimulationUnavailable(Exception):
    """The station runs real drivers: there is no simulated car, card reader or fault input to
    drive. The message says which part is not simulated."""


class ApiBackend(Protocol):
    """What the API asks of the station (the daemon implements it)."""

    def status(self) -> dict[str, Any]:
        """The JSON of GET /api/status."""
        ...

    def sim_ev(self, connector: int, state: str, max_current: float | None) -> None:
        """Put the simulated car on ``connector`` in pilot state A, B or C; optionally change the
        most it draws (A)."""
        ...

    def sim_token(self, id_token: str) -> None:
        """Present a card to the simulated reader."""
        ...

    def sim_fault(self, connector: int, fault: str, active: bool) -> None:
        """Raise or clear a fault input of the simulated board."""
        ...


class BadRequest(Exception):
    """The request cannot be served as sent; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.status = status


# --- request bodies -------------------------------------------------------------------------------


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
                raise BadRequest(f'"{self.name}" is missing; it {self.allowed()}')
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
            raise BadRequest(f'"{self.name}" = {json.dumps(value)[:60]}: {self.allowed()}')
        return float(value) if self.kind is float else value


CONNECTOR = Field("connector", int, default=1, minimum=1)
EV_FIELDS = (
    CONNECTOR,
    Field("state", str, choices=("A", "B", "C")),
    Field("max_current", float, default=None, minimum=6, maximum=80, nullable=True),
)
# An OCPP 1.6 IdToken is a CiString20.
TOKEN_FIELDS = (Field("id_token", str, minimum=1, maximum=20),)
FAULT_FIELDS = (
    CONNECTOR,
    Field("fault", str, choices=tuple(kind.value for kind in FaultKind)),
    Field("active", bool),
)


def read_body(raw: bytes, fields: tuple[Field, ...]) -> dict[str, Any]:
    """Parse a JSON object body and take ``fields`` out of it; BadRequest on anything else."""
    try:
        body = json.loads(raw or b"{}")
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    names = [f.name for f in fields]
    unknown = [name for name in body if name not in names]
    if unknown:
        raise BadRequest(f'unknown field "{unknown[0]}"; allowed fields: ' + ", ".join(names))
    return {f.name: f.take(body) for f in fields}


# --- the server -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ApiServer:
    """Serve the local API for ``backend`` on ``host``:``port`` (port 0 picks a free port, which
    ``port`` holds once started).

    A client has ``request_timeout`` seconds to send its whole request; beyond
    ``max_connections`` open at once, new ones are answered 503 and closed, so a stalled or
    flooding client cannot take the Pi's memory or the station's event loop.
    """

    def __init__(
        self,
        backend: ApiBackend,
        host: str,
        port: int,
        *,
        request_timeout: float = REQUEST_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.backend = backend
        self.host = host
        self.request_timeout = request_timeout
        self.max_connections = max_connections
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task, asyncio.StreamWriter] = {}
        # path -> method -> handler(body) -> JSON-serialisable answer
        self._routes: dict[str, dict[str, Callable[[bytes], Any]]] = {
            "/api/status": {"GET": lambda body: self.backend.status()},
            "/api/sim/ev": {"POST": self._sim_ev},
            "/api/sim/token": {"POST": self._sim_token},
            "/api/sim/fault": {"POST": self._sim_fault},
        }

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._requested_port
        return self._server.sockets[0].getsockname()[1]

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.host, self._requested_port, limit=MAX_HEADER_BYTES
        )

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        # Dropping the connections ends their handlers as a client hanging up would (cancelling
        # the handler tasks instead makes Python 3.11's asyncio log spurious errors).
        for writer in list(self._connections.values()):
            writer.close()
        await asyncio.gather(*list(self._connections), return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    # --- routes ---------------------------------------------------------------------------------

    def _sim_ev(self, raw: bytes) -> dict[str, Any]:
        body = read_body(raw, EV_FIELDS)
        self.backend.sim_ev(body["connector"], body["state"], body["max_current"])
        return {"ok": True}

    def _sim_token(self, raw: bytes) -> dict[str, Any]:
        body = read_body(raw, TOKEN_FIELDS)
        self.backend.sim_token(body["id_token"])
        return {"ok": True}

    def _sim_fault(self, raw: bytes) -> dict[str, Any]:
        body = read_body(raw, FAULT_FIELDS)
        self.backend.sim_fault(body["connector"], body["fault"], body["active"])
        return {"ok": True}

    def answer(self, request: Request) -> tuple[HTTPStatus, dict[str, Any], dict[str, str]]:
        """The status, JSON body and extra headers that answer ``request``."""
        methods = self._routes.get(request.path)
        if methods is None:
            return HTTPStatus.NOT_FOUND, {"error": f"no such path: {request.path}"}, {}
        handler = methods.get(request.method)
        if handler is None:
            allow = ", ".join(methods)
            return (
                HTTPStatus.METHOD_NOT_ALLOWED,
                {"error": f"{request.path} allows {allow}, not {request.method}"},
                {"Allow": allow},
            )
        try:
            return HTTPStatus.OK, handler(request.body), {}
        except BadRequest as error:
            return error.status, {"error": str(error)}, {}
        except SimulationUnavailable as error:
            return HTTPStatus.CONFLICT, {"error": str(error) or "simulation unavailable"}, {}
        except ValueError as error:
            return HTTPStatus.BAD_REQUEST, {"error": str(error) or "invalid request"}, {}
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error, see the log"}, {}

    # --- the wire -------------------------------------------------------------------------------

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain function, not a coroutine, so that every connection is registered the moment it
        # is accepted: stop() then closes all of them, even those whose handler has not run yet.
        if len(self._connections) >= self.max_connections:
            writer.write(_response(HTTPStatus.SERVICE_UNAVAILABLE,
                                   {"error": "too many connections, try again"}))
            writer.close()
            return
        task = asyncio.get_running_loop().create_task(self._connection(reader, writer))
        self._connections[task] = writer
        task.add_done_callback(lambda done: self._connections.pop(done, None))

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                async with asyncio.timeout(self.request_timeout):
                    request = await read_request(reader)
            except BadRequest as error:
                await self._respond(writer, error.status, {"error": str(error)})
                return
            except TimeoutError:
                await self._respond(writer, HTTPStatus.REQUEST_TIMEOUT,
                                    {"error": "the request was not sent in time"})
                return
            if request.path == STATUS_PAGE_PATH:
                writer.write(handle_status_page(request.method))
                await writer.drain()
                return
            status, body, headers = self.answer(request)
            try:
                await self._respond(writer, status, body, headers)
            except (TypeError, ValueError):
                log.exception("%s %s: the answer is not JSON", request.method, request.path)
                await self._respond(writer, HTTPStatus.INTERNAL_SERVER_ERROR,
                                    {"error": "internal error, see the log"})
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to answer
        except Exception:
            log.exception("local API connection failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    async def _respond(
        writer: asyncio.StreamWriter,
        status: HTTPStatus,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        writer.write(_response(status, body, headers))
        await writer.drain()


def _response(
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


# The characters of an HTTP "token" (method and header names, RFC 9110).
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


async def read_request(reader: asyncio.StreamReader) -> Request:
    """Read one HTTP/1.x request; BadRequest (with the status to answer) on anything malformed."""
    line = await _read_line(reader, MAX_REQUEST_LINE, HTTPStatus.REQUEST_URI_TOO_LONG)
    parts = line.split(" ")
    if len(parts) != 3 or not parts[0] or not set(parts[0]) <= _TOKEN_CHARS:
        raise BadRequest("malformed request line")
    method, target, version = parts
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise BadRequest("only HTTP/1.0 and HTTP/1.1 are spoken here",
                         HTTPStatus.HTTP_VERSION_NOT_SUPPORTED)
    if not target.startswith("/"):
        # Absolute form ("http://host/api/status"), which HTTP/1.1 servers must accept.
        from urllib.parse import urlsplit

        target = urlsplit(target).path
        if not target.startswith("/"):
            raise BadRequest("malformed request target")
    path = target.split("?", 1)[0].split("#", 1)[0]

    headers: dict[str, str] = {}
    size = 0
    while True:
        line = await _read_line(reader, MAX_HEADER_BYTES)
        if line == "":
            break
        size += len(line)
        if size > MAX_HEADER_BYTES or len(headers) >= MAX_HEADERS:
            raise BadRequest("headers too large", HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
        name, colon, value = line.partition(":")
        if not colon or not name or not set(name) <= _TOKEN_CHARS:
            raise BadRequest("malformed header line")
        name, value = name.lower(), value.strip()
        if name == "content-length" and headers.get(name, value) != value:
            # Two lengths are how request smuggling starts: refuse rather than pick one.
            raise BadRequest("conflicting Content-Length headers")
        headers[name] = value

    if "transfer-encoding" in headers:
        raise BadRequest("send the body with a Content-Length, not a Transfer-Encoding",
                         HTTPStatus.LENGTH_REQUIRED)
    length_text = headers.get("content-length", "0")
    if not length_text.isascii() or not length_text.isdigit():
        raise BadRequest("malformed Content-Length")
    length = int(length_text)
    if length > MAX_BODY_BYTES:
        raise BadRequest(f"the body is larger than {MAX_BODY_BYTES} bytes",
                         HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    try:
        body = await reader.readexactly(length) if length else b""
    except asyncio.IncompleteReadError:
        raise BadRequest("the body is shorter than its Content-Length") from None
    return Request(method, path, headers, body)


async def _read_line(
    reader: asyncio.StreamReader,
    limit: int,
    too_long: HTTPStatus = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
) -> str:
    """One line without its CRLF (a bare LF is accepted too), as ASCII text."""
    try:
        raw = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise BadRequest("line too long", too_long) from None
    except asyncio.IncompleteReadError as error:
        if not error.partial:
            raise  # the client sent nothing more: no one to answer
        raise BadRequest("the request ended in the middle of a line") from None
    if len(raw) > limit:
        raise BadRequest("line too long", too_long)
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise BadRequest("the request line and headers must be ASCII") from None
    text = text.removesuffix("\n").removesuffix("\r")
    if any(not c.isprintable() and c != "\t" for c in text):
        raise BadRequest("control characters in the request")
    return text
