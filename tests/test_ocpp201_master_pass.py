"""OCPP 2.0.1 C16 Stop Transaction with a Master Pass, end to end over websockets against the
bench CSMS: once the CSMS sets AuthCtrlr.MasterPassGroupId, a card of that group stops the
running transaction (stoppedReason MasterPass) and starts none at an idle EVSE."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import eventually
from tests.ocpp201 import OCPP201, get_variable, sent, set_variable

pytestmark = pytest.mark.asyncio

MASTER = "MASTER01"
GROUP = "MASTERS"


def _groups(cp_id: str, action: str, payload: dict) -> dict | None:
    """The CSMS knows the master card as one of the master pass group."""
    if action == "Authorize" and payload["idToken"]["idToken"] == MASTER:
        return {"idTokenInfo": {"status": "Accepted",
                                "groupIdToken": {"idToken": GROUP, "type": "Central"}}}
    return None


def _events(csms, kind: str) -> list[dict]:
    return [e for e in sent(csms, "TransactionEvent") if e["eventType"] == kind]


async def test_tc_c_47_stop_transaction_with_master_pass_and_none_started(
        csms, start_station, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    csms.on_call = _groups
    storage = {"path": str(tmp_path / "pievse.sqlite3")}
    station = await start_station(ocpp=OCPP201, storage=storage)
    assert await set_variable(csms, "AuthCtrlr", "MasterPassGroupId", "X" * 37) == "Rejected"
    assert await set_variable(csms, "AuthCtrlr", "MasterPassGroupId", GROUP) == "Accepted"
    # Kept across a restart, as every variable the CSMS sets.
    station.stop()
    await eventually(lambda: not csms.connected("CP1"), what="gone")
    station = await start_station(ocpp=OCPP201, storage=storage)
    assert (await get_variable(csms, "AuthCtrlr", "MasterPassGroupId"))[
        "attributeValue"] == GROUP
    sim = station.hardware.simulated

    sim.evs[1].set_state("C")
    sim.reader.present("04A1B2C3")
    await eventually(lambda: sim.boards[1].contactor_closed, what="card A charging")
    sim.reader.present(MASTER)
    await eventually(lambda: _events(csms, "Ended"), what="the master pass stopped it")
    [ended] = _events(csms, "Ended")
    assert ended["transactionInfo"]["stoppedReason"] == "MasterPass"
    assert ended["triggerReason"] == "StopAuthorized"
    assert ended["idToken"]["idToken"] == MASTER
    assert not sim.boards[1].contactor_closed

    # The EVSE is idle now, the car still plugged in: the master pass starts nothing there.
    sim.reader.present(MASTER)
    await eventually(lambda: any(f"id tag {MASTER}: a master pass starts no session" in m
                                 for m in caplog.messages), what="the master pass refused")
    assert len(_events(csms, "Started")) == 1 and not station.station.transactions()
    assert not sim.boards[1].contactor_closed


async def test_without_master_pass_group_the_card_charges_as_any_other(csms, start_station):
    csms.on_call = _groups
    station = await start_station(ocpp=OCPP201)
    assert (await get_variable(csms, "AuthCtrlr", "MasterPassGroupId"))["attributeValue"] == ""
    sim = station.hardware.simulated
    sim.evs[1].set_state("C")
    sim.reader.present(MASTER)
    await eventually(lambda: sim.boards[1].contactor_closed, what="charging")
    assert _events(csms, "Ended") == []
