"""A charge point in a process of its own (`pievse run`), for what only a real process shows:
``kill -9`` at any moment, a restart on the same SQLite file, a CSMS that sees it come back.

The simulated car and card reader are driven through the daemon's local API, as a person at a
bench would with `pievse sim`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from pievse.local_api.client import call_api
from tests.conftest import config_text, eventually
from tests.ports import free_port

PIEVSE = [sys.executable, "-m", "pievse"]


class StationProcess:
    """``pievse run`` with simulated hardware and its store at ``folder/pievse.sqlite3``."""

    def __init__(self, folder: Path, csms_url: str, cp_id: str = "CP1",
                 **sections: dict[str, Any]) -> None:
        self.folder = folder
        self.cp_id = cp_id
        self.api_port = free_port()
        self.store_path = folder / "pievse.sqlite3"
        self.log_path = folder / "pievse.log"
        config: dict[str, dict[str, Any]] = {
            "charge_point": {"id": cp_id},
            "ocpp": {"url": csms_url, "response_timeout": 2},
            "simulation": {"ev_reaction_delay": 0.1},
            "meter": {"interval": 0.2},
            "api": {"listen": f"127.0.0.1:{self.api_port}"},
            "storage": {"path": str(self.store_path)},
            "logging": {"level": "debug"},
        }
        self.config = config
        self.config_path = folder / "config.toml"
        self.configure(**sections)
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    def configure(self, **sections: dict[str, Any]) -> None:
        """Change config sections for the next start (e.g. a car that stays plugged in)."""
        for name, keys in sections.items():
            self.config.setdefault(name, {}).update(keys)
        self.config_path.write_text(config_text(self.config))

    async def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        log.write(f"--- start {self.starts + 1}\n".encode())
        log.flush()
        self.process = await asyncio.create_subprocess_exec(
            *PIEVSE, "run", "--config", str(self.config_path),
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        self.starts += 1
        await eventually(self._api_up, what="the daemon's local API", timeout=30)

    def _api_up(self) -> bool:
        assert self.process is not None
        if self.process.returncode is not None:
            raise AssertionError(f"pievse run exited with {self.process.returncode}:\n"
                                 + self.log_tail())
        try:
            call_api(f"127.0.0.1:{self.api_port}", "GET", "/api/status")
        except Exception:
            return False
        return True

    async def api(self, method: str, path: str, body: dict | None = None) -> Any:
        return await asyncio.to_thread(call_api, f"127.0.0.1:{self.api_port}", method, path,
                                       body)

    async def status(self) -> dict[str, Any]:
        return await self.api("GET", "/api/status")

    async def ev(self, state: str, connector: int = 1) -> None:
        await self.api("POST", "/api/sim/ev", {"connector": connector, "state": state})

    async def tap(self, id_tag: str) -> None:
        await self.api("POST", "/api/sim/token", {"id_token": id_tag})

    async def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as in a crash or a power cut."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self) -> int | None:
        if self.process is None or self.process.returncode is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            await self.kill()
            raise AssertionError("pievse run did not stop within 20 s of SIGTERM:\n"
                                 + self.log_tail()) from None

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""
