"""``[ocpp] version = "auto"``, end to end over websockets against the bench CSMS speaking 1.6,
2.0.1 or both: the station offers both (2.0.1 first) and speaks what the CSMS chose, the same
store, outbox and station core underneath; a CSMS that changes its version gets the other
adapter, and the values it set hold; a transaction the CSMS heard of in one version is finished
in that version, nothing lost."""

from __future__ import annotations

import logging

import pytest

from pievse.local_api.client import format_status
from tests.conftest import eventually
from tests.ocpp201 import sent

pytestmark = pytest.mark.asyncio

AUTO = {"version": "auto"}
TAG = "04A1B2C3"
ONLY_16, ONLY_201, BOTH = ("ocpp1.6",), ("ocpp2.0.1",), ("ocpp2.0.1", "ocpp1.6")


def offered(csms) -> list[str]:
    """The subprotocols of each opening handshake the CSMS accepted, as the station offered
    them."""
    return [websocket.request.headers["Sec-WebSocket-Protocol"]
            for _, websocket in csms.handshakes]


@pytest.fixture
def csms_handshakes(csms):
    csms.handshakes = []
    csms.on_connect = lambda cp_id, websocket: csms.handshakes.append((cp_id, websocket))
    return csms


async def charge(daemon) -> None:
    sim = daemon.hardware.simulated
    sim.reader.present(TAG)
    sim.evs[1].set_state("C")
    await eventually(lambda: sim.boards[1].contactor_closed, what="charging")


def status_version(daemon) -> str | None:
    return daemon.status()["ocpp"]["version"]


@pytest.mark.parametrize(("speaks", "version", "start"), [
    (BOTH, "2.0.1", "TransactionEvent"), (ONLY_201, "2.0.1", "TransactionEvent"),
    (ONLY_16, "1.6", "StartTransaction")])
async def test_auto_speaks_the_version_the_csms_chooses(csms_handshakes, start_station, speaks,
                                                        version, start):
    csms = csms_handshakes
    csms.subprotocols = speaks
    station = await start_station(ocpp=AUTO)
    assert offered(csms) == ["ocpp2.0.1, ocpp1.6"]
    assert csms.session("CP1").version == version
    assert status_version(station) == version
    await charge(station)
    await eventually(lambda: sent(csms, start), what=start)
    transaction_id = (list(csms.transactions)[-1]
                      if version == "1.6" else
                      sent(csms, start)[0]["transactionInfo"]["transactionId"])
    await eventually(lambda: (station.status()["connectors"][0]["transaction"] or {}).get("id")
                     == transaction_id, what="the CSMS's transactionId in the status")


async def test_before_the_csms_chose_the_version_is_null(csms, start_station):
    csms.refuse_connections = True
    station = await start_station(ocpp=AUTO, wait_registered=False)
    await eventually(lambda: csms.refused, what="a refused attempt")
    assert status_version(station) is None
    assert format_status(station.status()).startswith("charge point CP1: OCPP ? not connected")
    csms.refuse_connections = False
    await eventually(lambda: station.protocol.registered, what="registered", timeout=30)
    assert status_version(station) == "2.0.1"


async def test_a_csms_that_changes_version_gets_the_other_adapter_and_the_values_it_set_hold(
        csms, start_station, caplog, tmp_path):
    caplog.set_level(logging.INFO, "pievse.ocpp")
    csms.subprotocols = ONLY_16
    station = await start_station(ocpp=AUTO, storage={"path": str(tmp_path / "s.sqlite3")})
    assert status_version(station) == "1.6"
    answer = await csms.call("CP1", "ChangeConfiguration",
                             {"key": "MeterValueSampleInterval", "value": "17"})
    assert answer["status"] == "Accepted"
    adapter_16 = station.protocol.current
    csms.subprotocols = ONLY_201
    await csms.drop_connection("CP1")
    await eventually(lambda: status_version(station) == "2.0.1" and station.protocol.registered,
                     what="registered on 2.0.1", timeout=30)
    assert any("the CSMS chose OCPP 2.0.1 (OCPP 1.6 before)" in r.getMessage()
               and r.levelno == logging.WARNING for r in caplog.records)
    answer = await csms.call("CP1", "GetVariables", {"getVariableData": [
        {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}}]})
    assert answer["getVariableResult"][0]["attributeValue"] == "17"
    assert station.station.settings.meter_value_sample_interval_s == 17
    # Changed under 2.0.1, it holds under 1.6 again; the 1.6 adapter is the one built first.
    answer = await csms.call("CP1", "SetVariables", {"setVariableData": [
        {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"},
         "attributeValue": "23"}]})
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
    csms.subprotocols = ONLY_16
    await csms.drop_connection("CP1")
    await eventually(lambda: status_version(station) == "1.6" and station.protocol.registered,
                     what="registered on 1.6 again", timeout=30)
    assert station.protocol.current is adapter_16
    answer = await csms.call("CP1", "GetConfiguration", {"key": ["MeterValueSampleInterval"]})
    assert answer["configurationKey"][0]["value"] == "23"
    # What the CSMS chose last is kept: the next start begins with it.
    assert station.store.state("ocpp_version_chosen") == "1.6"


async def test_a_transaction_begun_under_16_is_finished_under_16(csms_handshakes, start_station,
                                                                 caplog):
    csms = csms_handshakes
    csms.subprotocols = ONLY_16
    station = await start_station(ocpp=AUTO)
    await charge(station)
    await eventually(lambda: csms.transactions, what="StartTransaction")
    transaction_id = list(csms.transactions)[-1]
    # The CSMS now speaks 2.0.1 only: the station offers only 1.6 while its transaction runs,
    # so it stays offline, and the transaction ends offline.
    csms.subprotocols = ONLY_201
    await csms.drop_connection("CP1")
    await eventually(lambda: any(status == 400 for _, status in csms.refused),
                     what="the 2.0.1-only CSMS refusing the offer of 1.6", timeout=30)
    station.hardware.simulated.evs[1].set_state("A")
    await eventually(lambda: station.status()["connectors"][0]["transaction"] is None,
                     what="the transaction ended")
    assert station.status()["ocpp"]["queued_transaction_messages"] >= 1
    assert any("offering only ocpp1.6" in r.getMessage() for r in caplog.records)
    # The CSMS speaks 1.6 again (and 2.0.1): the StopTransaction goes out in 1.6.
    csms.subprotocols = BOTH
    await eventually(lambda: sent(csms, "StopTransaction"), what="StopTransaction", timeout=60)
    assert sent(csms, "StopTransaction")[0]["transactionId"] == transaction_id
    assert not sent(csms, "TransactionEvent")
    assert offered(csms)[-1] == "ocpp1.6"
    assert csms.session("CP1").version == "1.6"
    await eventually(lambda: not station.protocol.outbox, what="the outbox drained")
    assert station.protocol.offer() == BOTH


async def test_a_transaction_made_offline_goes_out_in_the_version_the_csms_chooses(
        csms, start_station):
    csms.refuse_connections = True
    csms.subprotocols = ONLY_16
    station = await start_station(ocpp=AUTO, wait_registered=False,
                                  keys={"AllowOfflineTxForUnknownId": True})
    # Nothing chosen yet: the 2.0.1 adapter queues the transaction's messages.
    assert station.protocol.current.version == "2.0.1"
    await charge(station)
    station.hardware.simulated.evs[1].set_state("A")
    await eventually(lambda: station.status()["connectors"][0]["transaction"] is None,
                     what="the transaction ended offline")
    csms.refuse_connections = False
    await eventually(lambda: sent(csms, "StopTransaction"), what="StopTransaction", timeout=60)
    [start] = sent(csms, "StartTransaction")
    [stop] = sent(csms, "StopTransaction")
    assert start["idTag"] == TAG
    assert stop["transactionId"] == list(csms.transactions)[-1]
    assert not sent(csms, "TransactionEvent")
    await eventually(lambda: not station.protocol.outbox, what="the outbox drained")


async def stopped(daemon) -> None:
    daemon.stop()
    await eventually(lambda: daemon.store._db is None, what="the daemon stopped")


async def test_a_store_written_under_16_opens_under_auto_and_under_201(csms, start_station,
                                                                       tmp_path):
    store = {"path": str(tmp_path / "pievse.sqlite3")}
    station = await start_station(storage=store)
    assert status_version(station) == "1.6"
    await csms.call("CP1", "ChangeConfiguration", {"key": "MeterValueSampleInterval",
                                                    "value": "19"})
    await charge(station)
    await eventually(lambda: csms.transactions, what="StartTransaction")
    transaction_id = list(csms.transactions)[-1]
    # The transaction ends offline, and the station stops with its StopTransaction queued.
    csms.refuse_connections = True
    await csms.drop_connection("CP1")
    station.hardware.simulated.evs[1].set_state("A")
    await eventually(lambda: station.status()["connectors"][0]["transaction"] is None,
                     what="the transaction ended offline")
    await stopped(station)
    # On "auto" the same store: only 1.6 is offered until that StopTransaction is delivered.
    csms.refuse_connections = False
    station = await start_station(ocpp=AUTO, storage=store)
    assert status_version(station) == "1.6"
    await eventually(lambda: sent(csms, "StopTransaction"), what="StopTransaction")
    assert sent(csms, "StopTransaction")[0]["transactionId"] == transaction_id
    await eventually(lambda: not station.protocol.outbox, what="the outbox drained")
    assert station.protocol.offer() == BOTH
    await stopped(station)
    # On 2.0.1 the same store: the value set under 1.6 holds.
    station = await start_station(ocpp={"version": "2.0.1"}, storage=store)
    answer = await csms.call("CP1", "GetVariables", {"getVariableData": [
        {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}}]})
    assert answer["getVariableResult"][0]["attributeValue"] == "19"


async def test_a_transaction_begun_offline_under_16_is_named_by_the_station_under_201(
        csms, start_station):
    csms.subprotocols = ONLY_16
    station = await start_station(ocpp=AUTO, keys={"AllowOfflineTxForUnknownId": True})
    csms.refuse_connections = True
    await csms.drop_connection("CP1")
    await eventually(lambda: not station.protocol.connected, what="offline")
    await charge(station)
    await eventually(lambda: station.protocol.outbox, what="StartTransaction queued")
    # The CSMS comes back speaking 2.0.1 only: the Started event carries the station's name for
    # the transaction, the core knows it by that name, and the CSMS stops it by that name.
    csms.subprotocols = ONLY_201
    csms.refuse_connections = False
    await eventually(lambda: sent(csms, "TransactionEvent"), what="Started", timeout=60)
    started = sent(csms, "TransactionEvent")[0]
    assert started["eventType"] == "Started" and started["offline"] is True
    transaction_id = started["transactionInfo"]["transactionId"]
    await eventually(lambda: (station.status()["connectors"][0]["transaction"] or {}).get("id")
                     == transaction_id, what="the station's name in the status")
    answer = await csms.call("CP1", "RequestStopTransaction", {"transactionId": transaction_id})
    assert answer["status"] == "Accepted"
    await eventually(lambda: any(e["eventType"] == "Ended" for e in sent(csms, "TransactionEvent")),
                     what="Ended")
