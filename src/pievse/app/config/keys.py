"""The table of configuration keys: every key pievse understands, one row each.

A row says where a key lives, what type it holds, its default, what it allows and what it is for;
validation, defaults, ``config.example.toml``'s test and every error message come from these rows.
The keys of the hardware drivers live in :mod:`pievse.app.config.hardware_keys`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pievse.app.config.hardware_keys import (
    BOARD_KEYS, HARDWARE_CROSS_CHECKS, METER_KEYS, RFID_KEYS, SITE_KEYS, SITE_METER_KEYS)
from pievse.app.config.key import REQUIRED, Key
from pievse.app.config.mqtt_keys import MQTT_CROSS_CHECKS, MQTT_KEYS
from pievse.local_api.addresses import is_loopback, split_host_port
from pievse.app.config.security_keys import SECURITY_CROSS_CHECKS, SECURITY_KEYS
from pievse.app.config.solar_keys import SOLAR_CROSS_CHECKS, SOLAR_KEYS
from pievse.app.config.standalone_keys import STANDALONE_KEYS

# --- the table of keys ----------------------------------------------------------------------------

def _check_charge_point_id(value: str) -> str | None:
    # The identity becomes a path segment of the websocket URL (OCPP-J; the last one, or where
    # [ocpp] url says {id}), so it must survive being put in a URL unchanged.
    if "/" in value or any(c.isspace() or not c.isprintable() for c in value):
        return 'must not contain "/", whitespace or control characters (it is part of the URL)'
    return None


def _check_ws_url(value: str) -> str | None:
    from urllib.parse import urlsplit

    if value == "":
        return None  # no CSMS: the station runs on its own ([standalone])
    allowed = 'must be a ws:// or wss:// URL with a host, e.g. "ws://csms.example.com:9000/ocpp"'
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    except ValueError:
        return allowed
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        return allowed
    if any(c.isspace() for c in value):
        return "must not contain whitespace"
    # The link puts the charge point id where the URL says {id} (protocol.common.link).
    if "{id}" in parts.netloc:
        return "{id} (the charge point id) belongs in the path or the query"
    return None


def _check_listen(value: str) -> str | None:
    if value == "":
        return None
    try:
        split_host_port(value)
    except ValueError as error:
        return str(error)
    return None


def _check_api_token(value: str) -> str | None:
    if value == "":
        return None
    # Guessed at LAN speed, a short token falls in hours; it travels in an HTTP header.
    if len(value) < 16 or not all("!" <= c <= "~" for c in value):
        return ("must be 16 or more printable ASCII characters without spaces "
                '(e.g. the output of "openssl rand -hex 16"), or "" for none')
    return None


KEYS: tuple[Key, ...] = (
    # [charge_point]: what the CSMS knows this charge point as, and the installation's limits.
    Key("charge_point", "id", str, REQUIRED, "the charge point identity the CSMS knows",
        minimum=1, maximum=48, check=_check_charge_point_id, example="pievse001"),
    Key("charge_point", "vendor", str, "pievse", "chargePointVendor in BootNotification",
        maximum=20),
    Key("charge_point", "model", str, "pievse-sim", "chargePointModel in BootNotification",
        maximum=20),
    Key("charge_point", "serial_number", str, "",
        'chargePointSerialNumber in BootNotification ("" = not sent)', maximum=25),
    Key("charge_point", "connectors", int, 1, "number of connectors", minimum=1, maximum=8),
    Key("charge_point", "max_current", float, 32.0,
        "installation maximum per connector, never offered above", unit="A",
        minimum=6, maximum=80),
    Key("charge_point", "phases", int, 3, "phases wired to each connector", choices=(1, 3)),
    Key("charge_point", "phase_rotation", str, "Unknown",
        "how the grid's phases L1, L2, L3 are wired to the connectors (ConnectorPhaseRotation)",
        choices=("RST", "RTS", "SRT", "STR", "TRS", "TSR", "Unknown")),
    Key("charge_point", "voltage", float, 230.0, "nominal phase-to-neutral voltage", unit="V",
        minimum=100, maximum=480),
    Key("charge_point", "resume_interrupted_sessions", bool, False,
        "after a power cut or crash, go on with a session whose car is still plugged in "
        "(false: stop it with reason PowerLoss)"),
    # [ocpp]: the link to the central system.
    Key("ocpp", "url", str, REQUIRED,
        'websocket URL of the CSMS, or "" to run without one',
        check=_check_ws_url, example="ws://127.0.0.1:9000/ocpp"),
    Key("ocpp", "version", str, "1.6",
        'OCPP version spoken ("auto": offer both, 2.0.1 first, and speak what the CSMS chooses)',
        choices=("1.6", "2.0.1", "auto")),
    Key("ocpp", "response_timeout", float, 30.0, "how long to wait for the CSMS to answer a call",
        unit="s", minimum=1, maximum=300),
    Key("ocpp", "ping_interval", int, 60, "websocket ping interval (0 = off)", unit="s",
        minimum=0, maximum=3600),
    *SECURITY_KEYS,
    # [meter], [rfid], [board]: the hardware drivers.
    *METER_KEYS,
    *RFID_KEYS,
    *BOARD_KEYS,
    # [site_meter], [site]: the house's grid connection and its main fuse.
    *SITE_METER_KEYS,
    *SITE_KEYS,
    # [solar]: charging from the solar surplus the site meter measures.
    *SOLAR_KEYS,
    # [simulation]: the simulated car behind the simulated board.
    Key("simulation", "ev_max_current", float, 32.0, "the most the simulated car draws",
        unit="A", minimum=6, maximum=80),
    Key("simulation", "ev_phases", int, 3, "phases the simulated car charges on",
        choices=(1, 3)),
    Key("simulation", "ev_reaction_delay", float, 2.0,
        "how long the simulated car takes to follow the pilot", unit="s", minimum=0, maximum=10),
    Key("simulation", "ev_battery_capacity", float, 0.0,
        "the simulated car's battery; it stops asking for power when full (0 = never full)",
        unit="Wh", minimum=0),
    Key("simulation", "ev_state_at_start", str, "A",
        "the simulated car's state when the daemon starts; B or C: a car that stayed plugged in "
        "while the station was off", choices=("A", "B", "C")),
    # [api]: the local HTTP API used by `pievse status` and `pievse sim`.
    Key("api", "listen", str, "127.0.0.1:8180", 'local HTTP API address, "host:port" ("" = off)',
        check=_check_listen),
    Key("api", "token", str, "",
        'what a client of the local API must send to change the station\'s state ("" = none: '
        "then the API must listen on loopback)", secret=True, check=_check_api_token),
    # [storage]: what must survive a power cut.
    Key("storage", "path", str, "/var/lib/pievse/pievse.sqlite3", "SQLite database file",
        minimum=1),
    # [authorization], [reservations]: who may charge without asking the CSMS.
    Key("authorization", "local_list_max_length", int, 10_000,
        "the most id tags the local authorization list holds (LocalAuthListMaxLength)",
        minimum=1, maximum=100_000),
    Key("authorization", "send_local_list_max_length", int, 1_000,
        "the most id tags one SendLocalList may carry (SendLocalListMaxLength)",
        minimum=1, maximum=100_000),
    Key("authorization", "cache_max_entries", int, 1_000,
        "the authorization cache's size; the least recently used entries give way",
        minimum=1, maximum=100_000),
    Key("reservations", "connector_zero", bool, True,
        "accept ReserveNow for connector 0 (any free connector; ReserveConnectorZeroSupported)"),
    # [firmware], [diagnostics]: the Firmware Management profile.
    Key("firmware", "allow_updates", bool, True,
        "install the pievse versions the CSMS sends with UpdateFirmware (false: NotSupported)"),
    Key("firmware", "python", str, "",
        'interpreter of the venv updates go into ("" = the one running pievse)'),
    Key("firmware", "max_download", int, 64, "largest firmware download accepted", unit="MiB",
        minimum=1, maximum=1024),
    Key("firmware", "transfer_timeout", float, 60.0,
        "timeout of one download or upload attempt", unit="s", minimum=5, maximum=600),
    Key("diagnostics", "journal_unit", str, "pievse",
        'systemd unit whose journal GetDiagnostics uploads ("" = none)'),
    Key("diagnostics", "log_file", str, "",
        'a log file whose tail GetDiagnostics uploads too ("" = none)'),
    # [standalone], [tariff]: a station without CSMS, and the cost of a session.
    *STANDALONE_KEYS,
    # [logging]
    Key("logging", "level", str, "info", "least severe level logged",
        choices=("debug", "info", "warning", "error")),
    # [mqtt]: the station's state and controls for Home Assistant (pievse.app.config.mqtt_keys).
    *MQTT_KEYS,
)

SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(key.section for key in KEYS))


def _charge_point_rules(sections: dict[str, dict[str, Any]]) -> list[str]:
    cp = sections["charge_point"]
    if cp["phases"] == 1 and cp["phase_rotation"] != "Unknown":
        return [f'[charge_point] phase_rotation = "{cp["phase_rotation"]}": a single-phase '
                'station has no phase rotation (with phases = 1 it must stay "Unknown")']
    return []

def _api_rules(sections: dict[str, dict[str, Any]]) -> list[str]:
    api = sections["api"]
    if not api["listen"] or api["token"] or is_loopback(split_host_port(api["listen"])[0]):
        return []
    return [f'[api] listen = "{api["listen"]}" is reachable beyond this machine, so [api] token '
            "is required: without it any web page a person visits could drive the station "
            '(set a secret of 16 or more characters, e.g. from "openssl rand -hex 16", or listen '
            'on "127.0.0.1:8180")']

#: Rules between keys: each takes the validated sections ({section: {key: value}}) and returns
#: its problems, worded like the others ("[section] key = value: what is allowed").
CROSS_CHECKS: list[Callable[[dict[str, dict[str, Any]]], list[str]]] = [
    _charge_point_rules, _api_rules, *HARDWARE_CROSS_CHECKS, *SECURITY_CROSS_CHECKS,
    *MQTT_CROSS_CHECKS, *SOLAR_CROSS_CHECKS]
