"""OCPP 1.6 Local Auth List Management and Reservation profiles: SendLocalList,
GetLocalListVersion, ClearCache, ReserveNow and CancelReservation, translated to the station core
(``Station.access``), which decides, and the configuration keys of both profiles.

The ``ocpp`` package hands payloads over in snake_case, nested objects included; the codec reads
1.6's own camelCase, so they are turned back here, once, at the edge.
"""

from __future__ import annotations

import logging
from typing import Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from pievse.core.access import Access
from pievse.core.authorization import UpdateStatus
from pievse.core.reservations import ReservationStatus
from pievse.core.station import Answer, Station
from pievse.protocol.v16.codec.authorization import (
    CodecError,
    decode_reserve_now,
    decode_send_local_list,
    encode_cancel_reservation_status,
    encode_clear_cache_status,
    encode_reservation_status,
    encode_update_status,
)
from pievse.protocol.v16.configuration import KeyDefinition, KeyType

__all__ = ["LocalAuthHandlers", "local_auth_keys", "reservation_keys"]

log = logging.getLogger("pievse.ocpp")


def local_auth_keys(access: Access) -> list[KeyDefinition]:
    """The Local Auth List Management keys (OCPP 1.6 section 9.2). The sizes are what the
    station's stores were built with, so they are read-only."""
    authorization = access.authorization
    return [
        KeyDefinition("LocalAuthListEnabled", KeyType.BOOL, True,
                      setting="local_auth_list_enabled"),
        KeyDefinition("LocalAuthListMaxLength", KeyType.INT, authorization.list_max_length,
                      readonly=True),
        KeyDefinition("SendLocalListMaxLength", KeyType.INT, authorization.send_list_max_length,
                      readonly=True),
    ]


def reservation_keys() -> list[KeyDefinition]:
    """The Reservation key (OCPP 1.6 section 9.3): reservations of connector 0 are supported
    (they hold *some* connector free); read-only, as the specification has it."""
    return [
        KeyDefinition("ReserveConnectorZeroSupported", KeyType.BOOL, True, readonly=True,
                      setting="reserve_connector_zero_supported"),
    ]


class LocalAuthHandlers:
    """Mixed into the 1.6 charge point; needs ``station`` and ``_answer``."""

    station: Station

    def _answer(self, answer: Answer) -> Any:  # provided by the charge point
        raise NotImplementedError

    # --- Local Auth List Management ------------------------------------------------------------

    @on(Action.send_local_list)
    def on_send_local_list(self, list_version: int, update_type: str,
                           local_authorization_list: list | None = None,
                           **_: Any) -> call_result.SendLocalList:
        entries = local_authorization_list or []
        try:
            update = decode_send_local_list(snake_to_camel_case({
                "list_version": list_version, "update_type": update_type,
                "local_authorization_list": entries}))
        except CodecError as error:
            # Applied whole or not at all: an entry that cannot be read fails the update.
            log.info("SendLocalList %s version %s: %s", update_type, list_version, error)
            return call_result.SendLocalList(status=encode_update_status(UpdateStatus.FAILED))
        status = encode_update_status(self._answer(self.station.send_local_list(update)))
        log.info("SendLocalList %s version %s with %d entries: %s", update_type, list_version,
                 len(entries), status)
        return call_result.SendLocalList(status=status)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> call_result.GetLocalListVersion:
        return call_result.GetLocalListVersion(list_version=self.station.local_list_version())

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> call_result.ClearCache:
        status = self._answer(self.station.clear_cache())
        return call_result.ClearCache(status=encode_clear_cache_status(status))

    # --- Reservation ---------------------------------------------------------------------------

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
            log.info("ReserveNow %s: %s", reservation_id, error)
            return call_result.ReserveNow(
                status=encode_reservation_status(ReservationStatus.REJECTED))
        status = encode_reservation_status(self._answer(self.station.reserve_now(reservation)))
        log.info("ReserveNow %s: connector %s for %s until %s: %s", reservation_id,
                 connector_id, id_tag, expiry_date, status)
        return call_result.ReserveNow(status=status)

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int,
                              **_: Any) -> call_result.CancelReservation:
        status = encode_cancel_reservation_status(
            self._answer(self.station.cancel_reservation(reservation_id)))
        log.info("CancelReservation %s: %s", reservation_id, status)
        return call_result.CancelReservation(status=status)
