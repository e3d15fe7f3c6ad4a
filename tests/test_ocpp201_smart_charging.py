"""OCPP 2.0.1 K Smart charging, end to end over websockets against the bench CSMS, one test per
OCTT test case (named after it) or, where no case id is at hand, per use case: profiles on an
EVSE and on the station, TxProfiles, clearing, reporting, the composite schedule, a profile in
RequestStartTransaction, and bad profiles refused with why before anything changes. The core
decides the limits as under 1.6; these check the 2.0.1 words."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import eventually
from tests.ocpp201 import CARD, OCPP201, get_variable, sent, set_variable

pytestmark = pytest.mark.asyncio


def profile(profile_id: int, purpose: str = "TxDefaultProfile", *, limit: float = 10.0,
            unit: str = "A", stack_level: int = 0, kind: str = "Relative",
            **more: Any) -> dict[str, Any]:
    return {"id": profile_id, "stackLevel": stack_level, "chargingProfilePurpose": purpose,
            "chargingProfileKind": kind, **more,
            "chargingSchedule": [{"id": profile_id, "chargingRateUnit": unit,
                                  "chargingSchedulePeriod": [
                                      {"startPeriod": 0, "limit": limit}]}]}


async def set_profile(csms, evse_id: int, body: dict[str, Any]) -> dict[str, Any]:
    return await csms.call("CP1", "SetChargingProfile",
                           {"evseId": evse_id, "chargingProfile": body})


def offered(station, evse_id: int = 1) -> float:
    return station.hardware.simulated.boards[evse_id].offered_current_a


async def charging(csms, station, evse_id: int = 1) -> str:
    """A card session charging on ``evse_id``; its transactionId."""
    sim = station.hardware.simulated
    sim.evs[evse_id].set_state("C")
    sim.reader.present(CARD["idToken"])
    await eventually(lambda: sim.boards[evse_id].contactor_closed, what="charging")
    await eventually(lambda: sent(csms, "TransactionEvent"), what="Started")
    return sent(csms, "TransactionEvent")[0]["transactionInfo"]["transactionId"]


async def test_tc_k_01_tx_default_profile_on_a_specific_evse_limits_it(csms, start_station):
    station = await start_station(ocpp=OCPP201)
    await charging(csms, station)
    assert (await set_profile(csms, 1, profile(11, limit=10.0)))["status"] == "Accepted"
    await eventually(lambda: offered(station) == pytest.approx(10.0, abs=0.5), what="10 A")
    assert "#11" in station.status()["connectors"][0]["offered_current_reason"]


async def test_tc_k_10_tx_default_profile_on_all_evses_in_watts(csms, start_station):
    station = await start_station(ocpp=OCPP201, charge_point={"connectors": 2})
    await charging(csms, station)
    # 6900 W over 3 phases at 230 V: 10 A.
    assert (await set_profile(csms, 0, profile(12, limit=6900.0, unit="W")))[
        "status"] == "Accepted"
    await eventually(lambda: offered(station) == pytest.approx(10.0, abs=0.5), what="10 A")


async def test_tc_k_02_tx_profile_without_a_transaction_is_rejected_with_why(
        csms, start_station):
    await start_station(ocpp=OCPP201)
    answer = await set_profile(csms, 1, profile(13, "TxProfile", transactionId="nope"))
    assert answer["status"] == "Rejected"
    assert "no transaction" in answer["statusInfo"]["additionalInfo"]


async def test_tc_k_60_tx_profile_for_the_ongoing_transaction(csms, start_station):
    station = await start_station(ocpp=OCPP201)
    transaction_id = await charging(csms, station)
    wrong = await set_profile(csms, 1, profile(14, "TxProfile", transactionId="other"))
    assert wrong["status"] == "Rejected"
    right = await set_profile(csms, 1, profile(14, "TxProfile", limit=8.0,
                                                transactionId=transaction_id))
    assert right["status"] == "Accepted"
    await eventually(lambda: offered(station) == pytest.approx(8.0, abs=0.5), what="8 A")


async def test_k01_charging_station_max_profile_only_on_evse_0(csms, start_station):
    station = await start_station(ocpp=OCPP201)
    on_evse = await set_profile(csms, 1, profile(15, "ChargingStationMaxProfile"))
    assert on_evse["status"] == "Rejected"
    await charging(csms, station)
    assert (await set_profile(csms, 0, profile(15, "ChargingStationMaxProfile", limit=12.0,
                                               kind="Absolute")))["status"] == "Accepted"
    await eventually(lambda: offered(station) == pytest.approx(12.0, abs=0.5), what="12 A")


async def test_k01_what_this_station_does_not_do_is_rejected_with_why(csms, start_station):
    station = await start_station(ocpp=OCPP201)
    body = profile(16)
    body["chargingSchedule"].append({**body["chargingSchedule"][0], "id": 17,
                                     "chargingSchedulePeriod": [
                                         {"startPeriod": 0, "limit": 6.0, "phaseToUse": 1}]})
    phase = await set_profile(csms, 1, body)
    assert phase["status"] == "Rejected"
    assert phase["statusInfo"]["reasonCode"] == "UnsupportedRequest"
    external = await set_profile(csms, 1, profile(18, "ChargingStationExternalConstraints"))
    assert external["status"] == "Rejected"
    deep = await set_profile(csms, 1, profile(19, stack_level=99))
    assert "ChargeProfileMaxStackLevel" in deep["statusInfo"]["additionalInfo"]
    passed = await set_profile(csms, 1, {**profile(20), "validTo": "2000-01-01T00:00:00Z"})
    assert "validTo" in passed["statusInfo"]["additionalInfo"]
    huge = profile(21)
    huge["chargingSchedule"][0]["duration"] = 10**12
    assert (await set_profile(csms, 1, huge))["status"] == "Rejected"
    assert station.station.charging.profiles.installed == ()


async def test_tc_k_08_clear_without_a_previous_profile_is_unknown(csms, start_station):
    await start_station(ocpp=OCPP201)
    answer = await csms.call("CP1", "ClearChargingProfile", {"chargingProfileId": 99})
    assert answer["status"] == "Unknown"


async def test_k10_clear_by_id_and_by_criteria(csms, start_station):
    station = await start_station(ocpp=OCPP201)
    for n in (31, 32):
        assert (await set_profile(csms, 1, profile(n, stack_level=n - 30)))[
            "status"] == "Accepted"
    assert (await csms.call("CP1", "ClearChargingProfile", {"chargingProfileId": 31}))[
        "status"] == "Accepted"
    assert (await csms.call("CP1", "ClearChargingProfile", {"chargingProfileCriteria": {
        "evseId": 1, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 2}}))[
        "status"] == "Accepted"
    assert station.station.charging.profiles.installed == ()


async def three_profiles(csms, start_station):
    await start_station(ocpp=OCPP201, charge_point={"connectors": 2})
    for evse, n in ((0, 41), (1, 42), (2, 43)):
        assert (await set_profile(csms, evse, profile(n)))["status"] == "Accepted"
    assert (await set_profile(csms, 1, profile(44, stack_level=3, kind="Absolute")))[
        "status"] == "Accepted"


async def reported(csms, request: dict[str, Any], count: int) -> list[dict[str, Any]]:
    answer = await csms.call("CP1", "GetChargingProfiles", request)
    assert answer["status"] == "Accepted"
    await eventually(lambda: len(sent(csms, "ReportChargingProfiles")) == count,
                     what=f"{count} reports")
    reports = sent(csms, "ReportChargingProfiles")
    assert all(r["requestId"] == request["requestId"] for r in reports)
    assert all(r["chargingLimitSource"] == "CSO" for r in reports)
    assert [r.get("tbc", False) for r in reports] == [True] * (count - 1) + [False]
    return reports


async def test_tc_k_31_get_charging_profiles_without_evse_reports_each_evse(
        csms, start_station):
    await three_profiles(csms, start_station)
    reports = await reported(csms, {"requestId": 5, "chargingProfile": {}}, 3)
    assert [r["evseId"] for r in reports] == [0, 1, 2]
    assert [p["id"] for p in reports[1]["chargingProfile"]] == [42, 44]
    assert reports[1]["chargingProfile"][0]["chargingSchedule"][0]["chargingSchedulePeriod"] \
        == [{"startPeriod": 0, "limit": 10.0}]


async def test_tc_k_29_get_charging_profiles_of_evse_0(csms, start_station):
    await three_profiles(csms, start_station)
    [report] = await reported(csms, {"requestId": 6, "evseId": 0, "chargingProfile": {}}, 1)
    assert report["evseId"] == 0 and [p["id"] for p in report["chargingProfile"]] == [41]


async def test_tc_k_35_get_charging_profiles_of_an_evse_and_purpose(csms, start_station):
    await three_profiles(csms, start_station)
    [report] = await reported(csms, {"requestId": 7, "evseId": 1, "chargingProfile": {
        "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 3}}, 1)
    assert [p["id"] for p in report["chargingProfile"]] == [44]
    none = await csms.call("CP1", "GetChargingProfiles", {
        "requestId": 8, "chargingProfile": {"chargingLimitSource": ["EMS"]}})
    assert none["status"] == "NoProfiles"


async def test_tc_k_43_composite_schedule_of_a_specific_evse(csms, start_station):
    await start_station(ocpp=OCPP201)
    assert (await set_profile(csms, 1, profile(51, limit=16.0, kind="Absolute")))[
        "status"] == "Accepted"
    answer = await csms.call("CP1", "GetCompositeSchedule",
                             {"duration": 3600, "evseId": 1, "chargingRateUnit": "A"})
    assert answer["status"] == "Accepted"
    schedule = answer["schedule"]
    assert schedule["evseId"] == 1 and schedule["chargingRateUnit"] == "A"
    assert schedule["chargingSchedulePeriod"][0]["limit"] == 16.0


async def test_k08_composite_schedule_of_the_station_and_bad_requests(csms, start_station):
    await start_station(ocpp=OCPP201)
    whole = await csms.call("CP1", "GetCompositeSchedule", {"duration": 600, "evseId": 0})
    assert whole["status"] == "Accepted" and whole["schedule"]["evseId"] == 0
    unknown = await csms.call("CP1", "GetCompositeSchedule", {"duration": 600, "evseId": 9})
    assert unknown["status"] == "Rejected" and "statusInfo" in unknown
    absurd = await csms.call("CP1", "GetCompositeSchedule", {"duration": 10**9, "evseId": 1})
    assert absurd["status"] == "Rejected"


async def test_k05_request_start_transaction_with_a_tx_profile(csms, start_station):
    station = await start_station(ocpp=OCPP201)
    sim = station.hardware.simulated
    sim.evs[1].set_state("B")
    body = profile(61, "TxProfile", limit=9.0)
    answer = await csms.call("CP1", "RequestStartTransaction", {
        "idToken": CARD, "evseId": 1, "remoteStartId": 1, "chargingProfile": body})
    assert answer["status"] == "Accepted"
    sim.evs[1].set_state("C")
    await eventually(lambda: sim.boards[1].contactor_closed, what="charging")
    await eventually(lambda: offered(station) == pytest.approx(9.0, abs=0.5), what="9 A")
    default = await csms.call("CP1", "RequestStartTransaction", {
        "idToken": CARD, "evseId": 1, "remoteStartId": 2, "chargingProfile": profile(62)})
    assert default["status"] == "Rejected"


async def test_smart_charging_ctrlr_says_what_the_1_6_keys_say(csms, start_station):
    await start_station(ocpp=OCPP201)
    assert (await get_variable(csms, "SmartChargingCtrlr", "ProfileStackLevel"))[
        "attributeValue"] == "10"
    assert (await get_variable(csms, "SmartChargingCtrlr", "Entries",
                               instance="ChargingProfiles"))["attributeValue"] == "20"
    assert (await get_variable(csms, "SmartChargingCtrlr", "RateUnit"))[
        "attributeValue"] == "A,W"
    assert (await get_variable(csms, "SmartChargingCtrlr", "PeriodsPerSchedule"))[
        "attributeValue"] == "48"


async def test_k11_k13_a_local_limit_is_reported_as_an_external_constraint(csms, start_station):
    station = await start_station(ocpp=OCPP201)
    await charging(csms, station)
    station.set_local_limit(None, 10.0)  # what POST /api/limit does
    await eventually(lambda: sent(csms, "NotifyChargingLimit"), what="NotifyChargingLimit")
    [notified] = sent(csms, "NotifyChargingLimit")
    assert notified["chargingLimit"] == {"chargingLimitSource": "Other"}
    assert notified["evseId"] == 1
    assert notified["chargingSchedule"][0]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 10.0}]
    # A move under LimitChangeSignificance (5 %) is not worth a message; a larger one is.
    station.set_local_limit(None, 10.2)
    station.set_local_limit(None, 16.0)
    await eventually(lambda: len(sent(csms, "NotifyChargingLimit")) == 2, what="16 A")
    assert sent(csms, "NotifyChargingLimit")[1]["chargingSchedule"][0][
        "chargingSchedulePeriod"][0]["limit"] == 16.0
    station.set_local_limit(None, 40.0)  # above the installation's 32 A: it changes nothing
    await eventually(lambda: sent(csms, "ClearedChargingLimit"), what="ClearedChargingLimit")
    assert sent(csms, "ClearedChargingLimit") == [{"chargingLimitSource": "Other", "evseId": 1}]
    assert len(sent(csms, "NotifyChargingLimit")) == 2


async def test_the_limit_change_significance_is_the_csms_s_to_set(csms, start_station):
    await start_station(ocpp=OCPP201)
    assert await set_variable(csms, "SmartChargingCtrlr", "LimitChangeSignificance",
                              "20") == "Accepted"
    assert (await get_variable(csms, "SmartChargingCtrlr", "LimitChangeSignificance"))[
        "attributeValue"] == "20"
    assert await set_variable(csms, "SmartChargingCtrlr", "LimitChangeSignificance",
                              "-1") == "Rejected"
    assert await set_variable(csms, "SmartChargingCtrlr", "ProfileStackLevel",
                              "3") == "Rejected"


async def _reports(csms, request: dict[str, Any]) -> list[dict[str, Any]]:
    """The ReportChargingProfiles of one request, once the last (not tbc) is in."""
    answer = await csms.call("CP1", "GetChargingProfiles", request)
    assert answer["status"] == "Accepted"
    mine = lambda: [r for r in sent(csms, "ReportChargingProfiles")  # noqa: E731
                    if r["requestId"] == request["requestId"]]
    await eventually(lambda: mine() and not mine()[-1].get("tbc"), what="the reports")
    return mine()


async def test_tc_k_29_get_charging_profiles_by_source_reports_the_external_constraints(
        csms, start_station):
    """K09 with chargingLimitSource: the local limit in force (set through the local API:
    source Other) is a ChargingStationExternalConstraints profile of its own report; the CSMS's
    profiles come in theirs, per source and EVSE, tbc on all but the last."""
    station = await start_station(ocpp=OCPP201)
    assert (await set_profile(csms, 1, profile(71, limit=16.0)))["status"] == "Accepted"
    station.set_local_limit(1, 10.0)
    await eventually(lambda: sent(csms, "NotifyChargingLimit"), what="the limit in force")
    [external] = await _reports(csms, {"requestId": 21, "chargingProfile": {
        "chargingLimitSource": ["Other"]}})
    assert external["chargingLimitSource"] == "Other" and external["evseId"] == 1
    [constraint] = external["chargingProfile"]
    assert constraint["chargingProfilePurpose"] == "ChargingStationExternalConstraints"
    assert constraint["chargingSchedule"][0]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 10.0}]
    both = await _reports(csms, {"requestId": 22, "evseId": 1, "chargingProfile": {}})
    assert [(r["chargingLimitSource"], r.get("tbc", False)) for r in both] == [
        ("CSO", True), ("Other", False)]
    assert [p["id"] for p in both[0]["chargingProfile"]] == [71]
    none = await csms.call("CP1", "GetChargingProfiles", {"requestId": 23, "chargingProfile": {
        "chargingLimitSource": ["EMS"]}})
    assert none["status"] == "NoProfiles"
    by_purpose = await _reports(csms, {"requestId": 24, "chargingProfile": {
        "chargingProfilePurpose": "ChargingStationExternalConstraints"}})
    assert [r["chargingLimitSource"] for r in by_purpose] == ["Other"]


async def test_tc_k_43_44_composite_schedule_with_and_without_local_limits(csms, start_station):
    """EVSE 0 and EVSE 1: with no profile and no local limit the installation maximum; a
    profile lowers it; a local limit in force (an external constraint) lowers it further."""
    station = await start_station(ocpp=OCPP201)

    async def composite(evse_id: int) -> float:
        answer = await csms.call("CP1", "GetCompositeSchedule", {
            "duration": 600, "evseId": evse_id, "chargingRateUnit": "A"})
        assert answer["status"] == "Accepted" and answer["schedule"]["evseId"] == evse_id
        return answer["schedule"]["chargingSchedulePeriod"][0]["limit"]

    assert (await composite(0), await composite(1)) == (32.0, 32.0)
    assert (await set_profile(csms, 1, profile(81, limit=16.0, kind="Absolute")))[
        "status"] == "Accepted"
    assert (await composite(0), await composite(1)) == (32.0, 16.0)
    station.set_local_limit(None, 12.0)  # station-wide, shared by the sessions
    assert (await composite(0), await composite(1)) == (12.0, 12.0)
    station.set_local_limit(None, None)
    assert (await composite(0), await composite(1)) == (32.0, 16.0)


def three_schedules(profile_id: int) -> dict[str, Any]:
    """A TxDefaultProfile with three schedules (for an ISO 15118 car to choose from): 10 A,
    8 A and 6 A."""
    body = profile(profile_id, limit=10.0)
    first = body["chargingSchedule"][0]
    body["chargingSchedule"] += [
        {**first, "id": profile_id + 1, "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 8.0}]},
        {**first, "id": profile_id + 2, "chargingRateUnit": "W", "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 4140.0}, {"startPeriod": 600, "limit": 1380.0}]}]
    return body


async def test_k01_three_schedules_the_first_in_force_all_reported_and_kept_over_a_restart(
        csms, start_station, tmp_path):
    storage = {"path": str(tmp_path / "pievse.sqlite3")}
    body = three_schedules(51)
    first = await start_station(ocpp=OCPP201, storage=storage)
    await charging(csms, first)
    assert (await set_profile(csms, 1, body)) == {"status": "Accepted"}
    # No ISO 15118 session: no car chose, the first schedule is in force.
    await eventually(lambda: offered(first) == pytest.approx(10.0, abs=0.5), what="10 A")
    reports = await reported(csms, {"requestId": 7, "chargingProfile": {}}, 1)
    assert reports[0]["chargingProfile"] == [body]

    kept = [e.profile for e in first.station.charging.profiles.installed]
    assert len(kept[0].schedules) == 3

    first.stop()
    await eventually(lambda: not csms.connected("CP1"), what="first station gone")
    await eventually(lambda: first.store._db is None, what="first station's store closed")
    second = await start_station(ocpp=OCPP201, storage=storage)
    assert [e.profile for e in second.station.charging.profiles.installed] == kept
    answer = await csms.call("CP1", "GetChargingProfiles", {"requestId": 8, "chargingProfile": {}})
    assert answer["status"] == "Accepted"
    await eventually(lambda: len(sent(csms, "ReportChargingProfiles")) == 2, what="a report")
    assert sent(csms, "ReportChargingProfiles")[1]["chargingProfile"] == [body]


async def test_k01_four_schedules_or_two_with_one_id_are_refused(csms, start_station):
    station = await start_station(ocpp=OCPP201)
    body = three_schedules(61)
    body["chargingSchedule"].append({**body["chargingSchedule"][0], "id": 64})
    # The bench CSMS will not send what the schema forbids: the frame goes as raw text.
    frame = json.dumps([2, "four", "SetChargingProfile",
                        {"evseId": 1, "chargingProfile": body}])
    answer = json.loads(await csms.send_raw("CP1", frame))
    # The schema allows three: the RPC layer refuses it before the codec sees it.
    assert answer[:3] == [4, "four", "OccurrenceConstraintViolation"]
    same = three_schedules(71)
    same["chargingSchedule"][2]["id"] = 71
    answer = await set_profile(csms, 1, same)
    assert answer["status"] == "Rejected" and "71" in answer["statusInfo"]["additionalInfo"]
    # Each schedule is checked on its own, not only the one in force.
    late = three_schedules(81)
    late["chargingSchedule"][1]["chargingSchedulePeriod"][0]["startPeriod"] = 60
    answer = await set_profile(csms, 1, late)
    assert answer["status"] == "Rejected" and "startPeriod 0" in answer["statusInfo"][
        "additionalInfo"]
    assert station.station.charging.profiles.installed == ()

