"""The venv side of a firmware update, and the start-up check that puts the previous pievse
back when an installed update cannot run.

What the updater (:mod:`pievse.services.firmware`) does to the venv lives here: ask its interpreter
what
is installed (:func:`query`), keep the installed version as a wheel (:func:`repack_installed`),
``pip install`` (:func:`pip_install`) and try the result (:func:`probe`), all in subprocesses of
the venv's own interpreter, which need not be the one running the daemon.

An update replaces the pievse distribution in the venv and restarts the daemon. If the new
version cannot even be imported, no code of it can repair anything; so this module imports
nothing but the standard library, and before each installation the updater copies it into the
state directory as ``firmware/pievse-rollback.py``. That copy is the code of the version known
to work. Run at every start, before the daemon::

    # the systemd unit ('-': a missing script, i.e. no update ever, is no failure)
    ExecStartPre=-/opt/pievse/venv/bin/python /var/lib/pievse/firmware/pievse-rollback.py

and by the Reset path, whose ``os.execv`` goes through it while an update awaits its first start
(:func:`restart_argv`), it reads the marker ``firmware/update.json`` that the updater wrote:

* ``installing``: the installation was interrupted (a power cut in the middle of pip) and the
  venv may hold half of each version: reinstall the kept previous version;
* ``installed``: the new version has not yet confirmed that it came up (the daemon confirms once
  registered with the CSMS, or after running a while). Count this start; import the new version
  in a fresh interpreter; reinstall the previous one if it does not import, if another version
  is installed, or after ``MAX_UNCONFIRMED_STARTS`` starts that never came up (a crash loop);
* anything else: nothing to do (the cost of starting Python, ~40 ms).

A rollback leaves ``report = "InstallationFailed"`` in the marker: the old version, once
registered, tells the CSMS.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

__all__ = ["FirmwareError", "MAX_UNCONFIRMED_STARTS", "ROLLBACK_SCRIPT", "escaped",
           "load_record", "main", "pip_install", "probe", "query", "repack_installed",
           "restart_argv", "roll_back", "rollback_check", "run_command", "save_record"]

log = logging.getLogger("pievse.firmware")

MAX_UNCONFIRMED_STARTS = 3
#: pip may build an sdist, which takes minutes on a Pi Zero.
PIP_TIMEOUT_S = 900.0
ROLLBACK_SCRIPT = "pievse-rollback.py"
INSTALLATION_FAILED = "InstallationFailed"

#: Imports the modules named in argv, then prints pievse's version: the proof that it can start.
_PROBE = ("import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\n"
          "import pievse; print(pievse.__version__)")


def escaped(name: str) -> str:
    """A project name as a wheel's file name writes it (a version only has its "-" escaped)."""
    return re.sub(r"[-_.]+", "_", name)


class FirmwareError(Exception):
    """A step of a firmware update failed; the message says which and why, for the log."""


def run_command(command: list[str], what: str, timeout: float = 120.0) -> str:
    """Run ``command``; its standard output, or FirmwareError with its last line of output."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise FirmwareError(f"{what}: {error}") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise FirmwareError(f"{what} failed: {lines[-1] if lines else done.returncode}")
    return done.stdout


def probe(python: str, modules: list[str]) -> str:
    """Import ``modules`` in a fresh ``python``: the pievse version it then has."""
    return run_command([python, "-c", _PROBE, *modules], f"importing pievse in {python}").strip()


def pip_install(python: str, path: Path, *, force: bool = False) -> None:
    """``python -m pip install --no-deps path``: a wheel needs no index (and must not use one:
    the charge point may be offline); an sdist fetches its build backend."""
    command = [python, "-m", "pip", "install", "--no-deps", "--no-input",
               "--disable-pip-version-check", *(["--no-index"] if path.suffix == ".whl" else []),
               *(["--force-reinstall"] if force else []), str(path)]
    run_command(command, f"pip install {path.name}", PIP_TIMEOUT_S)


# --- the target interpreter: asked in a subprocess, it may be another venv -----------------

_QUERY = r"""
import json, sys
from importlib import metadata
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
try:
    dist = metadata.distribution(sys.argv[1])
    found = {"version": dist.version, "root": str(dist.locate_file("")),
             "files": [str(f) for f in dist.files or ()]}
except metadata.PackageNotFoundError:
    found = None
unmet = []
for text in json.loads(sys.argv[2]):
    req = Requirement(text)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    try:
        have = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        unmet.append(text + " (not installed)")
        continue
    if req.specifier and not req.specifier.contains(have, prereleases=True):
        unmet.append(f"{text} ({have} installed)")
print(json.dumps({"installed": found, "unmet": unmet}))
"""


def query(python: str, requires: tuple[str, ...] = ()) -> dict[str, Any]:
    """The pievse installed for ``python`` (or None) and which of ``requires`` it lacks."""
    answer = run_command([python, "-c", _QUERY, "pievse", json.dumps(list(requires))],
                         f"asking {python} about pievse")
    return json.loads(answer.strip().splitlines()[-1])


def repack_installed(installed: dict[str, Any], folder: Path) -> Path:
    """A wheel of the installed distribution, rebuilt from the files its RECORD lists."""
    root, files = Path(installed["root"]), [Path(f) for f in installed["files"]]
    info = next((f.parent for f in files if f.name == "METADATA"
                 and f.parent.name.endswith(".dist-info") and len(f.parts) == 2), None)
    if info is None:
        raise FirmwareError("the installed pievse lists no *.dist-info/METADATA")
    wheel_text = (root / info / "WHEEL").read_text()
    tags = [line.split(":", 1)[1].strip() for line in wheel_text.splitlines()
            if line.startswith("Tag:")] or ["py3-none-any"]
    version = installed["version"].replace("-", "_")
    target = folder / f"pievse-{version}-{tags[0]}.whl"
    skip = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}  # pip writes its own
    rows = []
    with zipfile.ZipFile(target.with_suffix(".part"), "w", zipfile.ZIP_DEFLATED) as wheel:
        for file in files:
            # Console scripts (../../../bin) come back from entry_points.txt; bytecode is rebuilt.
            if file.parts[0] == ".." or "__pycache__" in file.parts or (
                    file.parent == info and file.name in skip):
                continue
            data = (root / file).read_bytes()
            wheel.writestr(file.as_posix(), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            rows.append(f"{file.as_posix()},sha256={digest.decode()},{len(data)}")
        rows.append(f"{info.as_posix()}/RECORD,,")
        wheel.writestr(f"{info.as_posix()}/RECORD", "\n".join(rows) + "\n")
    os.replace(target.with_suffix(".part"), target)
    return target


# --- the marker ----------------------------------------------------------------------------


def load_record(folder: Path) -> dict[str, Any]:
    """The marker ``folder/update.json`` ({} when there is none or it cannot be read)."""
    try:
        record = json.loads((folder / "update.json").read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def save_record(folder: Path, record: dict[str, Any]) -> None:
    """Write the marker atomically and durably: after a power cut it is the old or the new."""
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / "update.json.tmp"
    with open(temporary, "w") as out:
        json.dump(record, out, indent=1)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, folder / "update.json")
    with contextlib.suppress(OSError):
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def roll_back(folder: Path, record: dict[str, Any], python: str, why: str, *,
              report: bool) -> None:
    """Reinstall the kept previous version. ``report``: leave InstallationFailed for the next
    start to tell the CSMS (an updater still running reports it itself)."""
    log.error("firmware %s: %s; rolling back to %s", record.get("target"), why,
              record.get("previous"))
    record.update(reason=why, report=INSTALLATION_FAILED if report else None)
    try:
        pip_install(python, Path(record["previous_file"]), force=True)
        record["phase"] = "rolled_back"
    except (FirmwareError, KeyError, TypeError) as error:
        log.critical("rollback to %s failed: %s", record.get("previous"), error)
        record.update(phase="failed", reason=f"{why}; rollback failed: {error}")
    save_record(folder, record)


def rollback_check(folder: Path, python: str) -> str | None:
    """The start-up check: why it rolled back, or None when there was nothing to do."""
    record = load_record(folder)
    phase = record.get("phase")
    if phase == "installing":
        why = "its installation was interrupted"
    elif phase == "installed":
        record["starts"] = int(record.get("starts", 0)) + 1
        save_record(folder, record)
        try:
            running = probe(python, list(record.get("probe_modules", [])))
        except FirmwareError as error:
            running, why = None, f"it cannot start: {error}"
        if running is not None:
            if running != record.get("target"):
                why = f"{running} is installed instead"
            elif record["starts"] > MAX_UNCONFIRMED_STARTS:
                why = f"it started {record['starts']} times without coming up"
            else:
                return None
    else:
        return None
    roll_back(folder, record, python, why, report=True)
    return why


def restart_argv(state_dir: Path | str, argv: list[str]) -> list[str]:
    """The command line that restarts the daemon (``argv[0]`` is the interpreter): through the
    kept check while an installed update has not come up yet, so that systemd need not be the
    only one to catch a version that cannot start."""
    folder = Path(state_dir) / "firmware"
    script = folder / ROLLBACK_SCRIPT
    if load_record(folder).get("phase") in ("installing", "installed") and script.is_file():
        return [argv[0], str(script), "--python", argv[0], "--exec", *argv]
    return list(argv)


def main(argv: list[str] | None = None) -> int:
    """Check the last firmware update and roll it back if it cannot run; then, with --exec,
    replace this process with the given command (the daemon)."""
    import argparse

    parser = argparse.ArgumentParser(prog=ROLLBACK_SCRIPT, description=main.__doc__)
    parser.add_argument("--folder", default=str(Path(__file__).resolve().parent),
                        help="where update.json is (default: beside this script)")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter of the venv pievse is installed in")
    parser.add_argument("--exec", nargs=argparse.REMAINDER, dest="command", default=None,
                        metavar="COMMAND", help="then run COMMAND in place of this process")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="pievse-rollback: %(message)s")
    why = rollback_check(Path(args.folder), args.python)
    if why:
        log.warning("the previous version is back: %s", why)
    if args.command:
        sys.stdout.flush()
        os.execv(args.command[0], args.command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
