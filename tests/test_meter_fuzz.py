"""Fuzzing what a meter can answer: the station's accounting and the Modbus driver.

* Readings of every kind (finite, NaN, infinite, negative, beyond any register, backwards, faster
  than the connection, and absurd power, currents, voltages and frequencies) fed to the station
  core between good ones: the core never raises, the energy it bills never goes backwards or
  below zero, every good reading after a bad one is accepted (a spike never blocks it), what it
  keeps is within the connector's ratings, and only several bad energies in a row are a meter
  failure.
* Answers of a Modbus meter (random register words, and answers rewritten into other function
  codes, byte counts, truncated or lengthened frames) read by the real driver from a pymodbus
  server: a read gives a reading or raises DriverError, nothing else, and nothing reaches the log
  as a traceback.

Bounded for CI: a few dozen examples each.
"""

from __future__ import annotations

import logging
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pievse.core.meter_plausibility import FAILURE_AFTER, REGISTER_MAX_WH
from pievse.core.vocabulary import ErrorCode
from pievse.drivers.contracts import DriverError, MeterReading
from pievse.drivers.modbus.meter import ModbusMeter, ModbusTcp
from pievse.drivers.modbus.register_maps import available_models, load_register_map
from tests.modbus_standin import MeterServer
from tests.test_station_rig import TAG, Bench

# --- the station's accounting -------------------------------------------------------------------

#: The bench's connector: 32 A on three phases at 230 V.
MAX_POWER_W = 32.0 * 3 * 230.0

SPIKES = ("nan", "inf", "-inf", "negative", "beyond a register", "backwards", "too fast")

any_float = st.floats(allow_nan=True, allow_infinity=True)
values = st.fixed_dictionaries({
    "power_w": st.none() | any_float,
    "current_a": st.lists(any_float, max_size=3).map(tuple),
    "voltage_v": st.lists(any_float, max_size=3).map(tuple),
    "frequency_hz": st.none() | any_float,
})
steps = st.lists(
    st.tuples(st.sampled_from(("good",) * 3 + SPIKES), st.floats(0.0, 600.0),
              st.floats(0.0, 1.0), values),
    min_size=1, max_size=25,
)


def spike(kind: str, accepted: float, elapsed: float, share: float) -> float:
    """An energy the station must refuse, ``elapsed`` seconds after ``accepted`` was accepted."""
    # Well beyond the connection's full power over the time (and any reading delay) and beyond
    # a register's last step.
    too_much = 2.0 * MAX_POWER_W * 1.25 * (elapsed + 10.0) / 3600.0 + 1000.0 + accepted * 1e-6
    return {
        "nan": math.nan,
        "inf": math.inf,
        "-inf": -math.inf,
        "negative": -1.0 - share * 1e9,
        "beyond a register": REGISTER_MAX_WH * (1.0 + share) + 1.0,
        "backwards": accepted - 1.0 - share * accepted,
        "too fast": accepted + too_much * (1.0 + share),
    }[kind]


@given(steps=steps)
@settings(max_examples=150, deadline=None)
def test_no_meter_reading_crashes_the_station_or_makes_billed_energy_go_backwards(steps):
    bench = Bench(meter_value_sample_interval_s=60.0)
    bench.start_charging(TAG)
    connector = bench.station.connector(1)
    accepted, accepted_at = 1000.0, bench.clock.now()
    billed, spikes_in_a_row = 0.0, 0
    for kind, seconds, share, others in steps:
        bench.run_for(seconds)
        elapsed = bench.clock.now() - accepted_at
        if kind == "good":
            energy = accepted + share * MAX_POWER_W * elapsed / 3600.0
        else:
            energy = spike(kind, accepted, elapsed, share)
        bench.record(bench.station.meter_reading(
            1, MeterReading(energy, bench.clock.now(), **others)))
        if kind == "good":
            accepted, accepted_at, spikes_in_a_row = energy, bench.clock.now(), 0
        else:
            spikes_in_a_row += 1

        reading = connector.last_reading
        assert reading.energy_import_wh == accepted, "a good reading is never blocked"
        tx = connector.transaction
        assert 0.0 <= billed <= tx.energy_wh, "billed energy never goes backwards or below 0"
        billed = tx.energy_wh
        assert reading.power_w is None or abs(reading.power_w) <= MAX_POWER_W * 1.25
        assert all(abs(a) <= 40.0 for a in reading.current_a)
        assert all(0.0 <= v <= 230.0 * 1.25 for v in reading.voltage_v)
        assert reading.frequency_hz is None or 45.0 <= reading.frequency_hz <= 65.0
        meter_failure = connector.compute_status()[1] is ErrorCode.POWER_METER_FAILURE
        assert meter_failure == (spikes_in_a_row >= FAILURE_AFTER)

    bench.tap(TAG)
    bench.pilot("B")
    (stopped,) = bench.stopped()
    assert stopped.meter_stop_wh - stopped.transaction_data[0].reading.energy_import_wh == \
        accepted - 1000.0 >= 0.0
    registers = [s.reading.energy_import_wh for s in bench.samples()]
    assert registers == sorted(registers)


# --- the Modbus driver --------------------------------------------------------------------------

register_word = st.integers(0, 0xFFFF)
pdu_rewrites = st.one_of(
    st.none(),
    st.integers(0, 255).map(lambda fc: lambda pdu: bytes([fc]) + pdu[1:]),
    st.integers(0, 255).map(lambda count: lambda pdu: pdu[:1] + bytes([count]) + pdu[2:]),
    st.integers(0, 20).map(lambda keep: lambda pdu: pdu[:keep]),
    st.binary(min_size=1, max_size=8).map(lambda junk: lambda pdu: pdu + junk),
    st.binary(min_size=1, max_size=40).map(lambda frame: lambda pdu: frame),
)


class Tracebacks(logging.Handler):
    """Every record that carries a traceback, from any logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.exc_text or "Traceback" in record.getMessage():
            self.records.append(record)


@given(model=st.sampled_from(available_models()), data=st.data(), rewrite=pdu_rewrites)
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
async def test_no_modbus_answer_crashes_the_driver_or_logs_a_traceback(model, data, rewrite):
    register_map = load_register_map(model)
    server = MeterServer()
    for request in register_map.requests():
        words = data.draw(st.lists(register_word, min_size=request.count,
                                   max_size=request.count), label=request.describe())
        server.put(request.register, request.address, words)
    server.answer = rewrite
    port = await server.start_tcp()
    meter = ModbusMeter(ModbusTcp("127.0.0.1", port), register_map, timeout=0.1, retries=0)
    tracebacks = Tracebacks()
    logging.getLogger().addHandler(tracebacks)
    try:
        await meter.start()
        for _ in range(2):
            try:
                reading = await meter.read()
            except DriverError:
                continue
            assert isinstance(reading, MeterReading)
            assert math.isfinite(reading.energy_import_wh)
    finally:
        logging.getLogger().removeHandler(tracebacks)
        await meter.close()
        await server.stop()
    assert tracebacks.records == []
