"""A small OCPP 1.6J and 2.0.1 central system for the bench, the demo and our end-to-end tests.

Not a production CSMS: it keeps everything in memory, accepts any charge point that speaks
``ocpp1.6`` or ``ocpp2.0.1`` (in the version it offers), and answers with a fixed policy (an
optional id-tag list, a boot status, a heartbeat interval). What it is good at is being
watched and steered:

- the **ledger** (``messages``, ``transactions``, ``charge_points``) records every frame and what
  it meant, and ``wait_for`` / ``wait_for_message`` wake on each new frame;
- **commands** (``remote_start``, ``reset``, ... and the generic ``call``) return the charge
  point's answer as a camelCase dict, or raise ``CallErrorResponse`` carrying the error code;
- ``send_raw`` sends any text and returns the frame that answers it, to check how a charge point
  copes with broken frames;
- ``on_call`` lets a test answer any CALL itself, ``drop_connection`` and ``refuse_connections``
  play a flaky network;
- the security profiles a charge point may use: TLS (``ssl_context``; with a client CA in it,
  mutual TLS), HTTP Basic credentials checked at the opening handshake (``authorization_keys``),
  and a CA that signs the charge point's certificate requests (``sign``);
- an optional HTTP control endpoint (``http_port``) does the same from a shell (``pievse csms``).

Example::

    csms = CentralSystem(port=0, accept_id_tags={"04A1B2C3"})
    await csms.start()
    # point a charge point at csms.url + "/CP1"
    await csms.wait_for_message("CP1", "BootNotification")
    await csms.remote_start("CP1", "04A1B2C3", connector_id=1)
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import http
import inspect
import itertools
import logging
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import NegotiationError
from websockets.http11 import Request, Response

from pievse.aio import AsyncClock, SystemClock
from pievse.csms.ledger import ChargePointRecord, Direction, Ledger, Message, Transaction
from pievse.csms.session import (
    CallErrorResponse,
    ChargePointNotConnected,
    ChargePointSession,
    InvalidRequest,
    InvalidResponse,
    OnCall,
    SessionBase,
)
from pievse.csms.session201 import ChargePointSession201
from pievse.protocol.common.transport_security import basic_authorization

__all__ = [
    "CallErrorResponse",
    "CentralSystem",
    "ChargePointNotConnected",
    "ChargePointRecord",
    "InvalidRequest",
    "InvalidResponse",
    "Message",
    "Transaction",
]

#: The subprotocols it speaks; it takes the one the charge point offers, the newest of them when
#: it offers both.
SUBPROTOCOLS = ("ocpp2.0.1", "ocpp1.6")
BOOT_STATUSES = ("Accepted", "Pending", "Rejected")


class CentralSystem:
    """An OCPP 1.6J CSMS on ``ws[s]://host:port/ocpp/<charge point id>``.

    ``accept_id_tags``: the id tags answered Accepted (compared case-insensitively, as OCPP 1.6
    says id tokens are); ``None`` accepts every tag, any other tag is Invalid.
    ``boot_status``: the answer to BootNotification; with Pending or Rejected the interval given
    is ``boot_retry_interval`` (default: the heartbeat interval), the time the charge point must
    wait before booting again. ``boot_status``, ``accept_id_tags``, ``heartbeat_interval``,
    ``on_call`` and ``refuse_connections`` may be changed while running.
    ``response_timeout``: how long a command waits for the charge point's answer.
    ``strict``: check every CALLRESULT from a charge point against the OCPP 1.6 schema and raise
    ``InvalidResponse`` when it does not fit.
    ``ssl_context``: None for ws://, else the server's TLS context (wss://).
    ``authorization_keys``: charge point id -> AuthorizationKey; when given, the opening handshake
    must carry ``Authorization: Basic base64(id:key)`` or is answered 401, as a CSMS does in
    security profiles 1 and 2. ``sign``: the CA behind the CSMS (CSR PEM -> certificate chain
    PEM, or None to sign nothing); without one, SignCertificate is Rejected, with one it is
    Accepted and followed by a CertificateSigned. ``on_connect(cp_id, websocket)`` is told of
    each accepted connection; ``refused`` lists every refused handshake as (id, HTTP status).
    ``authorization_keys``, ``sign`` and ``on_connect`` may be changed while running too.
    ``clock``: the time it stamps frames and answers with, and its commands' timeouts run on.
    ``subprotocols``: the OCPP versions it speaks, its preferred first (both by default: a
    charge point offering both gets 2.0.1); it may be changed while running, as a CSMS that
    moves to another version does.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9000,
        *,
        accept_id_tags: set[str] | None = None,
        boot_status: str = "Accepted",
        heartbeat_interval: int = 300,
        boot_retry_interval: int | None = None,
        response_timeout: float = 30.0,
        strict: bool = True,
        http_port: int | None = None,
        logger: logging.Logger | None = None,
        ssl_context: ssl.SSLContext | None = None,
        authorization_keys: dict[str, str] | None = None,
        sign: Callable[[str], str | None] | None = None,
        clock: AsyncClock | None = None,
        subprotocols: tuple[str, ...] = SUBPROTOCOLS,
    ) -> None:
        if str(boot_status) not in BOOT_STATUSES:
            raise ValueError(f"boot_status must be one of {BOOT_STATUSES}, not {boot_status!r}")
        self.host = host
        self.subprotocols = subprotocols
        self.accept_id_tags = accept_id_tags
        self.boot_status = boot_status
        self.heartbeat_interval = heartbeat_interval
        self.boot_retry_interval = boot_retry_interval
        self.response_timeout = response_timeout
        self.strict = strict
        self.log = logger or logging.getLogger("pievse.csms")
        self.ssl_context = ssl_context
        self.authorization_keys = authorization_keys
        self.sign = sign
        self.on_call: OnCall | None = None
        self.on_connect: Callable[[str, ServerConnection], None] | None = None
        self.refuse_connections = False
        self.refused: list[tuple[str, int]] = []
        self._requested_port = port
        self._requested_http_port = http_port
        self.clock = clock or SystemClock()
        self._ledger = Ledger(self.now)
        self._sessions: dict[str, SessionBase] = {}
        self._handlers: set[asyncio.Task] = set()
        self._background: set[asyncio.Task] = set()
        self._transaction_ids = itertools.count(1)
        self._started: dict[tuple, int] = {}
        self.repeated_starts = 0  # StartTransactions seen twice (answered with the same id)
        self._server: Server | None = None
        self._control: Any = None

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Listen for charge points (and HTTP control requests, if ``http_port`` was given)."""
        self._server = await serve(
            self._serve_charge_point,
            self.host,
            self._requested_port,
            ssl=self.ssl_context,
            select_subprotocol=self._select_subprotocol,
            process_request=self._check_handshake,
            logger=self.websockets_log,
            # OCPP has its own Heartbeat; websocket pings stay on to notice dead TCP links.
            ping_interval=60,
        )
        if self._requested_http_port is not None:
            from pievse.csms.control import ControlServer

            self._control = ControlServer(self, self.host, self._requested_http_port)
            await self._control.start()
        self.log.info("CSMS listening on %s/<charge point id>", self.url)
        if self._control is not None:
            self.log.info("control endpoint on %s", self.http_url)

    async def stop(self) -> None:
        """Close every charge point's websocket and stop listening."""
        if self._control is not None:
            await self._control.stop()
            self._control = None
        if self._server is None:
            return
        self._server.close()
        try:
            await asyncio.wait_for(self._server.wait_closed(), 5)
        except TimeoutError:
            # A handler stuck in a slow on_call hook: do not let it hold the shutdown.
            for task in list(self._handlers):
                task.cancel()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)
        self._server = None

    async def __aenter__(self) -> CentralSystem:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _select_subprotocol(self, connection: ServerConnection, offered: Any) -> str:
        """The first of its versions the charge point offers; none is a 400."""
        for subprotocol in self.subprotocols:
            if subprotocol in offered:
                return subprotocol
        raise NegotiationError("invalid subprotocol; expected one of "
                               + ", ".join(self.subprotocols))

    @property
    def websockets_log(self) -> logging.Logger:
        """The logger of the websocket server (its connection chatter, handshakes included)."""
        return self.log.getChild("websockets")

    @property
    def port(self) -> int:
        """The port really listened on (the kernel's choice when 0 was asked for)."""
        if self._server is None:
            raise RuntimeError("the CSMS is not started")
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        """Where charge points connect, without their id: they append ``/<id>``."""
        scheme = "wss" if self.ssl_context is not None else "ws"
        return f"{scheme}://{_url_host(self.host)}:{self.port}/ocpp"

    @property
    def http_port(self) -> int | None:
        return self._control.port if self._control is not None else None

    @property
    def http_url(self) -> str | None:
        if self._control is None:
            return None
        return f"http://{_url_host(self.host)}:{self._control.port}"

    # -- connections ----------------------------------------------------------------------

    def _check_handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        cp_id = _charge_point_id(request.path)
        offered = [p.strip() for value in request.headers.get_all("Sec-WebSocket-Protocol")
                   for p in value.split(",")]
        if not cp_id:
            self.log.warning("refused a connection to %s: no charge point id in the path", path)
            return self._refuse(connection, cp_id, http.HTTPStatus.NOT_FOUND,
                                "Connect to /ocpp/<charge point id>\n")
        if not set(self.subprotocols) & set(offered):
            self.log.warning("refused %s: none of %s offered (offered: %s)", cp_id,
                             ", ".join(self.subprotocols), ", ".join(offered) or "none")
            return self._refuse(connection, cp_id, http.HTTPStatus.BAD_REQUEST,
                                f"This CSMS speaks {' or '.join(self.subprotocols)}\n")
        if not self._authorized(cp_id, request.headers.get("Authorization")):
            self.log.warning("refused %s: no valid Basic credentials", cp_id)
            response = self._refuse(connection, cp_id, http.HTTPStatus.UNAUTHORIZED,
                                    "Unauthorized\n")
            response.headers["WWW-Authenticate"] = 'Basic realm="OCPP", charset="UTF-8"'
            return response
        if self.refuse_connections:
            self.log.info("refused %s: refuse_connections is set", cp_id)
            return self._refuse(connection, cp_id, http.HTTPStatus.SERVICE_UNAVAILABLE,
                                "Not taking connections\n")
        return None

    def _refuse(self, connection: ServerConnection, cp_id: str, status: http.HTTPStatus,
                text: str) -> Response:
        self.refused.append((cp_id, status.value))
        return connection.respond(status, text)

    def _authorized(self, cp_id: str, header: str | None) -> bool:
        """Security profiles 1 and 2: the charge point's id and AuthorizationKey, as HTTP Basic
        credentials."""
        if self.authorization_keys is None:
            return True
        key = self.authorization_keys.get(cp_id)
        if key is None or header is None:
            return False
        try:
            expected = basic_authorization(cp_id, key)
        except ValueError:  # an id with ':' cannot be a Basic user name
            return False
        return hmac.compare_digest(header.encode(), expected.encode())

    async def _serve_charge_point(self, websocket: ServerConnection) -> None:
        cp_id = _charge_point_id(websocket.request.path)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        previous = self._sessions.get(cp_id)
        if previous is not None:
            # The charge point came back (rebooted, or its network did) while we still hold
            # its old websocket: the newer connection is the real one.
            self.log.warning("%s connected again; closing its previous connection", cp_id)
            self._end_session(previous)
            # Not awaited here: a dead peer would hold up the new connection for the whole
            # close timeout.
            closing = asyncio.create_task(
                previous.websocket.close(1000, "replaced by a new connection"))
            self._background.add(closing)
            closing.add_done_callback(self._background.discard)
        session: SessionBase = (ChargePointSession201(cp_id, websocket, self)
                                if websocket.subprotocol == "ocpp2.0.1"
                                else ChargePointSession(cp_id, websocket, self))
        self._sessions[cp_id] = session
        address = websocket.remote_address[0] if websocket.remote_address else "?"
        self.log.info("%s connected from %s", cp_id, address)
        self._ledger.connected(cp_id)
        if self.on_connect is not None:
            self.on_connect(cp_id, websocket)
        try:
            await session.start()
        finally:
            self._end_session(session)
            self.log.info("%s disconnected (%s)", cp_id, _close_reason(websocket))
            if task is not None:
                self._handlers.discard(task)

    def _end_session(self, session: SessionBase) -> None:
        session.close()
        if self._sessions.get(session.id) is session:
            del self._sessions[session.id]
            self._ledger.disconnected(session.id)

    def session(self, cp_id: str) -> SessionBase:
        try:
            return self._sessions[cp_id]
        except KeyError:
            raise ChargePointNotConnected(f"{cp_id} is not connected") from None

    def connected(self, cp_id: str) -> bool:
        return cp_id in self._sessions

    async def drop_connection(self, cp_id: str, *, abrupt: bool = False) -> None:
        """Close the charge point's websocket now, as a CSMS restart or a lost link would.

        ``abrupt=True`` drops the TCP connection without a websocket close handshake, as a
        network failure does. Returns once the CSMS considers the charge point disconnected
        (it may already be connecting again).
        """
        session = self.session(cp_id)
        self.log.info("dropping the connection of %s%s", cp_id, " (abruptly)" if abrupt else "")
        self._end_session(session)
        if abrupt:
            session.websocket.transport.abort()
        else:
            await session.websocket.close(1001, "dropped by the CSMS")

    # -- policy (used by the sessions' default answers) ------------------------------------

    @property
    def retry_interval(self) -> int:
        if self.boot_retry_interval is not None:
            return self.boot_retry_interval
        return self.heartbeat_interval

    def id_tag_status(self, id_tag: str) -> str:
        if self.accept_id_tags is None:
            return "Accepted"
        accepted = {tag.casefold() for tag in self.accept_id_tags}
        return "Accepted" if id_tag.casefold() in accepted else "Invalid"

    def next_transaction_id(self) -> int:
        return next(self._transaction_ids)

    def transaction_id_for(self, cp_id: str, connector_id: int, id_tag: str, meter_start: int,
                           timestamp: str) -> int:
        """The transactionId for a StartTransaction: a new one, or the same one again when the
        charge point repeats a start it already sent (it lost our answer in a crash or a
        connection drop), as a CSMS that bills must do to avoid a duplicate session."""
        key = (cp_id, connector_id, id_tag, meter_start, timestamp)
        known = self._started.get(key)
        if known is not None:
            self.log.warning("%s: StartTransaction repeated; same transactionId %s", cp_id, known)
            self.repeated_starts += 1
            return known
        transaction_id = self._started[key] = self.next_transaction_id()
        return transaction_id

    # -- the ledger -----------------------------------------------------------------------

    def record(self, message: Message) -> None:
        self._ledger.record(message)
        self.log.info("%s", message.describe())

    @property
    def messages(self) -> list[Message]:
        """Every frame, both directions, in the order seen."""
        return self._ledger.messages

    @property
    def transactions(self) -> dict[int, Transaction]:
        """Transactions by transactionId, in the order they started."""
        return self._ledger.transactions

    @property
    def charge_points(self) -> dict[str, ChargePointRecord]:
        """Every charge point that ever connected, by id (``connected`` says if it still is)."""
        return self._ledger.charge_points

    async def wait_for(
        self, predicate: Callable[[CentralSystem], Any], timeout: float = 10.0,
        what: str | None = None,
    ) -> Any:
        """Wait until ``predicate(self)`` is truthy and return its value.

        The predicate is checked now and after each recorded frame, connect and disconnect.
        Raises TimeoutError describing ``what`` (or the predicate's source) and the last frames.
        """
        return await self._ledger.wait_until(
            lambda: predicate(self), timeout, lambda: what or _describe(predicate)
        )

    async def wait_for_message(
        self,
        cp_id: str,
        action: str,
        direction: Direction = "in",
        predicate: Callable[[Message], Any] | None = None,
        timeout: float = 10.0,
        *,
        since: int = 0,
    ) -> Message:
        """The first frame of ``action`` in ``direction`` from/to ``cp_id`` (already recorded or
        still to come) for which ``predicate(record)`` holds.

        ``direction="in"`` finds what the charge point sent: its CALL for the actions it starts
        (BootNotification, Authorize, ...), its answer for the commands the CSMS sends.
        ``direction="out"`` finds what the CSMS sent, e.g. its answer to BootNotification.
        ``since`` skips the first ``since`` records: pass ``len(csms.messages)`` to wait only
        for a frame still to come.
        """
        cursor = since

        def found() -> Message | None:
            nonlocal cursor
            match, cursor = self._ledger.find_message(cursor, cp_id, action, direction,
                                                      predicate)
            return match

        def what() -> str:
            also = f" matching {_describe(predicate)}" if predicate is not None else ""
            arrow = "from" if direction == "in" else "to"
            return f"{action} {arrow} {cp_id}{also}"

        return await self._ledger.wait_until(found, timeout, what)

    # -- commands to a charge point ---------------------------------------------------------

    async def call(self, cp_id: str, action: str, payload: dict | None = None, *,
                   timeout: float | None = None, validate: bool = True) -> dict:
        """Send any OCPP 1.6 CALL by action name; return the answer payload (camelCase dict).

        Raises CallErrorResponse (``.code``) when the charge point answers with a CALLERROR,
        TimeoutError when it does not answer within ``timeout`` (default ``response_timeout``),
        ChargePointNotConnected, and with ``validate`` InvalidRequest for a payload that breaks
        the schema (InvalidResponse for an answer that does, when ``strict``).
        """
        return await self.session(cp_id).request(
            action, payload or {}, timeout, validate=validate,
            validate_response=validate and self.strict,
        )

    async def send(self, cp_id: str, request: Any, *, timeout: float | None = None) -> Any:
        """Send an ``ocpp.v16.call`` dataclass; return the ``ocpp.v16.call_result`` dataclass
        answering it. Raises as :meth:`call` does (the answer is always checked)."""
        return await self.session(cp_id).send(request, timeout)

    async def remote_start(self, cp_id: str, id_tag: str, connector_id: int | None = None,
                           charging_profile: dict | None = None) -> dict:
        payload: dict[str, Any] = {"idTag": id_tag}
        if connector_id is not None:
            payload["connectorId"] = connector_id
        if charging_profile is not None:
            payload["chargingProfile"] = charging_profile
        return await self.call(cp_id, "RemoteStartTransaction", payload)

    async def remote_stop(self, cp_id: str, transaction_id: int) -> dict:
        return await self.call(cp_id, "RemoteStopTransaction", {"transactionId": transaction_id})

    async def reset(self, cp_id: str, kind: str = "Soft") -> dict:
        return await self.call(cp_id, "Reset", {"type": kind})

    async def change_availability(self, cp_id: str, connector_id: int, kind: str) -> dict:
        return await self.call(cp_id, "ChangeAvailability",
                               {"connectorId": connector_id, "type": kind})

    async def change_configuration(self, cp_id: str, key: str, value: str) -> dict:
        return await self.call(cp_id, "ChangeConfiguration", {"key": key, "value": value})

    async def get_configuration(self, cp_id: str, keys: list[str] | None = None) -> dict:
        return await self.call(cp_id, "GetConfiguration",
                               {"key": list(keys)} if keys is not None else {})

    async def clear_cache(self, cp_id: str) -> dict:
        return await self.call(cp_id, "ClearCache", {})

    async def unlock_connector(self, cp_id: str, connector_id: int) -> dict:
        return await self.call(cp_id, "UnlockConnector", {"connectorId": connector_id})

    async def trigger_message(self, cp_id: str, requested_message: str,
                              connector_id: int | None = None) -> dict:
        payload: dict[str, Any] = {"requestedMessage": requested_message}
        if connector_id is not None:
            payload["connectorId"] = connector_id
        return await self.call(cp_id, "TriggerMessage", payload)

    async def set_charging_profile(self, cp_id: str, connector_id: int, profile: dict) -> dict:
        return await self.call(cp_id, "SetChargingProfile",
                               {"connectorId": connector_id, "csChargingProfiles": profile})

    async def clear_charging_profile(self, cp_id: str, **criteria: Any) -> dict:
        """ClearChargingProfile; criteria in camelCase (``id``, ``connectorId``, ...)."""
        return await self.call(cp_id, "ClearChargingProfile", criteria)

    async def get_composite_schedule(self, cp_id: str, connector_id: int, duration: int,
                                     charging_rate_unit: str | None = None) -> dict:
        payload: dict[str, Any] = {"connectorId": connector_id, "duration": duration}
        if charging_rate_unit is not None:
            payload["chargingRateUnit"] = charging_rate_unit
        return await self.call(cp_id, "GetCompositeSchedule", payload)

    async def data_transfer(self, cp_id: str, vendor_id: str, message_id: str | None = None,
                            data: str | None = None) -> dict:
        payload: dict[str, Any] = {"vendorId": vendor_id}
        if message_id is not None:
            payload["messageId"] = message_id
        if data is not None:
            payload["data"] = data
        return await self.call(cp_id, "DataTransfer", payload)

    async def send_raw(self, cp_id: str, text: str, timeout: float = 10.0) -> str | None:
        """Send ``text`` as one websocket frame, whatever it is; return the charge point's answer.

        The answer is the frame carrying the same unique id when ``text`` has one, otherwise the
        next CALLERROR (or non-OCPP frame) the charge point sends. None if nothing answers within
        ``timeout`` or the connection closes first.
        """
        return await self.session(cp_id).send_raw(text, timeout)


def _charge_point_id(path: str) -> str:
    """The identity is the last segment of the path, percent-decoded."""
    return unquote(urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1])


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _close_reason(websocket: ServerConnection) -> str:
    code = websocket.close_code
    if code is None:
        return "connection lost"
    reason = websocket.close_reason
    return f"close code {code}{': ' + reason if reason else ''}"


def _describe(predicate: Callable[..., Any]) -> str:
    try:
        return inspect.getsource(predicate).strip()
    except (OSError, TypeError):
        return getattr(predicate, "__qualname__", repr(predicate))
