"""Which fleet station speaks which OCPP version: exactly the scenario's shares, fixed by its
seed, and the same mix for the stations a Locust worker numbers beyond the station count; and
the command line's ``--ocpp``, fuzzed."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pievse.fleet.scenario import parse_scenario
from pievse.fleet.versions import VERSIONS, parse_mix, version_of

FUZZ = settings(max_examples=200, deadline=None)


@FUZZ
@given(st.integers(1, 3000), st.floats(0, 1), st.integers(0, 2**63 - 1))
def test_a_fleet_holds_exactly_its_shares_in_places_its_seed_chooses(
        count: int, share: float, seed: int) -> None:
    mix = tuple((v, s) for v, s in (("1.6", 1 - share), ("2.0.1", share)) if s > 0)
    dealt = [version_of(i, mix, count, seed) for i in range(count)]
    # Each version has its share, to within one station (the remainders).
    for version, wanted in mix:
        assert abs(dealt.count(version) - wanted * count) < 1
    assert dealt == [version_of(i, mix, count, seed) for i in range(count)]


def test_the_seed_fixes_the_places_and_a_locust_worker_gets_the_same_mix() -> None:
    mix = (("1.6", 0.7), ("2.0.1", 0.3))
    one = [version_of(i, mix, 100, seed=1) for i in range(100)]
    other = [version_of(i, mix, 100, seed=2) for i in range(100)]
    assert Counter(one) == Counter(other) == {"1.6": 70, "2.0.1": 30}
    assert one != other
    # Numbers past the count (a second Locust worker's) are dealt in blocks of the count.
    beyond = [version_of(i, mix, 100, seed=1) for i in range(100_000, 100_100)]
    assert Counter(beyond) == {"1.6": 70, "2.0.1": 30}


def test_the_scenario_key_and_the_command_line_say_the_same() -> None:
    text = '[stations]\ncount = 10\nocpp = { "1.6" = 0.5, "2.0.1" = 0.5 }\n'
    assert parse_scenario(text).ocpp == parse_mix("1.6=0.5,2.0.1=0.5") == (
        ("1.6", 0.5), ("2.0.1", 0.5))
    assert parse_scenario('[stations]\nocpp = "2.0.1"\n').ocpp == parse_mix("2.0.1") == (
        ("2.0.1", 1.0),)
    assert parse_scenario("").version(3) == "1.6"


@FUZZ
@given(st.one_of(
    st.text(max_size=40),
    st.lists(st.tuples(st.sampled_from([*VERSIONS, "2.0", "", " 1.6"]),
                       st.one_of(st.floats(allow_nan=True), st.text(max_size=4))),
             max_size=4).map(lambda pairs: ",".join(f"{v}={s}" for v, s in pairs)),
))
def test_any_ocpp_argument_is_a_mix_or_says_why_not(text: str) -> None:
    try:
        mix = parse_mix(text)
    except ValueError as error:
        assert str(error) and len(str(error)) < 300
        return
    assert mix and all(version in VERSIONS and 0 < share <= 1 for version, share in mix)
    assert math.fsum(share for _, share in mix) == pytest.approx(1)
