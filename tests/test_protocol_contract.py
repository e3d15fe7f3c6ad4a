"""The contract every OCPP adapter keeps: the same scenario, played through any version's wire,
has the same effects on the station core and on the hardware.

Each scenario is written once, in no version's words, against :class:`CsmsSide`: what a central
system asks of a charge point (start a session remotely, limit the current, reserve a connector
...) and what it bills. Each protocol version gives its own CsmsSide, which says those things in
its messages through the bench CSMS; the scenario then checks the core's effects (connector
status, contactor, current offered and why, the transaction) and that the CSMS billed each
session once with the energy the meter measured. OCPP 1.6J and 2.0.1 each have their CsmsSide in
``SIDES`` and pass the same scenarios unchanged (2.0.1 skips those whose functional block it
does not speak yet).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import pytest

from pievse.csms.server import CentralSystem
from tests.conftest import eventually

pytestmark = pytest.mark.asyncio

ALICE, BOB = "04A1B2C3", "04B0B0B0"


@dataclass(frozen=True)
class BilledSession:
    """A session as the CSMS bills it, in no version's words."""

    transaction_id: Any
    id_token: str | None
    energy_wh: float | None
    stopped: bool
    stop_reason: str | None  # the core's StopReason value


class CsmsSide(Protocol):
    """What a scenario asks of the central system; each OCPP version says it in its messages."""

    version: str

    async def remote_start(self, id_token: str, connector_id: int) -> bool: ...

    async def remote_stop(self, transaction_id: Any) -> bool: ...

    async def limit_current(self, connector_id: int, amps: float) -> bool: ...

    async def clear_limits(self) -> bool: ...

    async def set_available(self, connector_id: int, available: bool) -> bool: ...

    async def send_local_list(self, id_tokens: list[str]) -> bool: ...

    async def allow_offline_local_list(self) -> bool: ...

    async def reserve(self, connector_id: int, id_token: str, reservation_id: int) -> bool: ...

    def sessions(self) -> list[BilledSession]: ...


class Csms16:
    """OCPP 1.6J's words for what a scenario asks."""

    version = "1.6"

    def __init__(self, csms: CentralSystem, cp_id: str = "CP1") -> None:
        self.csms, self.cp_id = csms, cp_id

    async def _accepted(self, action: str, payload: dict[str, Any]) -> bool:
        answer = await self.csms.call(self.cp_id, action, payload)
        return answer.get("status") == "Accepted"

    async def remote_start(self, id_token: str, connector_id: int) -> bool:
        return await self._accepted("RemoteStartTransaction",
                                    {"idTag": id_token, "connectorId": connector_id})

    async def remote_stop(self, transaction_id: Any) -> bool:
        return await self._accepted("RemoteStopTransaction", {"transactionId": transaction_id})

    async def limit_current(self, connector_id: int, amps: float) -> bool:
        profile = {"chargingProfileId": 7, "stackLevel": 0,
                   "chargingProfilePurpose": "TxDefaultProfile",
                   "chargingProfileKind": "Relative",
                   "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
                       {"startPeriod": 0, "limit": amps}]}}
        return await self._accepted("SetChargingProfile",
                                    {"connectorId": connector_id, "csChargingProfiles": profile})

    async def clear_limits(self) -> bool:
        return await self._accepted("ClearChargingProfile", {})

    async def set_available(self, connector_id: int, available: bool) -> bool:
        answer = await self.csms.call(self.cp_id, "ChangeAvailability", {
            "connectorId": connector_id, "type": "Operative" if available else "Inoperative"})
        return answer["status"] in ("Accepted", "Scheduled")

    async def send_local_list(self, id_tokens: list[str]) -> bool:
        entries = [{"idTag": t, "idTagInfo": {"status": "Accepted"}} for t in id_tokens]
        return await self._accepted("SendLocalList", {
            "listVersion": 1, "updateType": "Full", "localAuthorizationList": entries})

    async def allow_offline_local_list(self) -> bool:
        return await self._accepted("ChangeConfiguration",
                                    {"key": "LocalAuthorizeOffline", "value": "true"})

    async def reserve(self, connector_id: int, id_token: str, reservation_id: int) -> bool:
        return await self._accepted("ReserveNow", {
            "connectorId": connector_id, "expiryDate": "2099-01-01T00:00:00Z",
            "idTag": id_token, "reservationId": reservation_id})

    def sessions(self) -> list[BilledSession]:
        return [BilledSession(t.transaction_id, t.id_tag, t.energy_wh, t.stopped, t.stop_reason)
                for t in self.csms.transactions.values() if t.cp_id == self.cp_id]


class Csms201:
    """OCPP 2.0.1's words for what a scenario asks."""

    version = "2.0.1"

    def __init__(self, csms: CentralSystem, cp_id: str = "CP1") -> None:
        self.csms, self.cp_id = csms, cp_id
        self._remote_start_ids = iter(range(1, 1000))

    async def _accepted(self, action: str, payload: dict[str, Any]) -> bool:
        answer = await self.csms.call(self.cp_id, action, payload)
        return answer.get("status") == "Accepted"

    async def remote_start(self, id_token: str, connector_id: int) -> bool:
        return await self._accepted("RequestStartTransaction", {
            "idToken": {"idToken": id_token, "type": "ISO14443"}, "evseId": connector_id,
            "remoteStartId": next(self._remote_start_ids)})

    async def remote_stop(self, transaction_id: Any) -> bool:
        return await self._accepted("RequestStopTransaction", {"transactionId": transaction_id})

    async def limit_current(self, connector_id: int, amps: float) -> bool:
        profile = {"id": 7, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
                   "chargingProfileKind": "Relative",
                   "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
                                         "chargingSchedulePeriod": [
                                             {"startPeriod": 0, "limit": amps}]}]}
        return await self._accepted("SetChargingProfile",
                                    {"evseId": connector_id, "chargingProfile": profile})

    async def clear_limits(self) -> bool:
        return await self._accepted("ClearChargingProfile", {})

    async def set_available(self, connector_id: int, available: bool) -> bool:
        answer = await self.csms.call(self.cp_id, "ChangeAvailability", {
            "operationalStatus": "Operative" if available else "Inoperative",
            "evse": {"id": connector_id}})
        return answer["status"] in ("Accepted", "Scheduled")

    async def send_local_list(self, id_tokens: list[str]) -> bool:
        entries = [{"idToken": {"idToken": t, "type": "ISO14443"},
                    "idTokenInfo": {"status": "Accepted"}} for t in id_tokens]
        return await self._accepted("SendLocalList", {
            "versionNumber": 1, "updateType": "Full", "localAuthorizationList": entries})

    async def allow_offline_local_list(self) -> bool:
        answer = await self.csms.call(self.cp_id, "SetVariables", {"setVariableData": [{
            "component": {"name": "AuthCtrlr"}, "variable": {"name": "LocalAuthorizeOffline"},
            "attributeValue": "true"}]})
        return answer["setVariableResult"][0]["attributeStatus"] == "Accepted"

    async def reserve(self, connector_id: int, id_token: str, reservation_id: int) -> bool:
        return await self._accepted("ReserveNow", {
            "id": reservation_id, "expiryDateTime": "2099-01-01T00:00:00Z",
            "idToken": {"idToken": id_token, "type": "ISO14443"}, "evseId": connector_id})

    def sessions(self) -> list[BilledSession]:
        return [BilledSession(t.transaction_id, t.id_tag, t.energy_wh, t.stopped, t.stop_reason)
                for t in self.csms.transactions.values() if t.cp_id == self.cp_id]


SIDES = {"1.6": Csms16, "2.0.1": Csms201}
#: The versions whose adapter has smart charging: its scenario runs for these.
SMART_CHARGING = ["1.6", "2.0.1"]


@pytest.fixture(params=sorted(SIDES))
def side(request: pytest.FixtureRequest, csms: CentralSystem) -> CsmsSide:
    return SIDES[request.param](csms)


@pytest.fixture
async def station(side: CsmsSide, start_station):
    return await start_station(ocpp={"version": side.version})


async def test_every_version_the_config_accepts_has_an_adapter_and_a_row_here() -> None:
    from pievse.app.config.keys import KEYS
    from pievse.app.protocols import ADAPTERS

    [version] = [key for key in KEYS if (key.section, key.name) == ("ocpp", "version")]
    # "auto" speaks whichever of them the CSMS chooses (tests/test_ocpp_auto_version.py).
    assert set(version.choices) - {"auto"} == set(ADAPTERS) == set(SIDES)


async def test_the_daemon_speaks_the_configured_version_on_its_subprotocol(side, station):
    assert station.protocol.version == side.version
    assert station.link.subprotocol == station.protocol.subprotocol == f"ocpp{side.version}"


# --- what the core and the hardware show -------------------------------------------------------


def connector(daemon, connector_id: int = 1) -> dict[str, Any]:
    return next(c for c in daemon.status()["connectors"] if c["id"] == connector_id)


def board(daemon, connector_id: int = 1):
    return daemon.hardware.simulated.boards[connector_id]


def car(daemon, connector_id: int = 1):
    return daemon.hardware.simulated.evs[connector_id]


async def charging(daemon, connector_id: int = 1) -> dict[str, Any]:
    await eventually(lambda: connector(daemon, connector_id)["status"] == "Charging"
                     and board(daemon, connector_id).contactor_closed, what="Charging")
    await eventually(lambda: (connector(daemon, connector_id)["transaction"] or {}).get("id"),
                     what="the CSMS's transaction id")
    return connector(daemon, connector_id)


def billed_once(side: CsmsSide, daemon, energy_from: float) -> BilledSession:
    """Exactly one session billed, with the energy the core's meter counted."""
    sessions = side.sessions()
    assert len(sessions) == 1, sessions
    session = sessions[0]
    assert session.stopped
    measured = connector(daemon)["meter"]["energy_wh"] - energy_from
    assert session.energy_wh == pytest.approx(measured, abs=1.0)
    return session


# --- the scenarios ------------------------------------------------------------------------------


async def test_a_card_session_is_billed_once_with_the_energy_the_meter_measured(side, station):
    """Local start (card, then car asks) and local stop (car unplugs)."""
    start_energy = connector(station)["meter"]["energy_wh"] or 0.0
    car(station).set_state("B")
    station.hardware.simulated.reader.present(ALICE)
    await eventually(lambda: connector(station)["transaction"], what="a transaction")
    assert not board(station).contactor_closed, "no contactor before the car asks (state B)"
    car(station).set_state("C")
    await charging(station)
    await eventually(lambda: connector(station)["meter"]["energy_wh"] > start_energy + 5,
                     what="energy flowing")
    car(station).set_state("A")
    await eventually(lambda: any(s.stopped for s in side.sessions()), what="the session billed")
    assert not board(station).contactor_closed
    session = billed_once(side, station, start_energy)
    assert session.id_token == ALICE and session.stop_reason == "EVDisconnected"
    await eventually(lambda: connector(station)["status"] == "Available")


async def test_a_remote_start_charges_and_a_remote_stop_ends_the_session(side, station):
    car(station).set_state("B")
    assert await side.remote_start(ALICE, 1)
    car(station).set_state("C")
    transaction = (await charging(station))["transaction"]
    assert await side.remote_stop(transaction["id"])
    await eventually(lambda: not board(station).contactor_closed, what="contactor open")
    car(station).set_state("A")
    await eventually(lambda: any(s.stopped for s in side.sessions()), what="the session billed")
    assert [s.stop_reason for s in side.sessions()] == ["Remote"]


@pytest.mark.parametrize("side", SMART_CHARGING, indirect=True)
async def test_a_csms_limit_moves_the_current_offered_to_the_car(side, station):
    car(station).set_state("B")
    assert await side.remote_start(ALICE, 1)
    car(station).set_state("C")
    await charging(station)
    assert board(station).offered_current_a == pytest.approx(32.0, abs=0.5)
    assert await side.limit_current(1, 10.0)
    await eventually(lambda: board(station).offered_current_a == pytest.approx(10.0, abs=0.5),
                     what="10 A offered")
    assert connector(station)["offered_current"] == pytest.approx(10.0, abs=0.5)
    assert "#7" in connector(station)["offered_current_reason"], "the reason names the profile"
    assert await side.clear_limits()
    await eventually(lambda: board(station).offered_current_a == pytest.approx(32.0, abs=0.5),
                     what="back to 32 A")


async def test_an_unavailable_connector_refuses_a_session_until_it_is_available(side, station):
    assert await side.set_available(1, False)
    await eventually(lambda: connector(station)["status"] == "Unavailable", what="Unavailable")
    car(station).set_state("C")
    station.hardware.simulated.reader.present(ALICE)
    assert not await side.remote_start(ALICE, 1)
    assert connector(station)["transaction"] is None and not board(station).contactor_closed
    assert await side.set_available(1, True)
    await eventually(lambda: connector(station)["status"] != "Unavailable", what="available")
    assert await side.remote_start(ALICE, 1)
    await charging(station)
    await eventually(side.sessions, what="the session at the CSMS")
    assert len(side.sessions()) == 1, "the tap while Unavailable started nothing"


async def test_a_session_that_outlives_the_link_is_billed_once_after_reconnecting(
        side, station, csms):
    start_energy = connector(station)["meter"]["energy_wh"] or 0.0
    car(station).set_state("B")
    assert await side.remote_start(ALICE, 1)
    car(station).set_state("C")
    await charging(station)
    csms.refuse_connections = True
    await csms.drop_connection("CP1")
    await eventually(lambda: not station.protocol.registered, what="offline")
    await eventually(lambda: connector(station)["meter"]["energy_wh"] > start_energy + 5,
                     what="charging on while offline")
    car(station).set_state("A")
    await eventually(lambda: connector(station)["transaction"] is None, what="stopped offline")
    assert not board(station).contactor_closed
    csms.refuse_connections = False
    await eventually(lambda: any(s.stopped for s in side.sessions()), timeout=30,
                     what="the stop delivered after reconnecting")
    assert billed_once(side, station, start_energy).stop_reason == "EVDisconnected"


async def test_a_card_on_the_local_list_starts_a_session_while_the_csms_is_unreachable(
        side, station, csms):
    assert await side.allow_offline_local_list()
    assert await side.send_local_list([ALICE])
    csms.refuse_connections = True
    await csms.drop_connection("CP1")
    await eventually(lambda: not station.protocol.registered, what="offline")
    car(station).set_state("C")
    station.hardware.simulated.reader.present(ALICE)
    await eventually(lambda: board(station).contactor_closed, what="charging offline")
    csms.refuse_connections = False
    await eventually(lambda: side.sessions(), timeout=30, what="the start delivered later")
    assert [s.id_token for s in side.sessions()] == [ALICE]


async def test_a_reserved_connector_waits_for_the_card_it_was_reserved_for(side, station):
    assert await side.reserve(1, ALICE, reservation_id=3)
    await eventually(lambda: connector(station)["status"] == "Reserved", what="Reserved")
    car(station).set_state("C")
    # Taps are handled in order: had Bob's card been let in, his session would be the one.
    station.hardware.simulated.reader.present(BOB)
    station.hardware.simulated.reader.present(ALICE)
    transaction = (await charging(station))["transaction"]
    assert transaction["id_tag"] == ALICE
    # 2.0.1 names the transaction at the station: the CSMS may hear of it a moment later.
    await eventually(side.sessions, what="the session at the CSMS")
    assert [s.id_token for s in side.sessions()] == [ALICE]


async def test_a_connector_taken_out_of_service_is_written_down_to_outlast_a_restart(
        side, station):
    """The same core effect (AvailabilityChanged) and the same record in the store, whichever
    version said it; a kill -9 test per version is in test_ocpp16_commands.py and
    test_ocpp201_availability.py."""
    assert await side.set_available(1, False)
    await eventually(lambda: station.store.state("availability") == {"0": True, "1": False},
                     what="written down")
    assert await side.set_available(1, True)
    await eventually(lambda: station.store.state("availability") == {"0": True, "1": True},
                     what="back in service, written down")


async def test_a_reservation_whose_connector_goes_out_of_service_ends(side, station):
    """The core ends it (ReservationEnded, Removed) whichever version speaks: the connector
    shows Unavailable, not Reserved, and the store holds no reservation; 2.0.1 tells the CSMS
    (ReservationStatusUpdate, in test_ocpp201_reservation.py), 1.6 has no such message."""
    assert await side.reserve(1, ALICE, reservation_id=4)
    await eventually(lambda: connector(station)["status"] == "Reserved", what="Reserved")
    assert await side.set_available(1, False)
    await eventually(lambda: connector(station)["status"] == "Unavailable", what="Unavailable")
    await eventually(lambda: station.store.state("reservations") == [], what="ended")
    assert await side.set_available(1, True)
    await eventually(lambda: connector(station)["status"] == "Available",
                     what="Available, the reservation gone")
