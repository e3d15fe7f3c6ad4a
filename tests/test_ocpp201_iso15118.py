# ruff: noqa: F811 - tests take the shared `pki` fixture imported from test_daemon_security
"""The OCPP side of ISO 15118 Plug & Charge, end to end over websockets against the bench CSMS:
what a board with an ISO 15118 stack calls (the hooks), the CALLs reaching the CSMS and its
answers coming back, the V2G and MO roots kept for the stack, ISO15118Ctrlr. Named after the
use cases (M01/M02 Get15118EVCertificate, M06 GetCertificateStatus, M05 the roots)."""

from __future__ import annotations

import pytest

from pievse.protocol.v201.blocks.iso15118 import CertificateStatusAnswer, EvCertificateAnswer
from tests.ocpp201 import OCPP201, get_variable, sent
from tests.test_daemon_security import pki  # noqa: F401 - a fixture

pytestmark = pytest.mark.asyncio

SCHEMA = "urn:iso:15118:2:2013:MsgDef"
EXI_REQUEST, EXI_RESPONSE = "gJgCAAQ=", "gJgCAAREU0VDQw=="
OCSP = {"hashAlgorithm": "SHA256", "issuerNameHash": "a" * 64, "issuerKeyHash": "b" * 64,
        "serialNumber": "1f", "responderURL": "http://ocsp.example.org"}


async def test_m01_the_ev_certificate_hook_reaches_the_csms_and_brings_its_answer_back(
        csms, start_station):
    asked = []

    def answer(cp_id, action, payload):
        if action == "Get15118EVCertificate":
            asked.append(payload)
            return {"status": "Accepted", "exiResponse": EXI_RESPONSE}
        return None

    csms.on_call = answer
    station = await start_station(ocpp=OCPP201)
    hooks = station.protocol.iso15118.attach()
    result = await hooks.ev_certificate(SCHEMA, "Install", EXI_REQUEST)
    assert result == EvCertificateAnswer("Accepted", EXI_RESPONSE)
    assert asked == [{"iso15118SchemaVersion": SCHEMA, "action": "Install",
                      "exiRequest": EXI_REQUEST}]


async def test_m02_an_update_the_csms_cannot_serve_comes_back_failed(csms, start_station):
    station = await start_station(ocpp=OCPP201)
    result = await station.protocol.iso15118.ev_certificate(SCHEMA, "Update", EXI_REQUEST)
    assert result == EvCertificateAnswer("Failed", "")
    [request] = sent(csms, "Get15118EVCertificate")
    assert request["action"] == "Update"


async def test_m06_the_certificate_status_hook_brings_the_ocsp_response_back(
        csms, start_station):
    csms.on_call = lambda cp_id, action, payload: (
        {"status": "Accepted", "ocspResult": "MIIBCgoBAA=="}
        if action == "GetCertificateStatus" else None)
    station = await start_station(ocpp=OCPP201)
    result = await station.protocol.iso15118.certificate_status(OCSP)
    assert result == CertificateStatusAnswer("Accepted", "MIIBCgoBAA==")
    [request] = sent(csms, "GetCertificateStatus")
    assert request["ocspRequestData"] == OCSP


async def test_the_hooks_answer_none_while_the_csms_has_not_accepted_the_station(
        csms, start_station):
    csms.boot_status, csms.boot_retry_interval = "Pending", 3600
    station = await start_station(ocpp=OCPP201, wait_registered=False)
    await csms.wait_for_message("CP1", "BootNotification", "out")
    assert await station.protocol.iso15118.ev_certificate(SCHEMA, "Install", EXI_REQUEST) is None
    assert await station.protocol.iso15118.certificate_status(OCSP) is None
    assert not sent(csms, "Get15118EVCertificate")


async def test_m05_the_v2g_and_mo_roots_are_kept_for_the_stack(csms, start_station, pki):
    station = await start_station(ocpp=OCPP201)
    hooks = station.protocol.iso15118.attach()
    assert hooks.root_files("MORootCertificate") == [] and hooks.v2g_certificate_file() is None
    for kind, root in (("V2GRootCertificate", pki.root), ("MORootCertificate", pki.foreign_root)):
        answer = await csms.call("CP1", "InstallCertificate", {"certificateType": kind,
                                                               "certificate": root.certificate_pem})
        assert answer["status"] == "Accepted"
    [mo_root] = hooks.root_files("MORootCertificate")
    assert mo_root.read_text() == pki.foreign_root.certificate_pem
    [v2g_root] = hooks.root_files("V2GRootCertificate")
    assert v2g_root.read_text() == pki.root.certificate_pem


async def test_iso15118_ctrlr_says_what_the_station_does(csms, start_station):
    station = await start_station(ocpp=OCPP201)

    async def value(name: str) -> str:
        return (await get_variable(csms, "ISO15118Ctrlr", name))["attributeValue"]

    assert await value("ContractValidationOffline") == "false"
    assert await value("PnCEnabled") == "false", "no ISO 15118 stack attached"
    station.protocol.iso15118.attach()
    assert await value("PnCEnabled") == "true"
    assert await value("V2GCertificateInstallationEnabled") == "true"
    assert await value("SeccId") == "CP1"
