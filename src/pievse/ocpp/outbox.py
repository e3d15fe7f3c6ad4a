"""The outbox: transaction messages delivered in order, each exactly once.

StartTransaction, StopTransaction and the MeterValues of a transaction are what a CPO bills from.
They wait here, in the order the station produced them, until the CSMS has answered each one; a
connection loss leaves them in place and delivery resumes with the next connection.

Messages refer to their transaction by the station's own ``transaction_ref``. The CSMS's
transactionId is only known once it has answered StartTransaction, and because the outbox sends
strictly in order, every later message of that transaction is built after that answer and carries
the real id: a StopTransaction with transactionId -1 cannot happen.

This implementation keeps the queue in memory. It is the seam where a persistent store plugs in:
``OutboxStore`` names what such a store must provide.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal, Protocol

EntryKind = Literal["start", "stop", "meter"]


@dataclass(slots=True)
class OutboxEntry:
    seq: int
    kind: EntryKind
    transaction_ref: int
    data: Any  # the station effect the message is built from
    attempts: int = 0
    not_before: float = 0.0  # monotonic time before which it is not retried


class OutboxStore(Protocol):
    def put(self, kind: EntryKind, transaction_ref: int, data: Any) -> OutboxEntry: ...
    def head(self) -> OutboxEntry | None: ...
    def ack(self, entry: OutboxEntry) -> None: ...
    def remember_transaction_id(self, transaction_ref: int, transaction_id: int) -> None: ...
    def transaction_id(self, transaction_ref: int) -> int | None: ...


class Outbox:
    def __init__(self) -> None:
        self._entries: deque[OutboxEntry] = deque()
        self._seq = 0
        self._transaction_ids: dict[int, int] = {}
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, kind: EntryKind, transaction_ref: int, data: Any) -> OutboxEntry:
        self._seq += 1
        entry = OutboxEntry(self._seq, kind, transaction_ref, data)
        self._entries.append(entry)
        self._changed.set()
        return entry

    def head(self) -> OutboxEntry | None:
        return self._entries[0] if self._entries else None

    def ack(self, entry: OutboxEntry) -> None:
        """The CSMS answered ``entry`` (or it was given up): remove it."""
        if self._entries and self._entries[0] is entry:
            self._entries.popleft()
        else:
            self._entries.remove(entry)
        if entry.kind == "stop":
            self._transaction_ids.pop(entry.transaction_ref, None)
        self._changed.set()

    def remember_transaction_id(self, transaction_ref: int, transaction_id: int) -> None:
        self._transaction_ids[transaction_ref] = transaction_id

    def transaction_id(self, transaction_ref: int) -> int | None:
        return self._transaction_ids.get(transaction_ref)

    async def next_ready(self) -> OutboxEntry:
        """Wait for the head entry and for its retry time."""
        while True:
            entry = self.head()
            if entry is None:
                self._changed.clear()
                await self._changed.wait()
                continue
            delay = entry.not_before - time.monotonic()
            if delay <= 0:
                return entry
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), delay)
            except TimeoutError:
                pass

    async def wait_empty(self, timeout: float) -> bool:
        """Wait until everything was delivered (before a reset); False on timeout."""
        deadline = time.monotonic() + timeout
        while self._entries:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return not self._entries
        return True
