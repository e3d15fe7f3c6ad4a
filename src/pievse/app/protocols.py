"""The OCPP versions the daemon speaks, by ``[ocpp] version``: each builds its adapter from the
daemon's parts.

The daemon and the link ask an adapter only what they need of any version (:class:`Adapter`),
the websocket subprotocol included; what is particular to a version (the names of its
configuration keys, say) stays in its builder here: OCPP 1.6J and 2.0.1, as the config key's
choices say.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import logging
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pievse.aio import AsyncClock
    from pievse.app.config import Config
    from pievse.app.link_security import LinkSecurity
    from pievse.core.effects import Effect
    from pievse.core.station import Station
    from pievse.protocol.common.charge_point_parts import ChargePointParts
    from pievse.protocol.common.outbox import Outbox
    from pievse.protocol.common.transport_security import TransportSecurity
    from pievse.services.diagnostics import DiagnosticsUploader
    from pievse.services.firmware import FirmwareUpdater
    from pievse.services.log_upload import LogUploader

__all__ = ["ADAPTERS", "Adapter", "ConfigurationKeys", "DaemonParts", "build_adapter",
           "offered_subprotocols"]

log = logging.getLogger("pievse.ocpp")


class ConfigurationKeys(Protocol):
    """What the daemon does with an adapter's configuration keys: set them from the config file
    and the store, keep the CSMS's changes, and build the station's settings from them."""

    def __contains__(self, name: str) -> bool: ...

    def definition(self, name: str) -> Any: ...

    def set_initial(self, name: str, value: Any) -> None: ...

    def on_change(self, listener: Callable[[str, Any], None]) -> None: ...

    def station_settings(self) -> dict[str, Any]: ...


class Adapter(Protocol):
    """What the daemon and the link need of an OCPP adapter, whatever its version."""

    version: str
    #: The websocket subprotocol the link offers, e.g. "ocpp1.6".
    subprotocol: str
    #: The largest websocket message the CSMS may need to send.
    max_message_size: int
    outbox: Outbox
    configuration: ConfigurationKeys

    @property
    def connected(self) -> bool: ...

    @property
    def registered(self) -> bool: ...

    def handle(self, effect: Effect) -> None: ...

    async def run_session(self, connection: Any) -> None: ...

    def report_security_event(self, event: str, tech_info: str | None = None) -> None: ...

    def transport_security(self) -> TransportSecurity: ...


@dataclass(frozen=True, slots=True)
class DaemonParts:
    """What the daemon gives the adapter it builds."""

    config: Config
    station: Station
    dispatch: Callable[[list[Effect]], None]
    clock: AsyncClock
    outbox: Outbox
    security: LinkSecurity
    firmware: FirmwareUpdater | None
    diagnostics: DiagnosticsUploader | None
    logs: LogUploader | None
    on_security_change: Callable[[str], None]
    on_ping_interval: Callable[[int], None]
    on_connection_change: Callable[[], None]
    on_csms_time: Callable[[float], None]
    #: Why the station (re)started, in 2.0.1's words (BootReasonEnumType).
    boot_reason: str = "PowerUp"
    #: The store (a ``Store``): what ``version = "auto"`` keeps of the CSMS's choice.
    store: Any = None
    #: The answer timeout of the connection in use (a network profile's), read as each opens.
    message_timeout: Callable[[], float] | None = None


def build_16(parts: DaemonParts) -> Adapter:
    """OCPP 1.6J with the security extension."""
    from pievse.protocol.v16.adapter import ChargePoint16
    from pievse.protocol.v16.blocks.availability import (
        PHASE_ROTATION_NOT_APPLICABLE,
        connector_phase_rotation,
    )

    config = parts.config
    cp = config.charge_point
    adapter = ChargePoint16(parts.station, parts.dispatch, _charge_point_parts(parts))
    keys = _with_shared_keys(adapter, config)
    keys.set_initial("ConnectorPhaseRotation", connector_phase_rotation(
        cp.connectors,
        PHASE_ROTATION_NOT_APPLICABLE if cp.phases == 1 else cp.phase_rotation))
    return adapter


def build_201(parts: DaemonParts) -> Adapter:
    """OCPP 2.0.1. Its device model keeps the variables that mean what a 1.6 key means under
    that key's name, so the values the CSMS set hold whichever version is configured."""
    from pievse.protocol.v201.adapter import ChargePoint201

    cp = parts.config.charge_point
    adapter = ChargePoint201(
        parts.station, parts.dispatch, _charge_point_parts(parts), boot_reason=parts.boot_reason,
        phases=cp.phases, max_power_w=cp.max_current * cp.voltage * cp.phases)
    _with_shared_keys(adapter, parts.config)
    return adapter


def _charge_point_parts(parts: DaemonParts) -> ChargePointParts:
    """What every version's adapter is given alike."""
    from pievse.protocol.common.charge_point_parts import ChargePointParts

    config, security = parts.config, parts.security
    cp = config.charge_point
    return ChargePointParts(
        vendor=cp.vendor, model=cp.model, serial_number=cp.serial_number or None,
        charge_point_id=cp.id, organization_name=security.cpo_name,
        response_timeout=config.ocpp.response_timeout, message_timeout=parts.message_timeout,
        clock=parts.clock, outbox=parts.outbox,
        firmware=parts.firmware, diagnostics=parts.diagnostics, logs=parts.logs,
        certificates=security.certificates, security_state=security.state,
        key_type=security.key_type, network_profiles=security.network_profiles,
        history=parts.store, on_ping_interval=parts.on_ping_interval,
        on_csms_time=parts.on_csms_time, on_connection_change=parts.on_connection_change,
        on_security_change=parts.on_security_change)


def _with_shared_keys(adapter: Adapter, config: Config) -> Any:
    """The settings every version keeps under the same key, from the config."""
    keys = adapter.configuration
    keys.set_initial("WebSocketPingInterval", config.ocpp.ping_interval)
    keys.set_initial("ReserveConnectorZeroSupported", config.reservations.connector_zero)
    return keys


#: ``[ocpp] version`` -> the builder of its adapter.
ADAPTERS: dict[str, Callable[[DaemonParts], Adapter]] = {"1.6": build_16, "2.0.1": build_201}


def build_adapter(parts: DaemonParts) -> Adapter:
    from pievse.app.version_choice import AUTO, VersionChoice, ongoing, versions_holding

    version = parts.config.ocpp.version
    if version == AUTO:
        return VersionChoice(parts, ADAPTERS)  # type: ignore[return-value]
    build = ADAPTERS.get(version)
    if build is None:
        raise ValueError(f"no adapter speaks OCPP {version}")
    for other, count in versions_holding(parts.outbox, ongoing(parts.station)).items():
        if other != version:
            log.warning("%d transaction(s) begun under OCPP %s have messages in the outbox: "
                        "they are sent in OCPP %s's words", count, other, version)
    return build(parts)


def offered_subprotocols(adapter: Adapter) -> Callable[[], tuple[str, ...]]:
    """What the link offers the CSMS before each attempt: the adapter's subprotocol, or, under
    ``version = "auto"``, what :class:`~pievse.app.version_choice.VersionChoice` offers."""
    offer = getattr(adapter, "offer", None)
    return offer if offer is not None else (lambda: (adapter.subprotocol,))
