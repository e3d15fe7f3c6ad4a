"""The keys of the hardware drivers: ``[meter]``, ``[rfid]`` and ``[board]``.

Each section picks its driver with ``driver = ...``; the other keys of a section are read only by
the driver that uses them, so a simulated board ignores its pin numbers. Rules that join keys
(a Modbus TCP meter needs a host, an RTU one a serial device) are in ``HARDWARE_CROSS_CHECKS``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from pievse.app.config.injected import injected
from pievse.app.config.key import Key, _one_of, _show

__all__ = ["BOARD_KEYS", "HARDWARE_CROSS_CHECKS", "METER_KEYS", "RFID_KEYS", "SITE_KEYS",
           "SITE_METER_KEYS"]

_DRIVER = "which driver to use"
#: The least current a car can be offered (IEC 61851-1).
MIN_CURRENT_A = 6.0

#: Baud rates that RS-485 energy meters offer on their menus.
BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


def _check_model(value: str) -> str | None:
    if value == "":
        return None
    models = injected("meter_models")()
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


#: The meter at the house's grid connection: the same drivers, maps and keys as [meter], polled
#: at least every second (a load step must cut the offer within two).
SITE_METER_KEYS: tuple[Key, ...] = tuple(
    dataclasses.replace(key, section="site_meter", **{
        "driver": dict(default="none", choices=("none", "modbus"),
                       description=_DRIVER + ' ("none" = no site meter, no load management)'),
        "interval": dict(default=0.5, maximum=1.0,
                         description="how often the site meter is read"),
    }.get(key.name, {}))
    for key in METER_KEYS)

SITE_KEYS: tuple[Key, ...] = (
    Key("site", "main_fuse", float, 0.0,
        "the house's main fuse, per phase: the cars' offer keeps the measured import under it "
        "(0 = no load management)", unit="A", minimum=0, maximum=400),
    Key("site", "margin", float, 3.0, "how far under the main fuse the import is kept",
        unit="A", minimum=0, maximum=100),
    Key("site", "safe_current", float, 6.0,
        "what the cars may draw together while the site meter is silent, whatever the house "
        "draws (0 = pause them)", unit="A", minimum=0, maximum=80),
    Key("site", "hold", float, 30.0,
        "how long there must have been room before the offer goes up again", unit="s",
        minimum=5, maximum=3600),
)


RFID_KEYS: tuple[Key, ...] = (
    Key("rfid", "driver", str, "simulated",
        _DRIVER + ' ("pcsc" = a PC/SC reader such as an ACR122U, "none" = no card reader)',
        choices=("simulated", "pcsc", "none")),
    Key("rfid", "reader", str, "", 'part of the reader\'s name to use, any case ("" = all)'),
    Key("rfid", "uid_format", str, "hex", "how a card UID becomes the id tag",
        choices=("hex", "hex-reversed", "decimal")),
    Key("rfid", "feedback", bool, False, "beep and blink ACR122-family readers after a read"),
)

#: GPIO pins are BCM numbers 0-27; -1 means "not wired".
_PIN = dict(minimum=-1, maximum=27)


def _check_steps(value: str) -> str | None:
    problem = injected("retrofit_step_problem")(value)
    if problem is None:
        return None
    return f'{problem}; write amps:relay pins, e.g. "6:none,10:5,16:6,32:5+6"'


BOARD_KEYS: tuple[Key, ...] = (
    Key("board", "driver", str, "simulated",
        _DRIVER + ' ("gpio" = the Raspberry Pi\'s GPIO header, see hardware/)',
        choices=("simulated", "gpio")),
    Key("board", "kind", str, "native",
        "gpio: native (pievse makes the pilot) or retrofit (a dumb charger)",
        choices=("native", "retrofit")),
    Key("board", "pilot_pin", int, 18, "native: pilot PWM output (GPIO12/13/18/19)", **_PIN),
    Key("board", "contactor_pin", int, 17, "contactor relay (retrofit: the enable relay)",
        **_PIN),
    Key("board", "feedback_pin", int, 27,
        "contactor auxiliary contact (retrofit: the charger's, required)", **_PIN),
    Key("board", "feedback_contact", str, "mirror",
        "native: the auxiliary contact is a mirror (normally closed) or a make contact",
        choices=("mirror", "make")),
    Key("board", "vehicle_connected_pin", int, -1, "retrofit: input low while a car is plugged",
        **_PIN),
    Key("board", "rcd_pin", int, 22, "RCD / DC-leak fault input", **_PIN),
    Key("board", "emergency_stop_pin", int, 23, "emergency stop input", **_PIN),
    Key("board", "green_led_pin", int, 24, "green status LED", **_PIN),
    Key("board", "red_led_pin", int, 25, "red fault LED", **_PIN),
    Key("board", "adc_channel", int, 0, "native: MCP3008 channel reading the pilot",
        minimum=0, maximum=7),
    Key("board", "adc_spi_device", int, 0, "native: SPI0 chip select of the MCP3008",
        choices=(0, 1)),
    Key("board", "pilot_adc_at_minus_12v", float, 0.338,
        "native: ADC input voltage when the pilot is at -12 V (calibration)", unit="V",
        minimum=-5, maximum=5),
    Key("board", "pilot_adc_at_plus_12v", float, 3.041,
        "native: ADC input voltage when the pilot is at +12 V (calibration)", unit="V",
        minimum=-5, maximum=5),
    Key("board", "current_steps", str, "6:none,10:5,16:6,32:5+6",
        "retrofit: current steps, amps:relay pins switched on", maximum=200,
        check=_check_steps),
    Key("board", "contactor_switching_time", float, 0.0,
        "how long the contactor may take to move (0 = 0.1 s native, 3 s retrofit)", unit="s",
        minimum=0, maximum=10),
    Key("board", "has_lock", bool, False,
        "a socket whose plug a lock holds while charging (false: a fixed cable)"),
    Key("board", "lock_drive_pin", int, -1, "native with has_lock: output driving the lock",
        **_PIN),
    Key("board", "unlock_drive_pin", int, -1, "native with has_lock: output driving the unlock",
        **_PIN),
    Key("board", "lock_feedback_pin", int, -1, "native with has_lock: lock feedback input",
        **_PIN),
    Key("board", "has_phase_switch", bool, False,
        "a relay switches the supply between one and three phases (for the solar surplus)"),
    Key("board", "phase_switch_pin", int, -1,
        "native with has_phase_switch: the relay that connects L2 and L3", **_PIN),
)

_PIN_KEYS = ("pilot_pin", "contactor_pin", "feedback_pin", "vehicle_connected_pin", "rcd_pin",
             "emergency_stop_pin", "green_led_pin", "red_led_pin")
_LOCK_PIN_KEYS = ("lock_drive_pin", "unlock_drive_pin", "lock_feedback_pin")


def _board_rules(sections: dict[str, dict[str, Any]]) -> list[str]:
    board = sections["board"]
    if board["driver"] != "gpio":
        return []
    problems: list[str] = []
    if sections["charge_point"]["connectors"] != 1:
        problems.append(f"[charge_point] connectors = {sections['charge_point']['connectors']}: "
                        'a [board] driver = "gpio" drives one connector; must be 1')
    if sections["meter"]["driver"] == "simulated":
        problems.append('[meter] driver = "simulated": a simulated meter measures the simulated '
                        'car, which a real board does not have; with [board] driver = "gpio" '
                        'use a real meter, e.g. driver = "modbus"')
    native_lock = board["kind"] == "native" and board["has_lock"]
    switch = ("phase_switch_pin",) if board["kind"] == "native" and board["has_phase_switch"] \
        else ()
    used = [name for name in _PIN_KEYS + (_LOCK_PIN_KEYS if native_lock else ()) + switch
            if board[name] != -1
            and (board["kind"] == "native" or name != "pilot_pin")
            and (board["kind"] == "retrofit" or name != "vehicle_connected_pin")]
    owners: dict[int, str] = {}
    for name in used:
        pin = board[name]
        if pin in owners:
            problems.append(f"[board] {name} = {pin}: GPIO{pin} is already {owners[pin]}")
        owners.setdefault(pin, name)
    if board["kind"] == "native" and board["pilot_pin"] == -1:
        problems.append("[board] pilot_pin = -1: a native board makes the pilot; must be a GPIO "
                        "with hardware PWM, 12, 13, 18 or 19")
    if board["kind"] == "retrofit":
        if board["feedback_pin"] == -1:
            problems.append("[board] feedback_pin = -1: a retrofit board learns that the car "
                            "charges from the charger contactor's auxiliary contact; must be wired")
        if board["contactor_pin"] == -1:
            problems.append("[board] contactor_pin = -1: a retrofit board needs the enable relay")
        if board["has_lock"]:
            problems.append("[board] has_lock = true: a retrofit board drives no cable lock "
                            "(its charger does); must be false")
    elif board["contactor_pin"] == -1:
        problems.append("[board] contactor_pin = -1: a native board needs the contactor relay")
    if native_lock:
        problems += [f"[board] {name} = -1: has_lock = true needs the lock wired"
                     for name in _LOCK_PIN_KEYS if board[name] == -1]
    return problems


def _modbus_rules(section: str, meter: dict[str, Any]) -> list[str]:
    """What a Modbus meter needs, in [meter] or [site_meter]."""
    problems: list[str] = []
    model, registers = meter["model"], meter["registers"]
    if model and registers:
        problems.append(f"[{section}] model = {_show(model)}: name a shipped map or describe "
                        f"the meter in [{section}.registers], not both")
    elif not model and not registers:
        problems.append(f'[{section}] model = "": a Modbus meter needs its register map: must '
                        f"be {_one_of(injected('meter_models')())}, or describe the meter in "
                        f"[{section}.registers]")
    elif registers:
        problems += injected("meter_register_problems")(registers)
    if meter["transport"] == "tcp" and not meter["host"]:
        problems.append(f'[{section}] host = "": a Modbus TCP meter needs the host name or '
                        'address of the meter (or of its RS-485 gateway), e.g. '
                        'host = "192.168.1.50"')
    if meter["transport"] == "rtu" and not meter["device"]:
        problems.append(f'[{section}] device = "": a Modbus RTU meter needs the serial device of '
                        'its RS-485 adapter, e.g. device = "/dev/serial/by-id/usb-FTDI_...-port0" '
                        '(stable across replugging) or "/dev/ttyUSB0"')
    return problems


def _meter_rules(sections: dict[str, dict[str, Any]]) -> list[str]:
    meter = sections["meter"]
    if meter["driver"] != "modbus":
        return []
    problems = _modbus_rules("meter", meter)
    connectors = sections["charge_point"]["connectors"]
    if connectors != 1:
        problems.append(f"[charge_point] connectors = {connectors}: the Modbus meter driver "
                        "serves one connector; must be 1 with [meter] driver = \"modbus\"")
    return problems


def _site_rules(sections: dict[str, dict[str, Any]]) -> list[str]:
    site, meter = sections["site"], sections["site_meter"]
    fuse, margin, safe = site["main_fuse"], site["margin"], site["safe_current"]
    managed = meter["driver"] != "none"
    problems = _modbus_rules("site_meter", meter) if managed else []
    if managed and fuse == 0:
        problems.append("[site] main_fuse = 0: a [site_meter] is there to keep the house under "
                        "its main fuse; must be the fuse's rating per phase, e.g. main_fuse = 35")
    elif fuse > 0 and not managed:
        problems.append(f"[site] main_fuse = {_show(fuse)}: a house fuse needs the meter at the "
                        'grid connection to keep under it: [site_meter] driver = "modbus", or '
                        "main_fuse = 0")
    elif managed and fuse - margin < MIN_CURRENT_A:
        problems.append(f"[site] margin = {_show(margin)}: leaves {_show(fuse - margin)} A under "
                        f"main_fuse = {_show(fuse)}; must leave at least 6 A for a car")
    elif managed and safe > fuse - margin:
        problems.append(f"[site] safe_current = {_show(safe)}: must be at most main_fuse - "
                        f"margin = {_show(fuse - margin)} (A): it is what the cars draw while "
                        "the house is not measured")
    return problems


HARDWARE_CROSS_CHECKS: list[Callable[[dict[str, dict[str, Any]]], list[str]]] = [
    _meter_rules, _board_rules, _site_rules]
