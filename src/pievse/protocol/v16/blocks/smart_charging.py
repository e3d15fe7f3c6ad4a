"""Smart charging: SetChargingProfile, ClearChargingProfile and GetCompositeSchedule, translated
to the station core, which decides, and the Smart Charging keys.

The ``ocpp`` package hands payloads over in snake_case, nested objects included; the codec reads
charging profiles in OCPP's own camelCase, so they are turned back here, once, at the edge. A
profile the codec cannot read is Rejected, as one the core refuses.
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from pievse.protocol.common.payloads import snake_to_camel_case
from pievse.protocol.v16.codec import charging_profiles as codec
from pievse.protocol.v16.configuration import KeyDefinition, KeyType
from pievse.protocol.v16.context import Context

__all__ = ["SmartChargingBlock"]


class SmartChargingBlock:
    def __init__(self, context: Context) -> None:
        self.context = context

    def keys(self) -> list[KeyDefinition]:
        """The Smart Charging keys (OCPP 1.6 section 9.4): what the station can hold,
        read-only."""
        limits = self.context.station.charging.capabilities
        return [
            KeyDefinition("ChargeProfileMaxStackLevel", KeyType.INT, limits.max_stack_level,
                          readonly=True),
            KeyDefinition("ChargingScheduleAllowedChargingRateUnit", KeyType.CSL,
                          codec.allowed_rate_units_key(limits.allowed_rate_units), readonly=True),
            KeyDefinition("ChargingScheduleMaxPeriods", KeyType.INT, limits.max_schedule_periods,
                          readonly=True),
            KeyDefinition("MaxChargingProfilesInstalled", KeyType.INT,
                          limits.max_profiles_installed, readonly=True),
        ]

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict,
                                **_: Any) -> call_result.SetChargingProfile:
        try:
            profile = codec.decode_charging_profile(snake_to_camel_case(cs_charging_profiles))
        except codec.ProfileFormatError as error:
            self.context.log.info("SetChargingProfile on connector %s refused: %s", connector_id,
                                  error)
            return call_result.SetChargingProfile(status="Rejected")
        answer = self.context.station.set_charging_profile(connector_id, profile)
        return call_result.SetChargingProfile(
            status=codec.charging_profile_status(self.context.answer(answer)))

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, id: int | None = None, connector_id: int | None = None,
                                  charging_profile_purpose: str | None = None,
                                  stack_level: int | None = None,
                                  **_: Any) -> call_result.ClearChargingProfile:
        purpose = (codec.decode_purpose(charging_profile_purpose)
                   if charging_profile_purpose is not None else None)
        answer = self.context.station.clear_charging_profile(id, connector_id, purpose,
                                                             stack_level)
        return call_result.ClearChargingProfile(
            status=codec.clear_charging_profile_status(self.context.answer(answer)))

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, connector_id: int, duration: int,
                                  charging_rate_unit: str | None = None,
                                  **_: Any) -> call_result.GetCompositeSchedule:
        unit = codec.decode_rate_unit(charging_rate_unit) if charging_rate_unit else None
        return codec.encode_composite_schedule(
            self.context.station.composite_schedule(connector_id, duration, unit))
