"""OCPP 1.6 Smart Charging profile: SetChargingProfile, ClearChargingProfile and
GetCompositeSchedule, translated to the station core (``Station.charging``), which decides.

The ``ocpp`` package hands payloads over in snake_case, nested objects included; the core reads
charging profiles in OCPP's own camelCase (what is persisted and shown), so they are turned back
here, once, at the edge.
"""

from __future__ import annotations

from typing import Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from pievse.core.charging_profiles import SmartChargingLimits
from pievse.core.station import Answer, Station
from pievse.protocol.v16.configuration import KeyDefinition, KeyType

__all__ = ["SmartChargingHandlers", "smart_charging_keys"]


def smart_charging_keys(limits: SmartChargingLimits) -> list[KeyDefinition]:
    """The Smart Charging keys (OCPP 1.6 section 9.4): what the station can hold, read-only."""
    return [
        KeyDefinition("ChargeProfileMaxStackLevel", KeyType.INT, limits.max_stack_level,
                      readonly=True),
        KeyDefinition("ChargingScheduleAllowedChargingRateUnit", KeyType.CSL,
                      limits.allowed_rate_units_key, readonly=True),
        KeyDefinition("ChargingScheduleMaxPeriods", KeyType.INT, limits.max_schedule_periods,
                      readonly=True),
        KeyDefinition("MaxChargingProfilesInstalled", KeyType.INT,
                      limits.max_profiles_installed, readonly=True),
    ]


class SmartChargingHandlers:
    """Mixed into the 1.6 charge point; needs ``station`` and ``_answer``."""

    station: Station

    def _answer(self, answer: Answer) -> str:  # provided by the charge point
        raise NotImplementedError

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict,
                                **_: Any) -> call_result.SetChargingProfile:
        if connector_id != 0 and connector_id not in self.station.connectors:
            return call_result.SetChargingProfile(status="Rejected")
        answer = self.station.set_charging_profile(
            connector_id, snake_to_camel_case(cs_charging_profiles))
        return call_result.SetChargingProfile(status=self._answer(answer))

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, id: int | None = None, connector_id: int | None = None,
                                  charging_profile_purpose: str | None = None,
                                  stack_level: int | None = None,
                                  **_: Any) -> call_result.ClearChargingProfile:
        answer = self.station.clear_charging_profile(id, connector_id, charging_profile_purpose,
                                                     stack_level)
        return call_result.ClearChargingProfile(status=self._answer(answer))

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, connector_id: int, duration: int,
                                  charging_rate_unit: str | None = None,
                                  **_: Any) -> call_result.GetCompositeSchedule:
        if connector_id != 0 and connector_id not in self.station.connectors:
            return call_result.GetCompositeSchedule(status="Rejected")
        result = self.station.composite_schedule(connector_id, duration, charging_rate_unit)
        if result.get("status") != "Accepted":
            return call_result.GetCompositeSchedule(status="Rejected")
        return call_result.GetCompositeSchedule(
            status="Accepted", connector_id=connector_id,
            schedule_start=result.get("scheduleStart"),
            charging_schedule=result.get("chargingSchedule"))
