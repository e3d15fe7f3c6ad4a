"""The websocket link to the central system (CSMS): connect, run a session, reconnect, forever.

An OCPP-J charge point is the websocket *client*. It connects to the CSMS URL with its charge
point id as the last path segment (``ws://csms.example:9000/ocpp/CP1``), or where the URL puts a
``{id}``, and offers the OCPP
version as the websocket subprotocol (``Sec-WebSocket-Protocol: ocpp1.6``). The CSMS must select
that subprotocol; a server that selects none speaks something else, and no session is run on it.

Charge points live on flaky networks (a 4G modem, a garage Wi-Fi), so losing the link is normal.
:class:`OcppLink` reconnects for as long as it runs, waiting between attempts with exponential
backoff and full jitter (a random delay between zero and a doubling ceiling), so a fleet of charge
points does not stampede a CSMS that has just come back. Each failed attempt is one log line that
names the cause: refused, DNS, HTTP 401/404, TLS, timeout.

Websocket pings (OCPP key WebSocketPingInterval) detect a dead link that TCP alone would not
notice for many minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import random
import socket
import ssl as ssl_module
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from pievse import __version__
from pievse.aio import AsyncClock, SystemClock

__all__ = [
    "ID_PLACEHOLDER", "OcppLink", "SessionFactory", "charge_point_url",
    "describe_connect_failure",
]

#: The largest websocket message taken by default (websockets' own default): a larger one closes
#: the connection with 1009 (message too big) before any of it is read.
DEFAULT_MAX_MESSAGE_SIZE = 2**20

#: Runs one OCPP session over an open websocket and returns when it closes.
SessionFactory = Callable[[Any], Awaitable[None]]


#: Where ``[ocpp] url`` wants the charge point id, when not as the last path segment.
ID_PLACEHOLDER = "{id}"


def charge_point_url(url: str, charge_point_id: str) -> str:
    """The CSMS URL with the charge point id in it: where the URL says ``{id}``, else appended
    as the last path segment.

    >>> charge_point_url("ws://csms:9000/ocpp/", "CP 1")
    'ws://csms:9000/ocpp/CP%201'
    >>> charge_point_url("ws://csms:9000/ocpp/{id}/", "CP1")
    'ws://csms:9000/ocpp/CP1/'

    Some CSMSs serve a charge point only at a path of their own (arthexis: ``…/ocpp/<id>/``,
    with the trailing slash) or take the id in the query. The id is percent-encoded whole (a
    "/" in it stays part of the id); a query is kept.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"the CSMS URL must be ws://host[:port]/path or wss://…, got {url!r}")
    if not charge_point_id:
        raise ValueError("the charge point id must not be empty")
    if ID_PLACEHOLDER in parts.netloc:
        raise ValueError(f"{ID_PLACEHOLDER} belongs in the path or the query of the CSMS URL")
    encoded = quote(charge_point_id, safe="")
    if ID_PLACEHOLDER in parts.path or ID_PLACEHOLDER in parts.query:
        return urlunsplit(parts._replace(path=parts.path.replace(ID_PLACEHOLDER, encoded),
                                         query=parts.query.replace(ID_PLACEHOLDER, encoded)))
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + encoded))


def describe_connect_failure(error: BaseException, open_timeout: float | None = None) -> str:
    """One human sentence naming why a connection attempt failed."""
    from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

    if isinstance(error, InvalidStatus):
        status = error.response.status_code
        hint = {
            401: "unauthorized: check the charge point id and its password",
            403: "forbidden: the CSMS does not accept this charge point",
            404: "not found: check the URL path and the charge point id",
        }.get(status, "the CSMS refused the websocket upgrade")
        return f"the CSMS answered HTTP {status} {error.response.reason_phrase} ({hint})"
    if isinstance(error, ssl_module.SSLCertVerificationError):
        return f"TLS: the CSMS certificate is not trusted ({error.verify_message})"
    if isinstance(error, ssl_module.SSLError):
        return f"TLS handshake failed ({error.reason or error})"
    if isinstance(error, socket.gaierror):
        return f"DNS: cannot resolve the CSMS host name ({error.strerror or error})"
    if isinstance(error, ConnectionRefusedError) or (
        isinstance(error, OSError) and f"[Errno {errno.ECONNREFUSED}]" in str(error)
    ):
        return "connection refused: nothing listens at that host and port"
    if isinstance(error, TimeoutError):
        waited = f" within {open_timeout:g} s" if open_timeout else ""
        return f"timed out: no answer to the opening handshake{waited}"
    if isinstance(error, InvalidURI):
        return f"invalid CSMS URL ({error})"
    if isinstance(error, InvalidHandshake):
        return f"websocket handshake failed ({error})"
    if isinstance(error, OSError):
        return f"network error ({error.strerror or error})"
    return f"{type(error).__name__}: {error}"


class OcppLink:
    """Keeps a websocket connection to the CSMS open and runs one session per connection.

    ``session_factory(connection)`` is awaited for each open connection whose subprotocol is
    right; it runs the whole OCPP session and returns when the connection closes. Then the link
    waits (backoff) and connects again. :meth:`run` only ends when cancelled or :meth:`close`\\ d.

    ``ssl`` is an ``ssl.SSLContext`` for wss:// (None: the system's trusted CAs),
    ``extra_headers`` are sent with the opening handshake (e.g. ``Authorization`` for Basic
    authentication; a ``user:password@`` in the URL works too). ``proxy`` is passed to websockets
    (None: connect directly, True: use the proxy of the environment).

    Where the security settings can change while running (the CSMS raises the security profile,
    sets a new AuthorizationKey, installs a certificate), ``transport()`` is asked before each
    attempt for ``(ssl, extra_headers)``, ``describe_failure(error)`` words a refused attempt
    (401, certificate problems) and ``on_attempt(succeeded)`` learns how each attempt went.
    :meth:`reconnect` closes the current connection and connects again at once.

    ``subprotocols()``, where given, is asked before each attempt for the subprotocols to offer
    in order of preference (a charge point that speaks several versions lets the CSMS choose);
    the session runs on whichever of them the CSMS selected (``connection.subprotocol``).

    The backoff waits on ``clock`` and draws its jitter from ``rng``.
    """

    def __init__(
        self,
        url: str,
        charge_point_id: str,
        *,
        subprotocol: str = "ocpp1.6",
        subprotocols: Callable[[], Sequence[str]] | None = None,
        session_factory: SessionFactory,
        ping_interval: float = 60,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        ssl: ssl_module.SSLContext | None = None,
        extra_headers: Mapping[str, str] | None = None,
        logger: logging.Logger | None = None,
        open_timeout: float = 10.0,
        stable_after: float = 30.0,
        proxy: str | bool | None = None,
        transport: Callable[[], tuple[ssl_module.SSLContext | None, Mapping[str, str]]]
        | None = None,
        describe_failure: Callable[[BaseException], str] | None = None,
        on_attempt: Callable[[bool], None] | None = None,
        clock: AsyncClock | None = None,
        rng: random.Random | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        compression: str | None = "deflate",
    ) -> None:
        if backoff_initial <= 0 or backoff_max < backoff_initial:
            raise ValueError("need 0 < backoff_initial <= backoff_max")
        self.url = charge_point_url(url, charge_point_id)
        self.charge_point_id = charge_point_id
        self.subprotocol = subprotocol
        self._subprotocols = subprotocols or (lambda: (subprotocol,))
        self.session_factory = session_factory
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        #: A connection that stayed up this long (seconds) resets the backoff to its start.
        self.stable_after = stable_after
        self.open_timeout = open_timeout
        self.log = logger or logging.getLogger("pievse.ocpp.link")
        self._ping_interval = 0.0
        self.set_ping_interval(ping_interval)
        self._ssl = ssl
        self._extra_headers = dict(extra_headers or {})
        self._proxy = proxy
        self._transport = transport
        self._describe_failure = describe_failure
        self._on_attempt = on_attempt or (lambda succeeded: None)
        self.clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._reconnect_now = False
        self._attempt = 0
        self._connection: Any = None
        self._connected = asyncio.Event()
        self._loop_task: asyncio.Task | None = None
        self._delay = 0.0
        self._closing = False
        #: The largest message the CSMS may send; the adapter says what its largest request
        #: needs (a SendLocalList of the length the station advertises).
        self.max_message_size = max(DEFAULT_MAX_MESSAGE_SIZE, max_message_size)
        #: "deflate" offers permessage-deflate; None does not (its zlib windows cost some
        #: hundred KB per connection, which a fleet of thousands of links cannot spend).
        self.compression = compression

    # --- state ---------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while a connection with the right subprotocol is open and its session runs."""
        return self._connection is not None

    async def wait_connected(self, timeout: float | None = None) -> bool:
        """Wait until connected; False if ``timeout`` seconds passed first."""
        return await self.clock.wait(self._connected, timeout)

    @property
    def ping_interval(self) -> float:
        return self._ping_interval

    def set_ping_interval(self, seconds: float) -> None:
        """Websocket ping interval (0 disables pings); used from the next connection on."""
        if seconds < 0:
            raise ValueError("the ping interval cannot be negative")
        self._ping_interval = float(seconds)

    # --- running -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, run a session, back off, reconnect: until :meth:`close` (then return) or
        cancellation (then raise CancelledError)."""
        if self._loop_task is not None and not self._loop_task.done():
            raise RuntimeError("this link is already running")
        self._closing = False
        # The loop runs in a task of its own so that close() can stop it without cancelling
        # whatever task awaits run().
        loop_task = asyncio.create_task(self._reconnect_forever(), name="ocpp-link-loop")
        self._loop_task = loop_task
        try:
            await loop_task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self._closing and current is not None and not current.cancelling():
                return
            loop_task.cancel()
            await asyncio.wait({loop_task})
            raise

    async def _reconnect_forever(self) -> None:
        while not self._closing:
            connection = await self._connect()
            if connection is not None:
                await self._serve(connection)
            if self._closing:
                break
            await self.clock.sleep(self._delay)

    async def _connect(self) -> Any:
        """One attempt; the open connection, or None (already logged) if it failed."""
        from websockets.asyncio.client import connect

        ssl_context, headers = self._ssl, self._extra_headers
        if self._transport is not None:
            try:
                ssl_context, extra = self._transport()
            except Exception as error:  # unreadable certificate files, say
                self._delay = self._next_delay()
                self.log.error("cannot prepare the connection to %s: %s; retrying in %.1f s",
                               self.url, error, self._delay)
                self._on_attempt(False)
                return None
            headers = {**self._extra_headers, **extra}
        offered = list(self._subprotocols())
        options: dict[str, Any] = {
            "subprotocols": offered,
            "additional_headers": headers or None,
            "user_agent_header": f"pievse/{__version__}",
            "open_timeout": self.open_timeout,
            "ping_interval": self._ping_interval or None,
            "ping_timeout": 20 if self._ping_interval else None,
            "proxy": self._proxy,
            "max_size": self.max_message_size,
            "compression": self.compression,
        }
        if ssl_context is not None:
            options["ssl"] = ssl_context
        try:
            connection = await connect(self.url, **options)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._delay = self._next_delay()
            why = (self._describe_failure(error) if self._describe_failure is not None
                   else describe_connect_failure(error, self.open_timeout))
            self.log.warning("cannot connect to %s: %s; retrying in %.1f s", self.url, why,
                             self._delay)
            self._on_attempt(False)
            return None
        if connection.subprotocol not in offered:
            self._delay = self._next_delay()
            self.log.warning(
                "the CSMS at %s did not accept subprotocol %s (it selected %s); closing, "
                "retrying in %.1f s", self.url, " or ".join(offered),
                connection.subprotocol or "none", self._delay,
            )
            await connection.close(1002, "subprotocol required")
            return None
        self._on_attempt(True)
        return connection

    async def _serve(self, connection: Any) -> None:
        opened = self.clock.monotonic()
        self.log.info("connected to %s (%s)", self.url, connection.subprotocol)
        self._connection = connection
        self._connected.set()
        try:
            await self.session_factory(connection)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.log.exception("the OCPP session failed; reconnecting")
        finally:
            self._connection = None
            self._connected.clear()
            # Also on cancellation: leave with a proper close handshake, not a dropped socket.
            with contextlib.suppress(Exception):
                await connection.close()
        if self.clock.monotonic() - opened >= self.stable_after:
            self._attempt = 0
        self._delay = self._next_delay()
        if self._reconnect_now:
            self._reconnect_now, self._delay = False, 0.0
        if not self._closing:
            self.log.warning("connection to %s closed (code %s%s); reconnecting in %.1f s",
                             self.url, connection.close_code,
                             f", {connection.close_reason}" if connection.close_reason else "",
                             self._delay)

    def _next_delay(self) -> float:
        ceiling = min(self.backoff_max, self.backoff_initial * 2.0 ** self._attempt)
        if ceiling < self.backoff_max:
            self._attempt += 1
        return self._rng.uniform(0.0, ceiling)

    async def reconnect(self, reason: str = "reconnecting") -> None:
        """Close the current connection (with a close frame) and connect again at once, with
        whatever ``transport()`` gives then."""
        connection = self._connection
        if connection is None:
            self._delay = 0.0
            return
        self._reconnect_now = True
        with contextlib.suppress(Exception):
            await connection.close(1000, reason)

    async def close(self) -> None:
        """Stop :meth:`run`: close the connection (with a close frame) and end the loop."""
        self._closing = True
        task = self._loop_task
        if task is None or task.done():
            return
        task.cancel()
        if task is asyncio.current_task():
            return  # closed from inside a session: the cancellation unwinds it
        # asyncio.wait, unlike awaiting the task, does not raise the task's cancellation here.
        await asyncio.wait({task})
