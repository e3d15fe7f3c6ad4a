"""How much the pilot offers: the smallest of the installation maximum, the board's capability
and every limit (a charging profile, a local limit), and a pause rather than an offer under 6 A.

IEC 61851-1: below 6 A nothing may be offered; the station pauses by switching the PWM off
(steady +12 V) so that the car stops drawing, and opens the contactor once it has, or after the
grace time. OCPP: the connector reports SuspendedEVSE and the transaction goes on.
"""

from __future__ import annotations

import pytest

from pievse.core.effects import MeterSample, SetContactor, SetPilot
from pievse.core.vocabulary import ConnectorStatus
from tests.test_station_rig import TAG, Bench, kinds, only

S = ConnectorStatus


# --- how much is offered -------------------------------------------------------------------------


def test_a_current_limit_under_6_a_pauses_without_ending_the_transaction() -> None:
    bench = Bench(stop_grace_s=3.0)
    bench.start_charging(TAG)

    effects = bench.limit(4.0)
    assert effects[0] == SetPilot(1, 0.0), "pause: PWM off (steady +12 V), not a 10 % offer"
    assert only(effects, SetContactor) == [], "the car gets its seconds to stop drawing"
    assert bench.status() is S.SUSPENDED_EVSE

    assert bench.pilot("B")[0] == SetContactor(1, closed=False)
    assert bench.status() is S.SUSPENDED_EVSE
    bench.run_for(3600)
    assert bench.stopped() == [] and bench.offered_a() == 0.0

    effects = bench.limit(None)
    assert kinds(effects) == ["SetPilot", "StatusChanged"] and effects[0] == SetPilot(1, 32.0)
    assert bench.status() is S.SUSPENDED_EV, "offered again; the car has not asked yet"
    bench.pilot("C")
    assert bench.contactor_closed() and bench.status() is S.CHARGING
    assert bench.statuses()[-4:] == [S.CHARGING, S.SUSPENDED_EVSE, S.SUSPENDED_EV, S.CHARGING]


def test_a_pause_opens_after_the_grace_time_and_resuming_restores_the_offer() -> None:
    bench = Bench(stop_grace_s=3.0)
    bench.start_charging(TAG)
    bench.limit(0.0)
    effects = bench.run_for(5)
    assert effects[0] == SetContactor(1, closed=False)
    assert bench.stopped() == [] and bench.status() is S.SUSPENDED_EVSE

    effects = bench.limit(16.0)
    assert effects[:2] == [SetPilot(1, 16.0), SetContactor(1, closed=True)]
    assert bench.status() is S.CHARGING


def test_a_limit_lifted_during_the_grace_time_keeps_the_contactor_closed() -> None:
    bench = Bench(stop_grace_s=3.0)
    bench.start_charging(TAG)
    bench.limit(5.0)
    bench.clock.advance(1.0)
    effects = bench.limit(10.0)
    assert kinds(effects) == ["SetPilot", "StatusChanged"] and effects[0] == SetPilot(1, 10.0)
    bench.run_for(60)
    assert bench.contactor_closed() and bench.status() is S.CHARGING


@pytest.mark.parametrize(
    ("installation_max", "board_max", "limits", "offered"),
    [
        (32.0, 32.0, {}, 32.0),
        (32.0, 16.0, {}, 16.0),
        (20.0, 32.0, {}, 20.0),
        (32.0, 32.0, {"profile": 10.0}, 10.0),
        (32.0, 32.0, {"profile": 40.0}, 32.0),
        (32.0, 16.0, {"profile": 20.0, "local": 13.0}, 13.0),
        (32.0, 32.0, {"profile": 6.0}, 6.0),
        (32.0, 32.0, {"profile": 5.99}, 0.0),
        (5.0, 32.0, {}, 0.0),
    ],
)
def test_the_offer_never_exceeds_installation_max_board_max_or_a_limit(
    installation_max: float, board_max: float, limits: dict[str, float], offered: float
) -> None:
    bench = Bench(max_current_a=installation_max, board_max_current_a={1: board_max})
    for source, amps in limits.items():
        bench.limit(amps, source=source)
    bench.pilot("B")
    bench.tap(TAG)
    bench.answer(TAG)
    assert len(bench.started()) == 1
    assert bench.offered_a() == offered
    assert all(e.amps <= offered for e in only(bench.log, SetPilot))


def test_a_lower_limit_during_charging_lowers_the_offer_at_once() -> None:
    bench = Bench()
    bench.start_charging(TAG)
    assert bench.limit(13.0) == [SetPilot(1, 13.0)]
    assert bench.contactor_closed() and bench.status() is S.CHARGING


def test_samples_report_what_the_board_really_offers_after_its_quantisation() -> None:
    """A retrofitted dumb charger with relay steps offers 13 A when asked for 16 A."""
    bench = Bench()
    bench.start_charging(TAG)
    bench.limit(16.0)
    bench.station.offered_current_confirmed(1, 13.0)
    sample = only(bench.record(bench.station.sample_now(1)), MeterSample)[0]
    assert sample.offered_current_a == 13.0
