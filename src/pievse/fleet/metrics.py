"""What a fleet measures: round trips per OCPP action, errors by code, and the stations' counts.

Round trips are measured on the wire, between a CALL leaving and the frame that answers it
arriving, by :class:`ObservedConnection`, which reads only the head of each frame (type, unique id,
action or error code) so that measuring costs little beside the session's own parsing. Latencies go
into a fixed log-scale histogram per action: memory does not grow with the length of a run, and
percentiles are exact to within one bucket (5 %).
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pievse.protocol.common.direct_frames import TakeNow, direct_writer, take_at_once

__all__ = ["ActionStats", "FleetMetrics", "LatencyHistogram", "ObservedConnection"]

#: Bucket ``i`` holds round trips up to ``_BASE_S * _GROWTH ** i`` seconds.
_BASE_S = 0.0001
_GROWTH = 1.05
_BUCKETS = 400  # up to about 30 hours: anything slower lands in the last bucket
_LOG_GROWTH = math.log(_GROWTH)

# The head of an OCPP-J frame: its type and unique id, then (CALL) the action or (CALLERROR) the
# error code. Frames of other peers may have blanks between the parts.
_HEAD = re.compile(r'\s*\[\s*([234])\s*,\s*"((?:[^"\\]|\\.)*)"\s*,\s*(?:"([^"]*)")?')


class LatencyHistogram:
    __slots__ = ("buckets", "count", "total_s")

    def __init__(self) -> None:
        self.buckets = [0] * _BUCKETS
        self.count = 0
        self.total_s = 0.0

    def add(self, seconds: float) -> None:
        index = 0 if seconds <= _BASE_S else min(
            _BUCKETS - 1, math.ceil(math.log(seconds / _BASE_S) / _LOG_GROWTH))
        self.buckets[index] += 1
        self.count += 1
        self.total_s += seconds

    def merge(self, other: LatencyHistogram) -> None:
        for index, value in enumerate(other.buckets):
            self.buckets[index] += value
        self.count += other.count
        self.total_s += other.total_s

    def percentile(self, fraction: float) -> float | None:
        """The round trip (s) that ``fraction`` of them did not exceed (the bucket's bound)."""
        if not self.count:
            return None
        wanted = max(1, math.ceil(fraction * self.count))
        seen = 0
        for index, value in enumerate(self.buckets):
            seen += value
            if seen >= wanted:
                return _BASE_S * _GROWTH ** index
        return _BASE_S * _GROWTH ** (_BUCKETS - 1)


@dataclass
class ActionStats:
    """One OCPP action sent by the stations."""

    sent: int = 0
    answered: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)

    def as_json(self) -> dict[str, Any]:
        def ms(value: float | None) -> float | None:
            return None if value is None else round(value * 1000, 3)

        return {
            "sent": self.sent,
            "answered": self.answered,
            "call_errors": sum(self.errors.values()),
            "errors_by_code": dict(self.errors),
            "p50_ms": ms(self.latency.percentile(0.5)),
            "p99_ms": ms(self.latency.percentile(0.99)),
            "mean_ms": ms(self.latency.total_s / self.latency.count) if self.latency.count
            else None,
        }


class FleetMetrics:
    """Everything counted over the whole fleet; ``on_round_trip(action, seconds, error_code)`` is
    told of each answered CALL (a Locust worker turns these into request events)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.actions: dict[str, ActionStats] = defaultdict(ActionStats)
        #: CALLs the CSMS sent to the stations, by action.
        self.received: Counter[str] = Counter()
        self.frames_sent = 0
        self.frames_received = 0
        self.rejected_boots = 0
        self.connections = 0
        self.reconnects = 0
        self.on_round_trip: Callable[[str, float, str | None], None] | None = None

    @property
    def call_errors(self) -> int:
        return sum(sum(stats.errors.values()) for stats in self.actions.values())

    def sent_call(self, action: str) -> None:
        self.actions[action].sent += 1

    def answered(self, action: str, seconds: float, error_code: str | None) -> None:
        stats = self.actions[action]
        stats.answered += 1
        stats.latency.add(seconds)
        if error_code is not None:
            stats.errors[error_code] += 1
        if self.on_round_trip is not None:
            self.on_round_trip(action, seconds, error_code)


class ObservedConnection:
    """A websocket connection whose frames are timed for :class:`FleetMetrics`; the rest of the
    connection is the real one's."""

    __slots__ = ("_inner", "_metrics", "_pending", "_write_now")

    def __init__(self, inner: Any, metrics: FleetMetrics) -> None:
        self._inner = inner
        self._metrics = metrics
        #: Our CALLs waiting for their answer: unique id -> (action, sent at).
        self._pending: dict[str, tuple[str, float]] = {}
        #: Writes a frame at once on the inner connection, where it is simply open.
        self._write_now = direct_writer(inner)

    @property
    def inner(self) -> Any:
        return self._inner

    async def send(self, message: str) -> None:
        self._observe(message)
        await self._inner.send(message)

    def write_now(self, message: str) -> bool:
        """Write ``message`` at once where the inner connection allows (see
        :mod:`pievse.protocol.common.direct_frames`); False, nothing written, otherwise."""
        if self._write_now is None or not self._write_now(message):
            return False
        self._observe(message)
        return True

    def _observe(self, message: str) -> None:
        metrics = self._metrics
        metrics.frames_sent += 1
        head = _HEAD.match(message)
        if head is not None and head.group(1) == "2" and head.group(3):
            action = head.group(3)
            metrics.sent_call(action)
            self._pending[head.group(2)] = (action, metrics.clock())

    async def recv(self) -> str | bytes:
        message = await self._inner.recv()
        self._observe_received(message, self._metrics.clock())
        return message

    def take_at_once(self, take: TakeNow) -> bool:
        """Offer ``take`` the inner connection's messages as they arrive (see
        :mod:`pievse.protocol.common.direct_frames`); those it takes are timed here."""
        clock = self._metrics.clock

        def observed(message: str) -> bool:
            arrived = clock()
            if not take(message):
                return False
            self._observe_received(message, arrived)
            return True

        return take_at_once(self._inner, observed)

    def _observe_received(self, message: str | bytes, arrived: float) -> None:
        metrics = self._metrics
        metrics.frames_received += 1
        head = _HEAD.match(message if isinstance(message, str) else message[:200].decode(
            "utf-8", "replace"))
        if head is None:
            return
        kind, unique_id = head.group(1), head.group(2)
        if kind == "2":
            metrics.received[head.group(3) or "?"] += 1
            return
        sent = self._pending.pop(unique_id, None)
        if sent is not None:
            action, at = sent
            error = (head.group(3) or "?") if kind == "4" else None
            if action == "BootNotification" and error is None and '"Accepted"' not in message:
                metrics.rejected_boots += 1
            metrics.answered(action, arrived - at, error)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
