"""The Modbus energy meter driver against real pymodbus servers, over TCP and over RTU through a
socat PTY pair: every shipped register map read back from datasheet values, batching, and the
ways a bus fails (silence, garbage, exception answers, a server restart, an unplugged adapter, an
energy register going backwards).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from pymodbus.constants import ExcCodes

from pievse.drivers.contracts import DriverError, EnergyMeter
from pievse.drivers.modbus.register_maps import (
    RegisterMapError,
    available_models,
    load_register_map,
    register_map_from_dict,
)
from pievse.drivers.modbus.meter import ModbusMeter, ModbusRtu, ModbusTcp
from tests.conftest import standin_missing
from tests.modbus_standin import MeterServer, PtyPair, words

LOGGER = "pievse.drivers.modbus.meter"

# Short backoffs; a timeout generous enough for a slow machine, whose cost is paid only by the
# tests that make the meter fall silent (and those try once: retrying has its own test).
QUICK = dict(timeout=1.0, retries=1, retry_delay=0.01, backoff_max=0.05)
ONE_TRY = dict(retries=0)


class ManualClock:
    """A monotonic clock that only the test moves, to pace the offline backoff."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- datasheets: known values at the addresses each manual gives -------------------------------
# Written with struct (tests/modbus_standin.words), never through the driver's maps, so a map
# that is off by one register, reads the wrong table or the wrong word order fails here.


@dataclass
class Datasheet:
    serve: Callable[[MeterServer], None]
    energy_wh: float
    power_w: float
    current_a: tuple[float, ...]
    voltage_v: tuple[float, ...]
    frequency_hz: float


def _eastron_three_phase(server: MeterServer) -> None:
    ir = "input"
    for address, value in ((0x0000, 230.5), (0x0002, 231.25), (0x0004, 229.75),  # V L1-L3
                           (0x0006, 16.0), (0x0008, 15.5), (0x000A, 0.25),          # A L1-L3
                           (0x000C, 3688.0), (0x000E, 3584.0), (0x0010, 57.5),       # W L1-L3
                           (0x0034, 7329.5),                                          # W total
                           (0x0046, 50.0),                                            # Hz
                           (0x0048, 1234.5), (0x004A, 7.25)):                         # kWh imp/exp
        server.put(ir, address, words(value, "float32"))


def _sdm120(server: MeterServer) -> None:
    for address, value in ((0x0000, 229.5), (0x0006, 9.75), (0x000C, 2237.5),
                           (0x0012, 2240.0), (0x0046, 49.5), (0x0048, 98.25), (0x004A, 1.5)):
        server.put("input", address, words(value, "float32"))


def _abb_b23(server: MeterServer) -> None:
    hr = "holding"
    server.fill(hr, 0x5000, 0x5017, value=0xFFFF)  # energy block: import, export, net, ...
    server.put(hr, 0x5000, words(123_456, "uint64"))     # active import, 0.01 kWh: 1234.56 kWh
    server.put(hr, 0x5004, words(777, "uint64"))         # active export
    server.fill(hr, 0x5B00, 0x5B3F, value=0xFFFF)  # instantaneous block
    for n, (volts, amps) in enumerate(((2301, 1600), (2312, 1550), (2298, 25))):
        server.put(hr, 0x5B00 + 2 * n, words(volts, "uint32"))  # 0.1 V
        server.put(hr, 0x5B0C + 2 * n, words(amps, "uint32"))   # 0.01 A
    server.put(hr, 0x5B14, words(736_000, "int32"))      # active power total, 0.01 W
    server.put(hr, 0x5B16, words(368_000, "int32"))      # active power L1
    server.put(hr, 0x5B2C, words(5002, "uint16"))        # 0.01 Hz


def _em340(server: MeterServer) -> None:
    ir, lsw = "input", "little"
    server.fill(ir, 0x0000, 0x0057)  # the documented block up to the export counters
    for n, (volts, amps) in enumerate(((2301, 16_000), (2312, 15_500), (2298, 250))):
        server.put(ir, 0x0000 + 2 * n, words(volts, "int32", lsw))   # volt * 10
        server.put(ir, 0x000C + 2 * n, words(amps, "int32", lsw))    # ampere * 1000
    server.put(ir, 0x0012, words(36_880, "int32", lsw))              # W L1, watt * 10
    server.put(ir, 0x0028, words(73_295, "int32", lsw))              # W sys, watt * 10
    server.put(ir, 0x0033, words(500, "int16"))                       # Hz * 10
    server.put(ir, 0x0034, words(1_234_567, "int32", lsw))           # kWh (+) TOT * 10
    server.put(ir, 0x004E, words(42, "int32", lsw))                   # kWh (-) TOT


def _orno_we_517(server: MeterServer) -> None:
    hr = "holding"
    server.fill(hr, 0x0000, 0x003B)
    server.fill(hr, 0x0100, 0x012F)
    for address, value in ((0x000E, 230.5), (0x0010, 231.25), (0x0012, 229.75),  # V
                           (0x0014, 50.0),                                          # Hz
                           (0x0016, 16.0), (0x0018, 15.5), (0x001A, 0.25),          # A
                           (0x001C, 7.25), (0x001E, 3.5),                           # kW total, L1
                           (0x0100, 2000.0),                                        # total kWh
                           (0x0108, 1234.5), (0x0110, 3.0)):                        # kWh fwd/rev
        server.put(hr, address, words(value, "float32"))


THREE_PHASE_V = (230.5, 231.25, 229.75)
THREE_PHASE_A = (16.0, 15.5, 0.25)

DATASHEETS: dict[str, Datasheet] = {
    "sdm630": Datasheet(_eastron_three_phase, 1_234_500.0, 7329.5, THREE_PHASE_A,
                        THREE_PHASE_V, 50.0),
    "sdm72d-m": Datasheet(_eastron_three_phase, 1_234_500.0, 7329.5, THREE_PHASE_A,
                          THREE_PHASE_V, 50.0),
    "sdm120": Datasheet(_sdm120, 98_250.0, 2237.5, (9.75,), (229.5,), 49.5),
    "abb-b23": Datasheet(_abb_b23, 1_234_560.0, 7360.0, (16.0, 15.5, 0.25),
                         (230.1, 231.2, 229.8), 50.02),
    "em340": Datasheet(_em340, 123_456_700.0, 7329.5, (16.0, 15.5, 0.25),
                       (230.1, 231.2, 229.8), 50.0),
    "or-we-517": Datasheet(_orno_we_517, 1_234_500.0, 7250.0, THREE_PHASE_A, THREE_PHASE_V,
                           50.0),
}


def check_reading(reading, sheet: Datasheet) -> None:
    assert reading.energy_import_wh == pytest.approx(sheet.energy_wh, rel=1e-9)
    assert reading.power_w == pytest.approx(sheet.power_w, rel=1e-6)
    assert reading.current_a == pytest.approx(sheet.current_a, rel=1e-6)
    assert reading.voltage_v == pytest.approx(sheet.voltage_v, rel=1e-6)
    assert reading.frequency_hz == pytest.approx(sheet.frequency_hz, rel=1e-6)
    assert reading.timestamp > 0


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
async def servers() -> AsyncIterator[list[MeterServer]]:
    started: list[MeterServer] = []
    yield started
    for server in started:
        await server.stop()


@pytest.fixture
async def meters() -> AsyncIterator[list[ModbusMeter]]:
    made: list[ModbusMeter] = []
    yield made
    for meter in made:
        await meter.close()


@pytest.fixture
async def pty_pair(request, tmp_path) -> AsyncIterator[PtyPair]:
    if not PtyPair.available():
        standin_missing(request, "socat not installed: apt-get install socat")
    pair = PtyPair(tmp_path)
    await pair.start()
    yield pair
    await pair.stop()


async def tcp_meter(servers, meters, model: str = "sdm630", register_map=None,
                    clock=None, **options) -> tuple[MeterServer, ModbusMeter]:
    """A stand-in serving ``model``'s datasheet over TCP and a started driver reading it."""
    server = MeterServer()
    DATASHEETS[model].serve(server)
    servers.append(server)
    port = await server.start_tcp()
    meter = ModbusMeter(ModbusTcp("127.0.0.1", port), register_map or load_register_map(model),
                        **({**QUICK, **options} | ({"clock": clock} if clock else {})))
    meters.append(meter)
    await meter.start()
    return server, meter


# --- every shipped map, against its datasheet ---------------------------------------------------


def test_every_shipped_model_has_a_datasheet_test():
    assert set(available_models()) == set(DATASHEETS)
    assert {"sdm630", "sdm120", "sdm72d-m", "abb-b23", "em340", "or-we-517"} <= set(DATASHEETS)


@pytest.mark.parametrize("model", sorted(DATASHEETS))
async def test_each_shipped_map_reads_its_datasheet_values_over_tcp(model, servers, meters):
    _, meter = await tcp_meter(servers, meters, model)
    assert isinstance(meter, EnergyMeter)
    check_reading(await meter.read(), DATASHEETS[model])
    assert meter.online and meter.problem is None


@pytest.mark.parametrize("model", sorted(DATASHEETS))
async def test_each_shipped_map_reads_its_datasheet_values_over_rtu(model, pty_pair, servers,
                                                                    meters):
    server = MeterServer(unit_id=7)
    DATASHEETS[model].serve(server)
    servers.append(server)
    await server.start_rtu(pty_pair.server_end)
    meter = ModbusMeter(ModbusRtu(pty_pair.station_end, baudrate=9600, parity="N"),
                        load_register_map(model), unit_id=7, **QUICK)
    meters.append(meter)
    await meter.start()
    check_reading(await meter.read(), DATASHEETS[model])


async def test_a_reading_follows_the_meter_as_it_counts(servers, meters):
    server, meter = await tcp_meter(servers, meters, "em340")
    first = await meter.read()
    await server.update("input", 0x0034, words(1_234_600, "int32", "little"))  # +3.3 kWh
    second = await meter.read()
    assert second.energy_import_wh - first.energy_import_wh == pytest.approx(3300.0)


# --- batching --------------------------------------------------------------------------------


async def test_adjacent_values_share_a_request_and_reserved_registers_are_not_read(servers,
                                                                                 meters):
    server, meter = await tcp_meter(servers, meters, "sdm630")
    await meter.read()
    # Volts and amps are adjacent: one request. Power and frequency+energy stand apart, with
    # reserved registers between them that the SDM630 map does not read through.
    assert server.requests == [("input", 0x0000, 12), ("input", 0x0034, 2), ("input", 0x0046, 4)]


async def test_a_documented_block_is_read_in_one_request(servers, meters):
    server, meter = await tcp_meter(servers, meters, "em340")
    await meter.read()
    assert server.requests == [("input", 0x0000, 0x36)]


def plan(**table):
    return [(r.register, r.address, r.count) for r in register_map_from_dict(table).requests()]


def test_requests_respect_the_gap_the_maximum_and_the_table():
    values = {"energy_import": {"address": 0}, "power": {"address": 10},
              "frequency": {"address": 30, "register": "input"}}
    # 8 unused registers (2..9) lie between the energy and the power.
    assert plan(**values, gap=7) == [("input", 30, 2), ("holding", 0, 2), ("holding", 10, 2)]
    assert plan(**values, gap=8) == [("input", 30, 2), ("holding", 0, 12)]
    assert plan(**values, gap=20, max_registers=11) == [("input", 30, 2), ("holding", 0, 2),
                                                         ("holding", 10, 2)]
    assert plan(**values, gap=20, max_registers=12) == [("input", 30, 2), ("holding", 0, 12)]


# --- maps described in the configuration --------------------------------------------------------


async def test_a_meter_described_in_the_configuration_is_read(servers, meters):
    # An EM340 described by hand, with register numbers as the manual prints them (30001-based).
    table = {
        "model": "my EM340", "type": "int32", "word_order": "little",
        "energy_import": {"number": 30053, "scale": 100},
        "power": {"number": 30041, "scale": 0.1},
        "current_l1": {"number": 30013, "scale": 0.001},
        "frequency": {"number": 30052, "type": "int16", "scale": 0.1},
    }
    custom = register_map_from_dict(table)
    _, meter = await tcp_meter(servers, meters, "em340", register_map=custom)
    reading = await meter.read()
    assert reading.energy_import_wh == pytest.approx(123_456_700.0)
    assert reading.power_w == pytest.approx(7329.5)
    assert reading.current_a == pytest.approx((16.0,))
    assert reading.voltage_v == ()
    assert reading.frequency_hz == pytest.approx(50.0)


@pytest.mark.parametrize("table, says", [
    ({"power": {"address": 0}}, "energy_import: missing"),
    ({"energy_import": {"address": 0, "type": "float"}},
     'energy_import.type = "float": must be one of "int16"'),
    ({"energy_import": {"adress": 0}}, 'energy_import.adress: unknown key; did you mean "address"'),
    ({"energy_import": {"address": 70000}}, "energy_import.address = 70000 (0x11170): must be"),
    ({"energy_import": {"number": 12}}, "energy_import.number = 12 (0x000C): must be a register "
                                        "number"),
    ({"energy_import": {"address": 0}, "register": "coil"}, 'register = "coil": must be "input" '
                                                            'or "holding"'),
    ({"energy_import": {"address": 0}, "word_order": "ABCD"}, 'word_order = "ABCD": must be'),
    ({"energy_import": {"address": 0, "scale": 0}}, "energy_import.scale = 0: must be a number"),
    ({"energy_import": {"address": 0}, "current_l2": {"address": 4}}, "current_l1: missing"),
    ({"energy_import": {"address": 0}, "power": {"address": 1}}, "power.address = 1: overlaps"),
    ({"energy_import": {"address": 0}, "max_registers": 200}, "max_registers = 200 (0x00C8): "
                                                              "must be a whole number from 1"),
    ({"energy_import": 72}, "energy_import = 72 (0x0048): must be a table"),
    ({"energy_import": {"address": 0}, "enrgy": 1}, 'enrgy: unknown key; did you mean'),
])
def test_a_wrong_register_map_is_refused_with_the_key_the_value_and_what_is_allowed(table,
                                                                                      says):
    with pytest.raises(ValueError) as refused:
        register_map_from_dict(table)
    assert isinstance(refused.value, RegisterMapError)
    assert any(line.startswith("[meter.registers] ") and says in line
               for line in refused.value.problems), refused.value.problems


def test_an_unknown_model_names_the_models_there_are():
    with pytest.raises(RegisterMapError, match='did you mean "sdm630"') as refused:
        load_register_map("sdm360")
    assert '"em340"' in str(refused.value) and "[meter.registers]" in str(refused.value)


def test_values_a_meter_marks_not_available_are_left_out():
    nan = float("nan")
    custom = register_map_from_dict({"energy_import": {"address": 0},
                                     "frequency": {"address": 2}, "power": {"address": 4}})
    reading = custom.reading({"energy_import": 5.0, "frequency": nan, "power": 10.0}, 1.0)
    assert reading.frequency_hz is None and reading.power_w == 10.0
    with pytest.raises(ValueError, match="not a number"):
        custom.reading({"energy_import": nan}, 1.0)


# --- faults ---------------------------------------------------------------------------------


def errors_logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == LOGGER and r.levelno >= logging.ERROR]


async def test_a_meter_that_falls_silent_goes_offline_once_and_comes_back(servers, meters,
                                                                         caplog):
    clock = ManualClock()
    server, meter = await tcp_meter(servers, meters, "sdm630", clock=clock, **ONE_TRY)
    good = await meter.read()
    server.silent = True
    with pytest.raises(DriverError, match="no answer within 1 s") as failed:
        await meter.read()
    assert "transactions go on with the last good energy reading, 1234500.0 Wh" in \
        str(failed.value)
    assert not meter.online and "no answer" in meter.problem
    # Within the backoff the bus is left alone: the read fails at once and says so.
    asked = len(server.requests)
    with pytest.raises(DriverError, match="next try in"):
        await meter.read()
    assert len(server.requests) == asked
    clock.now += 1
    with pytest.raises(DriverError):
        await meter.read()
    assert len(errors_logged(caplog)) == 1, "offline is logged once, not once per try"
    assert meter.last_reading == good
    server.silent = False
    clock.now += 1
    check_reading(await meter.read(), DATASHEETS["sdm630"])
    assert meter.online and meter.problem is None
    assert any("back online" in r.getMessage() for r in caplog.records if r.name == LOGGER)


async def test_garbled_answers_fail_the_read_and_clean_ones_bring_it_back(servers, meters):
    clock = ManualClock()
    server, meter = await tcp_meter(servers, meters, "abb-b23", clock=clock, **ONE_TRY)
    server.garble = True
    with pytest.raises(DriverError, match="no answer"):
        await meter.read()
    server.garble = False
    clock.now += 1
    check_reading(await meter.read(), DATASHEETS["abb-b23"])


async def test_a_busy_answer_is_retried_within_the_read(servers, meters):
    server, meter = await tcp_meter(servers, meters, "or-we-517", retries=2)
    server.busy_reads = 2
    check_reading(await meter.read(), DATASHEETS["or-we-517"])
    assert meter.online


async def test_an_exception_answer_is_reported_with_its_code(servers, meters):
    server, meter = await tcp_meter(servers, meters, "em340")
    server.exception = ExcCodes.ILLEGAL_ADDRESS
    with pytest.raises(DriverError, match=r"exception 2 \(illegal data address\) to a read of "
                                          r"input registers 0x0000\.\.0x0035; is the model"):
        await meter.read()
    assert not meter.online


async def test_an_answer_with_the_wrong_function_code_is_refused(servers, meters):
    server, meter = await tcp_meter(servers, meters, "sdm630", **ONE_TRY)
    # Function 3 (holding registers) to a read of input registers, the right number of them.
    server.answer = lambda pdu: bytes([3]) + pdu[1:]
    with pytest.raises(DriverError, match=r"answered function 3 to a read of input registers "
                                          r"0x0000\.\.0x000B \(function 4\)"):
        await meter.read()
    assert not meter.online and meter.last_reading is None


async def test_an_answer_with_more_registers_than_asked_is_refused(servers, meters):
    server, meter = await tcp_meter(servers, meters, "sdm120", **ONE_TRY)
    server.answer = lambda pdu: bytes([pdu[0], pdu[1] + 2]) + pdu[2:] + b"\x00\x00"
    with pytest.raises(DriverError, match="answered 3 registers to a read of input registers "
                                          "0x0000..0x0001"):
        await meter.read()


async def test_an_answer_pymodbus_cannot_decode_is_one_line_in_the_log_not_a_traceback(
        servers, meters, caplog):
    clock = ManualClock()
    server, meter = await tcp_meter(servers, meters, "sdm630", clock=clock, timeout=0.3,
                                    **ONE_TRY)
    server.answer = lambda pdu: bytes([0x55]) + pdu[1:]  # a function code nobody knows
    with pytest.raises(DriverError, match="no answer"):
        await meter.read()
    assert not [r for r in caplog.records if r.exc_info or r.exc_text], \
        "no traceback in the log"
    assert any(r.name == "asyncio" and r.levelno == logging.WARNING
               and "answer pymodbus cannot read: [Input/Output] Unable to decode"
               in r.getMessage() for r in caplog.records)
    server.answer = None
    clock.now += 1
    check_reading(await meter.read(), DATASHEETS["sdm630"])


async def test_a_reading_the_station_discards_is_not_what_the_next_is_compared_with(
        servers, meters):
    server, meter = await tcp_meter(servers, meters, "sdm630")
    good = await meter.read()
    await server.update("input", 0x0048, words(3.4e38, "float32"))  # a spike the station rejects
    spike = await meter.read()
    meter.discard(spike)
    assert meter.last_reading == good
    await server.update("input", 0x0048, words(1234.6, "float32"))
    assert (await meter.read()).energy_import_wh == pytest.approx(1_234_600.0, rel=1e-6)
    assert meter.online


async def test_a_restarted_meter_server_is_read_again_without_restarting_the_driver(
        servers, meters):
    clock = ManualClock()
    server, meter = await tcp_meter(servers, meters, "sdm120", clock=clock)
    await meter.read()
    port = server.port
    await server.stop()
    with pytest.raises(DriverError, match="offline"):
        await meter.read()
    await server.start_tcp(port)
    clock.now += 1
    check_reading(await meter.read(), DATASHEETS["sdm120"])


async def test_a_meter_missing_at_start_does_not_stop_the_station(servers, meters):
    server = MeterServer()
    DATASHEETS["sdm630"].serve(server)
    servers.append(server)
    port = await server.start_tcp()
    await server.stop()  # the port was free a moment ago and nobody listens now
    clock = ManualClock()
    meter = ModbusMeter(ModbusTcp("127.0.0.1", port), load_register_map("sdm630"), clock=clock,
                        **QUICK)
    meters.append(meter)
    await meter.start()
    assert not meter.online and "cannot connect" in meter.problem
    with pytest.raises(DriverError, match="no good reading yet"):
        await meter.read()
    await server.start_tcp(port)
    clock.now += 1
    check_reading(await meter.read(), DATASHEETS["sdm630"])


async def test_energy_going_backwards_is_rejected_and_the_last_good_value_kept(servers, meters,
                                                                             caplog):
    server, meter = await tcp_meter(servers, meters, "sdm630")
    good = await meter.read()
    await server.update("input", 0x0048, words(12.5, "float32"))  # a meter swapped for a new one
    for _ in range(3):
        with pytest.raises(DriverError, match=r"energy went backwards from 1234500\.0 Wh to "
                                              r"12500\.0 Wh: reading rejected") as rejected:
            await meter.read()
    assert "last good energy reading, 1234500.0 Wh" in str(rejected.value)
    assert not meter.online and meter.last_reading == good
    assert len(errors_logged(caplog)) == 1
    await server.update("input", 0x0048, words(1235.0, "float32"))
    assert (await meter.read()).energy_import_wh == pytest.approx(1_235_000.0)
    assert meter.online


async def test_a_closed_meter_refuses_to_read_and_closes_twice_quietly(servers, meters):
    _, meter = await tcp_meter(servers, meters, "sdm630")
    await meter.close()
    await meter.close()
    with pytest.raises(DriverError, match="closed"):
        await meter.read()


# --- faults on a serial bus ---------------------------------------------------------------------


async def rtu_meter(pty_pair, servers, meters, model="sdm630", clock=None, **options):
    server = MeterServer()
    DATASHEETS[model].serve(server)
    servers.append(server)
    await server.start_rtu(pty_pair.server_end)
    meter = ModbusMeter(ModbusRtu(pty_pair.station_end), load_register_map(model),
                        clock=clock or ManualClock(), **{**QUICK, **options})
    meters.append(meter)
    await meter.start()
    return server, meter


async def test_crc_errors_and_silence_on_the_bus_fail_the_read_until_the_bus_is_clean(
        pty_pair, servers, meters):
    clock = ManualClock()
    server, meter = await rtu_meter(pty_pair, servers, meters, clock=clock, **ONE_TRY)
    await meter.read()
    server.garble = True  # every answer arrives with a broken CRC
    with pytest.raises(DriverError, match="no answer"):
        await meter.read()
    server.garble, server.silent = False, True
    clock.now += 1
    with pytest.raises(DriverError, match="no answer"):
        await meter.read()
    server.silent = False
    clock.now += 1
    check_reading(await meter.read(), DATASHEETS["sdm630"])


async def test_an_unplugged_adapter_is_named_and_the_meter_recovers_when_it_is_back(
        pty_pair, servers, meters, caplog):
    clock = ManualClock()
    server, meter = await rtu_meter(pty_pair, servers, meters, clock=clock)
    await meter.read()
    await server.stop()
    await pty_pair.stop()  # the USB adapter is pulled out: its tty disappears
    with pytest.raises(DriverError, match="offline"):
        await meter.read()
    clock.now += 1
    with pytest.raises(DriverError, match="does not exist: adapter unplugged"):
        await meter.read()
    assert len(errors_logged(caplog)) == 1
    await pty_pair.start()  # plugged back in
    await server.start_rtu(pty_pair.server_end)
    clock.now += 1
    check_reading(await meter.read(), DATASHEETS["sdm630"])
    assert meter.online
