"""Reservation: ReserveNow and CancelReservation, translated to the station core, which keeps
the reservations, and the profile's key."""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from pievse.core.reservations import ReservationStatus
from pievse.protocol.v16.codec.authorization import (
    CodecError,
    decode_reserve_now,
    encode_cancel_reservation_status,
    encode_reservation_status,
)
from pievse.protocol.v16.configuration import KeyDefinition, KeyType
from pievse.protocol.v16.context import Context

__all__ = ["ReservationBlock"]


class ReservationBlock:
    def __init__(self, context: Context) -> None:
        self.context = context

    def keys(self) -> list[KeyDefinition]:
        """The Reservation key (OCPP 1.6 section 9.3): reservations of connector 0 are supported
        (they hold *some* connector free); read-only, as the specification has it."""
        return [
            KeyDefinition("ReserveConnectorZeroSupported", KeyType.BOOL, True, readonly=True,
                          setting="reserve_connector_zero_supported"),
        ]

    @on(Action.reserve_now)
    def on_reserve_now(self, connector_id: int, expiry_date: str, id_tag: str,
                       reservation_id: int, parent_id_tag: str | None = None,
                       **_: Any) -> call_result.ReserveNow:
        request: dict[str, Any] = {"connectorId": connector_id, "expiryDate": expiry_date,
                                   "idTag": id_tag, "reservationId": reservation_id}
        if parent_id_tag is not None:
            request["parentIdTag"] = parent_id_tag
        try:
            reservation = decode_reserve_now(request)
        except CodecError as error:
            self.context.log.info("ReserveNow %s: %s", reservation_id, error)
            return call_result.ReserveNow(
                status=encode_reservation_status(ReservationStatus.REJECTED))
        status = encode_reservation_status(
            self.context.answer(self.context.station.reserve_now(reservation)))
        self.context.log.info("ReserveNow %s: connector %s for %s until %s: %s", reservation_id,
                              connector_id, id_tag, expiry_date, status)
        return call_result.ReserveNow(status=status)

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int,
                              **_: Any) -> call_result.CancelReservation:
        status = encode_cancel_reservation_status(
            self.context.answer(self.context.station.cancel_reservation(reservation_id)))
        self.context.log.info("CancelReservation %s: %s", reservation_id, status)
        return call_result.CancelReservation(status=status)
