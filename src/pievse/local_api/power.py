"""``GET /api/power``: the power of each connector's session, for the status page's chart.

The station keeps, per connector, the power readings of the session in progress (or of the last
one, until the next starts): at most one a ``step`` apart, and never more than ``capacity``. When
the trace is full, every other sample goes and the step doubles, so a session of any length fits
in the same memory, its start as well as its end, only less finely the longer it lasts. A page
opened in the middle of a session therefore draws it from its start, and a restart of the
browser loses nothing (a restart of the daemon does: the trace is not kept on disk; the energy
and the peak power are, in the session history).

The JSON::

    {"connectors": [{"id": 1, "session": 7, "charging": true,
                     "started": "2026-12-03T11:02:05Z", "step_s": 1.0,
                     "samples": [[0.0, 0], [1.0, 7360], ...]}]}

``session`` is the station's own reference of the session (null before the first one),
``charging`` whether it still goes on, and each sample is [seconds since ``started``, watts].
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CAPACITY", "STEP_S", "PowerTrace", "PowerTraces"]

#: The most samples kept per connector: a chart a phone's width wide needs no more.
CAPACITY = 600
#: The finest step between two samples, in seconds.
STEP_S = 1.0


@dataclass(slots=True)
class PowerTrace:
    """The power readings of one session, thinned to stay within ``capacity`` samples."""

    session: int
    started: float  # wall-clock seconds (the chart says when the session began)
    step_s: float = STEP_S
    capacity: int = CAPACITY
    samples: list[tuple[float, float]] = field(default_factory=list)

    def add(self, when: float, power_w: float) -> None:
        offset = max(0.0, when - self.started)
        if self.samples and offset - self.samples[-1][0] < self.step_s:
            return
        if len(self.samples) >= self.capacity:
            # Keep the first sample: the chart always starts where the session did.
            del self.samples[1::2]
            self.step_s *= 2
        self.samples.append((offset, power_w))


class PowerTraces:
    """The traces of all connectors, fed with each connector's session and power as they
    change (``record``), read by ``GET /api/power`` (``as_json``)."""

    def __init__(self, capacity: int = CAPACITY, step_s: float = STEP_S) -> None:
        if capacity < 2 or step_s <= 0:
            raise ValueError("a power trace needs a capacity of 2 or more and a positive step")
        self.capacity = capacity
        self.step_s = step_s
        self._traces: dict[int, PowerTrace] = {}
        self._charging: dict[int, bool] = {}

    def record(self, connector: int, session: int | None, when: float,
               power_w: float | None) -> None:
        """What ``connector`` does at wall-clock time ``when``: its ``session`` (None: none in
        progress) and the power its meter reads (None: no reading)."""
        self._charging[connector] = session is not None
        if session is None:
            return  # the last session's trace stays until the next one starts
        trace = self._traces.get(connector)
        if trace is None or trace.session != session:
            trace = self._traces[connector] = PowerTrace(session, when, self.step_s,
                                                         self.capacity)
        if power_w is not None:
            trace.add(when, power_w)

    def as_json(self) -> dict[str, Any]:
        connectors = []
        for n in sorted(self._charging):
            trace = self._traces.get(n)
            connectors.append({
                "id": n,
                "session": trace.session if trace else None,
                "charging": self._charging[n],
                "started": _iso(trace.started) if trace else None,
                "step_s": trace.step_s if trace else self.step_s,
                "samples": [[round(t, 1), round(w)] for t, w in trace.samples] if trace else [],
            })
        return {"connectors": connectors}


def _iso(when: float) -> str:
    moment = datetime.datetime.fromtimestamp(when, datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
