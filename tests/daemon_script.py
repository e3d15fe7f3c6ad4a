"""A daemon with a store in memory, started and stopped in a child interpreter: for what only a
fresh process can show (the modules a start imports, the files it touches)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import asyncio
from pievse.app.config import parse_config
from pievse.app.daemon import Daemon
from pievse.persistence.store import Store

async def main():
    config = parse_config('[charge_point]\\nid = "CP1"\\n[ocpp]\\nurl = "ws://127.0.0.1:9/o"\\n'
                          '%(ocpp)s[api]\\nlisten = ""\\n', source="<test>")
    daemon = Daemon(config, store=Store(":memory:").open())
    running = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.started.wait(), 10)
%(while_running)s
    daemon.stop()
    await asyncio.wait_for(running, 10)
%(after)s

asyncio.run(main())
"""


def in_memory_daemon(*, ocpp: str = "", while_running: str = "", after: str = "") -> str:
    """The child's program; ``ocpp`` adds lines to ``[ocpp]`` (``\\n``-separated), the two
    others are code indented into ``main()``."""
    return SCRIPT % {"ocpp": ocpp, "while_running": while_running or "    pass",
                     "after": after or "    pass"}


def child_environment(**extra: str) -> dict[str, str]:
    """This checkout's sources first, whatever the installed package."""
    path = os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, **extra}
