"""The layer rules of ARCHITECTURE.md, as import-linter contracts (pyproject.toml), checked on
every run of the suite: the station core speaks no wire and does no I/O, drivers know only the
core's model, no protocol version imports another, nothing imports the app layer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                          cwd=ROOT / "src", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout



#: The core's smart charging, and what of OCPP's wire form must not be found in it.
WIRE_NEUTRAL_SMART_CHARGING = ("charging_profiles.py", "smart_charging.py", "charging_limits.py")
WIRE_FORM_OF_PROFILES = ("from_ocpp", "to_ocpp", '"chargingProfileId"', '"chargingSchedule"',
                         '"startPeriod"')


def test_the_cores_smart_charging_speaks_no_wire_format() -> None:
    for name in WIRE_NEUTRAL_SMART_CHARGING:
        text = (ROOT / "src" / "pievse" / "core" / name).read_text()
        found = [word for word in WIRE_FORM_OF_PROFILES if word in text]
        assert not found, f"core/{name} holds OCPP's wire form: {found}"


@pytest.mark.parametrize("module", ["authorization.py", "reservations.py", "access.py"])
def test_who_may_charge_is_decided_in_the_cores_own_words(module: str) -> None:
    """Authorization, the local list, the cache and the reservations speak no wire: OCPP 1.6's
    shapes are read and written by its codec (protocol/v16/codec)."""
    text = (ROOT / "src" / "pievse" / "core" / module).read_text()
    wire = ["from_ocpp", "to_ocpp", '"idTag"', '"idTagInfo"', '"listVersion"', '"expiryDate"']
    assert [word for word in wire if word in text] == []
