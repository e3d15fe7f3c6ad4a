"""The connection to the broker: publish the station's state, take its commands, and come back by
itself when the broker goes away.

The station never waits for the broker. It only calls :meth:`MqttBridge.changed`, which sets an
event; this bridge's own task reads the status when it can and publishes what changed, so a
dead or slow broker costs the station nothing. On every connection the bridge publishes
"online" on the availability topic (whose last will is a retained "offline", sent by the broker
when the connection dies without a goodbye), the discovery configs and every state, and
subscribes to the set topics. A lost connection is retried after 1 s, then 2, 4 … up to a
minute, and each outage is logged once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt

from pievse.aio import AsyncClock, honour_cancellation
from pievse.mqtt.commands import HomeControls, carry_out, read_order
from pievse.mqtt.discovery import Device, discovery_messages
from pievse.mqtt.state import connector_state, station_state
from pievse.mqtt.topics import Topics

__all__ = ["Broker", "MqttBridge"]

log = logging.getLogger("pievse.mqtt")

FIRST_RETRY_S = 1.0
LAST_RETRY_S = 60.0
#: The broker hears from the client at least this often; it sends the last will when it has
#: heard nothing for one and a half times as long. It is also how long opening the TCP connection
#: may take (in a thread that an exiting daemon waits for, after opening the contactors).
KEEPALIVE_S = 15
#: How long one publish or subscribe may wait for the broker before the connection is given up.
OPERATION_TIMEOUT_S = 10.0
#: How long a stopping bridge tries to say "offline" itself.
GOODBYE_TIMEOUT_S = 1.0


@dataclass(frozen=True, slots=True)
class Broker:
    host: str
    port: int
    username: str = ""
    password: str = ""
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    tls_insecure: bool = False

    def tls_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.ca_file or None)
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file or None)
        if self.tls_insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


class MqttBridge:
    """Publish ``status()`` (the local API's status) for ``device`` under ``topics`` and carry
    out the commands through ``controls``."""

    def __init__(
        self,
        broker: Broker,
        topics: Topics,
        device: Device,
        *,
        status: Callable[[], dict[str, Any]],
        controls: HomeControls,
        clock: AsyncClock,
        publish_interval: float = 60.0,
    ) -> None:
        self.broker = broker
        self.topics = topics
        self.device = device
        self._status = status
        self._controls = controls
        self._clock = clock
        self._interval = publish_interval
        self._changed = asyncio.Event()
        #: topic -> the payload last published there in this connection.
        self._published: dict[str, str] = {}
        self._outage_logged = False
        #: Connections made so far (a reconnect makes it grow).
        self.connections = 0
        #: Connected, announced and subscribed to the commands.
        self.connected = False

    def changed(self) -> None:
        """Something the state shows may have changed: publish it soon. Never blocks."""
        self._changed.set()

    # --- the connection --------------------------------------------------------------------------

    async def run(self) -> None:
        """Stay connected until cancelled."""
        delay = FIRST_RETRY_S
        while True:
            try:
                async with self._client() as client:
                    delay = FIRST_RETRY_S
                    await self._serve(client)
            except (aiomqtt.MqttError, OSError) as error:
                self._lost(error)
            finally:
                self.connected = False
            await self._clock.sleep(delay)
            delay = min(delay * 2, LAST_RETRY_S)

    def _lost(self, error: Exception) -> None:
        level = logging.DEBUG if self._outage_logged else logging.WARNING
        self._outage_logged = True
        log.log(level, "MQTT: no connection to the broker at %s:%s (%s); retrying, charging "
                "goes on", self.broker.host, self.broker.port, str(error) or type(error).__name__)

    def _client(self) -> aiomqtt.Client:
        broker = self.broker
        return aiomqtt.Client(
            broker.host, broker.port,
            username=broker.username or None, password=broker.password or None,
            identifier=self.topics.node,
            will=aiomqtt.Will(self.topics.availability, "offline", qos=1, retain=True),
            tls_context=broker.tls_context(),
            keepalive=KEEPALIVE_S, timeout=OPERATION_TIMEOUT_S,
            logger=logging.getLogger("pievse.mqtt.client"),
        )

    async def _serve(self, client: aiomqtt.Client) -> None:
        try:
            await _publish(client, self.topics.availability, "online", qos=1, retain=True)
            await self._publish_discovery(client)
            for topic in self.topics.subscriptions:
                await client.subscribe(topic, qos=1)
                honour_cancellation()
            self.connected = True
            self.connections += 1
            self._outage_logged = False
            log.info("MQTT: connected to %s:%s, publishing under %s", self.broker.host,
                     self.broker.port, self.topics.base)
            self._published.clear()
            await _first_to_end(self._publish_states(client), self._listen(client))
        except asyncio.CancelledError:
            # Stopping: say so, since a clean disconnect makes the broker drop the last will.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.publish(self.topics.availability, "offline",
                                                      qos=1, retain=True), GOODBYE_TIMEOUT_S)
            raise

    # --- what goes out -------------------------------------------------------------------------

    async def _publish_discovery(self, client: aiomqtt.Client) -> None:
        for topic, config in discovery_messages(self.topics, self.device):
            await _publish(client, topic, json.dumps(config), qos=1, retain=True)

    def _states(self) -> dict[str, dict[str, Any]]:
        status = self._status()
        states = {self.topics.station_state: station_state(status, self.device.station_max_a)}
        for connector in status["connectors"]:
            states[self.topics.connector_state(connector["id"])] = connector_state(connector)
        return states

    async def _publish_states(self, client: aiomqtt.Client) -> None:
        due = self._clock.monotonic()
        while True:
            self._changed.clear()
            every = self._clock.monotonic() >= due
            if every:
                due = self._clock.monotonic() + self._interval
            for topic, state in self._states().items():
                payload = json.dumps(state, separators=(",", ":"))
                if every or self._published.get(topic) != payload:
                    await _publish(client, topic, payload, qos=0, retain=True)
                    self._published[topic] = payload
            await self._clock.wait(self._changed, max(due - self._clock.monotonic(), 0))

    # --- what comes in -------------------------------------------------------------------------

    async def _listen(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            topic = str(message.topic)
            payload = message.payload if isinstance(message.payload, bytes) else b""
            if topic == self.topics.home_assistant_status:
                if payload == b"online":  # Home Assistant restarted: tell it everything again
                    await self._publish_discovery(client)
                    self._published.clear()
                    self.changed()
            elif message.retain:
                # A command left on the broker would be carried out again at every reconnect.
                log.warning("MQTT: ignored a retained command on %r; publish commands without "
                            "the retain flag", topic[:200])
            else:
                self.command(topic, payload)

    def command(self, topic: str, payload: bytes) -> None:
        """Carry out the command on ``topic``; a bad one is logged and ignored."""
        try:
            order = read_order(self.topics, topic, payload)
            carry_out(self._controls, order)
        except ValueError as error:
            log.warning("MQTT: ignored %r: %s", topic[:200], error)
        except Exception:
            log.exception("MQTT: the command on %r failed", topic[:200])
        else:
            log.info("MQTT: %s %s", topic, order.value if order.value is not None else "")
            self.changed()


async def _publish(client: aiomqtt.Client, topic: str, payload: str, *, qos: int,
                   retain: bool) -> None:
    await client.publish(topic, payload, qos=qos, retain=retain)
    # The client waits for the broker's PUBACK with asyncio.wait_for, which on Python 3.11 can
    # swallow a cancellation that comes as the answer does (CPython gh-86296): honour it here,
    # or the loop around goes on waiting for messages and the daemon's stop hangs.
    honour_cancellation()


async def _first_to_end(*jobs: Awaitable[None]) -> None:
    """Run ``jobs`` until one ends; its exception (a lost connection) is raised."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        task.result()
