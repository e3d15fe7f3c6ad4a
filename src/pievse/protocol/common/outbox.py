"""The outbox: transaction messages delivered in order, each exactly once.

StartTransaction, StopTransaction and the MeterValues of a transaction are what a CPO bills from.
They wait here, in the order the station produced them, until the CSMS has answered each one; a
connection loss leaves them in place and delivery resumes with the next connection.

Messages refer to their transaction by the station's own ``transaction_ref``. In 1.6 the CSMS's
transactionId is only known once it has answered StartTransaction (2.0.1's is the station's own,
known from the start), and because the outbox sends
strictly in order, every later message of that transaction is built after that answer and carries
the real id: a StopTransaction with transactionId -1 cannot happen.

The queue lives in memory and, given a journal
(:class:`pievse.persistence.store.StoredOutboxJournal`), is
written through to disk: every change is committed before the call that made it returns, so what
the outbox holds survives ``kill -9`` and power cuts, and a restart resumes delivery where it
stopped. A backlog is bounded by ``max_meter_values``: past it, the oldest queued MeterValues
give way first; StartTransaction and StopTransaction are never dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pievse.aio import AsyncClock, SystemClock

log = logging.getLogger(__name__)

#: An outbox without a journal writes nothing: one reusable empty context, not one per change.
_NO_BATCH = contextlib.nullcontext()

#: Queued MeterValues kept at most, by default: ~10 days of 1-minute samples, a few MB on disk.
MAX_METER_VALUES = 15_000

#: A transaction's start, stop, meter sample, or change of charging state (2.0.1 only).
EntryKind = Literal["start", "stop", "meter", "state"]


@dataclass(slots=True)
class OutboxEntry:
    seq: int
    kind: EntryKind
    transaction_ref: int
    data: Any  # the station effect the message is built from
    attempts: int = 0
    not_before: float = 0.0  # the clock's monotonic time before which it is not retried
    #: Made while the CSMS was unreachable (2.0.1 says so in the message: ``offline``).
    offline: bool = False


class OutboxJournal(Protocol):
    """Where the outbox writes itself through to (a store on disk)."""

    def load(self) -> tuple[list[OutboxEntry], dict[int, int | str]]: ...
    def batch(self) -> contextlib.AbstractContextManager[None]: ...
    def added(self, entry: OutboxEntry) -> None: ...
    def removed(self, entry: OutboxEntry) -> None: ...
    def attempted(self, entry: OutboxEntry) -> None: ...
    def transaction_id(self, transaction_ref: int, transaction_id: int | str) -> None: ...
    def transaction_done(self, transaction_ref: int) -> None: ...
    def events_sent(self) -> dict[int, int]: ...
    def event_sent(self, transaction_ref: int, count: int) -> None: ...


class Outbox:
    def __init__(self, journal: OutboxJournal | None = None, *,
                 max_meter_values: int = MAX_METER_VALUES,
                 clock: AsyncClock | None = None) -> None:
        self._journal = journal
        self.clock = clock or SystemClock()
        self.max_meter_values = max_meter_values
        self._entries: deque[OutboxEntry] = deque()
        self._transaction_ids: dict[int, int | str] = {}
        self._events_sent: dict[int, int] = {}
        if journal is not None:
            entries, self._transaction_ids = journal.load()
            self._events_sent = journal.events_sent()
            self._entries.extend(entries)
        self._seq = max((e.seq for e in self._entries), default=0)
        self._meter_values = sum(1 for e in self._entries if e.kind == "meter")
        self._changed = asyncio.Event()
        #: Told of each change (an entry put or removed): the delivery, while it runs.
        self.on_change: Callable[[], None] | None = None
        #: MeterValues dropped to keep the backlog within max_meter_values.
        self.dropped_meter_values = 0

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[OutboxEntry]:
        return list(self._entries)

    def put(self, kind: EntryKind, transaction_ref: int, data: Any, *,
            offline: bool = False) -> OutboxEntry:
        self._seq += 1
        entry = OutboxEntry(self._seq, kind, transaction_ref, data, offline=offline)
        with self._batch():
            if kind == "meter":
                if self._meter_values >= self.max_meter_values:
                    self._drop_oldest_meter_value()
                self._meter_values += 1
            if self._journal is not None:
                self._journal.added(entry)
            self._entries.append(entry)
        self._changed_now()
        return entry

    def head(self) -> OutboxEntry | None:
        return self._entries[0] if self._entries else None

    def ack(self, entry: OutboxEntry) -> None:
        """The CSMS answered ``entry`` (or it was given up): remove it."""
        with self._batch():
            self._remove(entry)
            if entry.kind == "stop":
                self._transaction_ids.pop(entry.transaction_ref, None)
                self._events_sent.pop(entry.transaction_ref, None)
                if self._journal is not None:
                    self._journal.transaction_done(entry.transaction_ref)
        self._changed_now()

    def start_answered(self, entry: OutboxEntry, transaction_id: int) -> None:
        """The CSMS answered a StartTransaction: its transactionId is kept and the entry removed
        in one write, so a restart can never find the one without the other."""
        with self._batch():
            self.remember_transaction_id(entry.transaction_ref, transaction_id)
            self.ack(entry)

    def event_delivered(self, entry: OutboxEntry) -> None:
        """The CSMS answered ``entry``, one more message of its transaction: the count goes up
        and the entry is removed in one write (2.0.1 numbers a transaction's events from it)."""
        with self._batch():
            count = self._events_sent.get(entry.transaction_ref, 0) + 1
            self._events_sent[entry.transaction_ref] = count
            if self._journal is not None:
                self._journal.event_sent(entry.transaction_ref, count)
            self.ack(entry)

    def events_sent(self, transaction_ref: int) -> int:
        """How many messages of the transaction the CSMS has answered."""
        return self._events_sent.get(transaction_ref, 0)

    def attempted(self, entry: OutboxEntry) -> None:
        """``entry.attempts`` went up: keep the count across restarts."""
        if self._journal is not None:
            self._journal.attempted(entry)

    def postpone(self, entry: OutboxEntry, delay: float) -> None:
        """Sending ``entry`` failed: it waits ``delay`` seconds before the next attempt."""
        entry.not_before = self.clock.monotonic() + delay

    def remember_transaction_id(self, transaction_ref: int, transaction_id: int | str) -> None:
        self._transaction_ids[transaction_ref] = transaction_id
        if self._journal is not None:
            self._journal.transaction_id(transaction_ref, transaction_id)

    def transaction_id(self, transaction_ref: int) -> int | str | None:
        return self._transaction_ids.get(transaction_ref)

    def _remove(self, entry: OutboxEntry) -> None:
        if self._entries and self._entries[0] is entry:
            self._entries.popleft()
        elif entry in self._entries:
            self._entries.remove(entry)
        else:
            return  # dropped meanwhile to bound the backlog
        if entry.kind == "meter":
            self._meter_values -= 1
        if self._journal is not None:
            self._journal.removed(entry)

    def _drop_oldest_meter_value(self) -> None:
        # Not the head: it may be on its way to the CSMS right now.
        oldest = next((e for i, e in enumerate(self._entries) if e.kind == "meter" and i > 0),
                      None)
        if oldest is None:
            return
        self._remove(oldest)
        self.dropped_meter_values += 1
        if self.dropped_meter_values == 1 or self.dropped_meter_values % 1000 == 0:
            log.warning("outbox full (%d MeterValues waiting): the oldest are dropped to make "
                        "room; Start and StopTransaction are kept (%d dropped so far)",
                        self.max_meter_values, self.dropped_meter_values)

    def _changed_now(self) -> None:
        self._changed.set()
        if self.on_change is not None:
            self.on_change()

    def _batch(self) -> contextlib.AbstractContextManager[None]:
        return self._journal.batch() if self._journal is not None else _NO_BATCH

    async def wait_empty(self, timeout: float) -> bool:
        """Wait until everything was delivered (before a reset); False on timeout."""
        deadline = self.clock.monotonic() + timeout
        while self._entries:
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                return False
            self._changed.clear()
            if not await self.clock.wait(self._changed, remaining):
                return not self._entries
        return True
