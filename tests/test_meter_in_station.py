"""A real Modbus meter in a running station: chosen in the config, mixed with the simulated car
and board, its energy in the transactions, and its failure reported to the CSMS as
PowerMeterFailure (OCPP 1.6 StatusNotification errorCode) while charging goes on.

The meter is a pymodbus server serving an Eastron SDM630's registers over TCP; the station runs
the real ModbusMeter driver against it, built from the config by the daemon.

The station takes no more energy than the connection could deliver in the time that passed, so
the tests where the meter counts kilowatt-hours run the station on a fake clock and let minutes
pass; the bus, the meter and the driver's own backoff run in real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from pievse.aio import FakeClock
from pievse.app.config import ConfigError, parse_config
from tests.conftest import eventually
from tests.modbus_standin import MeterServer, words
from tests.test_ocpp16_sessions import TAG, charging_session, received, status_now

ENERGY_KWH = 1234.5
ENERGY_REGISTER = 0x0048
FLOAT32_MAX_KWH = 3.4028234663852886e38


def serve_sdm630(server: MeterServer, energy_kwh: float = ENERGY_KWH) -> None:
    for address, value in ((0x0000, 230.0), (0x0002, 230.0), (0x0004, 230.0),
                           (0x0006, 16.0), (0x0008, 16.0), (0x000A, 16.0),
                           (0x000C, 3680.0), (0x000E, 3680.0), (0x0010, 3680.0),
                           (0x0034, 11040.0), (0x0046, 50.0), (0x0048, energy_kwh),
                           (0x004A, 0.0)):
        server.put("input", address, words(value, "float32"))


@pytest.fixture
async def sdm630() -> AsyncIterator[MeterServer]:
    server = MeterServer(unit_id=7)
    serve_sdm630(server)
    await server.start_tcp()
    yield server
    await server.stop()


def modbus_section(server: MeterServer) -> dict:
    return {"driver": "modbus", "model": "sdm630", "transport": "tcp", "host": "127.0.0.1",
            "port": server.port, "unit_id": 7, "interval": 0.2, "timeout": 0.5}


def error_codes(csms, connector_id: int = 1) -> list[str]:
    return [p["errorCode"] for p in received(csms, "StatusNotification")
            if p["connectorId"] == connector_id]


def meter_status(daemon) -> dict:
    return daemon.status()["connectors"][0]["meter"]


def session_energy(daemon) -> float:
    return daemon.status()["connectors"][0]["transaction"]["energy_wh"]


async def set_energy(server: MeterServer, kwh: float) -> None:
    await server.update("input", ENERGY_REGISTER, words(kwh, "float32"))


async def polled(clock: FakeClock, condition: Callable[[], Any], what: str,
                 timeout: float = 20.0) -> None:
    """Let fake time pass a second at a time (the daemon reads the meter on its clock) until
    ``condition()``; ``timeout`` is real seconds, for the bus and the driver's backoff."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await clock.advance(1.0)
        await asyncio.sleep(0.02)


async def test_a_real_meter_beside_the_simulated_car_gives_meter_start_and_status(
        csms, start_station, sdm630, fake_clock):
    daemon = await start_station(meter={**modbus_section(sdm630), "interval": 60.0})
    status = daemon.status()["connectors"][0]
    assert status["meter"]["online"] is True
    assert status["meter"]["energy_wh"] == pytest.approx(ENERGY_KWH * 1000)
    assert status["meter"]["power_w"] == pytest.approx(11040.0)
    assert status["meter"]["current_a"] == [16.0, 16.0, 16.0]

    await charging_session(csms, daemon)
    start = received(csms, "StartTransaction")[0]
    assert start["meterStart"] == round(ENERGY_KWH * 1000)

    # Two kilowatt-hours as a car draws them: a quarter at each minute's reading (15 kW).
    for quarter in range(1, 9):
        await set_energy(sdm630, ENERGY_KWH + quarter / 4)
        await fake_clock.advance(60)
        await eventually(lambda: session_energy(daemon) == pytest.approx(250.0 * quarter),
                         what=f"{quarter / 4} kWh")
    await eventually(lambda: daemon.status()["connectors"][0]["transaction"]["energy_wh"]
                     == pytest.approx(2000.0), what="the session's energy from the meter")


async def test_a_silent_meter_is_reported_as_power_meter_failure_and_charging_goes_on(
        csms, start_station, sdm630, fake_clock):
    daemon = await start_station(meter=modbus_section(sdm630))
    await charging_session(csms, daemon)
    port = sdm630.port

    await sdm630.stop()
    await polled(fake_clock, lambda: "PowerMeterFailure" in error_codes(csms),
                 what="StatusNotification errorCode PowerMeterFailure")
    failure = [p for p in received(csms, "StatusNotification")
               if p["errorCode"] == "PowerMeterFailure"][0]
    # Not Faulted: the car still charges, on the last good energy reading.
    assert failure["status"] == "Charging"
    assert daemon.station.connector(1).contactor_closed
    assert daemon.status()["connectors"][0]["meter"]["online"] is False

    # The meter stays silent for five minutes, while the car draws a kilowatt-hour.
    await fake_clock.advance(300)
    serve_sdm630(sdm630, ENERGY_KWH + 1.0)
    await sdm630.start_tcp(port)
    await polled(fake_clock, lambda: error_codes(csms)[-1] == "NoError", timeout=20,
                 what="NoError once the meter answers again")
    assert status_now(csms) == "Charging"
    assert daemon.status()["connectors"][0]["meter"]["online"] is True
    await polled(fake_clock, lambda: daemon.status()["connectors"][0]["transaction"]["energy_wh"]
                 == pytest.approx(1000.0), what="energy counted again")


async def test_a_meter_missing_at_start_does_not_stop_the_station(csms, start_station):
    server = MeterServer(unit_id=7)
    port = await server.start_tcp()
    await server.stop()  # a port where nothing answers
    section = {**modbus_section(server), "port": port}
    daemon = await start_station(meter=section)
    await eventually(lambda: "PowerMeterFailure" in error_codes(csms),
                     what="PowerMeterFailure from the start")
    assert status_now(csms) == "Available"
    assert daemon.status()["connectors"][0]["meter"]["online"] is False


async def test_a_session_started_while_the_meter_is_silent_starts_where_the_register_was(
        csms, start_station, sdm630, fake_clock, tmp_path):
    """A restart with the meter silent from the start (its bus down after a power cut): the
    next session's meterStart is the energy the register had reached, not 0 Wh, which would bill
    the whole register at the first reading."""
    store = {"path": str(tmp_path / "pievse.db")}
    first = await start_station(meter={**modbus_section(sdm630), "interval": 60.0},
                                storage=store)
    await charging_session(csms, first)
    await set_energy(sdm630, ENERGY_KWH + 0.25)
    await fake_clock.advance(60)
    await polled(fake_clock, lambda: session_energy(first) == pytest.approx(250.0),
                 what="a quarter kilowatt-hour")
    stopped = await stop_session(csms, first, fake_clock)
    assert stopped["meterStop"] == round((ENERGY_KWH + 0.25) * 1000)
    first.hardware.simulated.evs[1].set_state("A")
    first.stop()
    await polled(fake_clock, lambda: not csms.connected("CP1"), what="the first run ended")
    port = sdm630.port
    await sdm630.stop()

    second = await start_station(meter={**modbus_section(sdm630), "port": port,
                                        "interval": 60.0}, storage=store)
    await polled(fake_clock, lambda: "PowerMeterFailure" in error_codes(csms),
                 what="the meter silent from the start")
    sim = second.hardware.simulated
    sim.evs[1].set_state("B")
    sim.reader.present(TAG)
    await polled(fake_clock, lambda: len(received(csms, "StartTransaction")) == 2,
                 what="the second StartTransaction")
    assert received(csms, "StartTransaction")[1]["meterStart"] == stopped["meterStop"]


# --- readings the station must not bill with -----------------------------------------------------


async def stop_session(csms, daemon, clock: FakeClock) -> dict:
    daemon.hardware.simulated.reader.present(TAG)
    await polled(clock, lambda: received(csms, "StopTransaction"), what="StopTransaction")
    return received(csms, "StopTransaction")[0]


async def test_a_3_4e38_kwh_reading_never_reaches_meter_stop_and_the_next_real_reading_counts(
        csms, start_station, sdm630, fake_clock):
    daemon = await start_station(meter={**modbus_section(sdm630), "interval": 60.0})
    await charging_session(csms, daemon)
    await set_energy(sdm630, FLOAT32_MAX_KWH)  # one reading of the largest float32
    await fake_clock.advance(60)
    await eventually(lambda: meter_status(daemon)["problem"], what="the spike judged")
    assert meter_status(daemon)["problem"].startswith(
        "implausible reading: energy 3.4e+41 Wh is beyond any meter's register")
    assert meter_status(daemon)["online"] is True
    assert meter_status(daemon)["energy_wh"] == pytest.approx(ENERGY_KWH * 1000)
    await set_energy(sdm630, ENERGY_KWH + 0.25)  # the meter's real count a minute later
    await fake_clock.advance(60)
    await eventually(lambda: session_energy(daemon) == pytest.approx(250.0),
                     what="the next real reading counted, not refused as going backwards")
    assert meter_status(daemon)["problem"] is None
    assert "PowerMeterFailure" not in error_codes(csms), "one spike is no meter failure"
    start, stop = received(csms, "StartTransaction")[0], await stop_session(csms, daemon,
                                                                             fake_clock)
    assert stop["meterStop"] - start["meterStart"] == 250


async def test_repeated_implausible_readings_are_power_meter_failure_with_the_status_unchanged(
        csms, start_station, sdm630, fake_clock):
    daemon = await start_station(meter={**modbus_section(sdm630), "interval": 60.0})
    await charging_session(csms, daemon)
    await set_energy(sdm630, ENERGY_KWH + 1000.0)  # a megawatt-hour a minute, every minute
    for _ in range(3):
        await fake_clock.advance(60)
    await eventually(lambda: "PowerMeterFailure" in error_codes(csms),
                     what="StatusNotification errorCode PowerMeterFailure")
    failure = [p for p in received(csms, "StatusNotification")
               if p["errorCode"] == "PowerMeterFailure"][0]
    assert (failure["status"], failure["info"]) == (
        "Charging", "implausible meter readings; last good energy kept")
    assert daemon.station.connector(1).contactor_closed
    meter = meter_status(daemon)
    assert meter["online"] is True, "the meter answers: it is not 'not answering'"
    assert meter["problem"].startswith("implausible reading: energy rose 1000000.0 Wh in ")
    assert session_energy(daemon) == 0.0

    await set_energy(sdm630, ENERGY_KWH + 0.25)
    await fake_clock.advance(60)
    await eventually(lambda: error_codes(csms)[-1] == "NoError",
                     what="NoError once the readings are plausible again")
    assert session_energy(daemon) == pytest.approx(250.0)


async def test_a_meter_that_reads_negative_energy_from_the_start_is_never_billed_negative(
        csms, start_station, fake_clock):
    server = MeterServer(unit_id=7)
    serve_sdm630(server, energy_kwh=-5.0)
    await server.start_tcp()
    try:
        daemon = await start_station(meter={**modbus_section(server), "interval": 60.0})
        assert meter_status(daemon)["problem"] == \
            "implausible reading: energy -5000.0 Wh is negative"
        await charging_session(csms, daemon)
        await set_energy(server, -4.0)
        await fake_clock.advance(60)
        start = received(csms, "StartTransaction")[0]
        stop = await stop_session(csms, daemon, fake_clock)
        assert stop["meterStop"] >= start["meterStart"] >= 0
    finally:
        await server.stop()


async def test_absurd_power_and_voltage_are_dropped_from_the_reading_not_the_energy(
        csms, start_station):
    server = MeterServer(unit_id=7)
    serve_sdm630(server)
    server.put("input", 0x0002, words(1e6, "float32"))  # L2 at a million volts
    server.put("input", 0x0034, words(7.4e9, "float32"))  # 7.4 GW
    await server.start_tcp()
    try:
        daemon = await start_station(meter=modbus_section(server))
        meter = meter_status(daemon)
        assert (meter["energy_wh"], meter["power_w"]) == (ENERGY_KWH * 1000, None)
        assert meter["current_a"] == [16.0, 16.0, 16.0]
        assert "power 7.4e+09 W dropped" in meter["problem"]
        assert "voltage 1000000.0 V dropped" in meter["problem"]
    finally:
        await server.stop()


# --- the config contract ------------------------------------------------------------------------

BASE = '[charge_point]\nid = "CP1"\n[ocpp]\nurl = "ws://127.0.0.1:9000/ocpp"\n'


def test_a_modbus_meter_over_rtu_is_configured_with_its_bus_settings():
    config = parse_config(BASE + '[meter]\ndriver = "modbus"\nmodel = "sdm72d-m"\n'
                          'device = "/dev/ttyUSB0"\nbaudrate = 2400\nparity = "E"\n'
                          'stopbits = 1\nunit_id = 3\n')
    meter = config.meter
    assert (meter.transport, meter.device, meter.baudrate, meter.parity, meter.unit_id) == (
        "rtu", "/dev/ttyUSB0", 2400, "E", 3)


@pytest.mark.parametrize(("meter", "problem"), [
    ('driver = "modbus"\nmodel = "sdm630"\n',
     '[meter] device = "": a Modbus RTU meter needs the serial device'),
    ('driver = "modbus"\nmodel = "sdm630"\ntransport = "tcp"\n',
     '[meter] host = "": a Modbus TCP meter needs the host'),
    ('driver = "modbus"\ndevice = "/dev/ttyUSB0"\n',
     '[meter] model = "": a Modbus meter needs its register map'),
    ('driver = "modbus"\nmodel = "sdm360"\ndevice = "/dev/ttyUSB0"\n',
     '[meter] model = "sdm360": no register map shipped for it; did you mean "sdm630"?'),
    ('driver = "modbus"\nmodel = "sdm630"\ndevice = "/dev/ttyUSB0"\nbaudrate = 9601\n',
     "[meter] baudrate = 9601: must be one of 1200, 2400, 4800, 9600"),
    ('driver = "modbus"\ndevice = "/dev/ttyUSB0"\n[meter.registers]\nregister = "input"\n'
     'power = { address = 0x0034 }\n',
     "[meter.registers] energy_import: missing; the import energy register is required"),
])
def test_a_wrong_modbus_meter_config_names_the_key_the_value_and_what_is_allowed(meter, problem):
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + "[meter]\n" + meter)
    assert any(line.startswith(problem) for line in caught.value.problems), caught.value.problems


def test_a_meter_described_in_the_config_is_built_into_a_register_map():
    from pievse.app.driver_factory import modbus_meter

    config = parse_config(BASE + '[meter]\ndriver = "modbus"\ntransport = "tcp"\n'
                          'host = "meter.local"\n[meter.registers]\nregister = "input"\n'
                          'energy_import = { address = 0x0048, scale = 1000 }\n')
    meter = modbus_meter(config.meter)
    assert [f.quantity for f in meter.register_map.fields] == ["energy_import"]
    assert meter.name == "custom (unit 1 on meter.local:502)"
