"""The 1.6 codec for who may charge: idTag and idTagInfo, SendLocalList, ReserveNow and the
answers of the station's commands, to the core's model and back; and the 1.6 handlers that do
nothing but translate with it.

The core's words are its own: every answer and status is mapped here explicitly, and every word
the codec writes is one OCPP 1.6 has (checked against the ``ocpp`` package's enums).
"""

from __future__ import annotations

import enum
from typing import Any

import pytest
from ocpp.v16 import enums as ocpp16

from pievse.core.answers import (
    AvailabilityStatus,
    RemoteStartStopStatus,
    ResetStatus,
    UnlockStatus,
)
from pievse.core.authorization import (
    AuthorizationEntry,
    AuthorizationResult,
    AuthorizationStatus,
    ClearCacheStatus,
    IdToken,
    IdTokenType,
    LocalListUpdate,
    UpdateStatus,
    UpdateType,
)
from pievse.core.clock import ManualClock
from pievse.core.effects import Effect
from pievse.core.reservations import CancelReservationStatus, Reservation, ReservationStatus
from pievse.core.station import Station
from pievse.protocol.common.charge_point_parts import ChargePointParts
from pievse.protocol.v16.adapter import ChargePoint16
from pievse.protocol.v16.codec.answers import (
    encode_availability_status,
    encode_remote_start_stop_status,
    encode_reset_status,
    encode_unlock_outcome,
    encode_unlock_status,
)
from pievse.protocol.v16.codec.authorization import (
    CodecError,
    decode_authorization_status,
    decode_id_tag,
    decode_id_tag_info,
    decode_reserve_now,
    decode_send_local_list,
    encode_authorization_status,
    encode_cancel_reservation_status,
    encode_clear_cache_status,
    encode_id_tag_info,
    encode_reservation_status,
    encode_reserve_now,
    encode_send_local_list,
    encode_update_status,
)

A = AuthorizationStatus
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
HOUR = 3600.0
DAY = 86_400.0
ALICE = IdToken("04A1B2C3", IdTokenType.ISO14443)
FLEET7 = IdToken("FLEET7", IdTokenType.CENTRAL)


# --- idTag and idTagInfo -------------------------------------------------------------------------


def test_an_id_tag_is_a_card_and_a_parent_id_tag_a_group() -> None:
    assert decode_id_tag("04A1B2C3") == ALICE
    assert decode_id_tag_info({"status": "Accepted", "parentIdTag": "FLEET7"}).group == FLEET7


def test_id_tag_info_reads_and_writes_ocpp_camel_case() -> None:
    wire = {"status": "Accepted", "expiryDate": "2026-01-02T00:00:00Z", "parentIdTag": "FLEET7"}
    result = decode_id_tag_info(wire)
    assert result == AuthorizationResult(A.ACCEPTED, NOW + DAY, FLEET7)
    assert encode_id_tag_info(result) == wire
    assert encode_id_tag_info(decode_id_tag_info({"status": "Blocked"})) == {"status": "Blocked"}


@pytest.mark.parametrize("bad", [
    {"status": "Maybe"},
    {},
    {"status": "Accepted", "expiryDate": "tomorrow"},
    {"status": "Accepted", "parentIdTag": "X" * 21},
    "Accepted",
])
def test_id_tag_info_refuses_what_ocpp_does_not_allow(bad: object) -> None:
    with pytest.raises(CodecError):
        decode_id_tag_info(bad)


@pytest.mark.parametrize("bad", ["", "X" * 21, None, 42])
def test_an_id_tag_is_a_non_empty_ci_string_20(bad: object) -> None:
    with pytest.raises(CodecError):
        decode_id_tag(bad)
    assert decode_id_tag("X" * 20).value == "X" * 20


@pytest.mark.parametrize(("wire", "epoch", "written"), [
    ("2026-01-01T00:30:00.250Z", NOW + 1800.25, "2026-01-01T00:30:00.250Z"),
    ("2026-01-01T01:00:00+01:00", NOW, "2026-01-01T00:00:00Z"),
    ("2026-01-01T00:00:00", NOW, "2026-01-01T00:00:00Z"),
], ids=["milliseconds", "an offset", "no offset: UTC"])
def test_expiry_dates_are_read_in_utc_and_written_with_a_z(wire: str, epoch: float,
                                                           written: str) -> None:
    result = decode_id_tag_info({"status": "Accepted", "expiryDate": wire})
    assert result.expires_at == epoch
    assert encode_id_tag_info(result)["expiryDate"] == written


def test_every_authorization_status_of_16_is_read_and_written_back() -> None:
    words = [s.value for s in ocpp16.AuthorizationStatus]
    assert [encode_authorization_status(decode_authorization_status(w)) for w in words] == words
    assert {decode_authorization_status(w) for w in words} == set(AuthorizationStatus)


# --- SendLocalList -------------------------------------------------------------------------------


def test_send_local_list_round_trip() -> None:
    wire = {"listVersion": 3, "updateType": "Differential", "localAuthorizationList": [
        {"idTag": "04A1B2C3", "idTagInfo": {"status": "Accepted",
                                            "expiryDate": "2026-01-02T00:00:00Z",
                                            "parentIdTag": "FLEET7"}},
        {"idTag": "04B0B0B0"}]}
    update = decode_send_local_list(wire)
    assert update == LocalListUpdate(
        3, UpdateType.DIFFERENTIAL,
        (AuthorizationEntry(ALICE, AuthorizationResult(A.ACCEPTED, NOW + DAY, FLEET7)),),
        (IdToken("04B0B0B0", IdTokenType.ISO14443),))
    assert encode_send_local_list(update) == wire
    full = {"listVersion": 1, "updateType": "Full", "localAuthorizationList": []}
    assert decode_send_local_list(full) == LocalListUpdate(1, UpdateType.FULL)
    assert encode_send_local_list(decode_send_local_list(full)) == full


@pytest.mark.parametrize("payload", [
    {"listVersion": "1", "updateType": "Full"},
    {"listVersion": 1, "updateType": "Partial"},
    {"listVersion": 1, "updateType": "Full", "localAuthorizationList": ["04A1B2C3"]},
])
def test_send_local_list_that_1_6_does_not_allow_is_refused(payload: dict[str, Any]) -> None:
    with pytest.raises(CodecError):
        decode_send_local_list(payload)


# --- ReserveNow ----------------------------------------------------------------------------------


def test_reserve_now_reads_the_ocpp_request() -> None:
    request = {"connectorId": 2, "expiryDate": "2026-01-01T01:00:00Z", "idTag": "04A1B2C3",
               "reservationId": 42, "parentIdTag": "FLEET7"}
    reservation = decode_reserve_now(request)
    assert reservation == Reservation(42, 2, ALICE, NOW + HOUR, FLEET7)
    assert encode_reserve_now(reservation) == request
    with pytest.raises(CodecError):
        decode_reserve_now({**request, "expiryDate": "soon"})
    with pytest.raises(CodecError):
        decode_reserve_now({**request, "reservationId": "42"})


# --- the answers ---------------------------------------------------------------------------------


ANSWERS: list[tuple[type[enum.Enum], Any, type[enum.Enum], dict[Any, str]]] = [
    (UpdateStatus, encode_update_status, ocpp16.UpdateStatus, {
        UpdateStatus.ACCEPTED: "Accepted", UpdateStatus.FAILED: "Failed",
        UpdateStatus.NOT_SUPPORTED: "NotSupported",
        UpdateStatus.VERSION_MISMATCH: "VersionMismatch"}),
    (ClearCacheStatus, encode_clear_cache_status, ocpp16.ClearCacheStatus, {
        ClearCacheStatus.ACCEPTED: "Accepted"}),
    (ReservationStatus, encode_reservation_status, ocpp16.ReservationStatus, {
        ReservationStatus.ACCEPTED: "Accepted", ReservationStatus.FAULTED: "Faulted",
        ReservationStatus.OCCUPIED: "Occupied", ReservationStatus.REJECTED: "Rejected",
        ReservationStatus.UNAVAILABLE: "Unavailable"}),
    (CancelReservationStatus, encode_cancel_reservation_status,
     ocpp16.CancelReservationStatus, {
         CancelReservationStatus.ACCEPTED: "Accepted",
         CancelReservationStatus.REJECTED: "Rejected"}),
    (RemoteStartStopStatus, encode_remote_start_stop_status, ocpp16.RemoteStartStopStatus, {
        RemoteStartStopStatus.ACCEPTED: "Accepted", RemoteStartStopStatus.REJECTED: "Rejected"}),
    (ResetStatus, encode_reset_status, ocpp16.ResetStatus, {ResetStatus.ACCEPTED: "Accepted"}),
    (AvailabilityStatus, encode_availability_status, ocpp16.AvailabilityStatus, {
        AvailabilityStatus.ACCEPTED: "Accepted", AvailabilityStatus.REJECTED: "Rejected",
        AvailabilityStatus.SCHEDULED: "Scheduled"}),
    (UnlockStatus, encode_unlock_status, ocpp16.UnlockStatus, {
        UnlockStatus.NOT_SUPPORTED: "NotSupported",
        UnlockStatus.UNKNOWN_CONNECTOR: "NotSupported"}),
]


@pytest.mark.parametrize(("core", "encode", "wire", "expected"), ANSWERS,
                         ids=[a[0].__name__ for a in ANSWERS])
def test_every_answer_of_the_core_has_its_16_word(core: type[enum.Enum], encode: Any,
                                                  wire: type[enum.Enum],
                                                  expected: dict[Any, str]) -> None:
    final = set(core) - AWAITED
    assert set(expected) == final, "every final status of the core is mapped"
    assert {status: encode(status) for status in final} == expected
    assert set(expected.values()) <= {w.value for w in wire}, "in 1.6's words"


#: Not an answer yet: the lock is being driven, and UnlockConnector is answered from its feedback.
AWAITED = {UnlockStatus.UNLOCKING}


def test_an_unlock_is_answered_from_the_locks_feedback_in_16s_words() -> None:
    assert encode_unlock_outcome(True) == "Unlocked"
    assert encode_unlock_outcome(False) == "UnlockFailed"
    assert {"Unlocked", "UnlockFailed"} <= {w.value for w in ocpp16.UnlockStatus}


# --- the handlers only translate -----------------------------------------------------------------


class Adapter:
    """A station and its 1.6 adapter without a connection: handlers are called as the RPC layer
    calls them, with the ``ocpp`` package's snake_case arguments."""

    def __init__(self, connectors: int = 1) -> None:
        self.station = Station(connectors, clock=ManualClock(NOW))
        self.effects: list[Effect] = []
        self.cp = ChargePoint16(self.station, self.effects.extend,
                                ChargePointParts(vendor="pievse", model="codec test"))


@pytest.mark.parametrize("entry", [
    {"id_tag": "04B0B0B0", "id_tag_info": {"status": "Welcome"}},        # not a status
    {"id_tag": "X" * 21, "id_tag_info": {"status": "Accepted"}},          # longer than 20
], ids=["an unknown status", "an idTag of 21 characters"])
def test_send_local_list_with_an_entry_1_6_cannot_carry_fails_and_changes_nothing(
        entry: dict[str, Any]) -> None:
    adapter = Adapter()
    first = adapter.cp.handler("SendLocalList")(1, "Full", [
        {"id_tag": "04A1B2C3", "id_tag_info": {"status": "Accepted"}}])
    assert first.status == "Accepted"
    assert adapter.cp.handler("SendLocalList")(2, "Full", [entry]).status == "Failed"
    authorization = adapter.station.access.authorization
    assert authorization.list_version == 1 and authorization.lookup(ALICE, NOW) is not None


def test_a_reserve_now_the_codec_cannot_read_is_rejected() -> None:
    adapter = Adapter()
    answer = adapter.cp.handler("ReserveNow")(1, "soon", "04A1B2C3", 7)
    assert answer.status == "Rejected"
    assert adapter.station.access.reservations.all == []


async def test_commands_for_a_connector_the_station_lacks_are_answered_in_16s_words() -> None:
    cp = Adapter().cp
    assert cp.handler("ChangeAvailability")(9, "Inoperative").status == "Rejected"
    assert (await cp.handler("UnlockConnector")(9)).status == "NotSupported"
    assert (await cp.handler("UnlockConnector")(1)).status == "NotSupported"
    assert cp.handler("ClearCache")().status == "Accepted"
    assert cp.handler("CancelReservation")(5).status == "Rejected"
