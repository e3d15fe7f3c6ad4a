"""The daemon on the OCPP 1.6 security profiles, configured as a wallbox owner would: `pievse`'s
config names the profile, the password and the certificate files, and the whole daemon connects
over real TLS to a CSMS whose certificates the test generated. A refused connection never ends
the daemon: it logs the cause once per attempt and tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import pytest

from pievse.app.daemon import Daemon
from tests.conftest import config_text, eventually
from tests.tls_standins import SecureCentralSystem, TestPki

KEY = "pievse-key-0123456789"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return TestPki(tmp_path_factory.mktemp("pki"))


def daemon_for(url: str, tmp_path: Path, **ocpp) -> Daemon:
    from pievse.app.config import parse_config

    sections = {
        "charge_point": {"id": "CP1"},
        "ocpp": {"url": url, "response_timeout": 5, **ocpp},
        "api": {"listen": ""},
        "storage": {"path": str(tmp_path / "pievse.sqlite3")},
    }
    return Daemon(parse_config(config_text(sections), "<test>"))


@contextlib.asynccontextmanager
async def running(daemon: Daemon):
    task = asyncio.create_task(daemon.run())
    try:
        yield daemon
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 15)


async def test_profile_2_from_the_config_registers_over_wss_and_reports_its_start(
        tmp_path, pki):
    async with SecureCentralSystem(ssl_context=pki.server_context(pki.server),
                                   authorization_keys={"CP1": KEY}) as csms:
        daemon = daemon_for(csms.url("localhost"), tmp_path, security_profile=2,
                            password=KEY, ca_file=str(pki.root_file))
        async with running(daemon):
            await eventually(lambda: daemon.protocol.registered, "registered over wss", 20)
            await eventually(lambda: csms.actions("SecurityEventNotification"),
                             "SecurityEventNotification StartupOfTheDevice", 20)
    assert csms.actions("SecurityEventNotification")[0]["type"] == "StartupOfTheDevice"
    assert csms.connections[0].client_certificate is None
    # The certificates live beside the store, readable by pievse only.
    assert (tmp_path / "certificates").stat().st_mode & 0o077 == 0


async def test_profile_3_from_the_config_presents_the_charge_point_certificate(tmp_path, pki):
    cert_file, key_file = pki.client.write(tmp_path, "factory")
    async with SecureCentralSystem(
            ssl_context=pki.server_context(pki.server, client_ca=pki.root)) as csms:
        daemon = daemon_for(csms.url("localhost"), tmp_path, security_profile=3,
                            ca_file=str(pki.root_file), cert_file=str(cert_file),
                            key_file=str(key_file))
        async with running(daemon):
            await eventually(lambda: daemon.protocol.registered, "registered with mTLS", 20)
    assert csms.connections[0].client_certificate == pki.client.certificate
    assert csms.connections[0].authorization is None


async def test_a_csms_it_cannot_trust_is_refused_with_the_cause_and_the_daemon_keeps_trying(
        tmp_path, pki, caplog):
    caplog.set_level(logging.WARNING, logger="pievse.ocpp.link")
    async with SecureCentralSystem(ssl_context=pki.server_context(pki.server),
                                   authorization_keys={"CP1": KEY}) as csms:
        daemon = daemon_for(csms.url("localhost"), tmp_path, security_profile=2,
                            password=KEY, ca_file=str(pki.foreign_root_file))
        daemon.link.backoff_initial = daemon.link.backoff_max = 0.2
        async with running(daemon) as running_daemon:
            await eventually(lambda: len([r for r in caplog.records
                                          if "cannot connect" in r.getMessage()]) >= 2,
                             "two refused attempts", 20)
            assert not running_daemon.protocol.registered
            assert not csms.connections
    refusal = next(r.getMessage() for r in caplog.records if "cannot connect" in r.getMessage())
    assert "CentralSystemRootCertificate" in refusal
    assert KEY not in caplog.text
