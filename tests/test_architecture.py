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



@pytest.mark.parametrize("module", ["authorization.py", "reservations.py", "access.py"])
def test_who_may_charge_is_decided_in_the_cores_own_words(module: str) -> None:
    """Authorization, the local list, the cache and the reservations speak no wire: OCPP 1.6's
    shapes are read and written by its codec (protocol/v16/codec)."""
    text = (ROOT / "src" / "pievse" / "core" / module).read_text()
    wire = ["from_ocpp", "to_ocpp", '"idTag"', '"idTagInfo"', '"listVersion"', '"expiryDate"']
    assert [word for word in wire if word in text] == []
