"""Frames written and read at once on an open websocket, without a task in between.

websockets' ``send()`` is a coroutine that enters an async context manager per message and
awaits the transport's drain, and ``recv()`` hands each message over through a queue to the task
that awaits it: an RPC session needed a task woken for every CALL it sent and for every answer
it read. A fleet of thousands of charge points paid for those wake-ups on every message.

* Writing: on a connection that is simply open (no close under way, no fragmented message being
  sent, the transport not asking us to wait), a text frame is written as ``send()`` writes it,
  there and then. Any other state goes through ``send()``, which deals with it.
* Reading: a whole text message that arrives while the reader waits for one, with nothing
  queued before it, is offered to a callback first (the session takes the answers to its own
  CALLs there); what it does not take is queued for ``recv()`` as before, in order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from websockets.frames import Opcode
from websockets.protocol import State

__all__ = ["TakeNow", "WriteNow", "direct_taker", "direct_writer", "take_at_once", "write_now"]

#: Writes one text frame now; False, nothing written, where ``send()`` must do it.
WriteNow = Callable[[str], bool]
#: Offered one text message as it arrives; True if it took it, False to leave it to ``recv()``.
TakeNow = Callable[[str], bool]

_OPEN = State.OPEN
_TEXT = Opcode.TEXT
#: What the direct write uses of a websockets (asyncio) connection.
_NEEDS = ("protocol", "send_in_progress", "send_data", "paused", "transport")
#: What the direct read uses of its frame assembler.
_ASSEMBLER_NEEDS = ("put", "frames", "get_in_progress", "closed")


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


def take_at_once(connection: Any, take: TakeNow) -> bool:
    """Offer ``take`` each whole text message of ``connection`` (websockets' asyncio connection)
    as it arrives, while its reader waits in ``recv()`` with nothing queued before it. False if
    the connection has no such reader (every message then goes through ``recv()``)."""
    assembler = getattr(connection, "recv_messages", None)
    if assembler is None or not all(hasattr(assembler, name) for name in _ASSEMBLER_NEEDS):
        return False
    queue = assembler.put

    def take_or_queue(frame: Any) -> None:
        if (frame.opcode is _TEXT and frame.fin and assembler.get_in_progress
                and not assembler.frames and not assembler.closed):
            try:
                message = bytes(frame.data).decode()
            except UnicodeDecodeError:
                pass  # recv() raises what it raises for it
            else:
                if take(message):
                    return
        queue(frame)

    assembler.put = take_or_queue
    return True


def direct_taker(connection: Any) -> Callable[[TakeNow], bool]:
    """How to have messages of ``connection`` offered as they arrive: its own ``take_at_once``
    where it has one, else :func:`take_at_once` (False where neither can)."""
    own = getattr(connection, "take_at_once", None)
    if own is not None:
        return own
    return lambda take: take_at_once(connection, take)
