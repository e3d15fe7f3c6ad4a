"""H Reservation: ReserveNow and CancelReservation, translated to the station core, which keeps
the reservations and decides who may use them (the same rules as under 1.6).

A reservation without an EVSE holds *some* EVSE free (1.6's connector 0). The connector type a
CSMS may name is not checked: each EVSE here has one connector.

A reservation the station ends itself (the core decides: it expired, or its EVSE went Faulted or
Unavailable) is told with ReservationStatusUpdate (Expired, Removed), through the redelivery
queue so that one ended while the CSMS is away still reaches it.
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from pievse.core.effects import ReservationEnded
from pievse.core.reservations import CancelReservationStatus, Reservation, ReservationStatus
from pievse.protocol.common.datetimes import parse_datetime
from pievse.protocol.v201.codec.words import decode_id_token
from pievse.protocol.v201.context import Context
from pievse.protocol.v201.device_model import DataType, Mutability, Variable

__all__ = ["ReservationBlock"]

RO = Mutability.READ_ONLY

_RESERVE = {ReservationStatus.ACCEPTED: "Accepted", ReservationStatus.FAULTED: "Faulted",
            ReservationStatus.OCCUPIED: "Occupied", ReservationStatus.REJECTED: "Rejected",
            ReservationStatus.UNAVAILABLE: "Unavailable"}
_CANCEL = {CancelReservationStatus.ACCEPTED: "Accepted",
           CancelReservationStatus.REJECTED: "Rejected"}


class ReservationBlock:
    def __init__(self, context: Context) -> None:
        self.context = context
        context.on_effect(ReservationEnded, self._ended)

    def _ended(self, effect: ReservationEnded) -> None:
        reservation_id = effect.reservation.reservation_id
        self.context.log.info("reservation %s ended: %s", reservation_id, effect.why.value)
        self.context.notifications.put("ReservationStatusUpdate", call.ReservationStatusUpdate(
            reservation_id=reservation_id, reservation_update_status=effect.why.value))

    def variables(self) -> list[Variable]:
        """Reservations of no particular EVSE are the installer's choice ([reservations]
        connector_zero), as 1.6's ReserveConnectorZeroSupported: read-only."""
        return [
            Variable("ReservationCtrlr", "Enabled", DataType.BOOLEAN, True, RO),
            Variable("ReservationCtrlr", "NonEvseSpecific", DataType.BOOLEAN, True, RO,
                     key="ReserveConnectorZeroSupported",
                     setting="reserve_connector_zero_supported"),
        ]

    @on(Action.reserve_now)
    def on_reserve_now(self, id: int, expiry_date_time: str, id_token: dict[str, Any],
                       evse_id: int | None = None, group_id_token: dict[str, Any] | None = None,
                       **_: Any) -> call_result.ReserveNow:
        try:
            reservation = Reservation(
                id, evse_id or 0, decode_id_token(id_token), parse_datetime(expiry_date_time),
                decode_id_token(group_id_token) if group_id_token is not None else None)
        except (KeyError, ValueError, OverflowError) as error:
            self.context.log.info("ReserveNow %s: %s", id, error)
            return call_result.ReserveNow(status="Rejected")
        status = _RESERVE[self.context.answer(self.context.station.reserve_now(reservation))]
        self.context.log.info("ReserveNow %s: EVSE %s for %s until %s: %s", id, evse_id or "any",
                              reservation.id_token.value, expiry_date_time, status)
        return call_result.ReserveNow(status=status)

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int,
                              **_: Any) -> call_result.CancelReservation:
        status = _CANCEL[self.context.answer(
            self.context.station.cancel_reservation(reservation_id))]
        self.context.log.info("CancelReservation %s: %s", reservation_id, status)
        return call_result.CancelReservation(status=status)
