"""OCPP 1.6 Smart Charging end to end, over real websockets: a profile the CSMS sets moves the
pilot, and the simulated car's measured current follows within its reaction delay; the composite
schedule, clearing, RemoteStartTransaction with a TxProfile, and profiles kept across a restart.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.conftest import eventually
from tests.test_ocpp16_sessions import charging_session, received, status_now


def profile(profile_id: int, purpose: str, limit: float, *, unit: str = "A",
            kind: str = "Absolute", stack_level: int = 0) -> dict:
    schedule: dict = {"chargingRateUnit": unit,
                      "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}
    if kind == "Absolute":
        schedule["startSchedule"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"chargingProfileId": profile_id, "stackLevel": stack_level,
            "chargingProfilePurpose": purpose, "chargingProfileKind": kind,
            "chargingSchedule": schedule}


def measured_current(daemon) -> list[float]:
    return daemon.status()["connectors"][0]["meter"]["current_a"]


def offered_in_meter_values(csms) -> list[float]:
    return [float(v["value"]) for p in received(csms, "MeterValues") for mv in p["meterValue"]
            for v in mv["sampledValue"] if v.get("measurand") == "Current.Offered"]


async def test_set_charging_profile_the_car_follows_within_its_reaction_delay(
        csms, start_station):
    daemon = await start_station(keys={"MeterValueSampleInterval": 1})
    await charging_session(csms, daemon)
    await eventually(lambda: measured_current(daemon) and min(measured_current(daemon)) > 30,
                     what="the car drawing 32 A")
    answer = await csms.set_charging_profile("CP1", 1, profile(7, "TxProfile", 10))
    assert answer == {"status": "Accepted"}
    # The board offers what its duty-cycle resolution allows: never more than the limit.
    assert 9.9 <= daemon.status()["connectors"][0]["offered_current"] <= 10.0
    assert "TxProfile" in daemon.status()["connectors"][0]["offered_current_reason"]
    await eventually(lambda: max(measured_current(daemon)) <= 10.0,
                     what="the car's measured current down to 10 A")
    await eventually(lambda: any(9.9 <= a <= 10.0 for a in offered_in_meter_values(csms)),
                     what="MeterValues with Current.Offered 10 A")


async def test_a_zero_limit_suspends_the_session_and_clearing_it_resumes(csms, start_station):
    daemon = await start_station()
    await charging_session(csms, daemon)
    await csms.set_charging_profile("CP1", 0, profile(1, "TxDefaultProfile", 0))
    await eventually(lambda: status_now(csms) == "SuspendedEVSE", what="SuspendedEVSE")
    assert not received(csms, "StopTransaction")
    assert await csms.clear_charging_profile("CP1", id=1) == {"status": "Accepted"}
    await eventually(lambda: status_now(csms) == "Charging", what="Charging again")


async def test_get_composite_schedule_reports_the_limit_in_amps_and_watts(csms, start_station):
    await start_station()
    await csms.set_charging_profile("CP1", 0, profile(1, "ChargePointMaxProfile", 16))
    amps = await csms.get_composite_schedule("CP1", 1, 3600, "A")
    assert amps["status"] == "Accepted" and amps["connectorId"] == 1
    assert [p["limit"] for p in amps["chargingSchedule"]["chargingSchedulePeriod"]] == [16.0]
    watts = await csms.get_composite_schedule("CP1", 0, 600, "W")
    assert watts["chargingSchedule"]["chargingRateUnit"] == "W"
    assert watts["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == \
        pytest.approx(16 * 230 * 3)


async def test_clear_by_purpose_and_a_composite_schedule_for_no_such_connector(
        csms, start_station):
    """The 1.6 names of purposes and statuses reach the core and come back: a clear that matches
    nothing is Unknown, one that matches is Accepted; connector 3 of a one-connector station has
    no schedule to give."""
    await start_station()
    await csms.set_charging_profile("CP1", 0, profile(1, "ChargePointMaxProfile", 16))
    assert await csms.clear_charging_profile(
        "CP1", chargingProfilePurpose="TxDefaultProfile") == {"status": "Unknown"}
    assert await csms.clear_charging_profile(
        "CP1", connectorId=0, chargingProfilePurpose="ChargePointMaxProfile") == {
        "status": "Accepted"}
    assert await csms.get_composite_schedule("CP1", 3, 600) == {"status": "Rejected"}
    assert await csms.set_charging_profile("CP1", 3, profile(2, "TxDefaultProfile", 8)) == {
        "status": "Rejected"}


async def test_profiles_past_what_the_station_holds_are_rejected(csms, start_station):
    await start_station()
    too_high = profile(1, "TxDefaultProfile", 10, stack_level=11)  # ChargeProfileMaxStackLevel 10
    assert await csms.set_charging_profile("CP1", 0, too_high) == {"status": "Rejected"}
    tx_without_transaction = profile(2, "TxProfile", 10)
    assert await csms.set_charging_profile("CP1", 1, tx_without_transaction) == \
        {"status": "Rejected"}
    keys = {k["key"]: k.get("value") for k in
            (await csms.get_configuration("CP1"))["configurationKey"]}
    assert keys["ChargeProfileMaxStackLevel"] == "10"
    assert keys["ChargingScheduleAllowedChargingRateUnit"] == "Current,Power"


async def test_remote_start_with_a_tx_profile_charges_at_its_limit(csms, start_station):
    daemon = await start_station(keys={"AuthorizeRemoteTxRequests": False})
    daemon.hardware.simulated.evs[1].set_state("B")
    tx_profile = profile(3, "TxProfile", 12, kind="Relative")
    answer = await csms.call("CP1", "RemoteStartTransaction",
                             {"idTag": "04A1B2C3", "connectorId": 1,
                              "chargingProfile": tx_profile})
    assert answer == {"status": "Accepted"}
    daemon.hardware.simulated.evs[1].set_state("C")
    await eventually(lambda: status_now(csms) == "Charging", what="Charging")
    assert 11.9 <= daemon.status()["connectors"][0]["offered_current"] <= 12.0


async def test_a_charge_point_max_profile_survives_a_restart(csms, start_station, tmp_path):
    storage = {"path": str(tmp_path / "pievse.sqlite3")}
    first = await start_station(storage=storage)
    await csms.set_charging_profile("CP1", 0, profile(1, "ChargePointMaxProfile", 13))
    first.stop()
    await eventually(lambda: not csms.connected("CP1"), what="first daemon gone")
    await eventually(lambda: first.store._db is None, what="first daemon's store closed")
    second = await start_station(storage=storage)
    await charging_session(csms, second)
    assert 12.9 <= second.status()["connectors"][0]["offered_current"] <= 13.0
