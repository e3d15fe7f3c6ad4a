"""The commands on the set topics, read within bounds and carried out through the station's
controls, the same ones the local API uses (``HomeControls``; the app implements it).

::

    <base>/max_current/set                the mqtt local limit in amperes, 0 (pause) to 80, as
    <base>/connector/<n>/max_current/set  POST /api/limit takes it; "" or "none" lifts it
    <base>/enabled/set                    "ON" / "OFF": take cars, or not (ChangeAvailability)
    <base>/connector/<n>/enabled/set
    <base>/connector/<n>/stop/set         "PRESS" (or empty): stop the session there
    <base>/start/set                      "PRESS" (or empty): start a session where a car waits,
    <base>/connector/<n>/start/set        or on that connector (with [mqtt] start_id_tag)
    <base>/mode/set                       "fast", "pv" or "min+pv": the charging mode (with a
                                          site meter), as POST /api/mode takes it

What a payload may be is checked here, with the local API's own field rules (the amperes of
``POST /api/limit`` are ``LIMIT_AMPS``); whether the station can do it (the connector exists, a
session runs there) is the controls' and the core's to say. Either
refusal is a ``CommandRefused`` (a ``ValueError``) whose message says what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from pievse.local_api.bodies import LIMIT_AMPS, MODE, Field
from pievse.local_api.wire import Refused
from pievse.mqtt.topics import CommandRefused, Topics

__all__ = ["MAX_PAYLOAD_BYTES", "HomeControls", "Order", "carry_out", "read_order"]

#: The longest payload a command takes: a number or a word. Longer is refused unread.
MAX_PAYLOAD_BYTES = 32

ENABLED = Field("enabled", str, choices=("ON", "OFF"))
PRESS = ("PRESS", "")

_NUMBER = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3})?")
_LIFT = ("", "none", "null")


class HomeControls(Protocol):
    """What a person at home may change; each raises ``ValueError`` (saying why) when the
    station cannot do it."""

    def start_session(self, connector: int | None) -> None: ...

    def stop_session(self, connector: int) -> None: ...

    def set_enabled(self, connector: int | None, enabled: bool) -> None: ...

    def set_max_current(self, connector: int | None, amps: float | None) -> None: ...

    def set_mode(self, mode: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Order:
    command: str
    #: None: the whole station.
    connector: int | None
    value: Any


def _take(field: Field, value: Any) -> Any:
    try:
        return field.take({field.name: value})
    except Refused as error:
        raise CommandRefused(str(error)) from None


def _amps(text: str) -> float | None:
    if text.lower() in _LIFT:
        return None
    if not _NUMBER.fullmatch(text):
        raise CommandRefused(f"{text[:MAX_PAYLOAD_BYTES]!r} is not a current: the payload "
                             f"{LIMIT_AMPS.allowed().removesuffix(' or null')} (A), or is empty "
                             "to lift the limit")
    return _take(LIMIT_AMPS, float(text))


def read_order(topics: Topics, topic: str, payload: bytes) -> Order:
    """The command a message on a set topic gives; ``CommandRefused`` if it gives none."""
    command, connector = topics.read_command(topic)
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise CommandRefused(f"{command}: a payload of {len(payload)} bytes; a command takes at "
                             f"most {MAX_PAYLOAD_BYTES}")
    try:
        text = payload.decode("ascii").strip()
    except UnicodeDecodeError:
        raise CommandRefused(f"{command}: the payload is not ASCII text") from None
    if command == "max_current":
        return Order(command, connector, _amps(text))
    if command == "enabled":
        return Order(command, connector, _take(ENABLED, text.upper()) == "ON")
    if command in ("start", "stop"):
        if command == "stop" and connector is None:
            raise CommandRefused("stop: name the connector (<base>/connector/<n>/stop/set)")
        _take(Field(command, str, choices=PRESS), text.upper())
        return Order(command, connector, None)
    if command == "mode":
        if connector is not None:
            raise CommandRefused("mode: the station's, not a connector's (<base>/mode/set)")
        return Order(command, None, _take(MODE, text.lower()))
    raise CommandRefused(f"{command[:40]!r}: no such command; the commands are max_current, "
                         "enabled, start, stop and mode")


def carry_out(controls: HomeControls, order: Order) -> None:
    """Do what ``order`` says; ``ValueError`` (from the controls) if the station cannot."""
    if order.command == "max_current":
        controls.set_max_current(order.connector, order.value)
    elif order.command == "enabled":
        controls.set_enabled(order.connector, order.value)
    elif order.command == "start":
        controls.start_session(order.connector)
    elif order.command == "mode":
        controls.set_mode(order.value)
    else:
        assert order.connector is not None
        controls.stop_session(order.connector)
