"""OCPP 2.0.1 B09/B10, end to end over websockets against bench CSMSs: SetNetworkProfile keeps a
connection in a configuration slot (checked, persisted), NetworkConfigurationPriority orders the
slots, a Reset moves the station to the new CSMS, and a slot that fails its
NetworkProfileConnectionAttempts gives way to the next. Named after the OCTT test cases."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from pievse.app.daemon import Daemon, ExitReason
from pievse.csms.server import CentralSystem
from tests.conftest import eventually, station_config
from tests.ocpp201 import OCPP201, get_variable, sent, set_variable
from tests.test_daemon_security import running

pytestmark = pytest.mark.asyncio

KEY = "0123456789abcdef-key"


def profile(url: str, *, slot: int = 1, security_profile: int = 0, version: str = "OCPP20",
            transport: str = "JSON", timeout: int = 30) -> dict:
    return {"configurationSlot": slot, "connectionData": {
        "ocppVersion": version, "ocppTransport": transport, "ocppCsmsUrl": url,
        "messageTimeout": timeout, "securityProfile": security_profile,
        "ocppInterface": "Wired0"}}


@contextlib.asynccontextmanager
async def daemon_on(csms: CentralSystem, storage: str, **ocpp):
    """A daemon of the store at ``storage`` (its network profiles beside it), running."""
    daemon = Daemon(station_config(csms.url, "CP1", ocpp={**OCPP201, **ocpp},
                                   storage={"path": storage}))
    if daemon.link is not None:
        daemon.link.backoff_initial = daemon.link.backoff_max = 0.1
    async with running(daemon):
        yield daemon


async def test_tc_b_42_set_new_network_connection_profile_accepted_and_kept(
        csms, start_station, tmp_path):
    storage = str(tmp_path / "pievse.sqlite3")
    station = await start_station(ocpp=OCPP201, storage={"path": storage})
    answer = await csms.call("CP1", "SetNetworkProfile",
                             profile("ws://127.0.0.1:9/ocpp", slot=2, timeout=20))
    assert answer["status"] == "Accepted"
    kept = station.security.network_profiles.get(2)
    assert kept is not None and kept.url == "ws://127.0.0.1:9/ocpp" and kept.message_timeout == 20
    # Persisted beside the certificates, owner-only; not used before the next start.
    from pievse.services.network_profiles import NetworkProfiles

    again = NetworkProfiles(station.security.network_profiles.path)
    assert again.get(2) == kept
    assert station.security.network_profiles.path.stat().st_mode & 0o077 == 0
    assert csms.connected("CP1")


@pytest.mark.parametrize(("change", "why"), [
    ({"slot": 999}, "configurationSlot"),
    ({"slot": 0}, "configurationSlot"),
    ({"version": "OCPP16"}, "2.0.1"),
    ({"transport": "SOAP"}, "JSON"),
    ({"security_profile": 2}, "AuthorizationKey"),
    ({"security_profile": 3}, "CentralSystemRootCertificate"),
    ({"security_profile": 7}, "no security profile"),
    ({"timeout": 0}, "messageTimeout"),
])
async def test_tc_b_43_set_new_network_connection_profile_rejected(
        csms, start_station, change, why):
    station = await start_station(ocpp=OCPP201)
    answer = await csms.call("CP1", "SetNetworkProfile", profile("ws://127.0.0.1:9/ocpp",
                                                                 **change))
    assert answer["status"] == "Rejected"
    assert why in answer["statusInfo"]["additionalInfo"]
    assert station.security.network_profiles.slots() == []


async def test_b09_a_profile_below_the_security_profile_in_force_is_rejected(
        csms, start_station):
    """A05/B09: never down, or a man in the middle could strip the security."""
    csms.authorization_keys = {"CP1": KEY}
    station = await start_station(ocpp={**OCPP201, "security_profile": 1, "password": KEY})
    answer = await csms.call("CP1", "SetNetworkProfile",
                             profile("ws://127.0.0.1:9/ocpp", security_profile=0))
    assert answer["status"] == "Rejected"
    assert "only go up" in answer["statusInfo"]["additionalInfo"]
    answer = await csms.call("CP1", "SetNetworkProfile",
                             profile("wss://127.0.0.1:9/ocpp", security_profile=1))
    assert answer["status"] == "Rejected", "a wss:// URL is not profile 1"
    answer = await csms.call("CP1", "SetNetworkProfile",
                             profile("ws://127.0.0.1:9/ocpp", security_profile=1))
    assert answer["status"] == "Accepted", "Basic auth with SecurityCtrlr.BasicAuthPassword"
    assert station.security.network_profiles.slots() == [1]


async def test_b09_the_security_profile_is_not_set_by_set_variables(csms, start_station):
    await start_station(ocpp=OCPP201)
    assert await set_variable(csms, "SecurityCtrlr", "SecurityProfile", "1") == "Rejected"
    assert (await get_variable(csms, "SecurityCtrlr", "SecurityProfile"))[
        "attributeValue"] == "0"


async def test_tc_b_45_migrate_to_new_connection_profile(csms, tmp_path):
    storage = str(tmp_path / "pievse.sqlite3")
    async with CentralSystem(host="127.0.0.1", port=0) as new_csms:
        async with daemon_on(csms, storage) as daemon:
            await eventually(lambda: daemon.protocol.registered, what="registered")
            assert await set_variable(csms, "OCPPCommCtrlr", "NetworkConfigurationPriority",
                                      "1,0") == "Rejected", "slot 1 holds no profile yet"
            answer = await csms.call("CP1", "SetNetworkProfile", profile(new_csms.url))
            assert answer["status"] == "Accepted"
            assert await set_variable(csms, "OCPPCommCtrlr", "NetworkConfigurationPriority",
                                      "1,0") == "RebootRequired"
            assert csms.connected("CP1"), "the priority waits for the next start"
            assert (await csms.call("CP1", "Reset", {"type": "Immediate"}))["status"] == \
                "Accepted"
            await eventually(lambda: daemon.exit_reason is ExitReason.SOFT_RESET,
                             what="the reset")
        # Started again, as the service does: on the new CSMS, saying why.
        async with daemon_on(csms, storage) as daemon:
            await eventually(lambda: daemon.protocol.registered, what="on the new CSMS")
            assert new_csms.connected("CP1") and not csms.connected("CP1")
            [boot] = sent(new_csms, "BootNotification")
            assert boot["reason"] == "RemoteReset"
            assert (await get_variable(new_csms, "OCPPCommCtrlr",
                                       "NetworkConfigurationPriority"))["attributeValue"] == "1,0"


async def test_b09_the_message_timeout_of_the_profile_in_use_is_how_long_a_call_waits(
        csms, tmp_path, caplog):
    storage = str(tmp_path / "pievse.sqlite3")
    async with CentralSystem(host="127.0.0.1", port=0) as new_csms:
        async with daemon_on(csms, storage) as daemon:
            await eventually(lambda: daemon.protocol.registered, what="registered")
            slot_0 = await get_variable(csms, "OCPPCommCtrlr", "MessageTimeout",
                                        instance="Default")
            assert slot_0["attributeValue"] == str(round(daemon.config.ocpp.response_timeout))
            answer = await csms.call("CP1", "SetNetworkProfile", profile(new_csms.url, timeout=2))
            assert answer["status"] == "Accepted"
            assert await set_variable(csms, "OCPPCommCtrlr", "NetworkConfigurationPriority",
                                      "1,0") == "RebootRequired"
        async with daemon_on(csms, storage) as daemon:
            await eventually(lambda: daemon.protocol.registered, what="on slot 1")
            assert (await get_variable(new_csms, "OCPPCommCtrlr", "MessageTimeout",
                                       instance="Default"))[
                "attributeValue"] == "2"
            never = asyncio.Event()

            async def silent(cp_id, action, payload):
                if action == "Heartbeat":
                    await never.wait()
                return None

            new_csms.on_call = silent
            assert (await new_csms.call("CP1", "TriggerMessage", {"requestedMessage": "Heartbeat"})
                    )["status"] == "Accepted"
            await eventually(lambda: "no answer to Heartbeat within 2 s" in caplog.text,
                             timeout=15, what="the Heartbeat given up after 2 s")
            never.set()


async def test_b10_a_slot_that_cannot_connect_gives_way_to_the_next_in_priority(
        csms, tmp_path):
    storage = str(tmp_path / "pievse.sqlite3")
    async with daemon_on(csms, storage) as daemon:
        await eventually(lambda: daemon.protocol.registered, what="registered")
        # Nothing listens on port 9 of the loopback (discard, never served on a bench).
        assert (await csms.call("CP1", "SetNetworkProfile",
                                profile("ws://127.0.0.1:9/ocpp")))["status"] == "Accepted"
        assert await set_variable(csms, "OCPPCommCtrlr", "NetworkProfileConnectionAttempts",
                                  "2") == "Accepted"
        assert await set_variable(csms, "OCPPCommCtrlr", "NetworkConfigurationPriority",
                                  "1,0") == "RebootRequired"
    connections = csms.charge_points["CP1"].connections
    async with daemon_on(csms, storage) as daemon:
        assert daemon.network.slot == 1 and ":9/" in daemon.link.url
        await eventually(lambda: daemon.protocol.registered, timeout=20,
                         what="back on slot 0 after two failed attempts")
        assert daemon.network.slot == 0
        assert csms.charge_points["CP1"].connections == connections + 1
