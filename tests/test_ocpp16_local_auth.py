"""OCPP 1.6J Local Auth List Management and Reservation end to end: a real daemon with simulated
hardware, real websockets on 127.0.0.1, the embedded CSMS on the other side.

Cards are handled in the order they are presented, one connector at a time: where a scenario
needs "this card was refused", it presents it before a card that then starts the only session
there is, so the refusal is proven by the session that follows, not by waiting.

Scenarios end with nothing left for the station's timer (no session, no card waiting for its
car, no reservation): the daemon's timer can miss its cancellation when a shutdown wakes it
while it waits for a deadline (asyncio.wait_for in Python 3.11), which costs the teardown its
10 s timeout. Reported to the daemon's owner; see ``end_the_session``.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pievse.app.daemon import Daemon
from pievse.protocol.v16.codec.authorization import id_tag_token
from tests.conftest import eventually, station_config
from tests.test_ocpp16_sessions import received, status_now

pytestmark = pytest.mark.asyncio

ALICE, BOB, CAROL, DAVE = "04A1B2C3", "04B0B0B0", "04CA201E", "04DA7E00"


def expiry(seconds: float) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def card(id_tag: str, status: str = "Accepted", **info: Any) -> dict[str, Any]:
    return {"idTag": id_tag, "idTagInfo": {"status": status, **info}}


async def send_local_list(csms, version: int, update: str, *entries: dict[str, Any]) -> str:
    answer = await csms.call("CP1", "SendLocalList", {
        "listVersion": version, "updateType": update, "localAuthorizationList": list(entries)})
    return answer["status"]


async def list_version(csms) -> int:
    return (await csms.call("CP1", "GetLocalListVersion", {}))["listVersion"]


async def reserve_now(csms, reservation_id: int, id_tag: str, seconds: float = 3600,
                      connector_id: int = 1) -> str:
    answer = await csms.call("CP1", "ReserveNow", {
        "connectorId": connector_id, "expiryDate": expiry(seconds), "idTag": id_tag,
        "reservationId": reservation_id})
    return answer["status"]


async def cache_by_authorize(csms, daemon, id_tag: str) -> None:
    """Present a card with no car plugged in, so the CSMS is asked and its answer cached, then
    present it again: the driver changed their mind, the connector is Available again."""
    daemon.hardware.simulated.reader.present(id_tag)
    await eventually(lambda: status_now(csms) == "Preparing", what="authorised")
    daemon.hardware.simulated.reader.present(id_tag)
    await eventually(lambda: status_now(csms) == "Available", what="authorisation cancelled")
    assert daemon.station.access.authorization.cached(id_tag_token(id_tag)) is not None


async def go_offline(csms, daemon) -> None:
    csms.refuse_connections = True
    await csms.drop_connection("CP1")
    await eventually(lambda: not daemon.protocol.registered, what="offline")


async def end_the_session(daemon) -> None:
    """Unplug, and wait until the transaction has ended (see the module docstring)."""
    daemon.hardware.simulated.evs[1].set_state("A")
    await eventually(lambda: daemon.station.connector(1).transaction is None,
                     what="the session ended")


def session_id_tag(daemon) -> str | None:
    tx = daemon.station.connector(1).transaction
    return tx.id_token.value if tx is not None else None


# --- Local Auth List Management -------------------------------------------------------------------


async def test_send_local_list_full_then_differential_then_version_mismatch(csms, start_station):
    await start_station()
    assert await list_version(csms) == 0, "a new charge point has an empty list"
    assert await send_local_list(csms, 1, "Full", card(ALICE), card(BOB)) == "Accepted"
    assert await list_version(csms) == 1
    assert await send_local_list(csms, 2, "Differential", {"idTag": BOB},
                                 card(CAROL, "Blocked")) == "Accepted"
    assert await list_version(csms) == 2
    assert await send_local_list(csms, 2, "Differential", card(BOB)) == "VersionMismatch"
    assert await list_version(csms) == 2


async def test_the_profiles_and_their_keys_are_announced(csms, start_station):
    await start_station()
    answer = await csms.get_configuration("CP1")
    keys = {k["key"]: k for k in answer["configurationKey"]}
    profiles = keys["SupportedFeatureProfiles"]["value"].split(",")
    assert {"LocalAuthListManagement", "Reservation"} <= set(profiles)
    for name in ("AuthorizationCacheEnabled", "LocalAuthListEnabled", "LocalAuthListMaxLength",
                 "SendLocalListMaxLength", "ReserveConnectorZeroSupported",
                 "MaxEnergyOnInvalidId"):
        assert name in keys, name
    assert keys["LocalAuthListMaxLength"] == {"key": "LocalAuthListMaxLength", "readonly": True,
                                              "value": "10000"}
    assert (await csms.change_configuration("CP1", "LocalAuthListEnabled", "false")
            )["status"] == "Accepted"
    assert await list_version(csms) == -1
    assert await send_local_list(csms, 3, "Full", card(ALICE)) == "NotSupported"


async def test_offline_a_listed_card_starts_and_a_blocked_or_expired_one_does_not(
        csms, start_station):
    daemon = await start_station()
    await send_local_list(csms, 1, "Full", card(ALICE),
                          card(BOB, "Blocked"),
                          card(CAROL, expiryDate="2020-01-01T00:00:00.000Z"))
    await go_offline(csms, daemon)
    sim = daemon.hardware.simulated
    sim.evs[1].set_state("B")
    for refused in (BOB, CAROL):
        sim.reader.present(refused)
    sim.reader.present(ALICE)
    await eventually(lambda: session_id_tag(daemon), what="a session offline")
    assert session_id_tag(daemon) == ALICE, "the blocked and the expired card started nothing"
    await end_the_session(daemon)


async def test_a_card_cached_from_an_authorize_answer_is_accepted_offline(csms, start_station):
    csms.accept_id_tags = {ALICE}
    daemon = await start_station(keys={"AllowOfflineTxForUnknownId": False})
    sim = daemon.hardware.simulated
    await cache_by_authorize(csms, daemon, ALICE)
    assert received(csms, "Authorize") == [{"idTag": ALICE}]

    await go_offline(csms, daemon)
    sim.evs[1].set_state("C")
    sim.reader.present(BOB)  # unknown: refused offline
    sim.reader.present(ALICE)
    await eventually(lambda: daemon.hardware.simulated.boards[1].contactor_closed,
                     what="charging offline on the cached card")
    assert session_id_tag(daemon) == ALICE
    await end_the_session(daemon)


async def test_clear_cache_empties_the_authorization_cache(csms, start_station):
    daemon = await start_station()
    await cache_by_authorize(csms, daemon, ALICE)
    assert (await csms.clear_cache("CP1"))["status"] == "Accepted"
    assert daemon.station.access.authorization.cache_size == 0


async def test_local_pre_authorize_starts_a_listed_card_without_authorize(csms, start_station):
    daemon = await start_station(keys={"LocalPreAuthorize": True})
    await send_local_list(csms, 1, "Full", card(ALICE))
    sim = daemon.hardware.simulated
    sim.evs[1].set_state("C")
    sim.reader.present(ALICE)
    await eventually(lambda: received(csms, "StartTransaction"), what="StartTransaction")
    assert received(csms, "StartTransaction")[0]["idTag"] == ALICE
    assert received(csms, "Authorize") == []


# --- Reservation ----------------------------------------------------------------------------------


async def test_reserve_now_only_the_reserved_card_starts_with_the_reservation_id(
        csms, start_station):
    daemon = await start_station()
    assert await reserve_now(csms, 42, ALICE) == "Accepted"
    await eventually(lambda: status_now(csms) == "Reserved", what="Reserved")
    sim = daemon.hardware.simulated
    sim.evs[1].set_state("B")
    sim.reader.present(BOB)  # the CSMS accepts Bob, but the connector is Alice's
    sim.reader.present(ALICE)
    await eventually(lambda: received(csms, "StartTransaction"), what="StartTransaction")
    [start] = received(csms, "StartTransaction")
    assert start["idTag"] == ALICE and start["reservationId"] == 42
    assert [a["idTag"] for a in received(csms, "Authorize")] == [BOB, ALICE]
    assert await csms.call("CP1", "CancelReservation", {"reservationId": 42}) == {
        "status": "Rejected"}, "the reservation ended with the start"
    await end_the_session(daemon)


async def test_a_reservation_lapses_and_the_connector_is_available_again(csms, start_station):
    await start_station()
    assert await reserve_now(csms, 7, ALICE, seconds=1.5) == "Accepted"
    await eventually(lambda: status_now(csms) == "Reserved", what="Reserved")
    await eventually(lambda: status_now(csms) == "Available", what="Available after expiry")


async def test_cancel_reservation_frees_the_connector(csms, start_station):
    await start_station()
    await reserve_now(csms, 3, ALICE)
    await eventually(lambda: status_now(csms) == "Reserved", what="Reserved")
    assert (await csms.call("CP1", "CancelReservation", {"reservationId": 3}))["status"] == \
        "Accepted"
    await eventually(lambda: status_now(csms) == "Available", what="Available")
    assert (await csms.call("CP1", "CancelReservation", {"reservationId": 3}))["status"] == \
        "Rejected"


async def test_reserve_now_on_a_connector_in_use_is_occupied(csms, start_station):
    daemon = await start_station()
    daemon.hardware.simulated.evs[1].set_state("B")
    await eventually(lambda: status_now(csms) == "Preparing", what="Preparing")
    assert await reserve_now(csms, 4, ALICE) == "Occupied"
    assert await reserve_now(csms, 5, ALICE, connector_id=9) == "Rejected"


# --- across a restart -----------------------------------------------------------------------------


async def test_the_local_list_and_the_cache_survive_a_daemon_restart(csms, tmp_path):
    """On a file store: the CSMS sees the list version it sent, and the cards are still known.
    (Reservations across a restart: tests/test_station_access.py, through the same recorder.)"""
    storage = {"path": str(tmp_path / "pievse.sqlite3")}

    async def run_daemon() -> tuple[Daemon, asyncio.Task]:
        daemon = Daemon(station_config(csms.url, storage=storage))
        task = asyncio.create_task(daemon.run())
        await asyncio.wait_for(daemon.started.wait(), 10)
        await eventually(lambda: daemon.protocol.registered, what="registered")
        return daemon, task

    daemon, task = await run_daemon()
    try:
        assert await send_local_list(csms, 17, "Full", card(ALICE), card(BOB)) == "Accepted"
        await cache_by_authorize(csms, daemon, DAVE)  # not on the list: asked, then cached
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 10)
    boots = len(received(csms, "BootNotification"))

    daemon, task = await run_daemon()
    try:
        assert len(received(csms, "BootNotification")) > boots
        assert await list_version(csms) == 17
        authorization = daemon.station.access.authorization
        assert authorization.list_entry(id_tag_token(ALICE)) is not None
        assert authorization.cached(id_tag_token(DAVE)) is not None
    finally:
        daemon.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)


async def test_reservations_of_connector_0_follow_the_config(csms, start_station):
    await start_station(reservations={"connector_zero": False})
    keys = {k["key"]: k.get("value") for k in
            (await csms.get_configuration("CP1", ["ReserveConnectorZeroSupported"]))[
                "configurationKey"]}
    assert keys == {"ReserveConnectorZeroSupported": "false"}
    assert await reserve_now(csms, 1, "04A1B2C3", connector_id=0) == "Rejected"
    assert await reserve_now(csms, 2, "04A1B2C3", connector_id=1) == "Accepted"
    assert await csms.call("CP1", "CancelReservation", {"reservationId": 2}) == \
        {"status": "Accepted"}
