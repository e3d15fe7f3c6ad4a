"""Where the station's messages go, and what a command's topic names.

::

    <base>/availability                    "online" / "offline" (retained; "offline" is the will)
    <base>/state                           the station: CSMS link, enabled, max current (JSON)
    <base>/connector/<n>/state             one connector (JSON, see pievse.mqtt.state)
    <base>/<command>/set                   a command for the whole station
    <base>/connector/<n>/<command>/set     a command for one connector
    <prefix>/<component>/<node>/<object>/config   Home Assistant discovery (retained)
    <prefix>/status                        Home Assistant's own "online": discovery is sent again
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CommandRefused", "Topics", "node_id"]


class CommandRefused(ValueError):
    """A message on a set topic that is not a command pievse takes; the message says why."""


def node_id(charge_point_id: str) -> str:
    """The charge point id as Home Assistant takes it in a discovery topic and an entity's
    unique_id: letters, digits, "_" and "-" only."""
    return "pievse_" + re.sub(r"[^A-Za-z0-9_-]", "_", charge_point_id)


@dataclass(frozen=True, slots=True)
class Topics:
    base: str
    #: Home Assistant's discovery prefix; "" = no discovery.
    discovery_prefix: str
    node: str

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def station_state(self) -> str:
        return f"{self.base}/state"

    def connector_state(self, connector: int) -> str:
        return f"{self.base}/connector/{connector}/state"

    def command(self, name: str, connector: int | None = None) -> str:
        where = self.base if connector is None else f"{self.base}/connector/{connector}"
        return f"{where}/{name}/set"

    @property
    def home_assistant_status(self) -> str | None:
        return f"{self.discovery_prefix}/status" if self.discovery_prefix else None

    def discovery(self, component: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{self.node}/{object_id}/config"

    @property
    def subscriptions(self) -> list[str]:
        topics = [self.command("+"), self.command("+", "+")]  # type: ignore[arg-type]
        if self.home_assistant_status:
            topics.append(self.home_assistant_status)
        return topics

    def read_command(self, topic: str) -> tuple[str, int | None]:
        """The command a set topic names and its connector (None: the station)."""
        rest = topic.removeprefix(self.base + "/")
        parts = rest.split("/")
        if rest == topic or parts[-1] != "set" or len(parts) not in (2, 4):
            raise CommandRefused(f"{topic[:100]!r} is not a command topic of this station")
        if len(parts) == 2:
            return parts[0], None
        if parts[0] != "connector" or not re.fullmatch(r"[1-9][0-9]{0,2}", parts[1]):
            raise CommandRefused(f"{topic[:100]!r}: the connector must be a number from 1")
        return parts[2], int(parts[1])
