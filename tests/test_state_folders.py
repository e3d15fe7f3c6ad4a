"""Every state folder follows the store in use: a demo or a test never reaches an installed
service's state, and a state folder the service may not use stops it with a clear error."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.daemon_script import ROOT, child_environment, in_memory_daemon

INSTALLED_STATE = "/var/lib/pievse"

# Runs pievse in a child with an audit hook that records every file operation under the
# installed service's state folder (the record is exact even when other processes use it).
WATCHED = """
import atexit, json, os, sys
touched = []
EVENTS = {"open", "os.mkdir", "os.chmod", "os.chown", "os.rename", "os.remove", "os.rmdir",
          "os.utime", "os.truncate", "os.symlink", "os.link", "shutil.rmtree", "sqlite3.connect"}
def hook(event, args):
    if event in EVENTS:
        for arg in args[:2]:
            if isinstance(arg, (str, bytes, os.PathLike)):
                path = os.path.abspath(os.fsdecode(arg))
                if path == %(state)r or path.startswith(%(state)r + "/"):
                    touched.append([event, path])
sys.addaudithook(hook)
atexit.register(lambda: open(%(record)r, "w").write(json.dumps(touched)))
%(body)s
"""

DAEMON_IN_MEMORY = in_memory_daemon(while_running=(
    '    daemon.logs.security_log.record("StartupOfTheDevice", tech_info="test")'))


def run_watched(body: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess, list]:
    home, scratch = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    scratch.mkdir()
    record = tmp_path / "touched.json"
    script = WATCHED % {"state": INSTALLED_STATE, "record": str(record), "body": body}
    env = child_environment(HOME=str(home), TMPDIR=str(scratch))
    result = subprocess.run([sys.executable, "-c", script], cwd=home, env=env, timeout=120,
                            capture_output=True, text=True)
    # Private temporary folders go with the process.
    assert list(scratch.iterdir()) == [], result.stderr
    return result, json.loads(record.read_text())


def test_the_demo_breaks_an_installed_service_no_more_it_leaves_nothing_behind(tmp_path):
    before = os.path.isdir(INSTALLED_STATE)
    result, touched = run_watched(
        "from pievse.app.cli import main\nraise SystemExit(main(['demo']))", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "demo OK" in result.stdout
    assert touched == []
    assert os.path.isdir(INSTALLED_STATE) == before


def test_the_demo_breaks_an_installed_service_no_more_a_daemon_in_memory_neither(tmp_path):
    result, touched = run_watched(DAEMON_IN_MEMORY, tmp_path)
    assert result.returncode == 0, result.stderr
    assert touched == []


@pytest.mark.parametrize("folder", ["certificates", "security-log"])
def test_the_demo_breaks_an_installed_service_no_more_a_foreign_state_folder_is_a_clear_refusal(
        folder):
    """A folder left by ``sudo pievse ...`` belongs to another user than the service: the service
    says which folder and how to fix it, with the exit status its unit does not restart."""
    # Root without the capability to override file permissions is the service user's case.
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to take away the permission override")
    nobody = pwd.getpwnam("nobody")
    state = Path(tempfile.mkdtemp(prefix="pievse-foreign-"))
    try:
        (state / folder).mkdir(mode=0o700)
        os.chown(state / folder, nobody.pw_uid, nobody.pw_gid)  # another user's
        config = state / "config.toml"
        config.write_text(f'[charge_point]\nid = "CP1"\n[ocpp]\nurl = "ws://127.0.0.1:9/o"\n'
                          f'[api]\nlisten = ""\n[storage]\npath = "{state}/pievse.sqlite3"\n')
        result = subprocess.run(
            [setpriv, "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search",
             sys.executable, "-m", "pievse", "run", "--config", str(config)],
            cwd="/", env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
            capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(state)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{state}/{folder}" in result.stderr
    assert f"chown -R pievse: {state}" in result.stderr
    unit = (ROOT / "deploy" / "pievse.service").read_text()
    assert "RestartPreventExitStatus=2" in unit.splitlines()
