"""Chaos: many charging sessions against a CSMS that drops the connection, answers late and
answers with CALLERRORs, while the charge point process is killed with SIGKILL at chosen moments
and started again. At the end the CSMS's ledger must be what a CPO can bill from:

* every session of the run is there exactly once, started once and stopped once: all of them,
  not most of them;
* no StopTransaction for a transaction the CSMS never started (no -1, no invented ids), and no
  two different stops for one transaction (a stop sent again after a lost answer is the same
  frame, which a billing CSMS recognises);
* meterStop >= meterStart, and sessions follow one another on the meter (the register never
  runs backwards from one session to the next);
* the station's outbox is empty.

One seed decides the run: the plan of sessions (where each is killed, how long it charges) and
the CSMS's bad luck. It is printed first (shown with ``-s``, and with the captured output of a
failure); ``PIEVSE_CHAOS_SEED=<seed>`` runs the same plan again. Which frame a CALLERROR hits
still depends on timing, so a repeat is the same storm, not the same frame for frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from dataclasses import dataclass

import pytest
from ocpp.exceptions import InternalError

from pievse.csms.session import ChargePointNotConnected

from tests.conftest import eventually
from tests.station_process import StationProcess
from tests.test_nothing_lost import distinct_stops
from tests.test_ocpp16_sessions import received

SESSIONS = 10
TRANSACTION_MESSAGES = {"StartTransaction", "StopTransaction", "MeterValues"}
#: Where a session's process dies: not at all, once the session has started (its
#: StartTransaction queued, maybe not sent), while the car charges, or once it has unplugged.
KILL_POINTS = ("none", "none", "started", "charging", "unplugged")


@dataclass(frozen=True, slots=True)
class Session:
    tag: str
    kill_at: str
    charge_for: float  # seconds in state C (none when killed right after the start)
    kill_after: float  # seconds from the kill point to the SIGKILL

    def __str__(self) -> str:
        charges, killed = f"charges {self.charge_for:.1f} s", f"killed {self.kill_after:.1f} s"
        return f"{self.tag}: " + {
            "none": f"{charges}, unplugs, no kill",
            "started": f"{killed} after its start, before any charging",
            "charging": f"{charges}, {killed} later while charging",
            "unplugged": f"{charges}, unplugs, {killed} later",
        }[self.kill_at]


def plan(seed: int) -> list[Session]:
    rng = random.Random(f"{seed}/plan")
    return [Session(f"C0FFEE{n:02X}",  # a card UID: hexadecimal
                    rng.choice(KILL_POINTS), rng.uniform(0.5, 2.5),
                    rng.uniform(0.0, 0.6))
            for n in range(SESSIONS)]


class Chaos:
    """The CSMS's bad day: CALLERRORs, answers past the charge point's timeout, dropped links.
    Answers and drops draw from generators of their own, so that neither shifts the other's
    draws (nor the plan's)."""

    def __init__(self, csms, seed: int) -> None:
        self.csms = csms
        self.answers = random.Random(f"{seed}/answers")
        self.links = random.Random(f"{seed}/links")
        self.on = False
        self.errors = self.delays = self.drops = 0

    async def on_call(self, cp_id: str, action: str, payload: dict) -> dict | None:
        if not self.on or action not in TRANSACTION_MESSAGES:
            return None
        roll = self.answers.random()
        if roll < 0.15:
            self.errors += 1
            raise InternalError(description="chaos: CSMS failure")
        if roll < 0.25:
            self.delays += 1
            await asyncio.sleep(2.5)  # past the station's response_timeout of 2 s
        return None

    async def drop_now_and_then(self) -> None:
        while True:
            await asyncio.sleep(self.links.uniform(4.0, 9.0))
            abrupt = self.links.random() < 0.5
            if self.on and self.csms.connected("CP1"):
                self.drops += 1
                # The station may have gone (killed) between the check and the drop: then
                # there is nothing left to drop, which is no failure of the station.
                with contextlib.suppress(ChargePointNotConnected):
                    await self.csms.drop_connection("CP1", abrupt=abrupt)


async def wait_registered(csms, boots_before: int) -> None:
    await eventually(lambda: len(received(csms, "BootNotification")) > boots_before, timeout=40,
                     what="BootNotification")


def chaos_seed() -> int:
    chosen = os.environ.get("PIEVSE_CHAOS_SEED")
    return int(chosen) if chosen else random.randrange(1 << 30)


async def test_chaos_every_session_billed_exactly_once_through_kills_drops_and_errors(
        csms, tmp_path):
    seed = chaos_seed()
    sessions = plan(seed)
    print(f"chaos seed {seed} (PIEVSE_CHAOS_SEED={seed} repeats this run)", flush=True)
    for session in sessions:
        print(f"  {session}", flush=True)
    chaos = Chaos(csms, seed)
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
    kills = 0
    try:
        for session in sessions:
            await station.ev("B")
            await station.tap(session.tag)
            # A card on a plugged-in car starts a session, online or off (AllowOfflineTx...).
            await eventually(lambda: _has_transaction(station, session.tag), timeout=15,
                             what=f"session {session.tag} started")
            if session.kill_at != "started":
                await station.ev("C")
                await asyncio.sleep(session.charge_for)
                if session.kill_at != "charging":
                    await station.ev("A")
            if session.kill_at == "none":
                await eventually(lambda: not _has_transaction(station, session.tag),
                                 what=f"session {session.tag} ended")
                continue
            await asyncio.sleep(session.kill_after)
            await station.kill()
            kills += 1
            boots = len(received(csms, "BootNotification"))
            await station.start()
            await wait_registered(csms, boots)
    finally:
        chaos.on = False
        dropper.cancel()
    print(f"chaos: {kills} kills, {chaos.drops} drops, {chaos.errors} CALLERRORs, "
          f"{chaos.delays} late answers", flush=True)

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
    for session in sessions:
        billed = by_tag.pop(session.tag, [])
        assert len(billed) == 1, f"session {session} billed {len(billed)} times: {billed}"
    assert by_tag == {}, f"transactions for no session of the run: {by_tag}"
    in_order = sorted(ledger.values(), key=lambda tx: tx.start_time)
    for before, after in zip(in_order, in_order[1:], strict=False):
        assert after.meter_start >= before.meter_stop, (
            f"meter ran backwards between {before.as_json()} and {after.as_json()}")


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
