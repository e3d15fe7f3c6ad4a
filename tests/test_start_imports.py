"""RSS 47 MiB while charging: a start imports what the configuration uses. ``cryptography``
(about 16 MiB resident on a Pi) is for certificates and security profile 3 only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

START = """
import asyncio, json, sys
from pievse.app.config import parse_config
from pievse.app.daemon import Daemon
from pievse.persistence.store import Store

async def main():
    config = parse_config('[charge_point]\\nid = "CP1"\\n[ocpp]\\nurl = "ws://127.0.0.1:9/o"\\n'
                          'security_profile = 0\\n[api]\\nlisten = ""\\n', source="<test>")
    daemon = Daemon(config, store=Store(":memory:").open())
    running = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.started.wait(), 10)
    # A few connection attempts (refused): the link has asked for its transport settings.
    await asyncio.sleep(1.5)
    daemon.stop()
    await asyncio.wait_for(running, 10)
    print(json.dumps(sorted(name for name in sys.modules if name.startswith("cryptography"))))

asyncio.run(main())
"""


def test_rss_47_mib_while_charging_no_more_a_profile_0_start_does_not_import_cryptography():
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", START], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []
