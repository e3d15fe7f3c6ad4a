"""Nothing lost: OCPP 1.6 transactions across kill -9, restarts and offline periods.

Each test runs `pievse run` as a process of its own on an SQLite file, kills it with SIGKILL at a
chosen moment of a session (as a crash or a power cut would), starts it again on the same file
and checks what the CSMS ends up with: every session started once and stopped once, with the
transactionId the CSMS gave it, the right stop reason and a meterStop no lower than any energy
the CSMS had already been told.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import pytest

from pievse.local_api.client import call_api
from tests.conftest import eventually
from tests.station_process import StationProcess
from tests.test_ocpp16_sessions import received, status_now

TAG = "04A1B2C3"


@pytest.fixture
async def station(csms, tmp_path) -> AsyncIterator[StationProcess]:
    process = StationProcess(tmp_path, csms.url)
    yield process
    await process.stop()


async def boot(csms, station: StationProcess, *, first: bool = True) -> None:
    boots = len(received(csms, "BootNotification"))
    await station.start()
    await eventually(lambda: len(received(csms, "BootNotification")) > boots, timeout=30,
                     what="BootNotification")
    await eventually(lambda: csms.connected("CP1"), what="connected")
    if first:
        # Samples every second, so that the store sees the energy grow; kept across restarts.
        await csms.change_configuration("CP1", "MeterValueSampleInterval", "1")


async def charge(csms, station: StationProcess) -> None:
    await eventually(lambda: status_now(csms) == "Available", what="Available")
    await station.ev("B")
    await station.tap(TAG)
    await station.ev("C")
    await eventually(lambda: status_now(csms) == "Charging", what="Charging")


def meter_values_energy(csms) -> list[float]:
    """The import register in every MeterValues the CSMS received, in order."""
    energies = []
    for payload in received(csms, "MeterValues"):
        for value in payload["meterValue"]:
            for sampled in value["sampledValue"]:
                if sampled.get("measurand", "Energy.Active.Import.Register") == \
                        "Energy.Active.Import.Register":
                    scale = 1000 if sampled.get("unit") == "kWh" else 1
                    energies.append(float(sampled["value"]) * scale)
    return energies


def distinct_stops(csms) -> dict[int, list[dict]]:
    """StopTransaction payloads by transactionId, a repeat of the very same one counted once
    (a charge point that lost the answer sends it again; a CSMS that bills ignores the echo)."""
    stops: dict[int, list[dict]] = {}
    for payload in received(csms, "StopTransaction"):
        same = stops.setdefault(payload["transactionId"], [])
        if payload not in same:
            same.append(payload)
    return stops


async def test_power_loss_while_charging_is_stopped_with_power_loss_and_the_last_energy(
        csms, station):
    await boot(csms, station)
    await charge(csms, station)
    await eventually(lambda: len(meter_values_energy(csms)) >= 3, what="three MeterValues")
    [transaction_id] = list(csms.transactions)

    await station.kill()
    told = max(meter_values_energy(csms))
    await boot(csms, station, first=False)

    await eventually(lambda: received(csms, "StopTransaction"), what="StopTransaction")
    [stop] = received(csms, "StopTransaction")
    assert stop["transactionId"] == transaction_id
    assert stop["reason"] == "PowerLoss"
    # meterStop is whole Wh; the MeterValues carry the register's decimals.
    assert stop["meterStop"] >= math.floor(told), "meterStop below energy the CSMS was told"
    assert len(received(csms, "StartTransaction")) == 1
    tx = csms.transactions[transaction_id]
    assert tx.meter_stop >= tx.meter_start
    # The car came back in state A: the connector is free again.
    await eventually(lambda: status_now(csms) == "Available", what="Available after restart")
    # The MeterValueSampleInterval the CSMS set survived the kill.
    answer = await csms.get_configuration("CP1", ["MeterValueSampleInterval"])
    assert answer["configurationKey"][0]["value"] == "1"


async def test_power_loss_before_start_transaction_was_answered_starts_and_stops_it_once(
        csms, station):
    await boot(csms, station)
    answered = asyncio.Event()

    async def never_answer_start(cp_id, action, payload):
        if action == "StartTransaction" and not answered.is_set():
            await asyncio.sleep(3600)
        return None

    csms.on_call = never_answer_start
    await charge(csms, station)
    await eventually(lambda: received(csms, "StartTransaction"), what="StartTransaction sent")
    await station.kill()
    answered.set()
    csms.on_call = None
    await boot(csms, station, first=False)

    await eventually(lambda: received(csms, "StopTransaction"), what="StopTransaction")
    starts = received(csms, "StartTransaction")
    assert len(starts) == 2 and starts[0] == starts[1], "the same start, sent again"
    [transaction_id] = list(csms.transactions)  # one session at the CSMS, not two
    [stop] = received(csms, "StopTransaction")
    assert stop["transactionId"] == transaction_id and stop["reason"] == "PowerLoss"
    assert stop["meterStop"] >= starts[0]["meterStart"]


async def test_power_loss_while_stopping_delivers_the_stop_that_was_queued(csms, station):
    await boot(csms, station)
    await charge(csms, station)
    [transaction_id] = list(csms.transactions)
    answered = asyncio.Event()

    async def never_answer_stop(cp_id, action, payload):
        if action == "StopTransaction" and not answered.is_set():
            await asyncio.sleep(3600)
        return None

    csms.on_call = never_answer_stop
    await station.ev("A")  # unplugged: StopTransaction reason EVDisconnected
    await eventually(lambda: received(csms, "StopTransaction"), what="StopTransaction sent")
    await station.kill()
    answered.set()
    csms.on_call = None
    await boot(csms, station, first=False)

    await eventually(lambda: len(received(csms, "StopTransaction")) == 2,
                     what="the StopTransaction sent again")
    stops = distinct_stops(csms)
    assert list(stops) == [transaction_id]
    [stop] = stops[transaction_id]
    assert stop["reason"] == "EVDisconnected", "the queued stop, not a second PowerLoss one"
    await asyncio.sleep(1.5)  # nothing else follows
    assert len(received(csms, "StopTransaction")) == 2


async def test_a_session_started_offline_survives_a_restart_and_gets_its_transaction_id(
        csms, station):
    await boot(csms, station)
    await csms.change_configuration("CP1", "AllowOfflineTxForUnknownId", "true")
    csms.refuse_connections = True
    await csms.drop_connection("CP1")
    await eventually(lambda: not csms.connected("CP1"), what="offline")
    await station.ev("B")
    await station.tap(TAG)
    await station.ev("C")
    await eventually(lambda: _station_status(station) == "Charging",
                     what="charging offline")

    await station.kill()
    await station.start()  # still offline
    await asyncio.sleep(1.0)
    csms.refuse_connections = False

    await eventually(lambda: received(csms, "StopTransaction"), timeout=60,
                     what="StopTransaction once back online")
    [start] = received(csms, "StartTransaction")
    [transaction_id] = list(csms.transactions)
    [stop] = received(csms, "StopTransaction")
    assert stop["transactionId"] == transaction_id, "never -1, never a made-up id"
    assert stop["reason"] == "PowerLoss"
    assert stop["meterStop"] >= start["meterStart"]


def _station_status(station: StationProcess) -> str | None:
    status = call_api(f"127.0.0.1:{station.api_port}", "GET", "/api/status")
    return status["connectors"][0]["status"]


async def test_with_resume_on_a_session_whose_car_stayed_plugged_in_goes_on_after_a_kill(
        csms, tmp_path):
    station = StationProcess(tmp_path, csms.url,
                             charge_point={"resume_interrupted_sessions": True})
    try:
        await boot(csms, station)
        await charge(csms, station)
        await eventually(lambda: len(received(csms, "MeterValues")) >= 2, what="MeterValues")
        [transaction_id] = list(csms.transactions)

        await station.kill()
        station.configure(simulation={"ev_state_at_start": "C"})  # the car never left
        await boot(csms, station, first=False)

        await eventually(lambda: _station_transaction_id(station) is not None,
                         what="the session resumed")
        assert _station_transaction_id(station) == transaction_id
        await eventually(lambda: status_now(csms) == "Charging", what="Charging again")
        await station.ev("A")
        await eventually(lambda: received(csms, "StopTransaction"), what="StopTransaction")
    finally:
        await station.stop()
    assert len(received(csms, "StartTransaction")) == 1, "one session, started once"
    [stop] = received(csms, "StopTransaction")
    assert stop["transactionId"] == transaction_id and stop["reason"] == "EVDisconnected"
    assert stop["meterStop"] >= received(csms, "StartTransaction")[0]["meterStart"]


def _station_transaction_id(station: StationProcess) -> int | None:
    status = call_api(f"127.0.0.1:{station.api_port}", "GET", "/api/status")
    transaction = status["connectors"][0]["transaction"]
    return None if transaction is None else transaction["id"]
