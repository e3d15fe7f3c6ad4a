"""OCPP 2.0.1 H Reservation, end to end over websockets against the bench CSMS: an EVSE held
for one token (and only it), a reservation of no particular EVSE, cancellation; the core keeps
the reservations as it does under 1.6."""

from __future__ import annotations

import asyncio
import time

import pytest

from pievse.protocol.common.datetimes import format_datetime
from tests.conftest import eventually
from tests.ocpp201 import CARD, OCPP201, get_variable, sent
from tests.station_process import StationProcess

pytestmark = pytest.mark.asyncio

OTHER = {"idToken": "04B0B0B0", "type": "ISO14443"}


async def reserve(csms, reservation_id: int, token: dict, evse_id: int | None = None) -> str:
    payload = {"id": reservation_id, "expiryDateTime": "2099-01-01T00:00:00Z", "idToken": token}
    if evse_id is not None:
        payload["evseId"] = evse_id
    return (await csms.call("CP1", "ReserveNow", payload))["status"]


def last_status(csms, evse_id: int = 1) -> str | None:
    shown = [s["connectorStatus"] for s in sent(csms, "StatusNotification")
             if s["evseId"] == evse_id]
    return shown[-1] if shown else None


async def test_a_reserved_evse_waits_for_its_token_and_the_start_names_the_reservation(
        csms, start_station):
    station = await start_station(ocpp=OCPP201)
    assert await reserve(csms, 3, CARD, evse_id=1) == "Accepted"
    await eventually(lambda: last_status(csms) == "Reserved", what="Reserved")
    sim = station.hardware.simulated
    sim.evs[1].set_state("C")
    sim.reader.present(OTHER["idToken"])
    sim.reader.present(CARD["idToken"])
    await eventually(lambda: sent(csms, "TransactionEvent"), what="Started")
    started = sent(csms, "TransactionEvent")[0]
    assert started["idToken"] == CARD and started["reservationId"] == 3


async def test_a_reservation_is_cancelled_and_an_unknown_one_is_not(csms, start_station):
    await start_station(ocpp=OCPP201)
    assert await reserve(csms, 4, CARD, evse_id=1) == "Accepted"
    await eventually(lambda: last_status(csms) == "Reserved", what="Reserved")
    assert (await csms.call("CP1", "CancelReservation", {"reservationId": 4}))[
        "status"] == "Accepted"
    await eventually(lambda: last_status(csms) == "Available", what="Available")
    assert (await csms.call("CP1", "CancelReservation", {"reservationId": 4}))[
        "status"] == "Rejected"


async def test_a_reservation_of_no_particular_evse_holds_one_free(csms, start_station):
    station = await start_station(ocpp=OCPP201, charge_point={"connectors": 2})
    assert (await get_variable(csms, "ReservationCtrlr", "NonEvseSpecific"))[
        "attributeValue"] == "true"
    assert await reserve(csms, 5, CARD) == "Accepted"
    sim = station.hardware.simulated
    sim.evs[1].set_state("C")
    sim.reader.present(OTHER["idToken"])
    await eventually(lambda: sim.boards[1].contactor_closed, what="the other card on EVSE 1")
    # One EVSE left, held for the reservation: another card is not let in there.
    sim.evs[2].set_state("C")
    sim.reader.present("04C0C0C0")
    sim.reader.present(CARD["idToken"])
    await eventually(lambda: sim.boards[2].contactor_closed, what="the reserved card on EVSE 2")
    assert station.status()["connectors"][1]["transaction"]["id_tag"] == CARD["idToken"]


async def test_tc_h_15_reservation_ended_not_used_expired(csms, start_station):
    """The expiry date comes: the station ends the reservation and tells the CSMS (Expired)."""
    await start_station(ocpp=OCPP201)
    soon = format_datetime(time.time() + 2)
    assert (await csms.call("CP1", "ReserveNow", {"id": 8, "expiryDateTime": soon,
                                                  "idToken": CARD, "evseId": 1}))[
        "status"] == "Accepted"
    await eventually(lambda: last_status(csms) == "Reserved", what="Reserved")
    await eventually(lambda: sent(csms, "ReservationStatusUpdate"), timeout=15,
                     what="ReservationStatusUpdate")
    assert sent(csms, "ReservationStatusUpdate") == [
        {"reservationId": 8, "reservationUpdateStatus": "Expired"}]
    await eventually(lambda: last_status(csms) == "Available", what="Available")


async def test_h_a_reservation_whose_evse_goes_unavailable_is_removed(csms, start_station):
    await start_station(ocpp=OCPP201)
    assert await reserve(csms, 9, CARD, evse_id=1) == "Accepted"
    await eventually(lambda: last_status(csms) == "Reserved", what="Reserved")
    assert (await csms.call("CP1", "ChangeAvailability", {
        "operationalStatus": "Inoperative", "evse": {"id": 1}}))["status"] == "Accepted"
    await eventually(lambda: sent(csms, "ReservationStatusUpdate"), what="Removed")
    assert sent(csms, "ReservationStatusUpdate") == [
        {"reservationId": 9, "reservationUpdateStatus": "Removed"}]
    assert (await csms.call("CP1", "CancelReservation", {"reservationId": 9}))[
        "status"] == "Rejected", "it is gone"


async def test_h_a_reservation_that_lapsed_while_the_station_was_down_is_told_expired(
        csms, tmp_path):
    station = StationProcess(tmp_path, csms.url, ocpp=OCPP201)
    try:
        await station.start()
        await eventually(lambda: csms.connected("CP1") and sent(csms, "StatusNotification"),
                         timeout=30, what="registered")
        soon = format_datetime(time.time() + 3)
        assert (await csms.call("CP1", "ReserveNow", {"id": 12, "expiryDateTime": soon,
                                                      "idToken": CARD, "evseId": 1}))[
            "status"] == "Accepted"
        await station.kill()
        await asyncio.sleep(4)
        await station.start()
        await eventually(lambda: sent(csms, "ReservationStatusUpdate"), timeout=30,
                         what="told after the restart")
        assert sent(csms, "ReservationStatusUpdate") == [
            {"reservationId": 12, "reservationUpdateStatus": "Expired"}]
    finally:
        await station.stop()
