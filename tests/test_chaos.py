"""Chaos: many charging sessions against a CSMS that drops the connection, answers late and
answers with CALLERRORs, while the charge point process is killed with SIGKILL at random moments
and started again. At the end the CSMS's ledger must be what a CPO can bill from:

* every session the station started is there exactly once, started once and stopped once;
* no StopTransaction for a transaction the CSMS never started (no -1, no invented ids), and no
  two different stops for one transaction (a stop sent again after a lost answer is the same
  frame, which a billing CSMS recognises);
* meterStop >= meterStart, and sessions follow one another on the meter (the register never
  runs backwards from one session to the next);
* the station's outbox is empty.

The run is seeded (``PIEVSE_CHAOS_SEED`` repeats one) and bounded to about a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random

import pytest
from ocpp.exceptions import InternalError

from tests.conftest import eventually
from tests.station_process import StationProcess
from tests.test_nothing_lost import distinct_stops
from tests.test_ocpp16_sessions import received

SESSIONS = 10
TRANSACTION_MESSAGES = {"StartTransaction", "StopTransaction", "MeterValues"}


class Chaos:
    """The CSMS's bad day: CALLERRORs, answers past the charge point's timeout, dropped links."""

    def __init__(self, csms, rng: random.Random) -> None:
        self.csms = csms
        self.rng = rng
        self.on = False
        self.errors = self.delays = self.drops = 0

    async def on_call(self, cp_id: str, action: str, payload: dict) -> dict | None:
        if not self.on or action not in TRANSACTION_MESSAGES:
            return None
        roll = self.rng.random()
        if roll < 0.15:
            self.errors += 1
            raise InternalError(description="chaos: CSMS failure")
        if roll < 0.25:
            self.delays += 1
            await asyncio.sleep(2.5)  # past the station's response_timeout of 2 s
        return None

    async def drop_now_and_then(self) -> None:
        while True:
            await asyncio.sleep(self.rng.uniform(4.0, 9.0))
            if self.on and self.csms.connected("CP1"):
                self.drops += 1
                with contextlib.suppress(Exception):
                    await self.csms.drop_connection("CP1", abrupt=self.rng.random() < 0.5)


async def wait_registered(csms, boots_before: int) -> None:
    await eventually(lambda: len(received(csms, "BootNotification")) > boots_before, timeout=40,
                     what="BootNotification")


async def test_chaos_every_session_billed_exactly_once_through_kills_drops_and_errors(
        csms, tmp_path):
    seed = int(os.environ.get("PIEVSE_CHAOS_SEED", random.randrange(1 << 30)))
    print(f"chaos seed {seed} (PIEVSE_CHAOS_SEED={seed} repeats this run)")
    rng = random.Random(seed)
    chaos = Chaos(csms, rng)
    csms.on_call = chaos.on_call
    station = StationProcess(tmp_path, csms.url)
    await station.start()
    await wait_registered(csms, 0)
    await eventually(lambda: csms.connected("CP1"), what="connected")
    for key, value in (("MeterValueSampleInterval", "1"), ("TransactionMessageAttempts", "20"),
                       ("TransactionMessageRetryInterval", "1"),
                       ("AllowOfflineTxForUnknownId", "true")):
        await csms.change_configuration("CP1", key, value)
    dropper = asyncio.create_task(chaos.drop_now_and_then())
    chaos.on = True
    started_tags: list[str] = []  # sessions the station said it had started
    kills = 0
    try:
        for n in range(SESSIONS):
            tag = f"C0FFEE{n:02X}"  # a card UID: hexadecimal
            kill_at = rng.choice(["none", "none", "after tap", "charging", "after unplug"])
            await station.ev("B")
            await station.tap(tag)
            if kill_at == "after tap":
                await asyncio.sleep(rng.uniform(0.0, 0.5))
                if _has_transaction(station, tag):
                    started_tags.append(tag)
            else:
                await station.ev("C")
                with contextlib.suppress(AssertionError):
                    await eventually(lambda: _has_transaction(station, tag), timeout=5,
                                     what=f"session {tag} started")
                if _has_transaction(station, tag):
                    started_tags.append(tag)
                await asyncio.sleep(rng.uniform(0.5, 2.5))
                if kill_at != "charging":
                    await station.ev("A")
                    await asyncio.sleep(rng.uniform(0.0, 0.6))
            if kill_at != "none":
                await station.kill()
                kills += 1
                boots = len(received(csms, "BootNotification"))
                await station.start()
                await wait_registered(csms, boots)
            else:
                with contextlib.suppress(Exception):
                    await station.ev("A")
                await asyncio.sleep(0.3)
    finally:
        chaos.on = False
        dropper.cancel()
    print(f"chaos: {kills} kills, {chaos.drops} drops, {chaos.errors} CALLERRORs, "
          f"{chaos.delays} late answers")

    # The storm is over: everything queued must now drain.
    await eventually(lambda: csms.connected("CP1"), timeout=60, what="connected again")
    await eventually(lambda: _queued(station) == 0, timeout=90,
                     what="the station's outbox drained")
    await station.stop()

    ledger = csms.transactions
    stops = distinct_stops(csms)
    for transaction_id, its_stops in stops.items():
        assert transaction_id in ledger and ledger[transaction_id].meter_start is not None, \
            f"StopTransaction for transaction {transaction_id} that the CSMS never started"
        assert len(its_stops) == 1, f"transaction {transaction_id} stopped twice: {its_stops}"
    by_tag: dict[str, list[int]] = {}
    for tx in ledger.values():
        by_tag.setdefault(tx.id_tag, []).append(tx.transaction_id)
        assert tx.stopped, f"transaction {tx.transaction_id} ({tx.id_tag}) never stopped"
        assert tx.meter_stop >= tx.meter_start, tx.as_json()
    for tag, ids in by_tag.items():
        assert len(ids) == 1, f"session {tag} billed {len(ids)} times: {ids}"
    for tag in started_tags:
        assert tag in by_tag, f"session {tag} started at the station but unknown to the CSMS"
    sessions = sorted(ledger.values(), key=lambda tx: tx.start_time)
    for before, after in zip(sessions, sessions[1:], strict=False):
        assert after.meter_start >= before.meter_stop, (
            f"meter ran backwards between {before.as_json()} and {after.as_json()}")
    assert len(ledger) >= SESSIONS // 2, f"too few sessions got through: {len(ledger)}"


def _status(station: StationProcess) -> dict | None:
    from pievse.local_api.client import call_api

    try:
        return call_api(f"127.0.0.1:{station.api_port}", "GET", "/api/status")
    except Exception:
        return None


def _has_transaction(station: StationProcess, tag: str) -> bool:
    status = _status(station)
    if status is None:
        return False
    tx = status["connectors"][0]["transaction"]
    return tx is not None and tx["id_tag"] == tag


def _queued(station: StationProcess) -> int | None:
    status = _status(station)
    return None if status is None else status["ocpp"]["queued_transaction_messages"]


pytestmark = pytest.mark.timeout(300)
