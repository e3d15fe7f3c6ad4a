"""A fuzzer for the fleet's scenario file: TOML documents built from the table of keys, with
valid values, values past each bound, the wrong type, unknown names and hostile patterns.
Whatever the document, ``parse_scenario`` returns a Scenario or raises ScenarioError whose every
problem names the key it is about; it never raises anything else."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pievse.fleet.scenario import Scenario, ScenarioError, parse_scenario, scenario_keys

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = scenario_keys()
#: How a problem names its key: "[section] name = value: ..." or "name: ...".
NAMED = re.compile(r"^(?:\[([a-z_]+)\] )?([^ :=\[\]]+)(?: = |: )")


def toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + "".join(c if c.isprintable() and c not in '"\\\\' else f"\\\\u{ord(c):04x}"
                             for c in value) + '"'
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml(str(k))} = {toml(v)}" for k, v in value.items()) + " }"
    return repr(value)


scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=30),
    st.sampled_from(["FLEET-{n:05}", "{n}", "{", "{x}", "{n!r}", "{n:>99999}", "CP {n}",
                     "poisson", "profile", "storm", "ramp", "rcd", "pilot", ""]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=30))


#: The version mix: a version, or shares that add up to 1 (most of the time), with a stray name.
mixes = st.one_of(
    st.sampled_from(["1.6", "2.0.1", "2.0", ""]),
    st.floats(0, 1).map(lambda share: {"1.6": share, "2.0.1": 1 - share}),
    st.dictionaries(st.sampled_from(["1.6", "2.0.1", "1.5", "ocpp2.0.1"]),
                    st.one_of(st.floats(allow_nan=True), st.integers(-2, 2), st.booleans(),
                              st.text(max_size=3)), max_size=3),
)


def sane(key):
    """A value the key allows (most of the time), so that documents get past the first check."""
    if key.type is dict:
        return mixes
    if key.choices:
        return st.sampled_from(key.choices)
    if key.type is list:
        if key.item is str:
            return st.lists(st.sampled_from(["rcd", "pilot", "CARD-1", "X"]), max_size=5)
        lo, hi = key.minimum or 0, key.maximum or 100
        item = st.integers(int(lo), int(hi)) if key.item is int else st.floats(lo, hi)
        return st.lists(item, min_size=0, max_size=26)
    if key.type is str:
        return st.sampled_from(["FLEET-{n:05}", "CARD-{n}", "pievse", ""])
    lo = key.minimum if key.minimum is not None else 0
    hi = min(key.maximum if key.maximum is not None else 10**6, 10**6)
    if key.type is int:
        return st.integers(int(math.ceil(lo)), int(hi))
    return st.floats(lo, hi)


@st.composite
def documents(draw) -> str:
    sections: dict[str, dict[str, str]] = {}
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=len(KEYS), unique=True)):
        value = draw(st.one_of(sane(key), values)) if draw(st.booleans()) else draw(sane(key))
        sections.setdefault(key.section, {})[key.name] = toml(value)
    if draw(st.booleans()):
        section = draw(st.sampled_from(["", "stations", "nonsense", "cars"]))
        sections.setdefault(section, {})[draw(st.from_regex(r"[a-z_]{1,12}", fullmatch=True))] = \
            toml(draw(scalars))
    lines = [f"{name} = {text}" for name, text in sections.pop("", {}).items()]
    for section, keys in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{name} = {text}" for name, text in keys.items()]
    return "\n".join(lines) + "\n"


@FUZZ
@given(documents())
def test_any_document_is_a_scenario_or_its_problems_name_their_keys(text: str) -> None:
    try:
        scenario = parse_scenario(text)
    except ScenarioError as error:
        assert error.problems
        for problem in error.problems:
            if problem.startswith("not valid TOML"):
                continue
            named = NAMED.match(problem)
            assert named is not None, problem
            # It names a key or section of the document (a rule between two keys names both).
            written = set(re.findall(r"^\[?([A-Za-z0-9_]+)\]? ?=?", text, re.MULTILINE))
            assert named.group(2) in written or any(
                re.search(rf"\b{re.escape(name)}\b", problem) for name in written), problem
            assert len(problem) < 400
        return
    assert isinstance(scenario, Scenario)
    assert scenario.station_id(0) != scenario.station_id(1) or scenario.count == 1
    assert scenario.valid_cards or scenario.remote_share == 1
    if scenario.arrivals == "profile":
        assert len(scenario.arrivals_profile) == 24
    assert math.fsum(share for _, share in scenario.ocpp) == pytest.approx(1)
    assert {scenario.version(i) for i in range(min(scenario.count, 50))} <= {
        version for version, _ in scenario.ocpp}


def test_every_default_makes_a_scenario() -> None:
    assert parse_scenario("").count == 10


def test_the_example_scenario_is_a_scenario_with_every_key() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "fleet.example.toml").read_text()
    assert parse_scenario(text).count == 100
    for key in KEYS:
        assert f"\n{key.name} = " in text, key.label
