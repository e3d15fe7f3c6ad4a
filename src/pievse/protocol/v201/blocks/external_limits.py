"""K12/K13 for the local limits: what the house sets beside the CSMS (the house fuse through the
site meter, the solar surplus, the local API, MQTT) is, in 2.0.1's words, an external
constraint on the station, and the CSMS hears it: NotifyChargingLimit when a local limit on an
EVSE comes below what it could offer anyway, or moves; ClearedChargingLimit when none is left
there.

The limits are the core's (:mod:`pievse.core.local_limits`, named on each connector); this only
watches them while the station is registered. A site meter's limit can move every few seconds,
so an EVSE's limit is looked at every ``CHECK_INTERVAL_S`` and reported only when it moved by
at least SmartChargingCtrlr.LimitChangeSignificance percent (or changed its source): the CSMS
hears what changes, not every breath of the house. A new session hears the current state.
"""

from __future__ import annotations

from typing import Any

from ocpp.v201 import call

from pievse.core.local_limits import LocalLimitSource
from pievse.protocol.common.datetimes import format_datetime
from pievse.protocol.v201.context import Context

__all__ = ["CHECK_INTERVAL_S", "SIGNIFICANCE", "ExternalLimits"]

#: How often the EVSEs' local limits are looked at.
CHECK_INTERVAL_S = 2.0
#: The device model variable with the smallest change worth reporting, in percent.
SIGNIFICANCE = "SmartChargingCtrlr.LimitChangeSignificance"
#: 2.0.1's chargingLimitSource: the house's energy management (fuse, solar, Home Assistant)
#: is an EMS; a limit set by hand through the local API is "Other".
LIMIT_SOURCES = {LocalLimitSource.SITE: "EMS", LocalLimitSource.SOLAR: "EMS",
                 LocalLimitSource.MQTT: "EMS", LocalLimitSource.API: "Other"}
_LABELS = {source.label(shared): source
           for source in LocalLimitSource for shared in (False, True)}


class ExternalLimits:
    def __init__(self, context: Context) -> None:
        self.context = context
        #: What the CSMS was last told of each EVSE: (chargingLimitSource, amps).
        self._reported: dict[int, tuple[str, float]] = {}
        context.while_registered("ocpp-charging-limits", self._watch)

    def current(self, evse_id: int) -> tuple[str, float] | None:
        """The lowest local limit on an EVSE and its source; None when it has none, or none
        below what the EVSE can offer anyway (the installation's maximum, the board's): a
        limit that changes nothing is not the CSMS's concern."""
        station = self.context.station
        connector = station.connectors[evse_id]
        found = [(amps, _LABELS[name]) for name, amps in connector.limits.items()
                 if name in _LABELS]
        if not found:
            return None
        amps, source = min(found, key=lambda item: item[0])
        if amps >= min(station.settings.max_current_a, connector.board_max_current_a):
            return None
        return LIMIT_SOURCES[source], amps

    def check(self) -> None:
        """Tell the CSMS of each EVSE whose local limit appeared, went or moved enough."""
        significance = float(self.context.device_model[SIGNIFICANCE])
        for evse_id in self.context.evse_ids():
            now, before = self.current(evse_id), self._reported.get(evse_id)
            if now == before:
                continue
            if now is None:
                assert before is not None
                del self._reported[evse_id]
                self.context.send(call.ClearedChargingLimit(charging_limit_source=before[0],
                                                            evse_id=evse_id))
                continue
            if before is not None and before[0] == now[0] and abs(now[1] - before[1]) < (
                    before[1] * significance / 100):
                continue
            self._reported[evse_id] = now
            self.context.send(self.notify(evse_id, *now))

    def notify(self, evse_id: int, source: str, amps: float) -> call.NotifyChargingLimit:
        schedule: dict[str, Any] = {
            "id": evse_id, "chargingRateUnit": "A",
            "startSchedule": format_datetime(self.context.clock.now()),
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": amps}]}
        return call.NotifyChargingLimit(charging_limit={"chargingLimitSource": source},
                                        evse_id=evse_id, charging_schedule=[schedule])

    async def _watch(self, _call: Any) -> None:
        self._reported.clear()  # a new session: the CSMS hears the state as it is
        while True:
            self.check()
            await self.context.clock.sleep(CHECK_INTERVAL_S)
