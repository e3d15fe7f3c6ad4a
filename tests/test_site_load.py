"""The house fuse's control alone (``core.site_load``): scripted site meter readings on a time
axis the test sets, and the limit it gives the cars. The station, the meters and the daemon
around it are in test_house_fuse.py."""

from __future__ import annotations

import itertools

from pievse.core.site_load import SiteFuse, SiteLoad

T0 = 1_767_225_600.0
#: 35 A main fuse, 3 A margin: the house may draw 32 A a phase.
FUSE = SiteFuse(main_fuse_a=35, margin_a=3, safe_current_a=10, hold_s=30)


class House:
    """A house whose other loads the test sets per phase, and a car that draws what it is
    allowed (at once: the car's own delay is the station test's business)."""

    def __init__(self, fuse: SiteFuse = FUSE) -> None:
        self.t = T0
        self.site = SiteLoad(fuse, T0)
        self.others = [0.0, 0.0, 0.0]
        self.changes: list[tuple[float, float]] = []

    def car(self) -> float:
        return self.site.limit_a if self.site.limit_a >= 6 else 0.0

    def read(self, seconds: float = 1.0) -> float:
        self.t += seconds
        car = self.car()
        moved = self.site.reading(self.t, [o + car for o in self.others], [car] * 3)
        if moved is not None:
            self.changes.append((self.t, moved))
        return self.site.limit_a

    def run(self, seconds: float, step: float = 1.0) -> None:
        for _ in range(int(seconds / step)):
            self.read(step)


def settled_house(others: float = 10.0) -> House:
    house = House()
    house.others = [others] * 3
    house.run(120)
    return house


def test_the_cars_get_the_safe_current_until_the_first_reading_then_what_there_is_room_for():
    house = House()
    assert house.site.limit_a == 10 and house.site.blind == "no reading yet"
    house.others = [12.0, 8.0, 5.0]
    house.run(29)
    assert house.site.limit_a == 10, "no raise before the hold"
    house.run(120)
    assert house.site.limit_a == 20, "32 A less the worst phase's 12 A"
    assert house.site.house_a == (12.0, 8.0, 5.0), "the car's own draw is not house load"


def test_a_load_step_on_one_phase_cuts_the_limit_on_the_very_next_reading():
    house = settled_house()
    assert house.site.limit_a == 22
    house.others[1] = 25.0  # an oven on L2
    assert house.read(1.0) == 7
    house.others[1] = 28.0
    assert house.read(1.0) == 4, "under 6 A: the car is paused"


def test_room_that_comes_back_raises_the_limit_in_steps_after_the_hold_never_within_5_s():
    house = settled_house()
    house.others = [25.0] * 3
    house.read()
    assert house.site.limit_a == 7
    house.changes.clear()
    house.others = [10.0] * 3
    house.run(120, step=0.5)
    times = [t for t, _ in house.changes]
    assert times[0] - (T0 + 121) >= 30 - 1e-9, "room must stay for the hold first"
    assert all(b - a >= 5 for a, b in itertools.pairwise(times)), times
    amps = [a for _, a in house.changes]
    assert amps == sorted(amps) and all(b - a <= 2 for a, b in itertools.pairwise([7, *amps]))
    assert amps[-1] == 22


def test_a_house_load_hovering_at_the_limit_does_not_make_the_limit_oscillate():
    house = settled_house(others=18.0)
    house.changes.clear()
    # A heat pump hovering between 17 and 21 A on every phase, a new value every second.
    pattern = [18.0, 19.5, 21.0, 20.0, 17.0, 19.0, 20.5, 18.5, 17.5, 21.0]
    for second in range(60):
        house.others = [pattern[second % len(pattern)]] * 3
        house.read()
    # Cut down to the peaks at most twice, then steady: no going up and down.
    assert len(house.changes) <= 2, house.changes
    assert house.site.limit_a == 11
    assert [a for _, a in house.changes] == sorted((a for _, a in house.changes), reverse=True)


def test_a_paused_car_resumes_at_6_a_once_there_has_been_room_for_the_hold():
    house = settled_house()
    house.others = [30.0] * 3
    house.read()
    assert house.site.limit_a == 2 and house.car() == 0.0
    house.others = [23.0] * 3  # 9 A of room
    house.run(29)
    assert house.car() == 0.0
    house.run(2)
    assert house.site.limit_a == 6 and house.car() == 6.0, "resumes at the minimum"
    house.run(60)
    assert house.site.limit_a == 9


def test_a_silent_site_meter_gives_the_safe_current_and_readings_take_over_again():
    house = settled_house()
    assert house.site.limit_a == 22
    assert house.site.check(house.t + 4.9) is None
    assert house.site.check(house.t + 5.0) == 10
    assert house.site.blind == "no reading for 5 s"
    house.t += 5.0
    assert house.site.failed(house.t, "no answer") is None, "safe already"
    house.others = [26.0] * 3
    assert house.read() == 6, "a reading with less room cuts below the safe current at once"
    assert house.site.blind is None
    house.others = [10.0] * 3
    house.run(29)
    assert house.site.limit_a == 6
    house.run(60)
    assert house.site.limit_a == 22


def test_a_reading_without_currents_per_phase_counts_as_a_failure():
    house = settled_house()
    assert house.site.reading(house.t + 1, [], [22.0]) == 10
    assert "no current per phase" in house.site.blind


def test_the_cars_own_ramp_after_a_raise_seen_first_by_the_site_meter_is_no_load_step():
    house = settled_house()
    house.others = [25.0] * 3
    house.read()
    house.others = [18.0] * 3  # 14 A of room
    house.run(30)
    changes = len(house.changes)
    # The car's meter lags one reading behind the site meter from now on.
    lagging = house.car()
    for _ in range(60):
        house.t += 1.0
        car = house.car()
        moved = house.site.reading(house.t, [o + car for o in house.others], [lagging] * 3)
        lagging = car
        if moved is not None:
            house.changes.append((house.t, moved))
    amps = [a for _, a in house.changes[changes:]]
    assert amps == sorted(amps), f"raised, never cut back: {amps}"
    assert house.site.limit_a == 14
    # A real step right after a raise still cuts at once.
    house.others = [16.0] * 3
    changes = len(house.changes)
    while len(house.changes) == changes:
        house.read()
    assert house.site.limit_a == 16
    house.others = [26.0] * 3
    assert house.read() == 6
