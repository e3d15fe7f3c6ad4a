"""MQTT for the daemon: the bridge built from ``[mqtt]``, run as its own supervised task.

Imported only when ``[mqtt] host`` is set, so that a station without MQTT loads none of it. The
bridge reads the same status as the local API (``Daemon.status``, without id tags: a broker is
shared with the whole house) and commands the station through :class:`StationControls`. Whatever
goes wrong in it is logged and the bridge starts again: MQTT never stops the daemon.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from pievse import __version__
from pievse.aio import AsyncClock
from pievse.app.home_controls import StationControls
from pievse.mqtt.bridge import Broker, MqttBridge
from pievse.mqtt.discovery import Device
from pievse.mqtt.topics import Topics, node_id

if TYPE_CHECKING:
    from pievse.app.daemon import Daemon

__all__ = ["build_bridge", "start_mqtt", "supervise"]

log = logging.getLogger("pievse.mqtt")

#: How long a failed bridge rests before it starts again.
RESTART_S = 5.0


def build_bridge(daemon: Daemon) -> MqttBridge:
    config = daemon.config
    mqtt, cp = config.mqtt, config.charge_point
    controls = StationControls(daemon.station, daemon.dispatch, cp.max_current, source="mqtt",
                               start_id_tag=mqtt.start_id_tag)
    # The id may hold "+" or "#", which a topic may not.
    base = mqtt.base_topic or "pievse/" + re.sub(r"[+#]", "_", cp.id)
    return MqttBridge(
        Broker(mqtt.host, mqtt.port, mqtt.username, mqtt.password, mqtt.tls, mqtt.ca_file,
               mqtt.cert_file, mqtt.key_file, mqtt.tls_insecure),
        Topics(base, mqtt.discovery_prefix, node_id(cp.id)),
        Device(cp.id, cp.vendor, cp.model, __version__, cp.connectors, cp.max_current,
               can_start=bool(mqtt.start_id_tag)),
        status=lambda: daemon.status(show_id_tags=False),
        controls=controls,
        max_current=controls.max_current,
        clock=daemon.clock,
        publish_interval=mqtt.publish_interval,
    )


async def supervise(run: Callable[[], Awaitable[None]], clock: AsyncClock,
                    what: str = "MQTT bridge") -> None:
    """Run ``run()`` again whenever it fails or ends, until cancelled."""
    while True:
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; starting it again in %g s (charging goes on)", what,
                          RESTART_S)
        else:
            log.error("%s ended; starting it again in %g s", what, RESTART_S)
        await clock.sleep(RESTART_S)


def start_mqtt(daemon: Daemon) -> asyncio.Task:
    """Build the bridge, let it hear of every change, and start its supervised task."""
    bridge = daemon.mqtt = build_bridge(daemon)
    daemon.watchers.append(bridge.changed)
    return asyncio.create_task(supervise(bridge.run, daemon.clock), name="mqtt")
