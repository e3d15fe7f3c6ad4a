"""What each part of pievse costs at start: resident memory and import time.

Each part is imported in a fresh interpreter after the standard library a daemon always loads
(asyncio, ssl, json, sqlite3, logging), so a figure is that part's own cost with what it pulls
in. "in order" imports the parts one after the other, as a start does, so that its column adds
up to the whole. Resident memory is VmRSS from /proc (Linux); each figure is the median of a
few runs. Figures, not tests: nothing is asserted.

    .venv/bin/python benchmarks/bench_imports.py [--ocpp 1.6|2.0.1]

Each OCPP version asked for (both by default) is a table of its own: its message modules and its
adapter take the places of the other version's.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys

BASELINE = ["asyncio", "ssl", "json", "sqlite3", "logging"]

#: (label, modules), in the order a daemon's start reaches them. ``pievse.protocol`` comes first
#: so that ``ocpp.v16``'s message modules load as a start loads them (without ocpp's ChargePoint).
PARTS_16 = [
    ("ocpp.v16: call, call_result, enums", ["pievse.protocol", "ocpp.v16.call",
                                            "ocpp.v16.call_result", "ocpp.v16.enums"]),
    ("websockets client", ["websockets.asyncio.client"]),
    ("pievse core", ["pievse.core.station"]),
    ("pievse config", ["pievse.app.config"]),
    ("pievse schemas (compiled)", ["pievse.protocol.common.schemas"]),
    ("pievse 1.6 adapter", ["pievse.protocol.v16.adapter"]),
    ("pievse local API", ["pievse.local_api.server"]),
    ("pievse daemon (the rest)", ["pievse.app.daemon", "pievse.app.link_security",
                                  "pievse.app.maintenance"]),
    ("pievse command line", ["pievse.app.cli", "pievse.app.api_commands", "pievse.csms.cli"]),
    ("cryptography (profile 3, certificates)", ["cryptography.x509",
                                                "cryptography.x509.verification",
                                                "cryptography.hazmat.primitives.asymmetric.ec"]),
    # Not loaded by a start: ocpp's own ChargePoint, for whoever asks for ocpp.v16.ChargePoint.
    ("ocpp.charge_point (jsonschema)", ["ocpp.charge_point"]),
]
#: The same start on OCPP 2.0.1.
PARTS = {
    "1.6": PARTS_16,
    "2.0.1": [
        ("ocpp.v201: call, call_result, enums", ["pievse.protocol", "ocpp.v201.call",
                                                 "ocpp.v201.call_result", "ocpp.v201.enums"]),
        *(("pievse 2.0.1 adapter", ["pievse.protocol.v201.adapter"])
          if label == "pievse 1.6 adapter" else (label, modules)
          for label, modules in PARTS_16[1:]),
    ],
}

PROBE = """
import importlib, json, sys, time
def rss():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
for name in %(baseline)r:
    importlib.import_module(name)
for group in %(before)r:
    for name in group:
        importlib.import_module(name)
before, started = rss(), time.perf_counter()
for name in %(modules)r:
    importlib.import_module(name)
print(json.dumps([rss() - before, (time.perf_counter() - started) * 1000]))
"""

RUNS = 5


def cost(modules: list[str], before: list[list[str]]) -> tuple[float, float]:
    probe = PROBE % {"baseline": BASELINE, "before": before, "modules": modules}
    runs = [json.loads(subprocess.run([sys.executable, "-c", probe], check=True,
                                      capture_output=True, text=True).stdout)
            for _ in range(RUNS)]
    return (statistics.median(run[0] for run in runs), statistics.median(run[1] for run in runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ocpp", choices=tuple(PARTS), action="append",
                        help="the OCPP version started (repeatable; default: each in turn)")
    args = parser.parse_args()
    print(f"pievse import costs on {platform.machine()}, Python {platform.python_version()} "
          f"(median of {RUNS} fresh interpreters)")
    for version in args.ocpp or PARTS:
        print(f"-- OCPP {version}")
        table(PARTS[version])


def table(parts: list[tuple[str, list[str]]]) -> None:
    print(f"{'part':42s} {'alone':>17s} {'in order':>19s}")
    total_mib = total_ms = 0.0
    for index, (label, modules) in enumerate(parts):
        alone = cost(modules, [])
        added = cost(modules, [group for _, group in parts[:index]])
        total_mib, total_ms = total_mib + added[0], total_ms + added[1]
        print(f"{label:42s} {alone[0]:6.1f} MiB {alone[1]:5.0f} ms "
              f"{added[0]:6.1f} MiB {added[1]:5.0f} ms")
    print(f"{'all of it':42s} {'':17s} {total_mib:6.1f} MiB {total_ms:5.0f} ms")


if __name__ == "__main__":
    main()
