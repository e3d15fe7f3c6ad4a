"""K12/K13 for the local limits: what the house sets beside the CSMS (the house fuse through the
site meter, the solar surplus, the local API, MQTT) is, in 2.0.1's words, an external
constraint on the station, and the CSMS hears it: NotifyChargingLimit when a local limit on an
EVSE comes below what it could offer anyway, or moves; ClearedChargingLimit when none is left
there.

The core decides which local limit is in force on each connector and says so when it changes
(``LocalLimitInForce``); this translates. A site meter's limit can move every few seconds, so a
limit is reported only when it moved by at least SmartChargingCtrlr.LimitChangeSignificance
percent (or changed its source): the CSMS hears what changes, not every breath of the house. A
change while the CSMS is away is kept, and a new session hears the state as it is then.
"""

from __future__ import annotations

from typing import Any

from ocpp.v201 import call

from pievse.core.effects import LocalLimitInForce
from pievse.core.local_limits import LocalLimitSource
from pievse.protocol.common.datetimes import format_datetime
from pievse.protocol.v201.context import Context

__all__ = ["EXTERNAL_PROFILE_ID", "LIMIT_SOURCES", "SIGNIFICANCE", "ExternalLimits",
           "external_profile"]

#: The device model variable with the smallest change worth reporting, in percent.
SIGNIFICANCE = "SmartChargingCtrlr.LimitChangeSignificance"
#: 2.0.1's chargingLimitSource: the house's energy management (fuse, solar, Home Assistant)
#: is an EMS; a limit set by hand through the local API is "Other".
LIMIT_SOURCES = {LocalLimitSource.SITE.value: "EMS", LocalLimitSource.SOLAR.value: "EMS",
                 LocalLimitSource.MQTT.value: "EMS", LocalLimitSource.API.value: "Other"}


#: The id of the external constraint of EVSE n as a charging profile (GetChargingProfiles):
#: EXTERNAL_PROFILE_ID + n, far above any id a CSMS hands out in practice.
EXTERNAL_PROFILE_ID = 2_000_000_000


def external_profile(evse_id: int, amps: float, now: float) -> dict[str, Any]:
    """The local limit in force on an EVSE as a ChargingStationExternalConstraints profile."""
    return {"id": EXTERNAL_PROFILE_ID + evse_id, "stackLevel": 0,
            "chargingProfilePurpose": "ChargingStationExternalConstraints",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [_schedule(evse_id, amps, now)]}


def _schedule(evse_id: int, amps: float, now: float) -> dict[str, Any]:
    return {"id": evse_id, "chargingRateUnit": "A", "startSchedule": format_datetime(now),
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": amps}]}


class ExternalLimits:
    def __init__(self, context: Context) -> None:
        self.context = context
        #: The limit in force on each EVSE as the core last said: (chargingLimitSource, amps).
        self._in_force: dict[int, tuple[str, float]] = {}
        #: What the CSMS was last told of each EVSE.
        self._reported: dict[int, tuple[str, float]] = {}
        context.on_effect(LocalLimitInForce, self._changed)
        context.on_registered(self._registered)

    def current(self, evse_id: int) -> tuple[str, float] | None:
        """The local limit in force on an EVSE and its chargingLimitSource (None: none)."""
        return self._in_force.get(evse_id)

    def _changed(self, effect: LocalLimitInForce) -> None:
        if effect.source is None or effect.amps is None:
            self._in_force.pop(effect.connector_id, None)
        else:
            self._in_force[effect.connector_id] = (LIMIT_SOURCES[effect.source], effect.amps)
        if self.context.registered:
            self._report(effect.connector_id)

    def _registered(self) -> None:
        self._reported.clear()  # a new session: the CSMS hears the state as it is
        for evse_id in sorted(self._in_force):
            self._report(evse_id)

    def _report(self, evse_id: int) -> None:
        """Tell the CSMS of the EVSE's local limit if it appeared, went or moved enough."""
        now, before = self.current(evse_id), self._reported.get(evse_id)
        if now == before:
            return
        if now is None:
            assert before is not None
            del self._reported[evse_id]
            self.context.send(call.ClearedChargingLimit(charging_limit_source=before[0],
                                                        evse_id=evse_id))
            return
        significance = float(self.context.device_model[SIGNIFICANCE])
        if before is not None and before[0] == now[0] and abs(now[1] - before[1]) < (
                before[1] * significance / 100):
            return
        self._reported[evse_id] = now
        self.context.send(self.notify(evse_id, *now))

    def notify(self, evse_id: int, source: str, amps: float) -> call.NotifyChargingLimit:
        return call.NotifyChargingLimit(
            charging_limit={"chargingLimitSource": source}, evse_id=evse_id,
            charging_schedule=[_schedule(evse_id, amps, self.context.clock.now())])
