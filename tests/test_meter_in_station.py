"""A real Modbus meter in a running station: chosen in the config, mixed with the simulated car
and board, its energy in the transactions, and its failure reported to the CSMS as
PowerMeterFailure (OCPP 1.6 StatusNotification errorCode) while charging goes on.

The meter is a pymodbus server serving an Eastron SDM630's registers over TCP; the station runs
the real ModbusMeter driver against it, built from the config by the daemon.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pievse.app.config import ConfigError, parse_config
from tests.conftest import eventually
from tests.modbus_standin import MeterServer, words
from tests.test_ocpp16_sessions import charging_session, received, status_now

ENERGY_KWH = 1234.5


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


async def test_a_real_meter_beside_the_simulated_car_gives_meter_start_and_status(
        csms, start_station, sdm630):
    daemon = await start_station(meter=modbus_section(sdm630))
    status = daemon.status()["connectors"][0]
    assert status["meter"]["online"] is True
    assert status["meter"]["energy_wh"] == pytest.approx(ENERGY_KWH * 1000)
    assert status["meter"]["power_w"] == pytest.approx(11040.0)
    assert status["meter"]["current_a"] == [16.0, 16.0, 16.0]

    await charging_session(csms, daemon)
    start = received(csms, "StartTransaction")[0]
    assert start["meterStart"] == round(ENERGY_KWH * 1000)

    await sdm630.update("input", 0x0048, words(ENERGY_KWH + 2.0, "float32"))
    await eventually(lambda: daemon.status()["connectors"][0]["transaction"]["energy_wh"]
                     == pytest.approx(2000.0), what="the session's energy from the meter")


async def test_a_silent_meter_is_reported_as_power_meter_failure_and_charging_goes_on(
        csms, start_station, sdm630):
    daemon = await start_station(meter=modbus_section(sdm630))
    await charging_session(csms, daemon)
    port = sdm630.port

    await sdm630.stop()
    await eventually(lambda: "PowerMeterFailure" in error_codes(csms),
                     what="StatusNotification errorCode PowerMeterFailure")
    failure = [p for p in received(csms, "StatusNotification")
               if p["errorCode"] == "PowerMeterFailure"][0]
    # Not Faulted: the car still charges, on the last good energy reading.
    assert failure["status"] == "Charging"
    assert daemon.station.connector(1).contactor_closed
    assert daemon.status()["connectors"][0]["meter"]["online"] is False

    serve_sdm630(sdm630, ENERGY_KWH + 1.0)
    await sdm630.start_tcp(port)
    await eventually(lambda: error_codes(csms)[-1] == "NoError", timeout=20,
                     what="NoError once the meter answers again")
    assert status_now(csms) == "Charging"
    assert daemon.status()["connectors"][0]["meter"]["online"] is True
    await eventually(lambda: daemon.status()["connectors"][0]["transaction"]["energy_wh"]
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
