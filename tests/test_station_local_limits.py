"""Local limits in the station core: a maximum current set by the house (local API, MQTT, the
site meter) beside the CSMS's profiles. The lowest rules, a local limit never raises what the
CSMS allows, a station-wide one is shared fairly between the sessions, and the limits a person
set are handed out to be kept across a restart."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pievse.core.effects import LocalLimit, LocalLimitInForce, LocalLimitsChanged
from pievse.core.vocabulary import ConnectorStatus as S
from tests.test_station_rig import OTHER_TAG, Bench, only
from tests.test_station_smart_charging import CPMAX, TXD, TXP, install, profile


def local(bench: Bench, source: str, amps: float | None, connector: int | None = None):
    return bench.record(bench.station.set_local_limit(source, connector, amps))


def reason(bench: Bench, connector: int = 1) -> str:
    return bench.station.connector(connector).current_limit_reason


def test_a_local_limit_lowers_the_offer_and_the_reason_names_its_source():
    bench = Bench()
    bench.start_charging()
    local(bench, "api", 16, connector=1)
    assert bench.offered_a() == 16.0
    assert reason(bench) == "local limit (api): 16 A"
    local(bench, "mqtt", 12, connector=1)
    assert bench.offered_a() == 12.0 and reason(bench) == "local limit (mqtt): 12 A"
    local(bench, "mqtt", None, connector=1)
    assert bench.offered_a() == 16.0, "lifting one source leaves the other"
    local(bench, "api", None, connector=1)
    assert bench.offered_a() == 32.0 and reason(bench) == "installation maximum: 32 A"


def test_a_local_limit_stacks_with_a_csms_profile_and_never_raises_it():
    bench = Bench()
    bench.start_charging()
    install(bench, 1, profile(1, TXP, [(0, 10)]))
    local(bench, "api", 16, connector=1)
    assert bench.offered_a() == 10.0, "the CSMS allows 10 A: a local 16 A does not raise it"
    assert "TxProfile" in reason(bench)
    local(bench, "api", 8, connector=1)
    assert bench.offered_a() == 8.0 and reason(bench) == "local limit (api): 8 A"
    install(bench, 0, profile(2, CPMAX, [(0, 6)]))
    assert bench.offered_a() == 6.0 and "ChargePointMaxProfile" in reason(bench)


def test_a_local_limit_under_6_a_pauses_the_session_and_lifting_it_resumes():
    bench = Bench()
    started = bench.start_charging()
    local(bench, "site", 4)
    assert bench.offered_a() == 0.0 and bench.status() is S.SUSPENDED_EVSE
    assert reason(bench) == ("paused: local limit (site, shared) allows 4 A, under the 6 A "
                             "minimum")
    local(bench, "site", 6)
    assert bench.offered_a() == 6.0 and bench.status() is S.CHARGING
    assert bench.started() == [started] and bench.stopped() == []


def test_a_station_wide_limit_goes_whole_to_one_session_and_is_shared_by_two():
    bench = Bench(2)
    local(bench, "api", 20)
    bench.start_charging(connector=1)
    assert bench.offered_a(1) == 20.0
    bench.start_charging(OTHER_TAG, connector=2)
    assert (bench.offered_a(1), bench.offered_a(2)) == (10.0, 10.0)
    assert reason(bench, 2) == "local limit (api, shared): 10 A"
    bench.tap()  # the first card ends its session: the second gets all of it
    bench.pilot("B", 1)
    assert bench.offered_a(2) == 20.0


def test_a_share_one_session_cannot_take_goes_to_the_other():
    bench = Bench(2)
    bench.start_charging(connector=1)
    bench.start_charging(OTHER_TAG, connector=2)
    install(bench, 2, profile(1, TXP, [(0, 7)]))
    local(bench, "site", 24)
    assert (bench.offered_a(1), bench.offered_a(2)) == (17.0, 7.0)


def test_a_station_limit_too_small_for_two_pauses_the_session_that_started_last():
    bench = Bench(2)
    bench.start_charging(connector=1)
    bench.clock.advance(60)
    bench.start_charging(OTHER_TAG, connector=2)
    local(bench, "site", 10)
    assert (bench.offered_a(1), bench.offered_a(2)) == (10.0, 0.0)
    assert bench.status(2) is S.SUSPENDED_EVSE
    local(bench, "site", 12)
    assert (bench.offered_a(1), bench.offered_a(2)) == (6.0, 6.0)
    install(bench, 1, profile(1, TXP, [(0, 0)]))
    assert (bench.offered_a(1), bench.offered_a(2)) == (0.0, 12.0), \
        "a session the CSMS pauses leaves its share to the other"


def test_the_limits_a_person_sets_are_handed_out_to_keep_and_the_site_limit_is_not():
    bench = Bench(2)
    effects = local(bench, "api", 16, connector=2)
    assert only(effects, LocalLimitsChanged) == [
        LocalLimitsChanged((LocalLimit("api", 2, 16.0),))]
    effects = local(bench, "mqtt", 20)
    assert only(effects, LocalLimitsChanged)[-1].limits == (
        LocalLimit("api", 2, 16.0), LocalLimit("mqtt", None, 20.0))
    assert only(local(bench, "site", 10), LocalLimitsChanged) == []
    assert only(local(bench, "mqtt", 20), LocalLimitsChanged) == [], "nothing changed"


@pytest.mark.parametrize(("source", "connector", "amps", "words"), [
    ("sun", None, 10, "no local limit source 'sun'"),
    ("api", 3, 10, "no connector 3"),
    ("api", None, -1, "0 to 80 A"),
    ("api", None, float("nan"), "0 to 80 A"),
    ("api", 1, 81, "0 to 80 A"),
])
def test_a_wrong_local_limit_is_refused_with_what_is_wrong(source, connector, amps, words):
    bench = Bench(2)
    with pytest.raises(ValueError, match=words):
        bench.station.set_local_limit(source, connector, amps)


# --- properties ----------------------------------------------------------------------------------

LIMITS = st.one_of(st.none(), st.floats(0, 40), st.integers(0, 40))
MOVES = st.lists(st.one_of(
    st.tuples(st.just("local"), st.sampled_from(["api", "mqtt", "site"]),
              st.sampled_from([None, 1, 2]), LIMITS),
    st.tuples(st.just("profile"), st.sampled_from([0, 1, 2]), st.floats(0, 40)),
    st.tuples(st.just("session"), st.sampled_from([1, 2])),
), max_size=12)


@settings(max_examples=150, deadline=None)
@given(MOVES)
def test_no_offer_is_above_any_limit_and_the_sessions_never_share_more_than_the_station(moves):
    bench = Bench(2)
    profiles: dict[int, float] = {}
    set_limits: dict[tuple[str, int | None], float] = {}
    for move in moves:
        if move[0] == "local":
            _, source, connector, amps = move
            local(bench, source, amps, connector)
            if amps is None:
                set_limits.pop((source, connector), None)
            else:
                set_limits[(source, connector)] = float(amps)
        elif move[0] == "profile":
            _, connector, amps = move
            install(bench, connector, profile(9 + connector, TXD, [(0, round(amps, 1))]))
            profiles[connector] = round(amps, 1)
        else:
            connector = move[1]
            if bench.station.connector(connector).transaction is None:
                tag = [None, "04A1B2C3", OTHER_TAG][connector]
                bench.pilot("B", connector)
                bench.tap(tag)
                bench.answer(tag)
                bench.pilot("C", connector)
        offers = {n: bench.offered_a(n) for n in (1, 2)}
        for n, offered in offers.items():
            # A TxDefaultProfile on the connector itself stands before the one on connector 0.
            caps = [32.0, profiles.get(n, profiles.get(0, 99.0))]
            caps += [amps for (_, c), amps in set_limits.items() if c in (n, None)]
            assert offered <= min(caps) + 1e-9, (n, offers, set_limits, profiles)
            assert offered == 0.0 or offered >= 6.0
        for (_, connector), amps in set_limits.items():
            if connector is None:
                assert sum(offers.values()) <= amps + 1e-9, (offers, set_limits)


def test_the_limit_in_force_is_told_when_it_appears_moves_and_goes():
    """For the CSMS (2.0.1's NotifyChargingLimit): the lowest local limit below what the
    connector can offer anyway, once per change."""
    bench = Bench(connectors=2, max_current_a=32.0)
    told = lambda effects: only(effects, LocalLimitInForce)  # noqa: E731
    assert told(bench.record(bench.station.set_local_limit("api", 1, 40.0))) == []
    assert told(bench.record(bench.station.set_local_limit("api", 1, 16.0))) == [
        LocalLimitInForce(1, "api", 16.0)]
    assert told(bench.record(bench.station.set_local_limit("site", None, 10.0))) == [
        LocalLimitInForce(1, "site", 10.0), LocalLimitInForce(2, "site", 10.0)]
    assert told(bench.tick()) == [], "nothing changed, nothing told"
    assert told(bench.record(bench.station.set_local_limit("site", None, None))) == [
        LocalLimitInForce(1, "api", 16.0), LocalLimitInForce(2, None, None)]
    assert told(bench.record(bench.station.set_local_limit("api", 1, None))) == [
        LocalLimitInForce(1, None, None)]


def test_the_composite_schedule_takes_the_local_limits_in_only_when_asked():
    """2.0.1 reports them as external constraints; 1.6's composite schedule stays the
    profiles' alone."""
    bench = Bench(connectors=2)
    local(bench, "site", 12, connector=None)
    local(bench, "api", 8, connector=2)

    def first(connector: int, local_limits: bool) -> float:
        schedule = bench.station.composite_schedule(connector, 600, local_limits=local_limits)
        assert schedule.schedule is not None
        return schedule.schedule.periods[0].limit

    assert [first(n, False) for n in (0, 1, 2)] == [32.0, 32.0, 32.0]
    assert [first(n, True) for n in (0, 1, 2)] == [12.0, 12.0, 8.0]
