"""The keys of the hardware drivers: ``[meter]``, ``[rfid]`` and ``[board]``.

Each section picks its driver with ``driver = ...``; the other keys of a section are read only by
the driver that uses them, so a simulated board ignores its pin numbers. Rules that join keys
(a Modbus TCP meter needs a host, an RTU one a serial device) are in ``HARDWARE_CROSS_CHECKS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pievse.config.key import Key, _one_of, _show

__all__ = ["HARDWARE_CROSS_CHECKS", "METER_KEYS"]

_DRIVER = "which driver to use"

#: Baud rates that RS-485 energy meters offer on their menus.
BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


def _check_model(value: str) -> str | None:
    if value == "":
        return None
    from pievse.drivers.meter_maps import available_models

    models = available_models()
    if value in models:
        return None
    from difflib import get_close_matches

    close = get_close_matches(value.lower(), models, n=1)
    hint = f'did you mean "{close[0]}"? ' if close else ""
    return f"no register map shipped for it; {hint}must be {_one_of(models)} " \
           "(or describe the meter in [meter.registers])"


METER_KEYS: tuple[Key, ...] = (
    Key("meter", "driver", str, "simulated", _DRIVER, choices=("simulated", "modbus")),
    Key("meter", "interval", float, 1.0, "how often the meter is read", unit="s",
        minimum=0.1, maximum=3600),
    Key("meter", "model", str, "",
        'register map shipped with pievse (modbus), e.g. "sdm630"; "" = [meter.registers]',
        check=_check_model),
    Key("meter", "transport", str, "rtu", "how the meter is reached (modbus)",
        choices=("rtu", "tcp")),
    Key("meter", "device", str, "", "serial device of the RS-485 adapter (rtu)"),
    Key("meter", "baudrate", int, 9600, "serial speed (rtu)", choices=BAUD_RATES),
    Key("meter", "parity", str, "N", "serial parity (rtu): none, even or odd",
        choices=("N", "E", "O")),
    Key("meter", "stopbits", int, 1, "serial stop bits (rtu)", choices=(1, 2)),
    Key("meter", "host", str, "", "host name or address of the meter or gateway (tcp)"),
    Key("meter", "port", int, 502, "TCP port (tcp)", minimum=1, maximum=65535),
    Key("meter", "unit_id", int, 1, "the meter's Modbus unit (slave) id", minimum=1,
        maximum=247),
    Key("meter", "timeout", float, 1.0, "how long to wait for the meter to answer a request",
        unit="s", minimum=0.05, maximum=10),
    Key("meter", "registers", dict, {},
        "register map of a meter pievse does not ship (modbus), used when model is \"\""),
)


def _meter_rules(sections: dict[str, dict[str, Any]]) -> list[str]:
    meter = sections["meter"]
    if meter["driver"] != "modbus":
        return []
    problems: list[str] = []
    model, registers = meter["model"], meter["registers"]
    if model and registers:
        problems.append(f"[meter] model = {_show(model)}: name a shipped map or describe the "
                        "meter in [meter.registers], not both")
    elif not model and not registers:
        from pievse.drivers.meter_maps import available_models

        problems.append('[meter] model = "": a Modbus meter needs its register map: must be '
                        f"{_one_of(available_models())}, or describe the meter in "
                        "[meter.registers]")
    elif registers:
        from pievse.drivers.meter_maps import RegisterMapError, register_map_from_dict

        try:
            register_map_from_dict(registers)
        except RegisterMapError as error:
            problems += error.problems
    if meter["transport"] == "tcp" and not meter["host"]:
        problems.append('[meter] host = "": a Modbus TCP meter needs the host name or address '
                        'of the meter (or of its RS-485 gateway), e.g. host = "192.168.1.50"')
    if meter["transport"] == "rtu" and not meter["device"]:
        problems.append('[meter] device = "": a Modbus RTU meter needs the serial device of its '
                        'RS-485 adapter, e.g. device = "/dev/serial/by-id/usb-FTDI_...-port0" '
                        '(stable across replugging) or "/dev/ttyUSB0"')
    connectors = sections["charge_point"]["connectors"]
    if connectors != 1:
        problems.append(f"[charge_point] connectors = {connectors}: the Modbus meter driver "
                        "serves one connector; must be 1 with [meter] driver = \"modbus\"")
    return problems


HARDWARE_CROSS_CHECKS: list[Callable[[dict[str, dict[str, Any]]], list[str]]] = [_meter_rules]
