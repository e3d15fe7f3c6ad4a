"""MQTT for the daemon: the bridge built from ``[mqtt]``, run as a supervised part.

Imported only when ``[mqtt] host`` is set, so that a station without MQTT loads none of it. The
bridge reads the same status as the local API (``Daemon.status``, without id tags: a broker is
shared with the whole house) and commands the station through :class:`StationControls`, its
current through the same ``Home.set_local_limit`` as ``POST /api/limit``. A failure in it is
logged and the supervisor starts it again: MQTT never stops the daemon.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from pievse import __version__
from pievse.app.home_controls import StationControls
from pievse.core.local_limits import LocalLimitSource
from pievse.core.solar import SolarMode
from pievse.mqtt.bridge import Broker, MqttBridge
from pievse.mqtt.discovery import Device
from pievse.mqtt.topics import Topics, node_id

if TYPE_CHECKING:
    from pievse.app.daemon import Daemon

__all__ = ["build_bridge", "start_mqtt"]


def build_bridge(daemon: Daemon) -> MqttBridge:
    config = daemon.config
    mqtt, cp = config.mqtt, config.charge_point
    solar = config.site_meter.driver != "none"
    controls = StationControls(daemon.station, daemon.dispatch, daemon.home.set_local_limit,
                               LocalLimitSource.MQTT, start_id_tag=mqtt.start_id_tag,
                               set_mode=daemon.home.set_mode if solar else None)
    # The id may hold "+" or "#", which a topic may not.
    base = mqtt.base_topic or "pievse/" + re.sub(r"[+#]", "_", cp.id)
    return MqttBridge(
        Broker(mqtt.host, mqtt.port, mqtt.username, mqtt.password, mqtt.tls, mqtt.ca_file,
               mqtt.cert_file, mqtt.key_file, mqtt.tls_insecure),
        Topics(base, mqtt.discovery_prefix, node_id(cp.id)),
        Device(cp.id, cp.vendor, cp.model, __version__, cp.connectors, cp.max_current,
               can_start=bool(mqtt.start_id_tag), standalone=daemon.standalone is not None,
               modes=tuple(mode.value for mode in SolarMode) if solar else ()),
        status=lambda: daemon.status(show_id_tags=False),
        controls=controls,
        clock=daemon.clock,
        publish_interval=mqtt.publish_interval,
    )


def start_mqtt(daemon: Daemon) -> asyncio.Task:
    """Build the bridge, let it hear of every change, and start it under the supervisor."""
    bridge = daemon.mqtt = build_bridge(daemon)
    daemon.watchers.append(bridge.changed)
    return daemon.supervisor.start("MQTT bridge", bridge.run)
