"""Figures for firmware updates and diagnostics. Run on demand; prints, asserts nothing.

    .venv/bin/python benchmarks/bench_firmware.py [--rounds 5]

- the steps of an update into a throwaway venv (never this checkout's): checking a wheel of
  pievse (zip CRCs and every RECORD hash), asking the target interpreter what it has, repacking
  the installed version as the rollback copy, ``pip install --no-deps``, and the import probe
  (the CLI there; the daemon with all its dependencies in this venv, as on a charge point);
- a whole UpdateFirmware from a loopback HTTP server to the restart request;
- the start-up check (``pievse-rollback.py``) when there is nothing to do: every start pays it;
- building a diagnostics bundle (journal, config, store summary, version).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from pievse.services.diagnostics import DiagnosticsUploader, store_summary  # noqa: E402
from pievse.services.firmware import FirmwareUpdater, UpdateRequest, inspect_distribution  # noqa: E402
from pievse.services.firmware_rollback import (  # noqa: E402
    ROLLBACK_SCRIPT,
    pip_install,
    probe,
    query,
    repack_installed,
)
from pievse.persistence.store import Store  # noqa: E402
from tests.conftest import station_config  # noqa: E402
from tests.test_firmware_update import FileServer, build_wheel, make_target  # noqa: E402


def timed(action, rounds: int) -> tuple[float, object]:
    """Median seconds of ``rounds`` calls, and the last result."""
    times, result = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def whole_update(folder: Path) -> float:
    target = make_target(folder / "whole")
    server = FileServer()
    try:
        url = server.serve(build_wheel(folder, "9.0.0"))
        updater = FirmwareUpdater(folder / "state", python=target.python,
                                  probe_modules=("pievse.app.cli",))
        restarted = asyncio.Event()
        updater.restart = restarted.set
        t0 = time.perf_counter()
        updater.update(UpdateRequest(url, time.time(), 0, 0))
        await asyncio.wait_for(restarted.wait(), 300)
        return time.perf_counter() - t0
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    os.environ.pop("PYTHONPATH", None)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        target = make_target(folder / "steps")
        wheel = build_wheel(folder, "2.0.0")
        print(f"wheel of pievse: {wheel.stat().st_size / 1024:.0f} KiB")
        seconds, _ = timed(lambda: inspect_distribution(wheel), args.rounds)
        print(f"check the wheel (CRCs, RECORD hashes, METADATA): {ms(seconds)}")
        seconds, answer = timed(lambda: query(target.python), args.rounds)
        print(f"ask the target interpreter what it has: {ms(seconds)}")
        kept = folder / "kept"
        kept.mkdir()
        seconds, _ = timed(lambda: repack_installed(answer["installed"], kept), args.rounds)
        print(f"repack the installed version as the rollback copy: {ms(seconds)}")
        seconds, _ = timed(lambda: pip_install(target.python, wheel, force=True), args.rounds)
        print(f"pip install --no-deps (force-reinstall): {seconds:.2f} s")
        seconds, _ = timed(lambda: probe(target.python, ["pievse.app.cli"]), args.rounds)
        print(f"probe: import pievse.app.cli in a fresh interpreter: {ms(seconds)}")
        seconds, _ = timed(lambda: probe(sys.executable, ["pievse.app.daemon"]), args.rounds)
        print(f"probe: import pievse.app.daemon (all dependencies) in a fresh interpreter: "
              f"{ms(seconds)}")

        print(f"whole update over loopback HTTP, to the restart request: "
              f"{asyncio.run(whole_update(folder)):.2f} s")

        script = folder / "state" / "firmware" / ROLLBACK_SCRIPT
        record = json.loads((script.parent / "update.json").read_text())
        record["phase"] = "confirmed"  # as it is on every start once an update came up
        (script.parent / "update.json").write_text(json.dumps(record))
        seconds, _ = timed(lambda: subprocess.run([sys.executable, str(script)], check=True),
                           args.rounds)
        print(f"start-up check with nothing to do (a Python start included): {ms(seconds)}")

        store = Store(str(folder / "pievse.sqlite3")).open()
        store.transaction_started(1, 1, "04A1B2C3", 1000.0, time.time())
        uploader = DiagnosticsUploader(folder / "diagnostics", charge_point_id="CP1",
                                       config=station_config("ws://127.0.0.1:9000/ocpp"),
                                       store=store)
        bundle = folder / "bundle.tar.gz"
        summary = store_summary(store)
        seconds, _ = timed(lambda: uploader.build_bundle(bundle, summary), args.rounds)
        print(f"diagnostics bundle (journalctl, config, store, pievse --version): {ms(seconds)}, "
              f"{bundle.stat().st_size / 1024:.1f} KiB")
        store.close()


if __name__ == "__main__":
    main()
