"""Local limits: the maxima the house sets beside the CSMS (the local API, MQTT, the site meter).

Each source sets at most one limit per connector and one for the whole station. A connector's
limit becomes one of its named limits (``"local limit (api)"``), so the connector offers the
lowest of them all, the CSMS's profiles included: a local limit can lower what the CSMS allows,
never raise it, and ``current_limit_reason`` names the one that rules.

A station-wide limit is the current all connectors may draw together (A per phase). It is shared
between the connectors whose session runs (all of them may have it when none runs: the first
car to start gets the whole): equal shares, and what a connector cannot take (its own maximum, a
profile, a limit of its own) goes to the others. A share under 6 A pauses a car, so when there is
not 6 A for each, the sessions that started first keep at least 6 A and the later ones pause.
Each source's station-wide share is its own named limit (``"local limit (site, shared)"``).

The limits of the sources a person sets (``api``, ``mqtt``) survive a restart: every change of
them is emitted as ``LocalLimitsChanged``, to be set again after the restart. The site meter's
limit is measured anew after a start and is never kept.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from typing import Protocol

from pievse.core.effects import Effect, LocalLimit, LocalLimitInForce, LocalLimitsChanged
from pievse.core.iec61851 import MAX_CURRENT_A, MIN_CURRENT_A
from pievse.core.settings import StationSettings
from pievse.core.transactions import Transaction

__all__ = ["LocalLimitSource", "LocalLimits", "SharedConnector"]


class LocalLimitSource(str, enum.Enum):
    API = "api"  # the local HTTP API (the status page, an app)
    MQTT = "mqtt"  # Home Assistant and the like
    SITE = "site"  # the house fuse, from the site meter
    SOLAR = "solar"  # the solar surplus, from the site meter (see solar.py)

    @property
    def kept(self) -> bool:
        """A limit a person set survives a restart; a measured one is measured again."""
        return self not in (LocalLimitSource.SITE, LocalLimitSource.SOLAR)

    def label(self, shared: bool) -> str:
        """The name of the limit on a connector: what ``current_limit_reason`` says."""
        if self is LocalLimitSource.SOLAR:
            # The surplus is the station's: it is only ever set for the whole station.
            return "solar surplus" if shared else "solar surplus (connector)"
        return f"local limit ({self.value}, shared)" if shared else f"local limit ({self.value})"


class SharedConnector(Protocol):
    """What sharing needs of a connector: its session, its own ceiling and its named limits."""

    @property
    def id(self) -> int: ...

    @property
    def transaction(self) -> Transaction | None: ...

    @property
    def board_max_current_a(self) -> float: ...

    @property
    def limits(self) -> dict[str, float]: ...

    def reconcile(self) -> None: ...


#: The names every source's limits have on a connector, its own or a share.
_LABELS = frozenset(source.label(shared) for source in LocalLimitSource
                    for shared in (False, True))
#: Each local limit's name on a connector, and its source.
_SOURCES = {source.label(shared): source.value for source in LocalLimitSource
            for shared in (False, True)}


def source_named(name: str | LocalLimitSource) -> LocalLimitSource:
    try:
        return LocalLimitSource(name)
    except ValueError:
        names = ", ".join(s.value for s in LocalLimitSource)
        raise ValueError(f"no local limit source {name!r}; the sources are {names}") from None


class LocalLimits:
    def __init__(
        self,
        connectors: Mapping[int, SharedConnector],
        *,
        settings: Callable[[], StationSettings],
        emit: Callable[[Effect], None],
    ) -> None:
        self._connectors = connectors
        self._settings = settings
        self._emit = emit
        #: source -> connector id (None: the whole station) -> amps
        self.limits: dict[LocalLimitSource, dict[int | None, float]] = {
            source: {} for source in LocalLimitSource}
        #: Connectors whose limits moved while they could not be reconciled at once.
        self._unsettled: set[int] = set()
        #: The limit in force last told for each connector (source, amps).
        self._told: dict[int, tuple[str, float]] = {}

    def set(self, source: str | LocalLimitSource, connector_id: int | None,
            amps: float | None) -> None:
        """Set (or with ``amps`` None, lift) ``source``'s limit on a connector or, with
        ``connector_id`` None, on the whole station. ValueError names what is wrong."""
        source = source_named(source)
        if connector_id is not None and connector_id not in self._connectors:
            raise ValueError(f"no connector {connector_id}")
        if amps is not None and not (isinstance(amps, int | float) and math.isfinite(amps)
                                     and 0 <= amps <= MAX_CURRENT_A):
            raise ValueError(f"a local limit must be 0 to {MAX_CURRENT_A:g} A, not {amps!r}")
        table = self.limits[source]
        before = table.get(connector_id)
        if amps is None:
            table.pop(connector_id, None)
        else:
            table[connector_id] = float(amps)
        if table.get(connector_id) == before:
            return
        if source.kept:
            self._emit(LocalLimitsChanged(self.kept()))
        self._unsettled |= self.share()

    def kept(self) -> tuple[LocalLimit, ...]:
        return tuple(LocalLimit(source.value, connector_id, amps)
                     for source, table in self.limits.items() if source.kept
                     for connector_id, amps in sorted(table.items(), key=_station_first))

    # --- sharing ---------------------------------------------------------------------------------

    def share(self) -> set[int]:
        """Put every source's limits on the connectors now, without reconciling them; the ids
        of the connectors whose limits moved."""
        if not any(self.limits.values()):
            return self._lift_all()
        before = {n: dict(c.limits) for n, c in self._connectors.items()}
        running = sorted((c for c in self._connectors.values() if _running(c.transaction)),
                         key=lambda c: (c.transaction.started_at, c.id))  # type: ignore[union-attr]
        for source, table in self.limits.items():
            own = source.label(False)
            for n, connector in self._connectors.items():
                if n in table:
                    connector.limits[own] = table[n]
                else:
                    connector.limits.pop(own, None)
                connector.limits.pop(source.label(True), None)
        # The shares once every connector's own limits are in place: they decide its ceiling.
        sharing = running or list(self._connectors.values())
        for source, table in self.limits.items():
            if None in table:
                for n, amps in self._shares(table[None], sharing, alone=not running).items():
                    self._connectors[n].limits[source.label(True)] = amps
        return {n for n, c in self._connectors.items() if c.limits != before[n]}

    def _lift_all(self) -> set[int]:
        """What ``share`` comes to while no source sets any limit (a station without local
        limits, at every input): every local limit's name off every connector. Without building
        the shares, since this runs after each of the station's inputs."""
        moved = set()
        for n, connector in self._connectors.items():
            named = _LABELS.intersection(connector.limits)
            if named:
                for label in named:
                    del connector.limits[label]
                moved.add(n)
        return moved

    def settle(self) -> None:
        """Reconcile the connectors whose limits moved (after every input of the station), and
        tell each connector's limit in force where it changed."""
        for _ in range(len(self._connectors) + 1):
            self._unsettled |= self.share()
            if not self._unsettled:
                break
            unsettled, self._unsettled = self._unsettled, set()
            for n in sorted(unsettled):
                self._connectors[n].reconcile()
        if self._told or any(self.limits.values()):
            self._tell_in_force()

    def _tell_in_force(self) -> None:
        for n, connector in self._connectors.items():
            now = self._in_force(connector)
            if now != self._told.get(n):
                if now is None:
                    del self._told[n]
                    self._emit(LocalLimitInForce(n, None, None))
                else:
                    self._told[n] = now
                    self._emit(LocalLimitInForce(n, *now))

    def lowest(self, connector_id: int) -> float | None:
        """The lowest local limit on a connector now, or (0) the lowest station-wide one."""
        if connector_id == 0:
            return min((table[None] for table in self.limits.values() if None in table),
                       default=None)
        connector = self._connectors.get(connector_id)
        if connector is None:
            return None
        return min((amps for name, amps in connector.limits.items() if name in _SOURCES),
                   default=None)

    def _in_force(self, connector: SharedConnector) -> tuple[str, float] | None:
        """The lowest local limit on a connector and its source, if it is below what the
        connector could offer anyway (a limit that changes nothing is no one's concern)."""
        found = [(amps, _SOURCES[name]) for name, amps in connector.limits.items()
                 if name in _SOURCES]
        if not found:
            return None
        amps, source = min(found)
        if amps >= min(self._settings().max_current_a, connector.board_max_current_a):
            return None
        return source, amps

    def moved(self, connector_id: int) -> None:
        """A session started or ended on a connector, inside its own reconcile: give it its new
        share at once (it goes on to offer it); the others follow in ``settle()``."""
        self._unsettled |= self.share() - {connector_id}

    def _ceiling(self, connector: SharedConnector) -> float:
        """The most a connector can take whatever the station-wide limits: its own maximum and
        every limit of its own."""
        shared = {source.label(True) for source in LocalLimitSource}
        return min([self._settings().max_current_a, connector.board_max_current_a,
                    *(amps for name, amps in connector.limits.items() if name not in shared)])

    def _shares(self, total: float, connectors: list[SharedConnector],
                alone: bool) -> dict[int, float]:
        """``total`` shared between ``connectors`` (in the order they started): equal shares,
        what one cannot take going to the others, at least 6 A each to as many as it reaches.
        ``alone``: no session runs, each may have all of it (the first to start will)."""
        if alone:
            return {c.id: total for c in connectors}
        # A session its own limits pause draws nothing: it needs no share.
        able = [c for c in connectors if self._ceiling(c) >= MIN_CURRENT_A]
        given = {c.id: self._ceiling(c) for c in connectors if c not in able}
        fit = max(int(total // MIN_CURRENT_A), 1)  # under 6 A: the first still says how much
        given.update({c.id: 0.0 for c in able[fit:]})
        sharing = able[:fit]
        left = total
        # Water-filling: the connector with the lowest ceiling takes what it can of an equal
        # share, and what is left is shared again between the rest.
        for i, connector in enumerate(sorted(sharing, key=self._ceiling)):
            share = left / (len(sharing) - i)
            given[connector.id] = amps = min(share, self._ceiling(connector))
            left -= amps
        return {n: math.floor(amps * 10) / 10 for n, amps in given.items()}


def _running(tx: Transaction | None) -> bool:
    return tx is not None and tx.stop is None


def _station_first(item: tuple[int | None, float]) -> int:
    return -1 if item[0] is None else item[0]
