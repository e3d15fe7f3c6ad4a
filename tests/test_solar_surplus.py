"""Charging from the solar surplus, end to end: a daemon with a simulated car whose board has a
phase relay, a real pymodbus server as the site meter (an Eastron SDM630's registers over TCP:
the net power at the grid connection, negative while the house exports), and the bench CSMS.

The test plays a day's export curve (a morning ramp, a cloud, the evening) into the site meter's
registers: what the panels make, less what the house uses, plus what the car draws now. The
daemon runs on a FakeClock moved poll by poll (see test_house_fuse.py), so the delays are
measured in the station's seconds.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pievse.aio import FakeClock
from pievse.local_api.client import format_status
from tests.conftest import eventually
from tests.modbus_standin import MeterServer, words
from tests.test_gpio_board import (  # noqa: F401 - the mock pins fixture
    PHASE_SWITCH,
    RELAY,
    NativeRig,
    RelayOutput,
    factory,
)
from tests.test_house_fuse import Grid, api_limit, offer, site_meter, site_sections
from tests.test_meter_in_station import modbus_section, sdm630  # noqa: F401 - a fixture
from tests.test_ocpp16_sessions import TAG, received

__all__ = ["factory", "sdm630", "site_meter"]  # fixtures, used by name

POLL_S = 1.0
POWER_REGISTER = 0x0034  # SDM630 total system power, W, float32 (negative: export)
VOLTS = 230.0
SOLAR = {"start_delay": 30.0, "stop_delay": 60.0, "phase_switch_interval": 120.0}


class SunnyGrid(Grid):
    """The grid connection of a house with panels: ``pv_w`` made, ``house_w`` used, and the
    car's draw, as the site meter's net power and currents."""

    def __init__(self, server: MeterServer) -> None:
        super().__init__(server)
        self.pv_w = 0.0
        self.house_w = 400.0
        self.others = [self.house_w / 3 / VOLTS] * 3
        self.log: list[tuple[float, float, int, float]] = []  # (t, surplus, phases, offer)

    def cars_w(self) -> float:
        evs = self.daemon.hardware.simulated.evs if self.daemon is not None else {}
        return sum(ev.power_w() for ev in evs.values())

    def net_w(self) -> float:
        return self.house_w - self.pv_w + self.cars_w()

    async def publish(self) -> None:
        await super().publish()
        await self.server.update("input", POWER_REGISTER, words(self.net_w(), "float32"))

    async def play(self, clock: FakeClock, seconds: float,
                   pv_w: Callable[[float], float] = lambda t: 0.0) -> None:
        """``seconds`` of station time, poll by poll, the panels making ``pv_w(t)`` (t from
        the start of this stretch)."""
        home = self.daemon.home
        for step in range(round(seconds / POLL_S)):
            self.pv_w = max(0.0, pv_w(step * POLL_S))
            await self.publish()
            await clock.advance(POLL_S)
            now = clock.now()
            await eventually(lambda: home.site.last_reading_at is not None
                             and home.site.last_reading_at >= now, what="the site meter's poll")
            # The station meter's reading of this instant, and all that follows from it:
            # the loop runs until nothing is left to do (a fixed sleep waited longer).
            await clock.settle()
            board = self.daemon.hardware.boards[1]
            offered = round(self.daemon.station.connector(1).offered_a, 1)
            self.log.append((now, self.pv_w - self.house_w, board.phases, offered))


def ramp(start_w: float, end_w: float, seconds: float) -> Callable[[float], float]:
    return lambda t: start_w + (end_w - start_w) * min(t / seconds, 1.0)


@pytest.fixture
def sunny(csms, start_station, site_meter, fake_clock, tmp_path):
    grid = SunnyGrid(site_meter)

    async def build(mode: str, phase_switch: bool = True, storage=None, api=None, **solar):
        await grid.publish()
        grid.daemon = await start_station(
            **{**site_sections(site_meter, main_fuse=35.0, safe_current=16.0),
               "site_meter": {**site_sections(site_meter)["site_meter"], "interval": POLL_S}},
            solar={**SOLAR, "mode": mode, **solar},
            board={"has_phase_switch": phase_switch},
            storage=storage or {"path": ":memory:"}, api=api or {"listen": ""})
        return grid, grid.daemon

    return build


async def plugged_session(csms, daemon) -> None:
    """Plug in, present a card and ask for power: the session starts whether or not there is
    current to offer."""
    sim = daemon.hardware.simulated
    sim.evs[1].set_state("B")
    await eventually(lambda: csms.charge_points["CP1"].statuses.get(1) == "Preparing",
                     what="Preparing")
    sim.reader.present(TAG)
    await eventually(lambda: received(csms, "StartTransaction"), what="StartTransaction")
    sim.evs[1].set_state("C")
    await eventually(lambda: daemon.station.connector(1).transaction is not None,
                     what="the transaction")


def assert_switched_safely(history) -> int:
    """Every ``phases`` command on the simulated board came with the contactor open, after the
    PWM had stopped (the board's history is in its own time). The switches."""
    events = list(history)
    count = 0
    for i, (_, what, _) in enumerate(events):
        if what != "phases":
            continue
        count += 1
        before = [(w, v) for _, w, v in events[:i] if w in ("contactor", "pilot_offer",
                                                            "pilot_standby")]
        contactor = [v for w, v in before if w == "contactor"]
        assert not contactor or contactor[-1] is False, "the relay moved under a closed contactor"
        last_opening = max(j for j, (w, v) in enumerate(before) if w == "contactor" and not v) \
            if contactor else -1
        pilot_before_opening = [w for w, _ in before[:last_opening] if w != "contactor"]
        assert not pilot_before_opening or pilot_before_opening[-1] == "pilot_standby", \
            "the PWM stopped before the contactor opened"
    return count


def starts(log) -> list[float]:
    """The instants the offer went from nothing to something."""
    return [t for (_, _, _, a), (t, _, _, b) in zip(log, log[1:]) if a == 0 and b > 0]


def switches(log) -> list[tuple[float, int]]:
    return [(t, p) for (_, _, q, _), (t, _, p, _) in zip(log, log[1:]) if p != q]


async def test_pv_a_sunny_day_starts_after_the_delay_follows_pauses_in_a_cloud_and_switches_phases(
        csms, sunny, fake_clock):
    grid, daemon = await sunny("pv")
    await plugged_session(csms, daemon)
    board = daemon.hardware.simulated.boards[1]
    # Night: nothing to offer, the session waits.
    await grid.play(fake_clock, 30)
    assert offer(daemon) == 0.0 and board.phases == 3
    assert daemon.status()["connectors"][0]["offered_current_reason"].startswith(
        "paused: solar surplus allows 0 A")
    await eventually(lambda: csms.charge_points["CP1"].statuses[1] == "SuspendedEVSE",
                     what="SuspendedEVSE")

    # Morning: the panels ramp up to 9 kW in 10 minutes.
    await grid.play(fake_clock, 900, ramp(0, 9000, 600))
    one_phase_from = next(t for t, surplus, _, _ in grid.log if surplus >= 6 * VOLTS)
    [first_start, *_] = starts(grid.log)
    assert first_start - one_phase_from >= SOLAR["start_delay"], "the start delay"
    assert first_start - one_phase_from <= SOLAR["start_delay"] + 10
    assert board.phases == 3, "enough for three phases by now"
    assert offer(daemon) == pytest.approx(12, abs=1), "follows 8.6 kW on three phases"
    assert daemon.status()["connectors"][0]["offered_current_reason"].startswith(
        "solar surplus: ")
    assert daemon.station.connector(1).contactor_closed
    morning = switches(grid.log)
    assert [p for _, p in morning] == [1, 3], "one phase while the sun was weak, then three"

    # A cloud: 3 minutes of nothing; the car pauses only after the stop delay.
    cloud_from = len(grid.log)
    await grid.play(fake_clock, 180, lambda t: 300.0)
    cloud = grid.log[cloud_from:]
    paused_at = next(t for t, _, _, a in cloud if a == 0)
    assert paused_at - cloud[0][0] >= SOLAR["stop_delay"] - POLL_S
    assert all(a >= 6 for t, _, _, a in cloud if t < cloud[0][0] + SOLAR["stop_delay"] - 2)
    await eventually(lambda: csms.charge_points["CP1"].statuses[1] == "SuspendedEVSE",
                     what="paused in the cloud")

    # The sun again, then the evening: the same session resumes, and pauses at dusk.
    await grid.play(fake_clock, 600, lambda t: 7000.0)
    assert offer(daemon) >= 6.0
    await eventually(lambda: csms.charge_points["CP1"].statuses[1] == "Charging",
                     what="charging again")
    await grid.play(fake_clock, 900, ramp(7000, 0, 600))
    assert offer(daemon) == 0.0 and not board.pwm_on
    assert len(received(csms, "StartTransaction")) == 1 and not received(csms, "StopTransaction")

    done = switches(grid.log)
    # One phase for the weak morning, three for the day, one again for the evening: the cloud
    # paused the car without a switch (too little even for one phase).
    assert [p for _, p in done] == [1, 3, 1], done
    gaps = [b - a for (a, _), (b, _) in zip(done, done[1:])]
    assert all(gap >= SOLAR["phase_switch_interval"] for gap in gaps), done
    assert daemon.status()["solar"]["phase_switch"]["switches"] == len(done)
    assert assert_switched_safely(board.history) == len(done)
    for switched_at, _ in done:  # nothing offered (so nothing closed) while the relay settles
        assert all(a == 0 for t, _, _, a in grid.log if switched_at <= t < switched_at + 2)
    assert board.openings_under_load == 0


async def test_min_pv_never_offers_less_than_6_a_and_more_in_the_sun(csms, sunny, fake_clock):
    grid, daemon = await sunny("min+pv", phase_switch=False)
    await plugged_session(csms, daemon)
    await grid.play(fake_clock, 60)
    await eventually(lambda: csms.charge_points["CP1"].statuses[1] == "Charging",
                     what="charging at night")
    await grid.play(fake_clock, 300, ramp(0, 12000, 200))
    await grid.play(fake_clock, 120, lambda t: 0.0)  # a cloud
    offers = [a for _, _, _, a in grid.log]
    assert min(offers) == 6.0, "at least the minimum, night and cloud"
    assert max(offers) >= 15.0, "more from the surplus"
    assert offers[-1] == 6.0
    assert daemon.status()["connectors"][0]["offered_current_reason"] == "solar surplus: 6 A"


async def test_fast_ignores_the_surplus(csms, sunny, fake_clock):
    grid, daemon = await sunny("fast")
    await plugged_session(csms, daemon)
    await grid.play(fake_clock, 90)  # the house fuse's room, measured: 31 A
    await grid.play(fake_clock, 200, ramp(0, 8000, 100))
    await grid.play(fake_clock, 60, lambda t: 0.0)
    offers = {a for _, _, _, a in grid.log[90:]}
    assert offers == {31.0}, "what the house fuse leaves, whatever the sun does"
    assert "solar" not in daemon.status()["connectors"][0]["offered_current_reason"]
    assert daemon.status()["solar"]["limit_a"] is None
    assert daemon.hardware.simulated.boards[1].phases == 3


async def test_the_house_fuse_still_cuts_a_solar_offer(csms, sunny, fake_clock):
    grid, daemon = await sunny("pv", phase_switch=False, start_delay=0.0)
    await plugged_session(csms, daemon)
    await grid.play(fake_clock, 120, lambda t: 20000.0)
    assert offer(daemon) >= 20.0
    assert daemon.status()["connectors"][0]["offered_current_reason"].startswith(
        "solar surplus: ")
    grid.others = [25.0, 0.6, 0.6]  # an oven on L1, in the sun
    await grid.play(fake_clock, 2, lambda t: 20000.0)
    assert offer(daemon) == 7.0
    assert daemon.status()["connectors"][0]["offered_current_reason"] == \
        "local limit (site, shared): 7 A"


async def test_the_mode_chosen_through_the_api_holds_after_a_restart(csms, sunny, fake_clock,
                                                                     tmp_path):
    storage = {"path": str(tmp_path / "pievse.sqlite3")}
    grid, daemon = await sunny("fast", storage=storage, api={"listen": "127.0.0.1:0"})
    assert daemon.status()["solar"]["mode"] == "fast"
    await api_limit(daemon, {"mode": "pv"}, path="/api/mode")
    assert daemon.status()["solar"]["mode"] == "pv"
    assert daemon.status()["solar"]["limit_a"] == 0.0
    [line] = [s for s in format_status(daemon.status()).splitlines() if s.startswith("solar")]
    assert line.startswith("solar: pv, surplus ") and line.endswith(
        "kW, the cars may draw 0 A on 3 phase(s)"), line

    daemon.stop()
    await eventually(lambda: daemon.store._db is None, what="the first daemon's store closed")
    grid, second = await sunny("fast", storage=storage)
    assert second.status()["solar"]["mode"] == "pv", "the choice holds"
    second.home.set_mode("min+pv")  # what MQTT calls
    assert second.status()["solar"]["mode"] == "min+pv"
    with pytest.raises(ValueError, match="the modes are"):
        second.home.set_mode("turbo")

    second.stop()
    await eventually(lambda: second.store._db is None, what="the second daemon's store closed")
    grid, third = await sunny("pv", storage=storage)
    assert third.status()["solar"]["mode"] == "pv", "a new mode in the config wins"


async def test_a_fault_during_a_phase_switch_opens_everything_and_nothing_closes_again(
        csms, sunny, fake_clock):
    grid, daemon = await sunny("min+pv")
    await plugged_session(csms, daemon)
    await grid.play(fake_clock, 10)
    board = daemon.hardware.simulated.boards[1]
    assert board.contactor_closed, "min+pv charges at night"
    switch = daemon.home.solar.switch
    for _ in range(120):  # the night is too dark for three phases: a switch to one begins
        await grid.play(fake_clock, 1)
        if switch.holding:
            break
    assert switch.holding
    board.inject_fault("rcd", True)
    await grid.play(fake_clock, 30)
    assert not board.contactor_closed and not board.pwm_on
    assert not switch.holding and board.phases == 1, "the switch ended with everything open"
    after = list(board.history)[[w for _, w, _ in board.history].index("fault"):]
    assert ("contactor", True) not in [(w, v) for _, w, v in after]
    await eventually(lambda: received(csms, "StopTransaction"), what="the fault ends the session")
    assert assert_switched_safely(board.history) == 1


async def test_on_the_gpio_board_the_contactor_opens_before_the_phase_relay_moves(
        csms, start_station, factory, sdm630, site_meter, fake_clock):  # noqa: F811 - fixtures
    rig = NativeRig(factory)
    relay = factory.pin(PHASE_SWITCH, pin_class=RelayOutput, moves=rig.moves)
    grid = SunnyGrid(site_meter)
    await grid.publish()
    sections = site_sections(site_meter)
    grid.daemon = daemon = await start_station(
        board={"driver": "gpio", "kind": "native", "has_phase_switch": True,
               "phase_switch_pin": PHASE_SWITCH},
        meter=modbus_section(sdm630), rfid={"driver": "simulated"},
        site_meter={**sections["site_meter"], "interval": POLL_S}, site=sections["site"],
        solar={**SOLAR, "mode": "min+pv"})
    assert relay.state == 1, "three phases from the start"
    rig.pilot.car = "B"
    await eventually(lambda: csms.charge_points["CP1"].statuses.get(1) == "Preparing",
                     what="Preparing")
    daemon.sim_token(TAG)
    await eventually(lambda: received(csms, "StartTransaction"), what="StartTransaction")
    rig.pilot.car = "C"
    await eventually(lambda: rig.contactor.state == 1, what="the contactor relay pulled in")
    # The car draws 6 A on three phases, by its meter and at the grid connection.
    await sdm630.update("input", POWER_REGISTER, words(3 * 6 * VOLTS, "float32"))
    grid.house_w += 3 * 6 * VOLTS
    rig.moves.clear()
    # A dark evening in min+pv: one phase is enough, after the stop delay.
    await grid.play(fake_clock, SOLAR["stop_delay"] + 20)
    assert relay.state == 0 and daemon.hardware.boards[1].phases == 1
    await eventually(lambda: rig.contactor.state == 1, what="charging again on one phase")
    assert rig.moves == [(f"GPIO{RELAY}", False), (f"GPIO{PHASE_SWITCH}", False),
                         (f"GPIO{RELAY}", True)]
    assert daemon.status()["solar"]["phase_switch"]["switches"] == 1
    assert len(received(csms, "StartTransaction")) == 1 and not received(csms, "StopTransaction")
