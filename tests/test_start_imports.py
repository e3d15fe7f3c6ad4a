"""RSS 47 MiB while charging: a start imports what the configuration uses. ``cryptography``
(about 8-16 MiB resident) is for certificates and security profile 3 only."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.daemon_script import child_environment, in_memory_daemon

# A few connection attempts (refused): the link has asked for its transport settings.
START = in_memory_daemon(
    ocpp="security_profile = 0\\n", while_running="    await asyncio.sleep(1.5)",
    after="    import json, sys\n"
          "    print(json.dumps(sorted(m for m in sys.modules if m.startswith('cryptography'))))")


def test_rss_47_mib_while_charging_no_more_a_profile_0_start_does_not_import_cryptography():
    result = subprocess.run([sys.executable, "-c", START], env=child_environment(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []


# A session both ways (the station's BootNotification, a CSMS command answered, a command
# refused by the schema), then what is loaded, then ocpp's own ChargePoint.
SESSION = """
import asyncio, json, sys
from pievse.app.config import parse_config
from pievse.app.daemon import Daemon
from pievse.csms.server import CallErrorResponse, CentralSystem
from pievse.persistence.store import Store

async def main():
    async with CentralSystem(host="127.0.0.1", port=0) as csms:
        config = parse_config(f'[charge_point]\\nid = "CP1"\\n[ocpp]\\nurl = "{csms.url}"\\n'
                              'version = "VERSION"\\n[api]\\nlisten = ""\\n', source="<test>")
        daemon = Daemon(config, store=Store(":memory:").open())
        running = asyncio.create_task(daemon.run())
        await csms.wait_for(lambda c: daemon.protocol.registered, 20)
        answer = await csms.call("CP1", "ChangeAvailability", INOPERATIVE)
        try:
            await csms.call("CP1", "Reset", {"type": "Sideways"}, validate=False)
            refused = None
        except CallErrorResponse as error:
            refused = error.code
        daemon.stop()
        await asyncio.wait_for(running, 10)
    loaded = sorted(m for m in sys.modules if m.split(".")[0] == "jsonschema"
                    or m in ("ocpp.messages", "ocpp.charge_point"))
    from ocpp.v16 import ChargePoint
    import ocpp.charge_point
    print(json.dumps({"answer": answer, "refused": refused, "loaded": loaded,
                      "charge_point": [issubclass(ChargePoint, ocpp.charge_point.ChargePoint),
                                       ChargePoint._ocpp_version]}))

asyncio.run(main())
"""


@pytest.mark.parametrize(("version", "inoperative"), [
    ("1.6", {"connectorId": 1, "type": "Inoperative"}),
    ("2.0.1", {"operationalStatus": "Inoperative", "evse": {"id": 1}})])
def test_a_session_runs_without_jsonschema_and_ocpps_charge_point_still_imports(version,
                                                                               inoperative):
    """pievse validates with its own compiled schemas: ``jsonschema`` (about 6 MiB resident),
    which ``ocpp``'s ChargePoint brings in, is not loaded by a station of either version;
    ``ocpp.v16.ChargePoint`` still imports for whoever asks for it."""
    script = SESSION.replace("VERSION", version).replace(
        "INOPERATIVE", json.dumps(inoperative))
    result = subprocess.run([sys.executable, "-c", script], env=child_environment(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.splitlines()[-1])
    assert seen["answer"] == {"status": "Accepted"}
    assert seen["refused"] == "PropertyConstraintViolation"
    assert seen["loaded"] == []
    assert seen["charge_point"] == [True, "1.6"]


PACKAGES = """
import json, sys
import pievse.protocol
import ocpp.v16
from ocpp.v16 import enums
submodule = ocpp.v16.call_result.BootNotification.__module__
light = sorted(m for m in ("ocpp.charge_point", "jsonschema") if m in sys.modules)
try:
    ocpp.v16.NoSuchThing
except AttributeError:
    missing = True
version = ocpp.v16.ChargePoint._ocpp_version
package = ocpp.v16
from pievse.protocol.ocpp_packages import defer_charge_points
defer_charge_points()  # imported for real now: left as it is
exec("from ocpp.v201 import *")  # a star import takes what the __init__ defines
print(json.dumps([submodule, light, missing, version, sys.modules["ocpp.v16"] is package,
                  "jsonschema" in sys.modules, ChargePoint._ocpp_version]))
"""


def test_a_version_package_runs_its_init_only_for_what_the_init_defines():
    result = subprocess.run([sys.executable, "-c", PACKAGES], env=child_environment(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [
        "ocpp.v16.call_result", [], True, "1.6", True, True, "2.0.1"]
