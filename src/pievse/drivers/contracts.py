"""The small interfaces between the station and its hardware, and the values that cross them.

Every driver, real or simulated, implements one of these protocols. The station core sees hardware
only through the value types defined here; the daemon moves events from drivers into the core and
commands from the core to the drivers.

Conventions shared by all drivers:

* ``start()`` acquires the hardware (opens ports, claims pins) and may raise ``DriverError`` with a
  message a person can act on; ``close()`` releases it and never raises. A board's ``close()``
  leaves the contactor open and the pilot at steady +12 V, whatever state it was in; a GPIO board
  then releases its pins, and the wiring's pull-downs hold the relays open and the pilot at
  -12 V (state F: "EVSE not available"), as they do when the process dies.
* Events are delivered through an async iterator; iterating after ``close()`` ends the iteration.
* Commands to a board are plain synchronous calls: they must be quick (a pin write), because the
  safety reactions (opening the contactor when the car leaves state C or a fault input trips) go
  straight from the event to the command with no await in between.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from pievse.core.hardware import FaultKind, MeterReading, PilotState

__all__ = [
    "DriverError",
    "EnergyMeter",
    "EvseBoard",
    "FaultChanged",
    "FaultKind",
    "MeterReading",
    "PilotState",
    "PilotStateChanged",
    "BoardCapabilities",
    "BoardEvent",
    "CableLock",
    "TokenPresented",
    "TokenReader",
]


class DriverError(Exception):
    """A driver cannot reach or use its hardware; the message says what and, if known, why."""


# --- Energy meter -------------------------------------------------------------------------------


@runtime_checkable
class EnergyMeter(Protocol):
    """A meter measuring what one connector delivers."""

    async def start(self) -> None: ...

    async def read(self) -> MeterReading:
        """Read the meter now. Raises DriverError when it does not answer."""
        ...

    async def close(self) -> None: ...


# --- Token reader (RFID) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenPresented:
    """A card (or other token) was presented: one event per tap.

    ``id_token`` is the card UID in upper-case hex unless the reader is configured otherwise;
    ``kind`` names the token type in OCPP 2.0.1 words ("ISO14443", "ISO15693", "Central", ...).
    """

    id_token: str
    kind: str = "ISO14443"


@runtime_checkable
class TokenReader(Protocol):
    """Cards, one event per tap. A reader may also say why it cannot read cards now (a
    ``problem`` property: None when it can), which the station reports as ReaderFailure."""

    async def start(self) -> None: ...

    def tokens(self) -> AsyncIterator[TokenPresented]: ...

    async def close(self) -> None: ...


# --- EVSE board: pilot, contactor and fault inputs of one connector -----------------------------


@dataclass(frozen=True, slots=True)
class PilotStateChanged:
    """The debounced pilot state changed."""

    state: PilotState


@dataclass(frozen=True, slots=True)
class FaultChanged:
    """A fault input became active or cleared."""

    kind: FaultKind
    active: bool


BoardEvent = PilotStateChanged | FaultChanged


@dataclass(frozen=True, slots=True)
class BoardCapabilities:
    """What a board can do; the station never offers more than ``max_current_a``."""

    max_current_a: float = 32.0
    phases: int = 3
    current_steps_a: tuple[float, ...] = field(default=())  # relay steps; () = continuous PWM
    #: A socket (Type 2) whose plug a lock actuator holds: the board has a ``cable_lock``. A
    #: fixed cable has nothing to lock (UnlockConnector: NotSupported).
    has_lock: bool = False
    #: A relay that switches the supply between one phase and ``phases`` (``set_phases``).
    phase_switch: bool = False


@runtime_checkable
class CableLock(Protocol):
    """The actuator that holds the plug in a socket, and the feedback contact that says where it
    is. Each command answers with what the feedback reads once the actuator has had its time
    (awaited, so a motor's few hundred milliseconds never hold the event loop): a jammed
    actuator, or a plug not fully in, is a lock failure (OCPP's ConnectorLockFailure)."""

    async def lock(self) -> bool:
        """Drive the lock; True when the feedback reads locked."""
        ...

    async def unlock(self) -> bool:
        """Release the plug; True when the feedback reads unlocked."""
        ...

    @property
    def locked(self) -> bool:
        """What the feedback contact reads now."""
        ...


@runtime_checkable
class EvseBoard(Protocol):
    """The pilot, the contactor and the fault inputs of one connector."""

    capabilities: BoardCapabilities

    async def start(self) -> None: ...

    def pilot_offer(self, amps: float) -> float:
        """Run the 1 kHz PWM offering ``amps`` (≥ 6 A); returns the current really offered after
        the board's quantisation (a duty-cycle step or a relay step)."""
        ...

    def pilot_standby(self) -> None:
        """Steady +12 V, no PWM: nothing is offered (state A/B1, or a pause)."""
        ...

    def set_contactor(self, closed: bool) -> None: ...

    def set_phases(self, phases: int) -> None:
        """Switch the phase relay to 1 phase or ``capabilities.phases``. Refused (DriverError)
        without ``capabilities.phase_switch`` and while the contactor is closed: a relay never
        moves under load."""
        ...

    def events(self) -> AsyncIterator[BoardEvent]:
        """Pilot changes and fault inputs. The first event after ``start()``
        is the current pilot state, so the station never has to guess."""
        ...

    async def close(self) -> None: ...
