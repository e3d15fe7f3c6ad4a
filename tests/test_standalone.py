"""A station without any CSMS (`[ocpp] url = ""`), as a process of its own with simulated
hardware: a card from the config's list, free charging, a card refused and then added with
`pievse cards`, a kill -9 in the middle of a session; each session ends in the history, which
`pievse sessions`, `GET /api/sessions` and the CSV download all show.
"""

from __future__ import annotations

import asyncio
import csv
import http.client
import io
import sqlite3
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import eventually
from tests.station_process import PIEVSE, StationProcess

CARD = "04A1B2C3"
STRANGER = "DEADBEEF"


@pytest.fixture
async def station(tmp_path) -> AsyncIterator[StationProcess]:
    process = StationProcess(tmp_path, "", standalone={"cards": [CARD]},
                             tariff={"price_per_kwh": 0.3, "currency": "EUR"})
    yield process
    await process.stop()


def pievse(station: StationProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PIEVSE, *args, "--config", str(station.config_path)],
                          capture_output=True, text=True, timeout=60, check=False)


def download(station: StationProcess, path: str) -> tuple[int, dict[str, str], str]:
    connection = http.client.HTTPConnection("127.0.0.1", station.api_port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return (response.status, {k.lower(): v for k, v in response.getheaders()},
                response.read().decode())
    finally:
        connection.close()


async def transaction(station: StationProcess) -> dict | None:
    return (await station.status())["connectors"][0]["transaction"]


async def _transaction_when(station: StationProcess, going_on: bool) -> dict | None:
    for _ in range(1000):
        tx = await transaction(station)
        if (tx is not None) == going_on:
            return tx
        await asyncio.sleep(0.02)
    raise AssertionError(f"no session {'started' if going_on else 'ended'}:\n"
                         + station.log_tail())


async def session_started(station: StationProcess) -> dict:
    tx = await _transaction_when(station, True)
    assert tx is not None
    return tx


async def session_over(station: StationProcess) -> None:
    await _transaction_when(station, False)


async def charge_until_energy(station: StationProcess, wh: float) -> None:
    await station.ev("C")

    async def energy() -> float:
        tx = await transaction(station)
        return tx["energy_wh"] if tx else 0.0

    for _ in range(3000):
        if await energy() >= wh:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the session did not reach {wh} Wh:\n{station.log_tail()}")


def log_says(station: StationProcess, text: str) -> bool:
    return text in station.log_path.read_text(errors="replace")


async def test_a_card_from_the_config_charges_without_a_csms_and_the_session_is_in_the_history(
        station: StationProcess) -> None:
    await station.start()
    status = await station.status()
    assert status["ocpp"]["standalone"] is True and status["ocpp"]["connected"] is False
    await station.ev("B")
    await station.tap(CARD)
    await eventually(lambda: log_says(station, f"id tag {CARD}: on the card list"),
                     what="the card accepted")
    await charge_until_energy(station, 5.0)
    await station.ev("A")
    await session_over(station)

    [session] = (await station.api("GET", "/api/sessions"))["sessions"]
    assert session["id_tag"] == CARD and session["stop_reason"] == "EVDisconnected"
    assert session["ended"] is not None and session["energy_wh"] >= 5.0
    assert session["peak_power_w"] > 0
    assert session["cost"] == round(session["energy_wh"] / 1000 * 0.3, 2)
    assert session["currency"] == "EUR"

    code, headers, body = download(station, "/api/sessions.csv?limit=10")
    assert code == 200 and headers["content-type"].startswith("text/csv")
    assert headers["content-disposition"] == 'attachment; filename="pievse-sessions.csv"'
    [row] = list(csv.DictReader(io.StringIO(body)))
    assert row["id_tag"] == CARD and float(row["energy_wh"]) == session["energy_wh"]
    assert row["stop_reason"] == "EVDisconnected" and float(row["cost"]) == session["cost"]
    code, _, body = download(station, "/api/sessions?limit=0")
    assert code == 400 and "limit" in body

    # Nothing waits for a CSMS: no link was started, the outbox stayed empty.
    assert (await station.status())["ocpp"]["queued_transaction_messages"] == 0
    assert not log_says(station, "cannot connect")
    shown = await asyncio.to_thread(pievse, station, "status")
    assert "OCPP 1.6 standalone, no CSMS" in shown.stdout, shown.stderr
    checked = subprocess.run([*PIEVSE, "check-config", str(station.config_path)],
                             capture_output=True, text=True, timeout=60, check=False)
    assert "no CSMS: standalone, cards: 1 in the config" in checked.stdout
    await station.stop()
    with sqlite3.connect(station.store_path) as db:
        assert db.execute("SELECT COUNT(*) FROM outbox").fetchone() == (0,)

    table = pievse(station, "sessions")
    assert table.returncode == 0, table.stderr
    assert CARD in table.stdout and "EVDisconnected" in table.stdout
    assert "1 session," in table.stdout and "EUR" in table.stdout
    exported = pievse(station, "sessions", "--csv", "--since", "2000-01-01")
    [row] = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert row["id_tag"] == CARD and float(row["energy_wh"]) == session["energy_wh"]
    later = pievse(station, "sessions", "--csv", "--since", "2199-01-01")
    assert list(csv.DictReader(io.StringIO(later.stdout))) == []


async def test_free_charging_starts_when_the_car_is_plugged_in_and_records_FREE(
        station: StationProcess) -> None:
    station.configure(standalone={"authorization": "free"})
    await station.start()
    await station.ev("B")
    tx = await session_started(station)
    assert tx["id_tag"] == "FREE", station.log_tail()
    await charge_until_energy(station, 2.0)
    await station.ev("A")
    await session_over(station)
    [session] = (await station.api("GET", "/api/sessions"))["sessions"]
    assert session["id_tag"] == "FREE" and session["energy_wh"] >= 2.0


async def test_an_unknown_card_is_refused_in_standalone_until_pievse_cards_adds_it(
        station: StationProcess) -> None:
    await station.start()
    await station.ev("B")
    await station.tap(STRANGER)
    await eventually(lambda: log_says(station, f"id tag {STRANGER}: id tag Invalid"),
                     what="the stranger's card refused")
    assert await transaction(station) is None

    added = pievse(station, "cards", "add", STRANGER, "--name", "a visitor")
    assert added.returncode == 0, added.stderr
    await station.tap(STRANGER)  # the running daemon reads the list again
    await eventually(lambda: log_says(station, f"id tag {STRANGER}: on the card list"),
                     what="the added card accepted")
    tx = await transaction(station)
    assert tx is not None and tx["id_tag"] == STRANGER


async def test_kill_9_during_a_standalone_session_leaves_the_session_in_the_history(
        station: StationProcess) -> None:
    await station.start()
    await station.ev("B")
    await station.tap(CARD)
    await charge_until_energy(station, 1.0)

    def energy_written() -> float:
        with sqlite3.connect(station.store_path) as db:
            row = db.execute("SELECT last_energy_wh - meter_start_wh, peak_power_w "
                             "FROM open_transactions").fetchone()
        return row[0] if row and row[1] else 0.0

    # The store writes a session's energy (and peak power) every 10 s while it charges.
    written = await eventually(energy_written, what="the energy written", timeout=40)
    await station.kill()
    [ongoing] = _sessions_in(station.store_path)
    assert ongoing[1] is None  # cut off: no end yet

    await station.start()
    [session] = (await station.api("GET", "/api/sessions"))["sessions"]
    assert session["stop_reason"] == "PowerLoss" and session["ended"] is not None
    assert session["id_tag"] == CARD and session["energy_wh"] >= round(written, 1)
    assert session["peak_power_w"] > 0


def _sessions_in(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT id_token, NULL FROM open_transactions UNION ALL "
                          "SELECT id_token, ended_at FROM sessions").fetchall()


def test_the_cards_command_adds_lists_and_removes_cards(tmp_path) -> None:
    station = StationProcess(tmp_path, "", standalone={"cards": [CARD]})
    added = pievse(station, "cards", "add", "04D5E6F7", "--name", "Anna")
    assert added.returncode == 0 and "card 04D5E6F7 added (Anna)" in added.stdout
    listed = pievse(station, "cards", "list")
    assert listed.returncode == 0
    assert [line.split()[:2] for line in listed.stdout.splitlines()] == [
        [CARD, "config"], ["04D5E6F7", "store"]]
    assert "Anna" in listed.stdout
    removed = pievse(station, "cards", "remove", "04d5e6f7")  # any case
    assert removed.returncode == 0, removed.stderr
    assert "04D5E6F7" not in pievse(station, "cards", "list").stdout
    again = pievse(station, "cards", "remove", "04D5E6F7")
    assert again.returncode == 1 and "no card 04D5E6F7" in again.stderr
    in_config = pievse(station, "cards", "remove", CARD)
    assert in_config.returncode == 1 and "remove it there" in in_config.stderr
    bad = pievse(station, "cards", "add", "04 D5")
    assert bad.returncode == 2 and "no card id" in bad.stderr
