"""The configuration file: TOML, read once at start-up, validated against a table of keys.

Every key the daemon understands is one row of ``KEYS``: its section, name, type, default, the
values it allows and a one-line description. Validation, defaults and error messages all come from
that table, so a new key (or a new driver for a section) is a new row or a longer ``choices``
tuple, not new code. The result is a tree of frozen dataclasses::

    config = load_config("/etc/pievse/config.toml")
    config.charge_point.id, config.ocpp.url, config.api.host, config.api.port

A file with problems raises ``ConfigError`` listing all of them at once, each naming the key, the
value found and what is allowed, so that one edit fixes everything::

    [charge_point] max_current = 100.0: must be between 6 and 80 (A)
    [ocpp] ulr: unknown key; did you mean "url"?

Only the standard library is used (``tomllib``), and nothing heavy is imported unless a problem
has to be explained.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from typing import Any, get_type_hints

from pievse.app.config.errors import ConfigError
from pievse.app.config.key import _TYPE_NAMES, REQUIRED, Key, _name, _number, _show
from pievse.app.config.keys import CROSS_CHECKS, KEYS, SECTIONS, split_host_port
from pievse.app.config.toml_text import LARGEST_FILE, read_toml, too_large

__all__ = [
    "KEYS",
    "REQUIRED",
    "ApiConfig",
    "AuthorizationConfig",
    "BoardConfig",
    "ChargePointConfig",
    "Config",
    "ConfigError",
    "DiagnosticsConfig",
    "FirmwareConfig",
    "Key",
    "LoggingConfig",
    "MeterConfig",
    "MqttConfig",
    "OcppConfig",
    "ReservationsConfig",
    "RfidConfig",
    "SimulationConfig",
    "SiteConfig",
    "SolarConfig",
    "StandaloneConfig",
    "StorageConfig",
    "TariffConfig",
    "check_config_main",
    "default_config",
    "load_config",
    "parse_config",
    "split_host_port",
    "summary",
]


# --- the result ---------------------------------------------------------------------------------
# The dataclasses carry no defaults on purpose: the defaults live in KEYS only.


@dataclass(frozen=True, slots=True)
class ChargePointConfig:
    id: str
    vendor: str
    model: str
    serial_number: str
    connectors: int
    max_current: float
    phases: int
    phase_rotation: str
    voltage: float
    resume_interrupted_sessions: bool


@dataclass(frozen=True, slots=True)
class OcppConfig:
    url: str
    version: str
    response_timeout: float
    ping_interval: int
    security_profile: int
    password: str
    ca_file: str
    cert_file: str
    key_file: str
    certificate_dir: str
    cpo_name: str
    csr_key_type: str


@dataclass(frozen=True, slots=True)
class MeterConfig:
    driver: str
    interval: float
    model: str
    transport: str
    device: str
    baudrate: int
    parity: str
    stopbits: int
    host: str
    port: int
    unit_id: int
    timeout: float
    registers: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SiteConfig:
    main_fuse: float
    margin: float
    safe_current: float
    hold: float

    @property
    def managed(self) -> bool:
        """Whether the cars' offer follows the house's load (a main fuse is set)."""
        return self.main_fuse > 0


@dataclass(frozen=True, slots=True)
class SolarConfig:
    mode: str
    start_delay: float
    stop_delay: float
    reserve_w: float
    phase_switch_interval: float


@dataclass(frozen=True, slots=True)
class RfidConfig:
    driver: str
    reader: str
    uid_format: str
    feedback: bool


@dataclass(frozen=True, slots=True)
class BoardConfig:
    driver: str
    kind: str
    pilot_pin: int
    contactor_pin: int
    feedback_pin: int
    feedback_contact: str
    vehicle_connected_pin: int
    rcd_pin: int
    emergency_stop_pin: int
    green_led_pin: int
    red_led_pin: int
    adc_channel: int
    adc_spi_device: int
    pilot_adc_at_minus_12v: float
    pilot_adc_at_plus_12v: float
    current_steps: str
    contactor_switching_time: float
    has_lock: bool
    lock_drive_pin: int
    unlock_drive_pin: int
    lock_feedback_pin: int
    has_phase_switch: bool
    phase_switch_pin: int


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    ev_max_current: float
    ev_phases: int
    ev_reaction_delay: float
    ev_battery_capacity: float
    ev_state_at_start: str


@dataclass(frozen=True, slots=True)
class ApiConfig:
    listen: str
    token: str

    @property
    def enabled(self) -> bool:
        return self.listen != ""

    @property
    def host(self) -> str | None:
        """The address to bind (brackets of an IPv6 address removed); None when the API is off."""
        return split_host_port(self.listen)[0] if self.listen else None

    @property
    def port(self) -> int | None:
        return split_host_port(self.listen)[1] if self.listen else None


@dataclass(frozen=True, slots=True)
class MqttConfig:
    host: str
    port: int
    username: str
    password: str
    tls: bool
    ca_file: str
    cert_file: str
    key_file: str
    tls_insecure: bool
    base_topic: str
    discovery_prefix: str
    start_id_tag: str
    publish_interval: float

    @property
    def enabled(self) -> bool:
        return self.host != ""


@dataclass(frozen=True, slots=True)
class StorageConfig:
    path: str


@dataclass(frozen=True, slots=True)
class AuthorizationConfig:
    local_list_max_length: int
    send_local_list_max_length: int
    cache_max_entries: int


@dataclass(frozen=True, slots=True)
class ReservationsConfig:
    connector_zero: bool


@dataclass(frozen=True, slots=True)
class FirmwareConfig:
    allow_updates: bool
    python: str
    max_download: int
    transfer_timeout: float


@dataclass(frozen=True, slots=True)
class DiagnosticsConfig:
    journal_unit: str
    log_file: str


@dataclass(frozen=True, slots=True)
class StandaloneConfig:
    authorization: str
    cards: list[str]


@dataclass(frozen=True, slots=True)
class TariffConfig:
    price_per_kwh: float
    currency: str


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str


@dataclass(frozen=True, slots=True)
class Config:
    charge_point: ChargePointConfig
    ocpp: OcppConfig
    meter: MeterConfig
    rfid: RfidConfig
    board: BoardConfig
    site_meter: MeterConfig
    site: SiteConfig
    solar: SolarConfig
    simulation: SimulationConfig
    api: ApiConfig
    storage: StorageConfig
    authorization: AuthorizationConfig
    reservations: ReservationsConfig
    firmware: FirmwareConfig
    diagnostics: DiagnosticsConfig
    standalone: StandaloneConfig
    tariff: TariffConfig
    logging: LoggingConfig
    mqtt: MqttConfig

    def secret_keys(self) -> frozenset[tuple[str, str]]:
        """(section, name) of every key whose value must never be shown (diagnostics, logs)."""
        return frozenset((key.section, key.name) for key in KEYS if key.secret)


SECTION_CLASSES: dict[str, type] = get_type_hints(Config)


# --- loading ------------------------------------------------------------------------------------


def load_config(path: str) -> Config:
    """Read and validate the TOML file at ``path``; raises ConfigError listing every problem."""
    try:
        with open(path, "rb") as file:
            # One byte more than a configuration may hold tells that the file is too large,
            # without reading all of a file that could be anything (a device, a disk image).
            raw = file.read(LARGEST_FILE + 1)
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"], path) from None
    except OSError as error:
        raise ConfigError([f"{path}: cannot read it: {error.strerror or error}"], path) from None
    if len(raw) > LARGEST_FILE:
        raise ConfigError([too_large(path, "bytes")], path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            [f"{path}: not UTF-8 text (byte {error.start} is {raw[error.start]:#04x})"], path
        ) from None
    return parse_config(text, source=path)


def parse_config(text: str, source: str = "<string>") -> Config:
    """Validate TOML ``text``; ``source`` names it in the error (a path, or "<demo>")."""
    return _build(read_toml(text, source, KEYS), source, fill_required=False)


def default_config(**overrides: dict[str, Any]) -> Config:
    """The configuration with every default, overridden section by section and validated like a
    file: ``default_config(ocpp={"url": "ws://10.0.0.2/ocpp"}, api={"listen": ""})``.

    Required keys that are not overridden take the values of ``config.example.toml``
    (charge point ``pievse001``, CSMS at ``ws://127.0.0.1:9000/ocpp``).
    """
    return _build(overrides, "<default_config>", fill_required=True)


#: How many unknown sections and keys are explained one by one.
MOST_PROBLEMS = 50


def _build(data: dict[str, Any], source: str, *, fill_required: bool) -> Config:
    problems: list[str] = []
    # Names are explained (with a close match) up to a screenful; a file of thousands of unknown
    # names is the wrong file, and the count says so.
    unexplained = 0
    for name, table in data.items():
        if name not in SECTIONS:
            if len(problems) < MOST_PROBLEMS:
                problems.append(_unknown_section(name))
            else:
                unexplained += 1
        elif not isinstance(table, dict):
            problems.append(f"{_name(name)} = {_show(table)}: must be a table, [{_name(name)}]")
    sections: dict[str, Any] = {}
    for section in SECTIONS:
        table = data.get(section, {})
        if not isinstance(table, dict):
            table = {}
        keys = [key for key in KEYS if key.section == section]
        known = {key.name for key in keys}
        unknown = [name for name in table if name not in known]
        room = max(MOST_PROBLEMS - len(problems), 0)
        problems += [_unknown_key(section, name) for name in unknown[:room]]
        unexplained += len(unknown[room:])
        values: dict[str, Any] = {}
        for key in keys:
            if key.name in table:
                value, problem = _validate(key, table[key.name])
                if problem:
                    problems.append(problem)
                values[key.name] = value
            elif not key.required:
                values[key.name] = key.default
            elif fill_required:
                values[key.name] = key.example
            else:
                problems.append(f"{key.label}: missing; it is required ({key.description}), "
                                f"e.g. {key.name} = {_show(key.example)}")
        sections[section] = values
    if not problems:
        # Rules between keys, checked once every key is right on its own.
        for rule in CROSS_CHECKS:
            problems += rule(sections)
    if unexplained:
        problems.append(f"... and {unexplained:,} more unknown sections or keys")
    if problems:
        raise ConfigError(problems, source)
    return Config(**{name: SECTION_CLASSES[name](**values) for name, values in sections.items()})


def _validate(key: Key, value: Any) -> tuple[Any, str | None]:
    """The value converted to the key's type, and the problem with it (None if it is fine)."""
    shown = f"{key.label} = (hidden)" if key.secret else f"{key.label} = {_show(value)}"
    # In Python a bool is an int: `connectors = true` must not pass as 1.
    if key.type is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:  # beyond the largest float: as useless as an infinite one
            value = math.inf if value > 0 else -math.inf
    if type(value) is not key.type:
        hint = ""
        if key.type is str and isinstance(value, int | float) and not isinstance(value, bool):
            hint = f' (in quotes: "{_show(value)}")'
        return value, f"{shown}: {_TYPE_NAMES[key.type]}{hint}"
    if key.type is float and not math.isfinite(value):
        return value, f"{shown}: must be a finite number, {key.allowed().removeprefix('must be ')}"
    if key.type is str and (problem := _text_problem(value, key)):
        return value, f"{shown}: {problem}"
    if key.planned and value in key.planned:
        return value, (f"{shown}: planned but not supported yet by this version of pievse; "
                       f"{key.allowed()}")
    if key.choices and value not in key.choices:
        return value, f"{shown}: {key.allowed()}"
    measure = len(value) if key.type is str else value
    if (key.minimum is not None and measure < key.minimum) or (
        key.maximum is not None and measure > key.maximum
    ):
        return value, f"{shown}: {key.allowed()}"
    if key.check is not None and (problem := key.check(value)):
        return value, f"{shown}: {problem}"
    return value, None


#: The longest text a key without a length of its own takes: Linux's longest path (PATH_MAX).
#: Longer is no path, host, URL or name that pievse can use.
LONGEST_TEXT = 4096

# C0 and C1 controls and DEL: no key takes them, and a NUL in a path would only fail at run.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _text_problem(value: str, key: Key) -> str | None:
    if key.maximum is None and len(value) > LONGEST_TEXT:
        return f"must be at most {LONGEST_TEXT} characters long (it has {len(value):,})"
    if control := _CONTROL.search(value):
        return (f"must not contain control characters (it has U+{ord(control.group()):04X} "
                f"at character {control.start() + 1})")
    return None


def _unknown_section(name: str) -> str:
    from difflib import get_close_matches

    close = get_close_matches(name, SECTIONS, n=1)
    if close:
        return f'[{_name(name)}]: unknown section; did you mean "[{close[0]}]"?'
    return (f"[{_name(name)}]: unknown section; known sections: "
            + ", ".join(f"[{s}]" for s in SECTIONS))


def _unknown_key(section: str, name: str) -> str:
    from difflib import get_close_matches

    names = [key.name for key in KEYS if key.section == section]
    close = get_close_matches(name, names, n=1)
    # A key put in the wrong section is a likelier mistake than a typo that happens to be close.
    elsewhere = [f"[{key.section}]" for key in KEYS if key.name == name]
    label = f"[{section}] {_name(name)}"
    if elsewhere:
        return f"{label}: unknown key here; it belongs in " + ", ".join(elsewhere)
    if close:
        return f'{label}: unknown key; did you mean "{close[0]}"?'
    return f"{label}: unknown key; known keys: " + ", ".join(names)


# --- `pievse check-config FILE` -----------------------------------------------------------------


def _version(version: str) -> str:
    return "2.0.1 or 1.6, as the CSMS chooses" if version == "auto" else version


def summary(config: Config) -> list[str]:
    """A few lines saying what the configuration will do."""
    cp, ocpp, api = config.charge_point, config.ocpp, config.api
    connectors = "1 connector" if cp.connectors == 1 else f"{cp.connectors} connectors"
    return [
        f"charge point {cp.id} ({cp.vendor} {cp.model}): {connectors}, "
        f"{_number(cp.max_current)} A max, {cp.phases} phase{'s' if cp.phases > 1 else ''} "
        f"at {_number(cp.voltage)} V",
        f"OCPP {_version(ocpp.version)} to {ocpp.url}, security profile "
        f"{ocpp.security_profile}"
        if ocpp.url else f"no CSMS: standalone, {_standalone(config.standalone)}",
        f"drivers: board {_board(config.board)}, meter {_meter(config.meter)} "
        f"(every {_number(config.meter.interval)} s), card reader {config.rfid.driver}",
        f"local API on {api.listen}" if api.enabled else "local API off",
        *([f"MQTT to {config.mqtt.host}:{config.mqtt.port}"
           + (" over TLS" if config.mqtt.tls else "")] if config.mqtt.enabled else []),
        f"storage {config.storage.path}, log level {config.logging.level}",
        *_house_fuse(config),
        *_solar(config),
    ]


def _standalone(standalone: StandaloneConfig) -> str:
    if standalone.authorization == "free":
        return "free charging (plug in and charge)"
    return (f"cards: {len(standalone.cards)} in the config, and those `pievse cards add` put in "
            "the store")


def _house_fuse(config: Config) -> list[str]:
    site = config.site
    if not site.managed:
        return []
    return [f"house fuse {_number(site.main_fuse)} A a phase less {_number(site.margin)} A, "
            f"site meter {_meter(config.site_meter)} every {_number(config.site_meter.interval)}"
            f" s, {_number(site.safe_current)} A while it is silent"]


def _solar(config: Config) -> list[str]:
    solar = config.solar
    switch = (f", one or three phases (at most every {_number(solar.phase_switch_interval)} s)"
              if config.board.has_phase_switch else "")
    if solar.mode == "fast" and not switch:
        return []
    return [f"charging mode {solar.mode}: start after {_number(solar.start_delay)} s of "
            f"surplus, pause after {_number(solar.stop_delay)} s without{switch}"]


def _board(board: BoardConfig) -> str:
    return f"gpio ({board.kind})" if board.driver == "gpio" else board.driver


def _meter(meter: MeterConfig) -> str:
    if meter.driver != "modbus":
        return meter.driver
    where = (f"{meter.host}:{meter.port}" if meter.transport == "tcp"
             else f"{meter.device} at {meter.baudrate} baud")
    return f"modbus {meter.model or 'custom map'} (unit {meter.unit_id}, {where})"


def check_config_main(path: str) -> int:
    """Validate ``path``: print "config OK" and a summary (exit status 0) or every problem on
    stderr (exit status 2)."""
    try:
        config = load_config(path)
    except ConfigError as error:
        print(f"pievse: {error}", file=sys.stderr)
        return 2
    print(f"config OK: {path}")
    for line in summary(config):
        print(f"  {line}")
    return 0
