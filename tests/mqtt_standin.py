"""A real Mosquitto broker for the MQTT tests (Debian's ``mosquitto``), on a free port of
127.0.0.1 with a generated config, and a client that records everything published on it.

The broker keeps nothing on disk (``persistence false``): after a restart, whatever is retained
there is what the station published again.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt

from tests.conftest import eventually
from tests.ports import free_port

__all__ = ["Mosquitto", "Recorder"]

BINARY = "/usr/sbin/mosquitto"


class Mosquitto:
    """``mosquitto -c <folder>/mosquitto.conf`` listening on ``port`` of 127.0.0.1, and on
    ``tls_port`` over TLS once :meth:`use_tls` has given it its certificate."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.tls_port: int | None = None
        self._tls_lines = ""
        #: (user, password) every client must log in with, once require_login() has set it.
        self.login: tuple[str, str] | None = None
        self._login_lines = "allow_anonymous true\n"
        self.process: subprocess.Popen | None = None
        self.log_path = folder / "mosquitto.log"

    def require_login(self, user: str, password: str) -> None:
        """From the next start, no anonymous client: only ``user`` with ``password``."""
        passwords = self.folder / "passwords"
        passwords.write_text(f"{user}:{password}\n")
        # mosquitto_passwd (same package) hashes the file in place.
        tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        subprocess.run([tool, "-U", str(passwords)], check=True, capture_output=True)
        self.login = (user, password)
        self._login_lines = f"allow_anonymous false\npassword_file {passwords}\n"

    def use_tls(self, cafile: Path, certfile: Path, keyfile: Path) -> None:
        """A TLS listener too (from the next start), which asks clients for a certificate
        signed by ``cafile``."""
        self.tls_port = free_port()
        self._tls_lines = (f"listener {self.tls_port} 127.0.0.1\ncafile {cafile}\n"
                           f"certfile {certfile}\nkeyfile {keyfile}\n"
                           "require_certificate true\n")

    @staticmethod
    def binary() -> str | None:
        return shutil.which("mosquitto") or (BINARY if Path(BINARY).exists() else None)

    @classmethod
    def missing(cls) -> str | None:
        if cls.binary() is None:
            return "mosquitto is not installed: apt-get install mosquitto"
        return None

    def _config(self) -> Path:
        path = self.folder / "mosquitto.conf"
        # Run as root (CI), mosquitto would become the user "mosquitto", who may not read the
        # test's files.
        path.write_text(f"per_listener_settings false\npersistence false\n"
                        f"user {getpass.getuser()}\n{self._login_lines}"
                        f"listener {self.port} 127.0.0.1\n{self._tls_lines}")
        return path

    async def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([self.binary(), "-c", str(self._config())],
                                        stdout=log, stderr=subprocess.STDOUT)
        log.close()
        await eventually(self._listening, what=f"mosquitto listening on port {self.port}")

    def _listening(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log_tail()
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port),
                                                                    timeout=0.5):
            return True
        return False

    async def kill(self) -> None:
        """SIGKILL: the broker is gone at once, as on a crash or a pulled cable."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(self.process.wait)

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-2000:]
        return ""


class Recorder:
    """A client subscribed to ``#`` on ``broker``: every message, in order, as (topic, payload,
    retained)."""

    def __init__(self, broker: Mosquitto) -> None:
        self.broker = broker
        self.messages: list[tuple[str, bytes, bool]] = []
        self._task: asyncio.Task | None = None
        self._subscribed = asyncio.Event()

    async def __aenter__(self) -> Recorder:
        self._task = asyncio.create_task(self._record())
        await asyncio.wait_for(self._subscribed.wait(), 10)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await self._task

    async def _record(self) -> None:
        user, password = self.broker.login or (None, None)
        async with aiomqtt.Client("127.0.0.1", self.broker.port, username=user,
                                  password=password) as client:
            await client.subscribe("#", qos=1)
            self._subscribed.set()
            async for message in client.messages:
                payload = message.payload if isinstance(message.payload, bytes) else b""
                self.messages.append((str(message.topic), payload, message.retain))

    def on(self, topic: str) -> list[bytes]:
        return [payload for t, payload, _ in self.messages if t == topic]

    def last(self, topic: str) -> bytes | None:
        payloads = self.on(topic)
        return payloads[-1] if payloads else None

    def last_json(self, topic: str) -> Any:
        payload = self.last(topic)
        return None if payload is None else json.loads(payload)

    async def wait_for(self, topic: str, test: Callable[[Any], Any] = bool,
                       what: str = "", timeout: float = 15.0) -> Any:
        """The last JSON (or text) payload on ``topic``, once ``test`` passes on it."""
        def found() -> Any:
            payload = self.last(topic)
            if payload is None:
                return None
            try:
                value = json.loads(payload)
            except ValueError:
                value = payload.decode(errors="replace")
            return (value,) if test(value) else None
        return (await eventually(found, what=what or f"a message on {topic}",
                                 timeout=timeout))[0]


async def publish(broker: Mosquitto, topic: str, payload: bytes | str,
                  retain: bool = False) -> None:
    """One message from another client (Home Assistant, a person with mosquitto_pub)."""
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        await client.publish(topic, payload, qos=1, retain=retain)
