"""OCPP 1.6 configuration keys (GetConfiguration / ChangeConfiguration), with their real rules.

Each key is declared once, by the functional block that owns it (:mod:`pievse.protocol.v16.blocks`),
with its type, access and, where it steers behaviour, the station setting it feeds. A key with
rules of its own carries them in its definition: a check of the value, a value kept elsewhere
(``read``), a change carried out by its owner instead of kept here (``write``), a value never
shown (``write_only``), and what to do once the answer is on the wire (``answered``).
ChangeConfiguration answers as the specification asks: unknown key -> NotSupported, read-only key
or invalid value -> Rejected, a key that only takes effect after a restart -> RebootRequired, else
Accepted.

A key is writable only if something acts on its value; a key that only describes the station
(a limit, a capability, how it is wired) is read-only and says the truth, even where the
specification would let the CSMS write it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


MAX_CSL_ITEMS = 8


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
    #: Why a value of the right type is refused all the same (None: it is not).
    check: Callable[[Any], str | None] | None = None
    #: Where the value lives when it is not kept here (the value in force elsewhere).
    read: Callable[[], Any] | None = None
    #: Carries out a change in place of keeping the value here: (the answer, why).
    write: Callable[[Any], tuple[ChangeResult, str]] | None = None
    #: The CSMS may set the value but never read it back (a secret).
    write_only: bool = False
    #: Runs once the answer to a ChangeConfiguration of this key has gone out.
    answered: Callable[[], None] | None = None


def csl(items: Iterable[str]) -> str:
    """A comma separated list's value."""
    return ",".join(items)


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

    def __init__(self, definitions: Iterable[KeyDefinition] = ()) -> None:
        self._definitions: dict[str, KeyDefinition] = {}
        self._values: dict[str, Any] = {}
        self._listeners: list[Callable[[str, Any], None]] = []
        self.declare(definitions)

    def __contains__(self, name: str) -> bool:
        return name in self._definitions

    def __getitem__(self, name: str) -> Any:
        read = self._definitions[name].read
        return read() if read is not None else self._values[name]

    def definition(self, name: str) -> KeyDefinition:
        return self._definitions[name]

    def declare(self, definitions: Iterable[KeyDefinition]) -> None:
        """Add keys at their defaults. A key has one owner: declaring a name twice is a
        mistake, refused."""
        for d in definitions:
            if d.name in self._definitions:
                raise ValueError(f"configuration key {d.name} declared twice")
            self._definitions[d.name] = d
            if not d.write_only:
                self._values[d.name] = d.default

    def on_change(self, listener: Callable[[str, Any], None]) -> None:
        self._listeners.append(listener)

    def set_initial(self, name: str, value: Any) -> None:
        """Set a value from the config file or the store, without the CSMS's rules."""
        self._values[name] = value

    def list_csl(self, name: str) -> list[str]:
        value = self[name]
        return [item for item in value.split(",") if item] if value else []

    def station_settings(self) -> dict[str, Any]:
        """The station settings the keys feed, as keyword arguments for StationSettings."""
        result: dict[str, Any] = {}
        for d in self._definitions.values():
            if d.setting is not None:
                value = self[d.name]
                result[d.setting] = d.to_setting(value) if d.to_setting else value
        return result

    def get(self, keys: list[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
        """GetConfiguration: (configurationKey entries, unknownKey names). A write-only key is
        listed without its value: the CSMS learns that it exists, never what it is."""
        names = list(self._definitions) if not keys else keys
        known, unknown = [], []
        for name in names:
            d = self._definitions.get(name)
            if d is None:
                unknown.append(name)
            elif d.write_only:
                known.append({"key": name, "readonly": d.readonly})
            else:
                known.append({"key": name, "readonly": d.readonly, "value": _render(d, self[name])})
        return known, unknown

    def shown(self, name: str, text: str) -> str:
        """``text`` as a value of ``name`` may be shown in a log line."""
        d = self._definitions.get(name)
        return "[not shown]" if d is not None and d.write_only else repr(text)

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
        refused = d.check(value) if d.check is not None else None
        if refused:
            return ChangeResult.REJECTED, refused
        if d.write is not None:
            return d.write(value)
        self._values[name] = value
        for listener in self._listeners:
            listener(name, value)
        if d.reboot_required:
            return ChangeResult.REBOOT_REQUIRED, "takes effect after a restart"
        return ChangeResult.ACCEPTED, "changed"

    def answered(self, name: str) -> None:
        """The answer to a ChangeConfiguration of ``name`` has gone out."""
        d = self._definitions.get(name)
        if d is not None and d.answered is not None:
            d.answered()
