"""A fleet scenario: what the cars, the drivers and the network do, read from a TOML file.

Every key is declared once below (section, name, type, range or choices, default), so that a file
is checked the way the daemon's config is: an unknown section or key is named, a value of the
wrong type or out of range is named with what is allowed, and every problem is reported at once.
Nothing in a scenario is code; everything random is drawn from the scenario's ``seed``.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from typing import Any

from pievse.fleet.versions import Mix, as_mix, mix_problem, version_of

__all__ = ["Scenario", "ScenarioError", "load_scenario", "parse_scenario", "scenario_keys"]

#: The fault inputs a scenario may raise (a subset of the boards' fault kinds, by their names).
FAULT_KINDS = ("rcd", "emergency_stop", "pilot", "welded", "contactor_open")


class ScenarioError(Exception):
    """A scenario that cannot run; ``problems`` names each key, its value and what is allowed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class _Key:
    section: str
    name: str
    type: type
    default: Any = field(hash=False)  # a list default cannot be hashed
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()
    #: For a list: the type of its items (the range applies to each item).
    item: type | None = None

    @property
    def label(self) -> str:
        return f"[{self.section}] {self.name}" if self.section else self.name

    def allowed(self) -> str:
        if self.choices:
            return "must be one of " + ", ".join(repr(c) for c in self.choices)
        if self.type is dict:
            return "must be an OCPP version or a table of shares of versions"
        what = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
                list: f"a list of {'integers' if self.item is int else 'numbers'}"
                if self.item in (int, float) else "a list of strings"}[self.type]
        lo, hi = self.minimum, self.maximum
        if lo is not None and hi is not None:
            return f"must be {what} from {lo:g} to {hi:g}"
        if lo is not None:
            return f"must be {what} of at least {lo:g}"
        return f"must be {what}"


_K = _Key
_KEYS: tuple[_Key, ...] = (
    _K("", "seed", int, 1, 0, 2**63 - 1),
    _K("", "duration", float, 60.0, 1, 30 * 86_400),
    _K("stations", "count", int, 10, 1, 100_000),
    _K("stations", "id_pattern", str, "FLEET-{n:05}"),
    _K("stations", "password_pattern", str, ""),
    _K("stations", "first", int, 1, 0, 10**9),
    _K("stations", "connectors", int, 1, 1, 4),
    _K("stations", "max_current", float, 32.0, 6, 80),
    _K("stations", "phases", int, 3, 1, 3),
    _K("stations", "vendor", str, "pievse"),
    _K("stations", "model", str, "pievse-fleet"),
    # A version ("2.0.1") or the share of each ({ "1.6" = 0.7, "2.0.1" = 0.3 }).
    _K("stations", "ocpp", dict, "1.6"),
    _K("boot", "mode", str, "ramp", choices=("ramp", "storm")),
    _K("boot", "rate", float, 50.0, 0.1, 100_000),
    _K("arrivals", "kind", str, "poisson", choices=("poisson", "profile")),
    _K("arrivals", "per_hour", float, 1.0, 0, 3600),
    _K("arrivals", "profile", list, [], 0, 3600, item=float),
    _K("sessions", "min_duration", float, 600.0, 1, 7 * 86_400),
    _K("sessions", "max_duration", float, 3600.0, 1, 7 * 86_400),
    _K("sessions", "min_energy", float, 5_000.0, 1, 1_000_000),
    _K("sessions", "max_energy", float, 30_000.0, 1, 1_000_000),
    _K("cars", "max_current", list, [16.0, 32.0], 6, 80, item=float),
    _K("cars", "phases", list, [1, 3], 1, 3, item=int),
    _K("cars", "reaction_delay", float, 1.0, 0, 60),
    _K("authorization", "remote_share", float, 0.0, 0, 1),
    _K("authorization", "remote_wait", float, 60.0, 1, 3600),
    _K("cards", "valid", list, [], item=str),
    _K("cards", "valid_pattern", str, "CARD-{n:05}"),
    _K("cards", "valid_count", int, 100, 0, 10**7),
    _K("cards", "invalid", list, [], item=str),
    _K("cards", "blocked", list, [], item=str),
    _K("cards", "bad_share", float, 0.0, 0, 1),
    _K("meter_values", "interval", int, 60, 1, 86_400),
    _K("faults", "per_hour", float, 0.0, 0, 3600),
    _K("faults", "kinds", list, ["rcd"], item=str),
    _K("faults", "duration", float, 30.0, 0.1, 86_400),
    _K("link_drops", "per_hour", float, 0.0, 0, 3600),
)


def scenario_keys() -> tuple[_Key, ...]:
    """Every key a scenario may set (for the documentation and the fuzzer)."""
    return _KEYS


@dataclass(frozen=True)
class Scenario:
    """A checked scenario. Rates are per station; durations in seconds; energies in Wh."""

    seed: int
    duration: float
    count: int
    id_pattern: str
    password_pattern: str
    first: int
    connectors: int
    station_max_current: float
    station_phases: int
    vendor: str
    model: str
    #: The OCPP versions the stations speak, by share (see :mod:`pievse.fleet.versions`).
    ocpp: Mix
    boot_mode: str
    boot_rate: float
    arrivals: str
    arrivals_per_hour: float
    arrivals_profile: tuple[float, ...]
    min_duration: float
    max_duration: float
    min_energy: float
    max_energy: float
    car_max_current: tuple[float, ...]
    car_phases: tuple[int, ...]
    reaction_delay: float
    remote_share: float
    remote_wait: float
    valid_cards: tuple[str, ...]
    invalid_cards: tuple[str, ...]
    blocked_cards: tuple[str, ...]
    bad_card_share: float
    meter_interval: int
    faults_per_hour: float
    fault_kinds: tuple[str, ...]
    fault_duration: float
    link_drops_per_hour: float

    def station_id(self, index: int) -> str:
        """The identity of the ``index``-th station (0-based)."""
        return self.id_pattern.format(n=self.first + index)

    def password(self, index: int) -> str | None:
        if not self.password_pattern:
            return None
        return self.password_pattern.format(n=self.first + index)

    def version(self, index: int) -> str:
        """The OCPP version the ``index``-th station speaks."""
        return version_of(index, self.ocpp, self.count, self.seed)

    def with_count(self, count: int) -> Scenario:
        from dataclasses import replace

        return replace(self, count=count)

    def with_versions(self, mix: Mix) -> Scenario:
        from dataclasses import replace

        return replace(self, ocpp=mix)

    def arrival_rate(self, hour_of_day: int) -> float:
        """Cars per station per hour at that hour of the day."""
        if self.arrivals == "profile":
            return self.arrivals_profile[hour_of_day % 24]
        return self.arrivals_per_hour


def load_scenario(path: str) -> Scenario:
    try:
        with open(path, "rb") as file:
            text = file.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError([f"{path}: cannot be read ({error})"]) from None
    return parse_scenario(text)


def parse_scenario(text: str) -> Scenario:
    """Check a scenario's TOML text; ScenarioError lists every problem."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError([f"not valid TOML: {error}"]) from None
    problems: list[str] = []
    values = _read(document, problems)
    if not problems:
        _cross_check(values, problems)
    if problems:
        raise ScenarioError(problems)
    return _build(values)


def _read(document: dict[str, Any], problems: list[str]) -> dict[tuple[str, str], Any]:
    sections = {key.section for key in _KEYS if key.section}
    known = {(key.section, key.name): key for key in _KEYS}
    values = {(key.section, key.name): key.default for key in _KEYS}
    for name, value in document.items():
        if name in sections:
            if not isinstance(value, dict):
                problems.append(f"{name} = {_show(value)}: must be a table ([{name}])")
                continue
            for key_name, item in value.items():
                key = known.get((name, key_name))
                if key is None:
                    allowed = sorted(k.name for k in _KEYS if k.section == name)
                    problems.append(f"[{name}] {key_name}: unknown key (known: "
                                    f"{', '.join(allowed)})")
                    continue
                _take(key, item, values, problems)
        elif ("", name) in known:
            _take(known[("", name)], value, values, problems)
        else:
            problems.append(f"{name}: unknown key or section (known: "
                            f"{', '.join(sorted({k.name for k in _KEYS if not k.section}))}, "
                            f"sections {', '.join(f'[{s}]' for s in sorted(sections))})")
    return values


def _take(key: _Key, value: Any, values: dict[tuple[str, str], Any], problems: list[str]) -> None:
    if key.type is dict:  # the version mix, the one key whose value may be a table
        problem = mix_problem(value)
        if problem is None:
            values[(key.section, key.name)] = value
        else:
            problems.append(f"{key.label} = {_show(value)}: {problem}")
        return
    checked = _checked(key, value)
    if checked is None:
        problems.append(f"{key.label} = {_show(value)}: {key.allowed()}")
    else:
        values[(key.section, key.name)] = checked


def _checked(key: _Key, value: Any) -> Any:
    """The value in the key's type, or None if it is not allowed."""
    if key.type is list:
        if not isinstance(value, list):
            return None
        items = [_one(key, key.item or str, item) for item in value]
        return None if any(item is None for item in items) else items
    return _one(key, key.type, value)


def _one(key: _Key, kind: type, value: Any) -> Any:
    if kind is str:
        if not isinstance(value, str) or (key.choices and value not in key.choices):
            return None
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if kind is int and not isinstance(value, int):
        return None
    number = kind(value)
    if not math.isfinite(number):
        return None
    if (key.minimum is not None and number < key.minimum) or (
            key.maximum is not None and number > key.maximum):
        return None
    return number


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _cross_check(values: dict[tuple[str, str], Any], problems: list[str]) -> None:
    """What one key alone cannot say."""
    v = values.get
    for pattern_key, sample in ((("stations", "id_pattern"), 1),
                                (("stations", "password_pattern"), 1),
                                (("cards", "valid_pattern"), 1)):
        pattern = v(pattern_key)
        if pattern_key[1] == "password_pattern" and not pattern:
            continue
        problem = _pattern_problem(pattern, sample)
        if problem:
            problems.append(f"[{pattern_key[0]}] {pattern_key[1]} = {_show(pattern)}: {problem}")
    if v(("stations", "id_pattern")) and not _pattern_problem(v(("stations", "id_pattern")), 1):
        first, count = v(("stations", "first")), v(("stations", "count"))
        ids = {v(("stations", "id_pattern")).format(n=first), v(("stations", "id_pattern")).format(
            n=first + min(count, 2) - 1)}
        if count > 1 and len(ids) < 2:
            problems.append(f"[stations] id_pattern = {_show(v(('stations', 'id_pattern')))}: "
                            "must contain {n} so that each station has its own identity")
        if any(len(i) > 48 for i in ids):
            problems.append(f"[stations] id_pattern = {_show(v(('stations', 'id_pattern')))}: "
                            "an identity must be at most 48 characters long")
    for low, high in (("min_duration", "max_duration"), ("min_energy", "max_energy")):
        if v(("sessions", low)) > v(("sessions", high)):
            problems.append(f"[sessions] {low} = {v(('sessions', low)):g}: must not be above "
                            f"[sessions] {high} = {v(('sessions', high)):g}")
    if v(("arrivals", "kind")) == "profile" and len(v(("arrivals", "profile"))) != 24:
        problems.append(f"[arrivals] profile = {_show(v(('arrivals', 'profile')))}: must list 24 "
                        "rates (cars per station per hour, for each hour of the day) when kind "
                        "is 'profile'")
    for name in ("max_current", "phases"):
        if not v(("cars", name)):
            problems.append(f"[cars] {name} = []: must list at least one value")
    if not v(("faults", "kinds")) or any(kind not in FAULT_KINDS
                                        for kind in v(("faults", "kinds"))):
        problems.append(f"[faults] kinds = {_show(v(('faults', 'kinds')))}: must list one or "
                        f"more of {', '.join(FAULT_KINDS)}")
    for name in ("valid", "invalid", "blocked"):
        for card in v(("cards", name)):
            if not (0 < len(card) <= 20 and card.isprintable()
                    and not any(c.isspace() for c in card)):
                problems.append(f"[cards] {name} = {_show(card)}: each id tag must be 1 to 20 "
                                "printable characters without spaces")
                break
    if v(("authorization", "remote_share")) < 1 and not v(("cards", "valid")) and not v(
            ("cards", "valid_count")):
        problems.append("[cards] valid_count = 0: cars that start with a card need at least one "
                        "valid card (or remote_share = 1)")
    if v(("cards", "bad_share")) > 0 and not (v(("cards", "invalid")) or v(("cards", "blocked"))):
        problems.append(f"[cards] bad_share = {v(('cards', 'bad_share')):g}: needs invalid or "
                        "blocked cards to present")


def _pattern_problem(pattern: str, n: int) -> str | None:
    try:
        text = pattern.format(n=n)
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as error:
        return f"must be a pattern with only {{n}} in it, e.g. 'FLEET-{{n:05}}' ({error})"
    if not text or not text.isprintable() or any(c.isspace() for c in text) or len(text) > 48:
        return "must make 1 to 48 printable characters without spaces"
    return None


def _build(values: dict[tuple[str, str], Any]) -> Scenario:
    v = values.__getitem__
    pattern, count = v(("cards", "valid_pattern")), v(("cards", "valid_count"))
    valid = tuple(v(("cards", "valid"))) or tuple(pattern.format(n=n) for n in range(1, count + 1))
    return Scenario(
        seed=v(("", "seed")), duration=v(("", "duration")),
        count=v(("stations", "count")), id_pattern=v(("stations", "id_pattern")),
        password_pattern=v(("stations", "password_pattern")), first=v(("stations", "first")),
        connectors=v(("stations", "connectors")),
        station_max_current=v(("stations", "max_current")),
        station_phases=v(("stations", "phases")), vendor=v(("stations", "vendor")),
        model=v(("stations", "model")),
        ocpp=as_mix(v(("stations", "ocpp"))),
        boot_mode=v(("boot", "mode")), boot_rate=v(("boot", "rate")),
        arrivals=v(("arrivals", "kind")), arrivals_per_hour=v(("arrivals", "per_hour")),
        arrivals_profile=tuple(v(("arrivals", "profile"))),
        min_duration=v(("sessions", "min_duration")), max_duration=v(("sessions", "max_duration")),
        min_energy=v(("sessions", "min_energy")), max_energy=v(("sessions", "max_energy")),
        car_max_current=tuple(v(("cars", "max_current"))), car_phases=tuple(v(("cars", "phases"))),
        reaction_delay=v(("cars", "reaction_delay")),
        remote_share=v(("authorization", "remote_share")),
        remote_wait=v(("authorization", "remote_wait")),
        valid_cards=valid, invalid_cards=tuple(v(("cards", "invalid"))),
        blocked_cards=tuple(v(("cards", "blocked"))), bad_card_share=v(("cards", "bad_share")),
        meter_interval=v(("meter_values", "interval")),
        faults_per_hour=v(("faults", "per_hour")), fault_kinds=tuple(v(("faults", "kinds"))),
        fault_duration=v(("faults", "duration")),
        link_drops_per_hour=v(("link_drops", "per_hour")),
    )
