"""Every configuration key the station reports is read-only, or changing it does something.

A key the CSMS may write but nothing acts on is a promise the station does not keep (it used to
be so for ResetRetries and ConnectorPhaseRotation). The walk below goes through every key that
GetConfiguration reports: a read-only key must refuse a change; a writable key must either feed
a station setting that the code reads, or have a probe here that changes it through the CSMS and
sees the station behave differently. A new writable key without either fails the walk.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from ocpp.exceptions import InternalError

from pievse.app.daemon import Daemon
from pievse.core.settings import StationSettings
from pievse.csms.server import CentralSystem
from pievse.protocol.v16.configuration import KeyDefinition, KeyType
from tests.conftest import eventually
from tests.test_ocpp16_sessions import charging_session, received

SOURCE = Path(__file__).resolve().parent.parent / "src" / "pievse"

Probe = Callable[[CentralSystem, Daemon], Awaitable[None]]


async def change(csms: CentralSystem, key: str, value: str) -> None:
    answer = await csms.change_configuration("CP1", key, value)
    assert answer["status"] == "Accepted", f"{key} = {value!r}: {answer['status']}"


def measurands(meter_value: dict) -> set[str]:
    return {sampled["measurand"] for sampled in meter_value["sampledValue"]}


def meter_values_in(csms: CentralSystem, context: str) -> list[dict]:
    """Every meterValue the CSMS received in MeterValues whose samples are of ``context``."""
    return [value for payload in received(csms, "MeterValues") for value in payload["meterValue"]
            if value["sampledValue"] and value["sampledValue"][0]["context"] == context]


async def stopped_session(csms: CentralSystem, daemon: Daemon,
                          before_stop: Callable[[int], Awaitable[None]] | None = None) -> dict:
    """A whole session, stopped by the CSMS: its StopTransaction."""
    transaction_id = await charging_session(csms, daemon)
    if before_stop is not None:
        await before_stop(transaction_id)
    await csms.remote_stop("CP1", transaction_id)
    [stop] = await eventually(lambda: received(csms, "StopTransaction"), what="StopTransaction")
    return stop


# --- probes: the effect of each writable key that feeds no station setting ----------------------


async def heartbeat_interval(csms: CentralSystem, daemon: Daemon) -> None:
    await change(csms, "HeartbeatInterval", "1")  # the CSMS gave 300 at boot
    before = len(received(csms, "Heartbeat"))
    await eventually(lambda: len(received(csms, "Heartbeat")) >= before + 2, timeout=5,
                     what="a Heartbeat every second")


async def websocket_ping_interval(csms: CentralSystem, daemon: Daemon) -> None:
    await change(csms, "WebSocketPingInterval", "7")
    assert daemon.link.ping_interval == 7, "the link pings at the new interval from now on"


async def meter_values_sampled_data(csms: CentralSystem, daemon: Daemon) -> None:
    await change(csms, "MeterValuesSampledData", "Voltage")
    await csms.trigger_message("CP1", "MeterValues", 1)
    [value] = await eventually(lambda: meter_values_in(csms, "Trigger"), what="MeterValues")
    assert measurands(value) == {"Voltage"}


async def meter_values_aligned_data(csms: CentralSystem, daemon: Daemon) -> None:
    await change(csms, "MeterValuesAlignedData", "Voltage")
    await change(csms, "ClockAlignedDataInterval", "1")
    aligned = await eventually(lambda: meter_values_in(csms, "Sample.Clock"), timeout=5,
                               what="clock-aligned MeterValues")
    assert measurands(aligned[0]) == {"Voltage"}


async def stop_txn_sampled_data(csms: CentralSystem, daemon: Daemon) -> None:
    await change(csms, "StopTxnSampledData", "Voltage")
    stop = await stopped_session(csms, daemon)
    assert stop["transactionData"], "the session's begin and end readings"
    for value in stop["transactionData"]:
        assert measurands(value) == {"Voltage"}, value


async def stop_txn_aligned_data(csms: CentralSystem, daemon: Daemon) -> None:
    await change(csms, "StopTxnAlignedData", "Voltage")  # by default: none
    await change(csms, "ClockAlignedDataInterval", "1")

    async def an_aligned_reading(transaction_id: int) -> None:
        await eventually(lambda: [m for m in received(csms, "MeterValues")
                                  if m.get("transactionId") == transaction_id
                                  and m["meterValue"][0]["sampledValue"][0]["context"]
                                  == "Sample.Clock"],
                         timeout=5, what="a clock-aligned reading during the session")

    stop = await stopped_session(csms, daemon, an_aligned_reading)
    aligned = [value for value in stop["transactionData"]
               if value["sampledValue"][0]["context"] == "Sample.Clock"]
    assert aligned, "the clock-aligned readings travel in the StopTransaction"
    assert all(measurands(value) == {"Voltage"} for value in aligned)


def refuse_first_start(csms: CentralSystem) -> None:
    refused: list[dict] = []

    async def on_call(cp_id: str, action: str, payload: dict) -> None:
        if action == "StartTransaction" and not refused:
            refused.append(payload)
            raise InternalError(description="the CSMS fails once")

    csms.on_call = on_call


async def transaction_message_retry_interval(csms: CentralSystem, daemon: Daemon) -> None:
    await change(csms, "TransactionMessageRetryInterval", "1")  # by default 30 s
    refuse_first_start(csms)
    daemon.hardware.simulated.evs[1].set_state("B")
    daemon.hardware.simulated.reader.present("04A1B2C3")
    await eventually(lambda: len(received(csms, "StartTransaction")) >= 2, timeout=5,
                     what="the refused StartTransaction sent again a second later")


async def transaction_message_attempts(csms: CentralSystem, daemon: Daemon) -> None:
    await change(csms, "TransactionMessageRetryInterval", "1")
    await change(csms, "TransactionMessageAttempts", "1")  # by default 3
    refuse_first_start(csms)
    daemon.hardware.simulated.evs[1].set_state("B")
    daemon.hardware.simulated.reader.present("04A1B2C3")
    await eventually(lambda: received(csms, "StartTransaction"), what="StartTransaction")
    await asyncio.sleep(3)
    assert len(received(csms, "StartTransaction")) == 1, (
        "past its one attempt a start waits for the slow retry, not the interval")


async def cpo_name(csms: CentralSystem, daemon: Daemon) -> None:
    async def sign_certificate() -> str:
        answer = await csms.call("CP1", "ExtendedTriggerMessage",
                                 {"requestedMessage": "SignChargePointCertificate"})
        return answer["status"]

    assert await sign_certificate() == "Rejected", "no CpoName: no certificate to ask for"
    await change(csms, "CpoName", "ACME Charging")
    assert await sign_certificate() == "Accepted"


KEY = "0123456789abcdef0123"


async def authorization_key(csms: CentralSystem, daemon: Daemon) -> None:
    await change(csms, "AuthorizationKey", KEY)
    assert daemon.security.state.authorization_key == KEY, "the key of the next connection"


async def security_profile(csms: CentralSystem, daemon: Daemon) -> None:
    _, headers = daemon.security.transport()
    assert "Authorization" not in headers
    statuses = len(received(csms, "StatusNotification"))
    await change(csms, "AuthorizationKey", KEY)  # the station reconnects with it
    # A reconnect is not a reboot: the statuses sent again say it is back.
    await eventually(lambda: len(received(csms, "StatusNotification")) > statuses and
                     daemon.protocol.registered, what="registered again")
    await change(csms, "SecurityProfile", "1")
    _, headers = daemon.security.transport()
    assert headers["Authorization"].startswith("Basic "), "the next connection authenticates"


PROBES: dict[str, Probe] = {
    "HeartbeatInterval": heartbeat_interval,
    "WebSocketPingInterval": websocket_ping_interval,
    "MeterValuesSampledData": meter_values_sampled_data,
    "MeterValuesAlignedData": meter_values_aligned_data,
    "StopTxnSampledData": stop_txn_sampled_data,
    "StopTxnAlignedData": stop_txn_aligned_data,
    "TransactionMessageRetryInterval": transaction_message_retry_interval,
    "TransactionMessageAttempts": transaction_message_attempts,
    "CpoName": cpo_name,
    "AuthorizationKey": authorization_key,
    "SecurityProfile": security_profile,
}


# --- the walk -----------------------------------------------------------------------------------


async def reported_keys(csms: CentralSystem) -> dict[str, dict]:
    answer = await csms.get_configuration("CP1")
    return {entry["key"]: entry for entry in answer["configurationKey"]}


async def test_every_reported_key_is_read_only_or_has_a_proven_effect(csms, start_station):
    daemon = await start_station()
    keys = await reported_keys(csms)
    configuration = daemon.protocol.configuration
    writable = set()
    for name, entry in keys.items():
        if entry["readonly"]:
            answer = await csms.change_configuration("CP1", name, entry["value"])
            assert answer["status"] == "Rejected", f"read-only {name} accepted a change"
            continue
        writable.add(name)
        feeds = configuration.definition(name).setting if name in configuration else None
        assert feeds is not None or name in PROBES, (
            f"{name} is writable but nothing here shows it does anything: make it read-only, "
            "or give it a station setting or a probe")
    assert set(PROBES) <= writable, f"probes of keys not writable: {set(PROBES) - writable}"
    assert {"ResetRetries", "ConnectorPhaseRotation"} <= set(keys) - writable


@pytest.mark.parametrize("key", sorted(PROBES))
async def test_changing_a_key_that_feeds_no_setting_changes_what_the_station_does(
        csms, start_station, key):
    daemon = await start_station()
    await PROBES[key](csms, daemon)


def _another_value(definition: KeyDefinition, current: str) -> str:
    if definition.type is KeyType.BOOL:
        return "false" if current == "true" else "true"
    assert definition.type is KeyType.INT, definition
    value = int(current) + 1
    if definition.maximum is not None and value > definition.maximum:
        value = int(current) - 1
    return str(value)


async def test_changing_a_key_that_feeds_a_setting_reaches_the_station_and_the_setting_is_read(
        csms, start_station):
    daemon = await start_station()
    configuration = daemon.protocol.configuration
    keys = await reported_keys(csms)
    sources = {path: path.read_text() for path in SOURCE.rglob("*.py")
               if path != SOURCE / "core" / "settings.py"}
    fed = 0
    for name, entry in keys.items():
        definition = configuration.definition(name) if name in configuration else None
        if entry["readonly"] or definition is None or definition.setting is None:
            continue
        fed += 1
        assert definition.setting in StationSettings.__dataclass_fields__, definition
        value = _another_value(definition, entry["value"])
        await change(csms, name, value)
        expected = (definition.to_setting or (lambda v: v))(
            value == "true" if definition.type is KeyType.BOOL else int(value))
        assert getattr(daemon.station.settings, definition.setting) == expected, name
        read = re.compile(rf"\.{definition.setting}\b")
        assert any(read.search(text) for text in sources.values()), (
            f"{name} feeds the setting {definition.setting}, which no code reads")
    assert fed >= 10, "the keys that feed the station's settings were found"


async def test_the_phase_rotation_is_the_installers_and_read_only(csms, start_station):
    await start_station(charge_point={"connectors": 2, "phase_rotation": "RTS"})
    keys = await reported_keys(csms)
    assert keys["ConnectorPhaseRotation"] == {"key": "ConnectorPhaseRotation", "readonly": True,
                                              "value": "0.RTS,1.RTS,2.RTS"}
    answer = await csms.change_configuration("CP1", "ConnectorPhaseRotation", "0.RST,1.RST")
    assert answer["status"] == "Rejected"


async def test_a_single_phase_station_has_no_phase_rotation_and_resets_are_not_retried(
        csms, start_station):
    await start_station(charge_point={"phases": 1})
    keys = await reported_keys(csms)
    assert keys["ConnectorPhaseRotation"]["value"] == "0.NotApplicable,1.NotApplicable"
    assert keys["ResetRetries"] == {"key": "ResetRetries", "readonly": True, "value": "0"}


async def test_a_value_an_older_version_let_the_csms_store_for_a_now_read_only_key_is_dropped(
        csms, start_station, tmp_path):
    from pievse.persistence.store import Store

    path = str(tmp_path / "pievse.sqlite3")
    store = Store(path).open()
    store.configuration_changed("ResetRetries", 5)
    store.configuration_changed("ConnectorPhaseRotation", "0.RST,1.RST")
    store.configuration_changed("MeterValueSampleInterval", 30)  # writable: kept
    store.close()
    await start_station(storage={"path": path})
    keys = await reported_keys(csms)
    assert keys["ResetRetries"]["value"] == "0"
    assert keys["ConnectorPhaseRotation"]["value"] == "0.Unknown,1.Unknown"
    assert keys["MeterValueSampleInterval"]["value"] == "30"
