"""The local HTTP API: the station's status, and control of the simulated car, card and faults.

A deliberately small HTTP/1.1 server on ``asyncio.start_server`` (no dependency, a few
milliseconds to import on a Pi Zero). One request per connection, answered with
``Connection: close``; JSON in and out. The request is read within bounds
(:mod:`pievse.local_api.wire`), its body decoded within bounds (:mod:`pievse.local_api.bodies`),
and who may do what is decided by :mod:`pievse.local_api.access`.

Routes::

    GET  /api/status       the backend's status() as JSON (id tags for trusted clients only)
    GET  /api/sessions     the session history as JSON; ?since=DATE&limit=N (see sessions.py)
    GET  /api/sessions.csv the same as a CSV download
    POST /api/limit        {"connector": 1, "amps": 16}: the local API's maximum current on a
                           connector, or without "connector" on the whole station (shared by
                           its sessions); "amps": null lifts it, as DELETE /api/limit does
    POST /api/mode         {"mode": "fast"|"pv"|"min+pv"}: how the cars charge (the solar
                           surplus); kept across a restart
    POST /api/stop         {"connector": 1}: end the session on the connector
    POST /api/enable       {"connector": 1, "enabled": false}: take cars or not (out of service);
                           without "connector" (or null) the whole station
    GET  /api/power        each connector's session power, for the status page's chart
                           (see power.py)
    POST /api/sim/ev       {"connector": 1, "state": "A"|"B"|"C", "max_current": 32}
    POST /api/sim/token    {"id_token": "04A1B2C3"}
    POST /api/sim/fault    {"connector": 1, "fault": "rcd"|"emergency_stop"|"welded"|"pilot",
                            "active": true}

The stop and enable routes are the controls of a person at home (``Controls``: the same rules as
over MQTT, a ``ValueError`` says why one is refused); they exist when the station gives the API
its controls, as ``/api/power`` exists when it gives it the power traces.

A ``/api/sim/...`` route exists only when the part it drives is simulated (``Simulation``): a car
behind a simulated board, the card reader, a simulated board's fault inputs. A successful POST
answers 200 ``{"ok": true}``. Errors answer ``{"error": "..."}``: 400 for a body that does not fit
(naming the field and what it allows) or a ``ValueError`` from the backend; 401 without the token
a change needs; 403 for a cross-origin request; 404 for a path that does not exist here (saying
why, for a simulation the station does not run); 409 when the backend raises
``SimulationUnavailable``; 415 for a change whose body is not declared JSON; 500 for any other
exception, which is logged.

A stalled client cannot lock others out (slowloris): each connection has ``request_timeout``
seconds to send its request, and when all ``max_connections`` are taken, a new client gets the
place of the oldest connection still sending its request from the address that holds the most
of them. A client that already holds as many as any other is turned away (503) instead.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol

from pievse.drivers.contracts import FaultKind
from pievse.local_api.access import Access
from pievse.local_api.bodies import LIMIT_AMPS, MODE, Field, read_body
from pievse.local_api.power import PowerTraces
from pievse.local_api.status_page import STATUS_PAGE_PATH, handle_status_page
from pievse.local_api.sessions import (
    Download, SessionSource, sessions_download, sessions_json)
from pievse.local_api.wire import (
    MAX_HEADER_BYTES, Refused, Request, file_response, json_response, read_request)

__all__ = ["ApiBackend", "ApiServer", "Controls", "Simulation", "SimulationUnavailable"]

log = logging.getLogger("pievse.api")

#: A client has this long to send its whole request (a stalled one must not hold a connection).
REQUEST_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 16


class SimulationUnavailable(Exception):
    """The station runs real drivers: there is no simulated car, card reader or fault input to
    drive. The message says which part is not simulated."""


class Simulation(enum.Enum):
    """A simulated part the API drives, each through its own route."""

    EV = "ev"  # a simulated car, behind a simulated board
    TOKEN = "token"  # the simulated card reader
    FAULT = "fault"  # the fault inputs of a simulated board

    @property
    def path(self) -> str:
        return f"/api/sim/{self.value}"

    @property
    def missing(self) -> str:
        """Why the route is not there, when the station does not simulate the part."""
        return {
            Simulation.EV: "this station has no simulated car (no board of it is simulated)",
            Simulation.TOKEN: "the card reader of this station is not simulated",
            Simulation.FAULT: "no board of this station is simulated",
        }[self]


class ApiBackend(Protocol):
    """What the API asks of the station (the daemon implements it)."""

    def status(self, show_id_tags: bool) -> dict[str, Any]:
        """The JSON of GET /api/status; without the id tags of the sessions unless
        ``show_id_tags``."""
        ...

    def set_local_limit(self, connector: int | None, amps: float | None) -> None:
        """The local API's limit on ``connector`` (None: the whole station); ``amps`` None lifts
        it. ValueError for a connector the station lacks."""
        ...

    def set_mode(self, mode: str) -> None:
        """The charging mode ("fast", "pv", "min+pv"). ValueError when the station cannot
        charge that way (no site meter to measure a surplus)."""
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


class Controls(Protocol):
    """What a person at home may change besides the maximum current (the app's
    ``StationControls``); each raises ValueError saying why it cannot."""

    def stop_session(self, connector: int) -> None:
        ...

    def set_enabled(self, connector: int | None, enabled: bool) -> None:
        """Whether ``connector`` (None: the whole station) takes cars."""
        ...


# --- request bodies -------------------------------------------------------------------------------

CONNECTOR = Field("connector", int, default=1, minimum=1)
EV_FIELDS = (
    CONNECTOR,
    Field("state", str, choices=("A", "B", "C")),
    Field("max_current", float, default=None, minimum=6, maximum=80, nullable=True),
)
LIMIT_CONNECTOR = Field("connector", int, default=None, minimum=1, maximum=8, nullable=True)
LIMIT_FIELDS = (LIMIT_CONNECTOR, LIMIT_AMPS)
MODE_FIELDS = (MODE,)
STOP_FIELDS = (Field("connector", int, minimum=1, maximum=8),)
ENABLE_FIELDS = (LIMIT_CONNECTOR, Field("enabled", bool))
# An OCPP 1.6 IdToken is a CiString20.
TOKEN_FIELDS = (Field("id_token", str, minimum=1, maximum=20),)
FAULT_FIELDS = (
    CONNECTOR,
    Field("fault", str, choices=tuple(kind.value for kind in FaultKind)),
    Field("active", bool),
)


# --- the server -----------------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Connection:
    writer: asyncio.StreamWriter
    #: The client's address: the places are shared out between addresses.
    peer: str
    #: Still sending its request (a place that may be given to someone else).
    reading: bool = True
    #: Its place was given to someone else; it gets no other answer.
    dropped: bool = False


class ApiServer:
    """Serve the local API for ``backend`` on ``host``:``port`` (port 0 picks a free port, which
    ``port`` holds once started), with the config's ``token`` and the ``simulations`` the
    station runs."""

    def __init__(
        self,
        backend: ApiBackend,
        host: str,
        port: int,
        *,
        token: str | None = None,
        simulations: Iterable[Simulation] = (),
        history: SessionSource | None = None,
        controls: Controls | None = None,
        power: PowerTraces | None = None,
        request_timeout: float = REQUEST_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.backend = backend
        self.host = host
        self.request_timeout = request_timeout
        self.max_connections = max_connections
        self.access = Access(host, token)
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task, _Connection] = {}
        simulated = set(simulations)
        posts = {Simulation.EV: self._sim_ev, Simulation.TOKEN: self._sim_token,
                 Simulation.FAULT: self._sim_fault}
        # path -> method -> handler(request) -> JSON-serialisable answer
        self._routes: dict[str, dict[str, Callable[[Request], Any]]] = {
            "/api/status": {"GET": self._status},
            **({"/api/sessions": {"GET": functools.partial(self._sessions, sessions_json)},
                "/api/sessions.csv": {"GET": functools.partial(self._sessions,
                                                               sessions_download)}}
               if history is not None else {}),
            "/api/limit": {"POST": self._set_limit, "DELETE": self._lift_limit},
            "/api/mode": {"POST": self._set_mode},
            **({"/api/stop": {"POST": self._stop}, "/api/enable": {"POST": self._enable}}
               if controls is not None else {}),
            **({"/api/power": {"GET": lambda _: power.as_json()}} if power is not None else {}),
            **{sim.path: {"POST": posts[sim]} for sim in Simulation if sim in simulated},
        }
        self._missing = {sim.path: sim.missing for sim in Simulation if sim not in simulated}
        self._history = history
        self._controls = controls

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
        for connection in list(self._connections.values()):
            connection.writer.close()
        await asyncio.gather(*list(self._connections), return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    # --- routes ---------------------------------------------------------------------------------

    def _status(self, request: Request) -> dict[str, Any]:
        return self.backend.status(self.access.trusted(request))

    def _sessions(self, answer: Callable[..., Any], request: Request) -> Any:
        return answer(self._history, request.query, self.access.trusted(request))

    def _set_limit(self, request: Request) -> dict[str, Any]:
        body = read_body(request.body, LIMIT_FIELDS)
        self.backend.set_local_limit(body["connector"], body["amps"])
        return {"ok": True}

    def _lift_limit(self, request: Request) -> dict[str, Any]:
        body = read_body(request.body, (LIMIT_CONNECTOR,))
        self.backend.set_local_limit(body["connector"], None)
        return {"ok": True}

    def _set_mode(self, request: Request) -> dict[str, Any]:
        self.backend.set_mode(read_body(request.body, MODE_FIELDS)["mode"])
        return {"ok": True}

    def _stop(self, request: Request) -> dict[str, Any]:
        assert self._controls is not None  # the route exists with them only
        self._controls.stop_session(read_body(request.body, STOP_FIELDS)["connector"])
        return {"ok": True}

    def _enable(self, request: Request) -> dict[str, Any]:
        assert self._controls is not None
        body = read_body(request.body, ENABLE_FIELDS)
        self._controls.set_enabled(body["connector"], body["enabled"])
        return {"ok": True}

    def _sim_ev(self, request: Request) -> dict[str, Any]:
        body = read_body(request.body, EV_FIELDS)
        self.backend.sim_ev(body["connector"], body["state"], body["max_current"])
        return {"ok": True}

    def _sim_token(self, request: Request) -> dict[str, Any]:
        body = read_body(request.body, TOKEN_FIELDS)
        self.backend.sim_token(body["id_token"])
        return {"ok": True}

    def _sim_fault(self, request: Request) -> dict[str, Any]:
        body = read_body(request.body, FAULT_FIELDS)
        self.backend.sim_fault(body["connector"], body["fault"], body["active"])
        return {"ok": True}

    def answer(self, request: Request) -> tuple[HTTPStatus, Any, dict[str, str]]:
        """The status, body (JSON, or a ``Download``) and extra headers that answer
        ``request``."""
        try:
            return HTTPStatus.OK, self._route(request)(request), {}
        except Refused as error:
            return error.status, {"error": str(error)}, error.headers
        except SimulationUnavailable as error:
            return HTTPStatus.CONFLICT, {"error": str(error) or "simulation unavailable"}, {}
        except ValueError as error:
            return HTTPStatus.BAD_REQUEST, {"error": str(error) or "invalid request"}, {}
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error, see the log"}, {}

    def _route(self, request: Request) -> Callable[[Request], Any]:
        """The handler of ``request`` once it may run; Refused with the reason otherwise."""
        methods = self._routes.get(request.path)
        if methods is None:
            why = self._missing.get(request.path)
            raise Refused(f"no such path: {request.path}" + (f" ({why})" if why else ""),
                          HTTPStatus.NOT_FOUND)
        handler = methods.get(request.method)
        if handler is None:
            allow = ", ".join(methods)
            raise Refused(f"{request.path} allows {allow}, not {request.method}",
                          HTTPStatus.METHOD_NOT_ALLOWED, {"Allow": allow})
        self.access.check_origin(request)
        if request.method != "GET":
            self.access.check_change(request)
        return handler

    def _response(self, request: Request) -> bytes:
        if request.path == STATUS_PAGE_PATH:
            return handle_status_page(request.method)
        status, body, headers = self.answer(request)
        if isinstance(body, Download):
            return file_response(body.content, body.content_type, body.filename)
        try:
            return json_response(status, body, headers)
        except (TypeError, ValueError):
            log.exception("%s %s: the answer is not JSON", request.method, request.path)
            return json_response(HTTPStatus.INTERNAL_SERVER_ERROR,
                                 {"error": "internal error, see the log"})

    # --- the connections ------------------------------------------------------------------------

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain function, not a coroutine, so that every connection is registered the moment it
        # is accepted: stop() then closes all of them, even those whose handler has not run yet.
        peer = _peer(writer)
        if not self._make_room(peer):
            writer.write(json_response(HTTPStatus.SERVICE_UNAVAILABLE,
                                       {"error": "too many connections, try again"}))
            writer.close()
            return
        connection = _Connection(writer, peer)
        task = asyncio.get_running_loop().create_task(self._serve(reader, connection))
        self._connections[task] = connection
        task.add_done_callback(lambda done: self._connections.pop(done, None))

    def _make_room(self, peer: str) -> bool:
        """Whether a new connection from ``peer`` may be served, giving it the place of another
        one still sending its request if all are taken (see the module's docstring)."""
        held = [c for c in self._connections.values() if not c.dropped]
        if len(held) < self.max_connections:
            return True
        sending = collections.Counter(c.peer for c in held if c.reading)
        if not sending:
            return False  # every place is being answered: it frees up in a moment
        heaviest, most = sending.most_common(1)[0]
        if sending[peer] >= most:
            return False
        oldest = next(c for c in held if c.reading and c.peer == heaviest)
        oldest.dropped = True
        oldest.writer.write(json_response(
            HTTPStatus.REQUEST_TIMEOUT,
            {"error": "the request was not sent in time: its connection was given to another"}))
        oldest.writer.close()
        return True

    async def _serve(self, reader: asyncio.StreamReader, connection: _Connection) -> None:
        writer = connection.writer
        try:
            try:
                async with asyncio.timeout(self.request_timeout):
                    request = await read_request(reader)
            except Refused as error:
                response = json_response(error.status, {"error": str(error)}, error.headers)
            except TimeoutError:
                response = json_response(HTTPStatus.REQUEST_TIMEOUT,
                                         {"error": "the request was not sent in time"})
            else:
                connection.reading = False
                response = self._response(request)
            if not connection.dropped:
                writer.write(response)
                async with asyncio.timeout(self.request_timeout):
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the client went away, or does not read its answer: nothing more to do
        except Exception:
            log.exception("local API connection failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):  # closed in error is closed all the same
                try:
                    async with asyncio.timeout(self.request_timeout):
                        await writer.wait_closed()
                except TimeoutError:
                    writer.transport.abort()  # a client that never reads what is left


def _peer(writer: asyncio.StreamWriter) -> str:
    address = writer.get_extra_info("peername")
    return str(address[0]) if isinstance(address, tuple) and address else str(address)
