"""Charging profiles in the store: kept in the core's own form (so a store written while one OCPP
version was spoken is read under another), installed again after a restart, and a store from
before that form (schema 1, which kept OCPP 1.6 payloads) upgraded with the same profiles."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from typing import Any

from pievse.core.charging_profiles import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSchedule,
    ChargingSchedulePeriod,
    InstalledProfile,
    RecurrencyKind,
)
from pievse.protocol.common.datetimes import parse_datetime
from pievse.persistence.profile_codec import decode_installed_profile, encode_installed_profile
from pievse.persistence.recorder import TransactionRecorder
from pievse.persistence.store import MIGRATIONS, SCHEMA_VERSION, Store
from tests.test_station_rig import NEW_YEAR, Bench

HOUR = 3600
DAY = 86_400

#: What schema 1 wrote under state "charging_profiles": the SetChargingProfile payloads of a
#: Recurring ChargePointMaxProfile in watts with every optional field, and of an Absolute
#: TxDefaultProfile on connector 1 whose start the station had filled in.
SCHEMA_1_PROFILES: list[dict[str, Any]] = [
    {"connectorId": 0, "csChargingProfiles": {
        "chargingProfileId": 1, "stackLevel": 2, "chargingProfilePurpose": "ChargePointMaxProfile",
        "chargingProfileKind": "Recurring", "recurrencyKind": "Daily",
        "validFrom": "2025-12-31T00:00:00Z", "validTo": "2026-02-01T00:00:00.500Z",
        "chargingSchedule": {
            "chargingRateUnit": "W", "duration": 43200, "startSchedule": "2025-12-31T18:00:00Z",
            "minChargingRate": 1380.0,
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7360.0, "numberPhases": 1},
                                       {"startPeriod": 3600, "limit": 11000.0}]}}},
    {"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 7, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A", "startSchedule": "2025-12-31T23:00:00.250Z",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0},
                                       {"startPeriod": 7200, "limit": 16.0}]}}},
]
THE_SAME_PROFILES = [
    InstalledProfile(0, ChargingProfile(
        charging_profile_id=1, stack_level=2,
        purpose=ChargingProfilePurpose.CHARGE_POINT_MAX_PROFILE,
        kind=ChargingProfileKind.RECURRING,
        schedule=ChargingSchedule(
            ChargingRateUnit.WATTS,
            (ChargingSchedulePeriod(0, 7360.0, 1), ChargingSchedulePeriod(3600, 11000.0)),
            duration=43200, start_schedule=NEW_YEAR - 6 * HOUR, min_charging_rate=1380.0),
        recurrency_kind=RecurrencyKind.DAILY,
        valid_from=NEW_YEAR - DAY, valid_to=parse_datetime("2026-02-01T00:00:00.500Z"))),
    InstalledProfile(1, ChargingProfile(
        charging_profile_id=7, stack_level=0, purpose=ChargingProfilePurpose.TX_DEFAULT_PROFILE,
        kind=ChargingProfileKind.ABSOLUTE,
        schedule=ChargingSchedule(
            ChargingRateUnit.AMPS,
            (ChargingSchedulePeriod(0, 10.0), ChargingSchedulePeriod(7200, 16.0)),
            start_schedule=NEW_YEAR - HOUR + 0.25))),
]


def write_schema_1_store(path: str, profiles: list[Any]) -> None:
    """A store as pievse left it while its schema was at version 1."""
    db = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS[0](db)
    db.execute("INSERT INTO state VALUES ('charging_profiles', ?)", (json.dumps(profiles),))
    db.execute("INSERT INTO state VALUES ('next_transaction_ref', '5')")
    db.execute("PRAGMA user_version = 1")
    db.close()


def restarted(store: Store) -> Bench:
    """A station started on ``store``, as the daemon does: recover first."""
    bench = Bench(connectors=2)
    bench.record(TransactionRecorder(store, bench.station).recover())
    return bench


def test_a_store_written_with_1_6_payloads_gives_back_the_same_profiles(tmp_path) -> None:
    path = str(tmp_path / "pievse.sqlite3")
    write_schema_1_store(path, SCHEMA_1_PROFILES)
    store = Store(path).open()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store.state("next_transaction_ref") == 5, "the rest of the store is untouched"

    bench = restarted(store)
    assert list(bench.station.charging.profiles.installed) == THE_SAME_PROFILES
    bench.start_charging()
    assert bench.offered_a() == 10.0, "the TxDefaultProfile's first hour"
    store.close()


def test_the_upgrade_drops_only_a_profile_it_cannot_read(tmp_path, caplog) -> None:
    path = str(tmp_path / "pievse.sqlite3")
    broken = {"connectorId": 1, "csChargingProfiles": {"chargingProfileId": 8}}
    write_schema_1_store(path, [broken, *SCHEMA_1_PROFILES])
    store = Store(path).open()
    assert store.moved_aside is None
    assert [decode_installed_profile(p) for p in store.state("charging_profiles")] == \
        THE_SAME_PROFILES
    assert "cannot be read" in caplog.text
    store.close()


def test_profiles_set_by_the_csms_are_stored_in_the_core_form_and_come_back(tmp_path) -> None:
    path = str(tmp_path / "pievse.sqlite3")
    store = Store(path).open()
    bench = Bench(connectors=2)
    recorder = TransactionRecorder(store, bench.station)
    for entry in THE_SAME_PROFILES:
        answer = bench.command(bench.station.set_charging_profile(entry.connector_id,
                                                                  entry.profile))
        with store.batch():
            for effect in answer.effects:
                recorder.record(effect)
    store.close()

    reopened = Store(path).open()
    stored = reopened.state("charging_profiles")
    assert stored == [encode_installed_profile(entry) for entry in THE_SAME_PROFILES]
    assert stored[0]["purpose"] == "charge_point_max_profile"
    assert stored[1]["schedule"]["periods"][1] == {"start_period": 7200, "limit": 16.0,
                                                   "number_phases": None}
    assert list(restarted(reopened).station.charging.profiles.installed) == THE_SAME_PROFILES
    reopened.close()


def test_an_unreadable_stored_profile_is_left_out_not_fatal(tmp_path, caplog) -> None:
    path = str(tmp_path / "pievse.sqlite3")
    store = Store(path).open()
    good = encode_installed_profile(THE_SAME_PROFILES[1])
    store.set_state("charging_profiles", [{**good, "purpose": "TxMaxProfile"}, good])
    assert list(restarted(store).station.charging.profiles.installed) == [THE_SAME_PROFILES[1]]
    assert "unreadable" in caplog.text
    store.close()


def test_the_other_schedules_of_a_profile_are_kept_and_an_older_entry_has_none() -> None:
    entry = THE_SAME_PROFILES[1]
    other = ChargingSchedule(ChargingRateUnit.AMPS, (ChargingSchedulePeriod(0, 6.0),),
                             schedule_id=8)
    three = InstalledProfile(entry.connector_id, dataclasses.replace(
        entry.profile, other_schedules=(other, dataclasses.replace(other, schedule_id=9))))
    assert decode_installed_profile(encode_installed_profile(three)) == three
    # What was written before profiles had more than one schedule.
    older = encode_installed_profile(entry)
    del older["other_schedules"]
    assert decode_installed_profile(older) == entry
