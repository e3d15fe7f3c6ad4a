"""A fuzzer for the configuration file: TOML documents built from the table of keys, with valid
values, values at and past each bound, the wrong type, and hostile values (integers past 64
bits or of thousands of digits, arrays hundreds deep, NUL and other control characters,
megabyte strings, infinities, dates, unknown names). Whatever the document, ``parse_config``
returns a Config or raises ConfigError whose every problem names a key, shortened to a line; it
never raises anything else, and a password never shows."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pievse.app.config import KEYS, Config, ConfigError, Key, load_config, parse_config
from pievse.app.config.keys import SECTIONS

# Bounded for CI: a few seconds on a slow two-core machine; no deadline (a slow machine is not
# a failure), and hostile documents are large on purpose.
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@dataclass(frozen=True)
class Raw:
    """TOML text that no Python value writes: a 5000-digit literal, arrays 600 deep."""

    text: str


def toml(value: Any) -> str:
    """``value`` as a TOML value (every string escaped as TOML wants it)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + "".join(
            "\\" + c if c in '"\\' else f"\\u{ord(c):04x}" if ord(c) < 0x20 or c == "\x7f"
            else c for c in value) + '"'
    if isinstance(value, float):
        return "nan" if math.isnan(value) else {math.inf: "inf", -math.inf: "-inf"}.get(
            value, repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml(str(k))} = {toml(v)}" for k, v in value.items()) + " }"
    return value.isoformat()


# --- values --------------------------------------------------------------------------------------

texts = st.text(max_size=30)
scalars = st.one_of(
    st.booleans(), st.integers(), st.floats(), texts,
    st.datetimes(timezones=st.just(dt.timezone.utc)), st.dates(),
)
any_value = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)), max_leaves=8)

hostile = st.one_of(
    st.sampled_from([
        Raw("[" * 600 + "]" * 600), Raw("{a=" * 600 + "1" + "}" * 600),
        Raw("9" * 5000), Raw("-" + "9" * 4301), Raw("0x" + "f" * 5000), Raw("0b" + "1" * 70),
        2**63, -(2**63) - 1, 10**400, math.inf, -math.inf, math.nan, 1e308, 5e-324, -0.0,
        "a\x00b", "/tmp/a\x00b", "\x1b[31m", "\x7f", "\u2028", "a" * 5000, "x" * 100_000,
        "", " ", dt.time(12, 0), [[[[[[[[]]]]]]]],
    ]),
    st.text(st.characters(max_codepoint=0x9f), min_size=1, max_size=10),
    st.integers(min_value=2**63, max_value=2**70).map(lambda n: -n),
)


def bounds(key: Key) -> st.SearchStrategy[Any]:
    """Values at and just past what ``key`` allows."""
    if key.choices:
        return st.sampled_from(key.choices)
    lo, hi = key.minimum, key.maximum
    if key.type is str:
        lengths = [n for n in (lo, hi, 4096) if n is not None]
        lengths += [n + d for n in lengths for d in (-1, 1) if n + d >= 0]
        return st.sampled_from(sorted(set(lengths))).map(lambda n: "a" * int(n))
    if key.type in (int, float):
        edges = [x for x in (lo, hi) if x is not None] or [0]
        step = 1 if key.type is int else 1e-9
        near = [key.type(x + d) for x in edges for d in (-step, 0, step)]
        return st.sampled_from(near)
    return st.just(key.default)


def valid(key: Key) -> st.SearchStrategy[Any]:
    if key.choices:
        return st.sampled_from(key.choices)
    if key.type is bool:
        return st.booleans()
    if key.type is int:
        return st.integers(min_value=key.minimum, max_value=key.maximum)
    if key.type is float:
        return st.floats(min_value=key.minimum, max_value=key.maximum, allow_nan=False,
                         allow_infinity=False)
    return st.just(key.example if key.required else key.default)


def value_for(key: Key) -> st.SearchStrategy[Any]:
    return st.one_of(valid(key), bounds(key), any_value, hostile)


names = st.one_of(st.sampled_from([k.name for k in KEYS]), texts, st.just("x" * 5000))


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, str | None]:
    """A TOML document and the password it sets (None if none)."""
    sections: dict[str, dict[str, Any]] = {
        "charge_point": {"id": draw(st.one_of(st.just("CP1"), value_for(KEYS[0])))},
        "ocpp": {"url": "ws://csms.example.com/ocpp"},
    }
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=6, unique=True)):
        sections.setdefault(key.section, {})[key.name] = draw(value_for(key))
    for section, name in draw(st.lists(st.tuples(st.one_of(st.sampled_from(SECTIONS), texts),
                                                 names), max_size=2)):
        sections.setdefault(section, {}).setdefault(name, draw(any_value))
    top = draw(st.dictionaries(st.sampled_from(SECTIONS + ("stray",)), scalars, max_size=1))
    lines = [f"{toml(name)} = {toml(value)}" for name, value in top.items() if name not in
             sections]
    for section, keys in sections.items():
        lines.append(f"[{toml(section)}]")
        lines += [f"{toml(name)} = {toml(value)}" for name, value in keys.items()]
    password = sections.get("ocpp", {}).get("password")
    return "\n".join(lines) + "\n", password if isinstance(password, str) else None


# --- what every document must give ---------------------------------------------------------------

_LABEL = re.compile(r'\[(?:[^\]"]+|"(?:[^"\\]|\\.)*"?)\](?::| \S)')
_TOP_LEVEL = re.compile(r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"?) = ')


def names_a_key(problem: str) -> bool:
    """The problem starts with what it is about: ``[section] key``, ``[section]:`` or a
    top-level ``name = value`` (which should have been a table); or counts the rest."""
    return (problem.startswith("... and ")
            or _TOP_LEVEL.match(problem) is not None
            or _LABEL.match(problem) is not None)


def check(text: str, password: str | None) -> None:
    try:
        config = parse_config(text, "<fuzz>")
    except ConfigError as error:
        assert error.problems
        for problem in error.problems:
            assert names_a_key(problem), problem
            assert len(problem) < 600, problem
            assert "\x00" not in problem
        # The password is never repeated; the same text as another key's value may well be.
        if password and len(password) >= 4 and text.count(password) == 1:
            assert password not in str(error)
        return
    assert isinstance(config, Config)


@FUZZ
@given(documents())
def test_any_document_built_from_the_key_table_gives_a_config_or_problems_naming_keys(doc):
    check(*doc)


@FUZZ
@given(st.sampled_from(KEYS), hostile)
def test_a_hostile_value_in_any_key_is_a_problem_naming_that_key(key, value):
    sections = {"charge_point": {"id": "CP1"}, "ocpp": {"url": "ws://csms.example.com/ocpp"}}
    sections.setdefault(key.section, {})[key.name] = value
    text = "".join(f"[{s}]\n" + "".join(f"{n} = {toml(v)}\n" for n, v in keys.items())
                   for s, keys in sections.items())
    try:
        config = parse_config(text, "<fuzz>")
    except ConfigError as error:
        assert any(p.startswith(key.label + " ") for p in error.problems), error.problems
        assert all(len(p) < 600 for p in error.problems)
        return
    # Only a value the key allows gets through.
    held = getattr(getattr(config, key.section), key.name)
    assert type(held) is key.type
    if not isinstance(value, Raw):
        assert held == value


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_in_the_file_give_a_config_or_a_config_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "config.toml"
    path.write_bytes(data)
    try:
        load_config(str(path))
    except ConfigError as error:
        assert error.problems


# --- the house fuse: [site_meter] and [site] together --------------------------------------------

SITE_KEYS = [key for key in KEYS if key.section in ("site", "site_meter")]


#: A house fuse that works.
WORKING_SITE = {"site_meter": {"driver": "modbus", "model": "sdm630", "transport": "tcp",
                               "host": "10.0.0.7"},
                "site": {"main_fuse": 35.0}}


@st.composite
def changed_documents(draw: st.DrawFn, working: dict[str, dict[str, Any]],
                      keys: list[Key]) -> str:
    """The ``working`` sections (or none of them), some of ``keys`` then set to values valid,
    at their bounds or hostile."""
    sections: dict[str, dict[str, Any]] = {"charge_point": {"id": "CP1"},
                                           "ocpp": {"url": "ws://csms.example.com/ocpp"}}
    if draw(st.booleans()):
        sections.update({name: dict(table) for name, table in working.items()})
    for key in draw(st.lists(st.sampled_from(keys), max_size=4, unique=True)):
        value = draw(st.one_of(valid(key), valid(key), bounds(key), hostile))
        sections.setdefault(key.section, {})[key.name] = value
    return "".join(f"[{s}]\n" + "".join(f"{n} = {toml(v)}\n" for n, v in keys.items())
                   for s, keys in sections.items())


def site_documents() -> st.SearchStrategy[str]:
    return changed_documents(WORKING_SITE, SITE_KEYS)


@FUZZ
@given(site_documents())
def test_a_house_fuse_config_is_one_that_can_work_or_problems_naming_keys(text):
    check(text, None)
    try:
        config = parse_config(text, "<fuzz>")
    except ConfigError:
        return
    site, meter = config.site, config.site_meter
    assert site.managed == (meter.driver == "modbus")
    if site.managed:
        assert site.main_fuse - site.margin >= 6
        assert 0 <= site.safe_current <= site.main_fuse - site.margin
        assert meter.interval <= 1.0 and (meter.model or meter.registers)


# --- the solar surplus: [solar] with the site meter and the phase switch ------------------------

SOLAR_KEYS = [key for key in KEYS if key.section == "solar"
              or (key.section, key.name) in {("board", "has_phase_switch"),
                                             ("board", "phase_switch_pin"), ("board", "driver"),
                                             ("board", "kind"), ("charge_point", "phases"),
                                             ("site_meter", "driver")}]


def solar_documents() -> st.SearchStrategy[str]:
    # A site meter and a phase switch that work, in pv.
    return changed_documents({**WORKING_SITE, "solar": {"mode": "pv"},
                              "board": {"has_phase_switch": True}}, SOLAR_KEYS)


@FUZZ
@given(solar_documents())
def test_a_solar_config_is_one_that_can_work_or_problems_naming_keys(text):
    check(text, None)
    try:
        config = parse_config(text, "<fuzz>")
    except ConfigError:
        return
    solar, board = config.solar, config.board
    assert solar.mode in ("fast", "pv", "min+pv")
    if solar.mode != "fast":
        assert config.site_meter.driver == "modbus", "a surplus needs the site meter"
    assert 0 <= solar.start_delay <= 3600 and 0 <= solar.stop_delay <= 3600
    assert solar.reserve_w >= 0 and solar.phase_switch_interval >= 60
    if board.has_phase_switch:
        assert config.charge_point.phases == 3
        if board.driver == "gpio":
            assert board.kind == "native" and 0 <= board.phase_switch_pin <= 27
