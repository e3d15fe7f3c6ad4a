"""What a person at home may change on the station over MQTT and the local API (the status
page's controls): stop a session, take cars or not, start a session for a configured id tag (MQTT
only), cap the current.

The rules are here once: the connector must exist, a stop needs a session, a start needs an id
tag to charge to. A refusal is a ``ValueError`` saying why. The cap is the source's local limit,
set through the same call as ``POST /api/limit`` (``Home.set_local_limit``): the station offers
the lowest of its limits, so it never raises what the CSMS allows, and the limit survives a
restart.
"""

from __future__ import annotations

from collections.abc import Callable

from pievse.core.answers import AvailabilityStatus, RemoteStartStopStatus
from pievse.core.authorization import IdToken, IdTokenType
from pievse.core.effects import Effect
from pievse.core.local_limits import LocalLimitSource
from pievse.core.station import Station
from pievse.core.vocabulary import StopReason

__all__ = ["StationControls"]


class StationControls:
    """The controls of ``station`` for one ``source`` of requests; ``dispatch`` carries out the
    effects, ``set_local_limit(source, connector, amps)`` sets a local limit."""

    def __init__(self, station: Station, dispatch: Callable[[list[Effect]], None],
                 set_local_limit: Callable[[str, int | None, float | None], None],
                 source: LocalLimitSource, start_id_tag: str = "",
                 set_mode: Callable[[str], None] | None = None) -> None:
        self._station = station
        self._dispatch = dispatch
        self._set_local_limit = set_local_limit
        self.source = source
        self._start_id_tag = start_id_tag
        self._set_mode = set_mode

    def _check(self, connector: int | None) -> None:
        if connector is not None and connector not in self._station.connectors:
            count = len(self._station.connectors)
            raise ValueError(f"connector {connector}: this station has connector"
                             + (f"s 1 to {count}" if count > 1 else " 1 only"))

    def start_session(self, connector: int | None) -> None:
        """Start a session for the configured id tag (authorised like a card) on ``connector``,
        or on the connector where a car waits (None)."""
        if not self._start_id_tag:
            raise ValueError(f"no start: {self.source.value} has no id tag to charge a session "
                             "to")
        self._check(connector)
        answer = self._station.remote_start(IdToken(self._start_id_tag, IdTokenType.LOCAL),
                                            connector)
        self._dispatch(answer.effects)
        if answer.status is not RemoteStartStopStatus.ACCEPTED:
            where = f"connector {connector}" if connector else "the station"
            raise ValueError(f"{where}: no session can start there now")

    def stop_session(self, connector: int) -> None:
        self._check(connector)
        answer = self._station.stop_session(connector, StopReason.REMOTE)
        self._dispatch(answer.effects)
        if answer.status is not RemoteStartStopStatus.ACCEPTED:
            raise ValueError(f"connector {connector}: no session to stop")

    def set_enabled(self, connector: int | None, enabled: bool) -> None:
        self._check(connector)
        answer = self._station.change_availability(connector or 0, enabled)
        self._dispatch(answer.effects)
        if answer.status is AvailabilityStatus.REJECTED:
            raise ValueError(f"connector {connector}: the station refused to change it")

    def set_max_current(self, connector: int | None, amps: float | None) -> None:
        self._check(connector)
        self._set_local_limit(self.source.value, connector, amps)

    def set_mode(self, mode: str) -> None:
        """The charging mode, through the same call as ``POST /api/mode`` (``Home.set_mode``)."""
        if self._set_mode is None:
            raise ValueError("no charging modes: the station measures no solar surplus without a "
                             "[site_meter]")
        self._set_mode(mode)
