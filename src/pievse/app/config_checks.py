"""The configuration's checks that need the drivers and the OCPP transport (see
:mod:`pievse.app.config.injected`). Each imports its layer only when a config is checked, so that
reading a simulated station's config stays as light as before."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pievse.app.config.injected import provide


def meter_models() -> tuple[str, ...]:
    from pievse.drivers.modbus.register_maps import available_models

    return available_models()


def meter_register_problems(table: Mapping[str, Any]) -> list[str]:
    from pievse.drivers.modbus.register_maps import RegisterMapError, register_map_from_dict

    try:
        register_map_from_dict(table)
    except RegisterMapError as error:
        return list(error.problems)
    return []


def retrofit_step_problem(text: str) -> str | None:
    from pievse.drivers.gpio.retrofit import parse_step_table

    try:
        parse_step_table(text)
    except ValueError as error:
        return str(error)
    return None


def transport_problems(ocpp: Mapping[str, Any], charge_point_id: str) -> list[str]:
    from pievse.protocol.common.transport_security import SecurityProfile, TransportSecurity

    transport = TransportSecurity(
        SecurityProfile(ocpp["security_profile"]), ocpp["password"] or None,
        (Path(ocpp["ca_file"]),) if ocpp["ca_file"] else (),
        Path(ocpp["cert_file"]) if ocpp["cert_file"] else None,
        Path(ocpp["key_file"]) if ocpp["key_file"] else None)
    return transport.problems(ocpp["url"], charge_point_id)


def provide_config_checks() -> None:
    provide(meter_models=meter_models, meter_register_problems=meter_register_problems,
            retrofit_step_problem=retrofit_step_problem, transport_problems=transport_problems)
