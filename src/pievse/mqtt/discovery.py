"""Home Assistant MQTT discovery: one device for the station, its entities, each a retained JSON
config on ``<prefix>/<component>/<node>/<object>/config``.

Every entity has a ``unique_id`` (so that it can be renamed and kept in Home Assistant), the
``device`` block that groups them, the availability topic fed by the client's last will, and
the state topic with a template that picks its field out of the JSON of
:mod:`pievse.mqtt.state`. The energy sensors are ``total_increasing`` kWh, which Home
Assistant's energy dashboard takes.

A start button per connector only with ``[mqtt] start_id_tag``: a session needs an id tag to be
charged to. A select for the charging mode (fast / pv / min+pv) only with a site meter, which the
solar modes need.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pievse.mqtt.topics import Topics

__all__ = ["Device", "discovery_messages"]


@dataclass(frozen=True, slots=True)
class Device:
    """The station as Home Assistant lists it."""

    charge_point_id: str
    manufacturer: str
    model: str
    sw_version: str
    connectors: int
    #: The installation's maximum per connector (A).
    max_current_a: float
    #: Sessions may be started over MQTT (an id tag is configured for them).
    can_start: bool = False
    #: No CSMS: no link to show.
    standalone: bool = False
    #: The charging modes the station offers (none without a site meter).
    modes: tuple[str, ...] = ()

    @property
    def station_max_a(self) -> float:
        """The most the connectors can draw together: the top of the max current slider (a
        station-wide limit is shared between them)."""
        return min(80.0, self.max_current_a * self.connectors)


def _field(name: str) -> str:
    return "{{ value_json.%s }}" % name


# object id -> (component, name, state field, extra config): per connector.
_CONNECTOR_ENTITIES: tuple[tuple[str, str, str, str, dict[str, Any]], ...] = (
    ("status", "sensor", "Status", "status", {"icon": "mdi:ev-station"}),
    ("car_state", "sensor", "Car state", "car_state", {"icon": "mdi:car-electric"}),
    ("power", "sensor", "Power", "power_w",
     {"device_class": "power", "unit_of_measurement": "W", "state_class": "measurement"}),
    ("session_energy", "sensor", "Session energy", "session_energy_kwh",
     {"device_class": "energy", "unit_of_measurement": "kWh",
      "state_class": "total_increasing"}),
    ("energy", "sensor", "Total energy", "energy_kwh",
     {"device_class": "energy", "unit_of_measurement": "kWh",
      "state_class": "total_increasing"}),
    ("offered_current", "sensor", "Offered current", "offered_current_a",
     {"device_class": "current", "unit_of_measurement": "A", "state_class": "measurement"}),
    ("offered_current_reason", "sensor", "Offered current reason", "offered_current_reason",
     {"icon": "mdi:information-outline", "entity_category": "diagnostic"}),
    ("session", "binary_sensor", "Session", "session", {"icon": "mdi:ev-plug-type2"}),
    ("contactor", "binary_sensor", "Contactor", "contactor", {"device_class": "power"}),
    ("fault", "binary_sensor", "Fault", "fault", {"device_class": "problem"}),
    ("error", "sensor", "Error code", "error_code",
     {"icon": "mdi:alert-circle-outline", "entity_category": "diagnostic"}),
)


def discovery_messages(topics: Topics, device: Device) -> list[tuple[str, dict[str, Any]]]:
    """(topic, config) of every entity; empty when discovery is off."""
    if not topics.discovery_prefix:
        return []
    node = topics.node
    common = {
        "availability_topic": topics.availability,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": {
            "identifiers": [node],
            "name": f"pievse {device.charge_point_id}",
            "manufacturer": device.manufacturer,
            "model": device.model,
            "sw_version": device.sw_version,
        },
    }
    messages = []

    def entity(component: str, object_id: str, name: str, **config: Any) -> None:
        config.update(common, name=name, unique_id=f"{node}_{object_id}")
        messages.append((topics.discovery(component, object_id), config))

    station = topics.station_state
    if not device.standalone:
        entity("binary_sensor", "csms", "CSMS link", state_topic=station,
               value_template=_field("csms"), device_class="connectivity",
               entity_category="diagnostic")
    entity("switch", "enabled", "Enabled", state_topic=station,
           value_template=_field("enabled"), command_topic=topics.command("enabled"),
           payload_on="ON", payload_off="OFF", icon="mdi:power")
    entity("number", "max_current", "Max current", state_topic=station,
           value_template=_field("max_current_a"), command_topic=topics.command("max_current"),
           min=0, max=device.station_max_a, step=1, unit_of_measurement="A",
           device_class="current", mode="slider", icon="mdi:current-ac")
    if device.modes:
        entity("select", "mode", "Charging mode", state_topic=station,
               value_template=_field("mode"), command_topic=topics.command("mode"),
               options=list(device.modes), icon="mdi:solar-power")
    several = device.connectors > 1
    for n in range(1, device.connectors + 1):
        state = topics.connector_state(n)
        prefix = f"connector{n}_"
        label = f"Connector {n} " if several else ""
        for object_id, component, name, field, extra in _CONNECTOR_ENTITIES:
            entity(component, prefix + object_id, label + name, state_topic=state,
                   value_template=_field(field), **extra)
        if several:  # one alone is the station's switch
            entity("switch", prefix + "enabled", label + "Enabled", state_topic=state,
                   value_template=_field("enabled"), command_topic=topics.command("enabled", n),
                   payload_on="ON", payload_off="OFF", icon="mdi:power")
        if device.can_start:
            entity("button", prefix + "start", label + "Start charging",
                   command_topic=topics.command("start", n), payload_press="PRESS",
                   icon="mdi:play-circle-outline")
        entity("button", prefix + "stop", label + "Stop charging",
               command_topic=topics.command("stop", n), payload_press="PRESS",
               icon="mdi:stop-circle-outline")
    return messages
