"""What a person at home may change on the station, whoever carries the request (MQTT now, the
local API's controls next): stop a session, take cars or not, cap the current.

The rules are here once: the connector must exist, a stop needs a session, a cap lies between 0
(pause) and the installation's maximum. A refusal is a ``ValueError`` saying why. The cap is a
local limit: the station offers the lowest of its limits, so it never raises what the CSMS
allows.
"""

from __future__ import annotations

from collections.abc import Callable

from pievse.core.answers import AvailabilityStatus, RemoteStartStopStatus
from pievse.core.authorization import IdToken, IdTokenType
from pievse.core.effects import Effect
from pievse.core.station import Station
from pievse.core.vocabulary import StopReason

__all__ = ["StationControls"]


class StationControls:
    """The controls of ``station`` for one ``source`` of requests (its limit is named after it,
    which the offered current's reason shows); ``dispatch`` carries out the effects."""

    def __init__(self, station: Station, dispatch: Callable[[list[Effect]], None],
                 installation_max_a: float, source: str, start_id_tag: str = "") -> None:
        self._station = station
        self._start_id_tag = start_id_tag
        self._dispatch = dispatch
        self._installation_max_a = installation_max_a
        self.source = source
        #: The caps set through these controls: connector (None: the station) -> amperes.
        self.limits: dict[int | None, float] = {}

    def _connectors(self, connector: int | None) -> list[int]:
        numbers = sorted(self._station.connectors)
        if connector is None:
            return numbers
        if connector not in self._station.connectors:
            raise ValueError(f"connector {connector}: this station has connector"
                             + (f"s 1 to {len(numbers)}" if len(numbers) > 1 else " 1 only"))
        return [connector]

    def start_session(self, connector: int | None) -> None:
        """Start a session for the configured id tag (authorised like a card) on ``connector``,
        or on the connector where a car waits (None)."""
        if not self._start_id_tag:
            raise ValueError(f"no start: {self.source} has no id tag to charge a session to")
        self._connectors(connector)
        answer = self._station.remote_start(IdToken(self._start_id_tag, IdTokenType.LOCAL),
                                            connector)
        self._dispatch(answer.effects)
        if answer.status is not RemoteStartStopStatus.ACCEPTED:
            where = f"connector {connector}" if connector else "the station"
            raise ValueError(f"{where}: no session can start there now")

    def stop_session(self, connector: int) -> None:
        self._connectors(connector)
        answer = self._station.stop_session(connector, StopReason.REMOTE)
        self._dispatch(answer.effects)
        if answer.status is not RemoteStartStopStatus.ACCEPTED:
            raise ValueError(f"connector {connector}: no session to stop")

    def set_enabled(self, connector: int | None, enabled: bool) -> None:
        self._connectors(connector)
        answer = self._station.change_availability(connector or 0, enabled)
        self._dispatch(answer.effects)
        if answer.status is AvailabilityStatus.REJECTED:
            raise ValueError(f"connector {connector}: the station refused to change it")

    def set_max_current(self, connector: int | None, amps: float | None) -> None:
        if amps is not None and not 0 <= amps <= self._installation_max_a:
            raise ValueError(f"{amps:g} A: the current must be from 0 (pause) to "
                             f"{self._installation_max_a:g} A, the installation's maximum")
        connectors = self._connectors(connector)
        if amps is None:
            self.limits.pop(connector, None)
        else:
            self.limits[connector] = amps
        for n in connectors:
            # A connector's cap is the lower of its own and the station's: one limit of this
            # source per connector, until the core holds limits for the whole station itself.
            caps = [cap for cap in (self.limits.get(None), self.limits.get(n)) if cap is not None]
            self._dispatch(self._station.set_current_limit(n, self.source,
                                                           min(caps) if caps else None))

    def max_current(self) -> float:
        """The cap set for the whole station, else the installation's maximum."""
        return self.limits.get(None, self._installation_max_a)
