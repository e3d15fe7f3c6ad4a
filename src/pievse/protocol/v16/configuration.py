"""OCPP 1.6 configuration keys (GetConfiguration / ChangeConfiguration), with their real rules.

Each key is declared once with its type, access and, where it steers behaviour, the station
setting or adapter hook it feeds. ChangeConfiguration answers as the specification asks:
unknown key -> NotSupported, read-only key or invalid value -> Rejected, a key that only takes
effect after a restart -> RebootRequired, else Accepted.

A key is writable only if something acts on its value; a key that only describes the station
(a limit, a capability, how it is wired) is read-only and says the truth, even where the
specification would let the CSMS write it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

#: What our meters can report, by OCPP measurand name.
SUPPORTED_MEASURANDS = (
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import",
    "Current.Offered",
    "Voltage",
    "Frequency",
)

SUPPORTED_FEATURE_PROFILES = ("Core", "FirmwareManagement", "LocalAuthListManagement",
                              "RemoteTrigger", "Reservation", "SmartCharging")

MAX_CSL_ITEMS = 8

#: ConnectorPhaseRotation's words besides the six orders (RST, RTS, SRT, STR, TRS, TSR).
PHASE_ROTATION_UNKNOWN = "Unknown"
PHASE_ROTATION_NOT_APPLICABLE = "NotApplicable"  # a single-phase (or DC) station


class KeyType(enum.Enum):
    BOOL = "boolean"
    INT = "integer"
    CSL = "comma separated list"
    STRING = "string"


class ChangeResult(str, enum.Enum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    REBOOT_REQUIRED = "RebootRequired"
    NOT_SUPPORTED = "NotSupported"


@dataclass(frozen=True, slots=True)
class KeyDefinition:
    name: str
    type: KeyType
    default: Any
    readonly: bool = False
    reboot_required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    #: For CSL keys: the allowed items (None = anything).
    choices: tuple[str, ...] | None = None
    max_items: int | None = None
    #: Station setting fed by this key, and how the key's value becomes the setting's value.
    setting: str | None = None
    to_setting: Callable[[Any], Any] | None = None


def _csl(items: Iterable[str]) -> str:
    return ",".join(items)


def connector_phase_rotation(number_of_connectors: int, rotation: str) -> str:
    """ConnectorPhaseRotation's value: the same rotation for the grid connection (connector 0)
    and every connector, e.g. "0.RST,1.RST"."""
    return _csl(f"{n}.{rotation}" for n in range(number_of_connectors + 1))


def core_keys(number_of_connectors: int) -> list[KeyDefinition]:
    """The keys of the Core profile (OCPP 1.6 section 9.1) that pievse implements."""
    seconds = float
    return [
        KeyDefinition("AllowOfflineTxForUnknownId", KeyType.BOOL, False,
                      setting="allow_offline_tx_for_unknown_id"),
        KeyDefinition("AuthorizationCacheEnabled", KeyType.BOOL, True,
                      setting="authorization_cache_enabled"),
        KeyDefinition("AuthorizeRemoteTxRequests", KeyType.BOOL, True,
                      setting="authorize_remote_tx_requests"),
        KeyDefinition("ClockAlignedDataInterval", KeyType.INT, 0, minimum=0, maximum=86400,
                      setting="clock_aligned_data_interval_s", to_setting=seconds),
        KeyDefinition("ConnectionTimeOut", KeyType.INT, 60, minimum=1, maximum=3600,
                      setting="connection_timeout_s", to_setting=seconds),
        # How the phases are wired is the installer's to say ([charge_point] phase_rotation):
        # the station cannot measure it and acts on no value a CSMS would write, so read-only.
        KeyDefinition("ConnectorPhaseRotation", KeyType.CSL,
                      connector_phase_rotation(number_of_connectors, PHASE_ROTATION_UNKNOWN),
                      readonly=True),
        KeyDefinition("ConnectorPhaseRotationMaxLength", KeyType.INT, number_of_connectors + 1,
                      readonly=True),
        KeyDefinition("GetConfigurationMaxKeys", KeyType.INT, 50, readonly=True),
        KeyDefinition("HeartbeatInterval", KeyType.INT, 300, minimum=0, maximum=86400),
        KeyDefinition("LocalAuthorizeOffline", KeyType.BOOL, True,
                      setting="local_authorize_offline"),
        KeyDefinition("LocalPreAuthorize", KeyType.BOOL, False,
                      setting="local_pre_authorize"),
        # Wh a transaction may still take once the CSMS refused its id tag (when
        # StopTransactionOnInvalidId is false); 0: the station suspends it at once.
        KeyDefinition("MaxEnergyOnInvalidId", KeyType.INT, 0, minimum=0, maximum=1_000_000,
                      setting="max_energy_on_invalid_id_wh", to_setting=float),
        KeyDefinition("MeterValuesAlignedData", KeyType.CSL,
                      "Energy.Active.Import.Register",
                      choices=SUPPORTED_MEASURANDS, max_items=MAX_CSL_ITEMS),
        KeyDefinition("MeterValuesAlignedDataMaxLength", KeyType.INT, MAX_CSL_ITEMS,
                      readonly=True),
        KeyDefinition("MeterValuesSampledData", KeyType.CSL,
                      _csl(("Energy.Active.Import.Register", "Power.Active.Import",
                            "Current.Import", "Current.Offered", "Voltage")),
                      choices=SUPPORTED_MEASURANDS, max_items=MAX_CSL_ITEMS),
        KeyDefinition("MeterValuesSampledDataMaxLength", KeyType.INT, MAX_CSL_ITEMS,
                      readonly=True),
        KeyDefinition("MeterValueSampleInterval", KeyType.INT, 60, minimum=0, maximum=86400,
                      setting="meter_value_sample_interval_s", to_setting=seconds),
        KeyDefinition("NumberOfConnectors", KeyType.INT, number_of_connectors, readonly=True),
        # A Reset is the daemon starting itself afresh (exec, or systemd): there is no reset
        # that half fails and could be tried again, so no retries, and nothing to change.
        KeyDefinition("ResetRetries", KeyType.INT, 0, readonly=True),
        KeyDefinition("StopTransactionOnEVSideDisconnect", KeyType.BOOL, True,
                      setting="stop_transaction_on_ev_side_disconnect"),
        KeyDefinition("StopTransactionOnInvalidId", KeyType.BOOL, True,
                      setting="stop_transaction_on_invalid_id"),
        KeyDefinition("StopTxnAlignedData", KeyType.CSL, "",
                      choices=SUPPORTED_MEASURANDS, max_items=MAX_CSL_ITEMS),
        KeyDefinition("StopTxnAlignedDataMaxLength", KeyType.INT, MAX_CSL_ITEMS, readonly=True),
        KeyDefinition("StopTxnSampledData", KeyType.CSL, "Energy.Active.Import.Register",
                      choices=SUPPORTED_MEASURANDS, max_items=MAX_CSL_ITEMS),
        KeyDefinition("StopTxnSampledDataMaxLength", KeyType.INT, MAX_CSL_ITEMS, readonly=True),
        KeyDefinition("SupportedFeatureProfiles", KeyType.CSL,
                      _csl(SUPPORTED_FEATURE_PROFILES), readonly=True),
        KeyDefinition("SupportedFeatureProfilesMaxLength", KeyType.INT, 6, readonly=True),
        KeyDefinition("TransactionMessageAttempts", KeyType.INT, 3, minimum=1, maximum=100),
        KeyDefinition("TransactionMessageRetryInterval", KeyType.INT, 30, minimum=1,
                      maximum=86400),
        # No connector lock on the supported builds, so it cannot be changed to true.
        KeyDefinition("UnlockConnectorOnEVSideDisconnect", KeyType.BOOL, False, readonly=True),
        KeyDefinition("WebSocketPingInterval", KeyType.INT, 60, minimum=0, maximum=3600),
    ]


def _parse(definition: KeyDefinition, text: str) -> Any:
    """The typed value of ``text`` for ``definition``; ValueError says why it is not valid."""
    if definition.type is KeyType.BOOL:
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise ValueError("expected true or false")
        return lowered == "true"
    if definition.type is KeyType.INT:
        try:
            value = int(text.strip())
        except ValueError:
            raise ValueError("expected an integer") from None
        if definition.minimum is not None and value < definition.minimum:
            raise ValueError(f"below the minimum {definition.minimum}")
        if definition.maximum is not None and value > definition.maximum:
            raise ValueError(f"above the maximum {definition.maximum}")
        return value
    if definition.type is KeyType.CSL:
        items = [item.strip() for item in text.split(",") if item.strip()]
        if definition.max_items is not None and len(items) > definition.max_items:
            raise ValueError(f"more than {definition.max_items} items")
        if definition.choices is not None:
            unknown = [item for item in items if item not in definition.choices]
            if unknown:
                raise ValueError(f"unsupported: {', '.join(unknown)}")
        return ",".join(items)
    return text


def _render(definition: KeyDefinition, value: Any) -> str:
    if definition.type is KeyType.BOOL:
        return "true" if value else "false"
    return str(value)


class Configuration:
    """The values of the configuration keys, and who wants to hear of a change."""

    def __init__(self, definitions: Iterable[KeyDefinition]) -> None:
        self._definitions = {d.name: d for d in definitions}
        self._values: dict[str, Any] = {d.name: d.default for d in self._definitions.values()}
        self._listeners: list[Callable[[str, Any], None]] = []

    def __contains__(self, name: str) -> bool:
        return name in self._definitions

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def definition(self, name: str) -> KeyDefinition:
        return self._definitions[name]

    def declare(self, definitions: Iterable[KeyDefinition]) -> None:
        """Add the keys not declared yet, at their defaults (a feature profile's keys, added by
        the adapter that implements the profile to whatever configuration it was given)."""
        for d in definitions:
            if d.name not in self._definitions:
                self._definitions[d.name] = d
                self._values[d.name] = d.default

    def on_change(self, listener: Callable[[str, Any], None]) -> None:
        self._listeners.append(listener)

    def set_initial(self, name: str, value: Any) -> None:
        """Set a value from the config file or the store, without the CSMS's rules."""
        self._values[name] = value

    def list_csl(self, name: str) -> list[str]:
        value = self._values[name]
        return [item for item in value.split(",") if item] if value else []

    def station_settings(self) -> dict[str, Any]:
        """The station settings the keys feed, as keyword arguments for StationSettings."""
        result: dict[str, Any] = {}
        for d in self._definitions.values():
            if d.setting is not None:
                value = self._values[d.name]
                result[d.setting] = d.to_setting(value) if d.to_setting else value
        return result

    def get(self, keys: list[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
        """GetConfiguration: (configurationKey entries, unknownKey names)."""
        names = list(self._definitions) if not keys else keys
        known, unknown = [], []
        for name in names:
            d = self._definitions.get(name)
            if d is None:
                unknown.append(name)
                continue
            known.append(
                {"key": name, "readonly": d.readonly, "value": _render(d, self._values[name])}
            )
        return known, unknown

    def change(self, name: str, text: str) -> tuple[ChangeResult, str]:
        """ChangeConfiguration: the answer the specification asks for, and why (for the log)."""
        d = self._definitions.get(name)
        if d is None:
            return ChangeResult.NOT_SUPPORTED, "unknown key"
        if d.readonly:
            return ChangeResult.REJECTED, "read-only key"
        try:
            value = _parse(d, text)
        except ValueError as error:
            return ChangeResult.REJECTED, f"invalid {d.type.value}: {error}"
        self._values[name] = value
        for listener in self._listeners:
            listener(name, value)
        if d.reboot_required:
            return ChangeResult.REBOOT_REQUIRED, "takes effect after a restart"
        return ChangeResult.ACCEPTED, "changed"
