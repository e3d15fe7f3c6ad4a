"""Writing a frame at once on an open websocket, without awaiting anything.

websockets' ``send()`` is a coroutine that enters an async context manager per message and
awaits the transport's drain: an RPC session that sent every CALL through it needed a task to
await it in. On a connection that is simply open (no close under way, no fragmented message being
sent, the transport not asking us to wait), a text frame can be written as ``send()`` writes it,
there and then: so a CALL can go out from a callback (the outbox's, the answer to the CALL
before it) rather than from a task woken for it. Any other state goes through ``send()``, which
deals with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from websockets.protocol import State

__all__ = ["WriteNow", "direct_writer", "write_now"]

#: Writes one text frame now; False, nothing written, where ``send()`` must do it.
WriteNow = Callable[[str], bool]

_OPEN = State.OPEN
#: What the direct write uses of a websockets (asyncio) connection.
_NEEDS = ("protocol", "send_in_progress", "send_data", "paused", "transport")


def write_now(connection: Any, message: str) -> bool:
    """Write ``message`` as one text frame on ``connection`` (websockets' asyncio connection) if
    it is simply open and its transport takes more; False, nothing written, otherwise."""
    if (connection.protocol.state is not _OPEN or connection.send_in_progress is not None
            or connection.paused or connection.transport.is_closing()):
        return False
    connection.protocol.send_text(message.encode())
    connection.send_data()
    return True


def direct_writer(connection: Any) -> WriteNow | None:
    """How to write a frame at once on ``connection``: its own ``write_now`` where it has one
    (a connection that observes its frames), :func:`write_now` for a websockets connection,
    None for anything else (every frame then goes through its ``send()``)."""
    own = getattr(connection, "write_now", None)
    if own is not None:
        return own
    if all(hasattr(connection, name) for name in _NEEDS):
        return lambda message: write_now(connection, message)
    return None
