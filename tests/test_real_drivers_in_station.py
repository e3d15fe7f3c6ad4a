"""A whole OCPP 1.6 charging session with every real driver, chosen in the config as a wallbox
owner would: the native GPIO board on gpiozero's mock pins (the pilot read back through the real
MCP3008 class), an Eastron SDM630 served by pymodbus over TCP, and a card tapped on pcscd's
virtual reader. Only the car, the meter's registers and the card are stand-ins. The station runs
on a fake clock, so that the minutes the car takes to draw its energy pass in no time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from pievse.app.config import ConfigError, parse_config
from pievse.app.driver_factory import build_hardware
from pievse.local_api.client import ApiCallFailed, call_api
from tests.conftest import eventually
from tests.modbus_standin import MeterServer
from tests.test_gpio_board import (  # noqa: F401 - the mock pins fixture
    LockDrive,
    NativeRig,
    SwitchToGround,
    factory,
)
from tests.test_meter_in_station import modbus_section, serve_sdm630, session_energy, set_energy
from tests.test_ocpp16_sessions import received, status_now
from tests.test_pcsc_reader import on_reader

UID = "04A1B2C3D4E5F6"


@pytest.fixture
async def sdm630() -> AsyncIterator[MeterServer]:
    server = MeterServer(unit_id=7)
    serve_sdm630(server, 100.0)
    await server.start_tcp()
    yield server
    await server.stop()


async def test_a_session_with_the_gpio_board_a_modbus_meter_and_a_pcsc_reader(
        csms, start_station, factory, sdm630, pcscd, card, fake_clock):  # noqa: F811 - fixtures
    rig = NativeRig(factory)
    daemon = await start_station(board={"driver": "gpio", "kind": "native"},
                                 meter={**modbus_section(sdm630), "interval": 60.0},
                                 rfid={"driver": "pcsc", "reader": "Virtual PCD"})
    assert status_now(csms) == "Available"

    rig.pilot.car = "B"  # plugged in
    await eventually(lambda: status_now(csms) == "Preparing", what="Preparing")
    tapped = card()
    tapped.insert(UID)
    await on_reader(pcscd)
    await eventually(lambda: received(csms, "StartTransaction"), what="StartTransaction")
    [start] = received(csms, "StartTransaction")
    assert start["idTag"] == UID and start["meterStart"] == 100_000
    assert 0 < rig.pilot.pwm.state < 1, "the pilot PWM offers current"

    rig.pilot.car = "C"  # the car asks for power
    await eventually(lambda: rig.contactor.state == 1, what="the contactor relay pulled in")
    await eventually(lambda: status_now(csms) == "Charging", what="Charging")

    for quarter in range(1, 7):  # a quarter of a kilowatt-hour a minute (15 kW)
        await set_energy(sdm630, 100.0 + quarter / 4)
        await fake_clock.advance(60)
        await eventually(lambda: session_energy(daemon) == pytest.approx(250 * quarter),
                         what=f"{quarter / 4} kWh")
    await eventually(lambda: daemon.status()["connectors"][0]["transaction"]["energy_wh"]
                     == pytest.approx(1500), what="1.5 kWh counted by the meter")
    rig.pilot.car = "B"  # the car is full and stops asking: contactor opens at once
    await eventually(lambda: rig.contactor.state == 0, what="the contactor relay dropped")
    rig.pilot.car = "A"  # unplugged
    await eventually(lambda: received(csms, "StopTransaction"), what="StopTransaction")
    [stop] = received(csms, "StopTransaction")
    assert stop["reason"] == "EVDisconnected" and stop["meterStop"] == 101_500
    assert daemon.status()["connectors"][0]["meter"]["online"] is True


async def test_the_daemon_releases_the_gpio_board_when_it_stops(
        csms, start_station, factory, sdm630):  # noqa: F811
    rig = NativeRig(factory)
    daemon = await start_station(board={"driver": "gpio"}, meter=modbus_section(sdm630),
                                 rfid={"driver": "none"})
    rig.pilot.car = "B"
    await eventually(lambda: status_now(csms) == "Preparing", what="Preparing")
    daemon.stop()
    await eventually(lambda: not csms.connected("CP1"), what="daemon stopped")
    # The boards are released after the link is closed: wait for the end of the stop.
    await eventually(lambda: rig.contactor.state == 0 and rig.pilot.pwm.state == 0,
                     what="relays dropped and the pilot driver's input low: -12 V, state F")


async def test_a_type_2_socket_on_the_gpio_board_holds_the_plug_for_the_session_until_unlocked(
        csms, start_station, factory, sdm630):  # noqa: F811
    """OCPP 1.6 UnlockConnector on a socket whose lock is wired to the native board: the lock
    closes before the contactor does, holds for the session, and UnlockConnector ends the session
    (reason UnlockCommand) and releases the plug, answered Unlocked from the lock's feedback."""
    rig = NativeRig(factory)
    feedback = factory.pin(26, pin_class=SwitchToGround, closed=False)
    locking = factory.pin(20, pin_class=LockDrive, feedback=feedback, locks=True)
    unlocking = factory.pin(21, pin_class=LockDrive, feedback=feedback, locks=False)
    locking.other, unlocking.other = unlocking, locking
    daemon = await start_station(
        board={"driver": "gpio", "kind": "native", "has_lock": True, "lock_drive_pin": 20,
               "unlock_drive_pin": 21, "lock_feedback_pin": 26},
        meter=modbus_section(sdm630), rfid={"driver": "simulated"})
    rig.pilot.car = "B"
    await eventually(lambda: status_now(csms) == "Preparing", what="Preparing")
    daemon.sim_token(UID)
    await eventually(lambda: received(csms, "StartTransaction"), what="StartTransaction")
    rig.pilot.car = "C"
    await eventually(lambda: rig.contactor.state == 1, what="the contactor relay pulled in")
    assert daemon.hardware.boards[1].cable_lock.locked

    answer = await csms.call("CP1", "UnlockConnector", {"connectorId": 1})
    assert answer["status"] == "Unlocked"
    assert rig.contactor.state == 0
    assert not daemon.hardware.boards[1].cable_lock.locked
    await eventually(lambda: received(csms, "StopTransaction"), what="StopTransaction")
    assert received(csms, "StopTransaction")[0]["reason"] == "UnlockCommand"
    assert not locking.shorted and not unlocking.shorted, "never both drives at once"


async def api_call(daemon, path: str, body: dict) -> str:
    """POST ``body`` to the daemon's local API: "ok" or the error it answers."""
    try:
        await asyncio.to_thread(call_api, f"127.0.0.1:{daemon.api.port}", "POST", path, body)
    except ApiCallFailed as error:
        return str(error)
    return "ok"


async def test_the_sim_routes_exist_only_for_the_parts_that_are_simulated(
        csms, start_station, factory, sdm630):  # noqa: F811
    NativeRig(factory)
    real = await start_station(board={"driver": "gpio"}, meter=modbus_section(sdm630),
                               rfid={"driver": "none"}, api={"listen": "127.0.0.1:0"})
    assert await api_call(real, "/api/sim/ev", {"state": "C"}) == (
        "no such path: /api/sim/ev (this station has no simulated car (no board of it is "
        "simulated))")
    assert "card reader of this station is not simulated" in await api_call(
        real, "/api/sim/token", {"id_token": "04A1B2C3"})
    assert "no board of this station is simulated" in await api_call(
        real, "/api/sim/fault", {"fault": "rcd", "active": True})
    assert real.hardware.boards[1].contactor_closed is False

    # A real meter beside a simulated board and car: the car and the board are there to drive.
    bench = await start_station("CP2", meter=modbus_section(sdm630),
                                api={"listen": "127.0.0.1:0"})
    assert await api_call(bench, "/api/sim/ev", {"state": "B"}) == "ok"
    assert await api_call(bench, "/api/sim/fault", {"fault": "rcd", "active": False}) == "ok"
    assert await api_call(bench, "/api/sim/token", {"id_token": "USER-42"}) == "ok"


BASE = '[charge_point]\nid = "CP1"\n[ocpp]\nurl = "ws://127.0.0.1:9000/ocpp"\n'


@pytest.mark.parametrize(("extra", "problem"), [
    ('[board]\ndriver = "gpio"\n',
     '[meter] driver = "simulated": a simulated meter measures the simulated car'),
    ('[board]\ndriver = "gpio"\nrcd_pin = 17\n[meter]\ndriver = "modbus"\nmodel = "sdm630"\n'
     'device = "/dev/ttyUSB0"\n',
     "[board] rcd_pin = 17: GPIO17 is already contactor_pin"),
    ('[board]\ndriver = "gpio"\nkind = "retrofit"\nfeedback_pin = -1\n[meter]\n'
     'driver = "modbus"\nmodel = "sdm630"\ndevice = "/dev/ttyUSB0"\n',
     "[board] feedback_pin = -1: a retrofit board learns that the car charges"),
    ('[board]\ndriver = "gpio"\nkind = "retrofit"\ncurrent_steps = "6:none,10:5,10:6"\n'
     '[meter]\ndriver = "modbus"\nmodel = "sdm630"\ndevice = "/dev/ttyUSB0"\n',
     '[board] current_steps = "6:none,10:5,10:6": step \'10:6\''),
    ('[board]\ndriver = "gpio"\npilot_pin = 40\n', "[board] pilot_pin = 40: must be between -1"),
    ('[board]\ndriver = "gpio"\nhas_lock = true\nlock_drive_pin = 5\nunlock_drive_pin = 6\n'
     '[meter]\ndriver = "modbus"\nmodel = "sdm630"\ndevice = "/dev/ttyUSB0"\n',
     "[board] lock_feedback_pin = -1: has_lock = true needs the lock wired"),
    ('[board]\ndriver = "gpio"\nhas_lock = true\nlock_drive_pin = 5\nunlock_drive_pin = 6\n'
     'lock_feedback_pin = 17\n[meter]\ndriver = "modbus"\nmodel = "sdm630"\n'
     'device = "/dev/ttyUSB0"\n',
     "[board] lock_feedback_pin = 17: GPIO17 is already contactor_pin"),
    ('[board]\ndriver = "gpio"\nkind = "retrofit"\nhas_lock = true\n[meter]\n'
     'driver = "modbus"\nmodel = "sdm630"\ndevice = "/dev/ttyUSB0"\n',
     "[board] has_lock = true: a retrofit board drives no cable lock"),
])
def test_a_wrong_board_config_names_the_key_the_value_and_what_is_allowed(extra, problem):
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + extra)
    assert any(line.startswith(problem) for line in caught.value.problems), caught.value.problems


@pytest.mark.parametrize("board", [
    '[board]\nhas_lock = true\n',
    '[board]\ndriver = "gpio"\nhas_lock = true\nlock_drive_pin = 5\nunlock_drive_pin = 6\n'
    'lock_feedback_pin = 26\n[meter]\ndriver = "modbus"\nmodel = "sdm630"\n'
    'device = "/dev/ttyUSB0"\n',
])
def test_has_lock_gives_the_board_a_cable_lock_and_without_it_none(board):
    locked = build_hardware(parse_config(BASE + board)).boards[1]
    fixed = build_hardware(parse_config(BASE + board.replace("has_lock = true",
                                                             "has_lock = false"))).boards[1]
    assert locked.capabilities.has_lock and not fixed.capabilities.has_lock
    if "gpio" not in board:  # a native board makes its lock on its pins when it starts
        assert locked.cable_lock is not None and fixed.cable_lock is None
