"""Switching between one and three phases, safely: never under load, never on a moving relay.

A relay on the board connects L2 and L3 to the contactor, or not. The sequence of one switch:

1. **Pause**: the cars are held at 0 A (the ``switching phases`` limit on every connector with a
   switch): the PWM stops, the car goes to state B and stops drawing, and the connector opens
   its contactor (at once when the car leaves C, after the station's stop grace at the latest).
2. **Switch**: only once every contactor reads open, ``SetPhases`` goes to the boards.
3. **Settle**: ``settle_s`` for the relay to move (and the car's charger to see the new supply),
   the hold still on, so no contactor can close on a relay that is moving.
4. **Resume**: the hold is lifted; the connectors offer again and close when the car asks.

A fault meanwhile opens everything as it always does (the hold only ever adds a 0 A limit). The
caller (``app/home.py``) puts the hold on the connectors while ``holding`` is true and carries
out the effects. Nothing here reads a clock.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from pievse.core.effects import Effect, SetPhases

__all__ = ["HOLD_LIMIT", "PhaseSwitch", "Stage"]

#: The name of the 0 A limit that holds the cars during a switch: what the status says then.
HOLD_LIMIT = "switching phases"


class Stage(str, enum.Enum):
    IDLE = "idle"
    PAUSING = "pausing"  # the hold is on; waiting for every contactor to open
    SETTLING = "settling"  # the relay was told; waiting for it to settle


class PhaseSwitch:
    def __init__(self, connector_ids: Sequence[int], phases: int, settle_s: float = 2.0) -> None:
        self.connector_ids = tuple(connector_ids)
        #: The phases the relays connect now.
        self.phases = phases
        self.settle_s = settle_s
        self.stage = Stage.IDLE
        #: The phases a switch under way goes to.
        self.target: int | None = None
        #: Switches carried out since the start.
        self.switches = 0
        self._since = 0.0

    @property
    def holding(self) -> bool:
        """Whether the cars must be held at 0 A now."""
        return self.stage is not Stage.IDLE

    def request(self, phases: int, now: float) -> bool:
        """Begin a switch to ``phases``; False when one is under way or nothing would change."""
        if self.stage is not Stage.IDLE or phases == self.phases:
            return False
        self.target, self.stage, self._since = phases, Stage.PAUSING, now
        return True

    def step(self, now: float, contactor_closed: bool) -> tuple[list[Effect], int | None]:
        """Go on with the sequence, given whether any contactor of a switched connector is
        closed. The effects to carry out, and the phases once a switch has ended (else None)."""
        if self.stage is Stage.PAUSING and not contactor_closed:
            assert self.target is not None
            self.stage, self._since = Stage.SETTLING, now
            return [SetPhases(n, self.target) for n in self.connector_ids], None
        if self.stage is Stage.SETTLING and now - self._since >= self.settle_s:
            assert self.target is not None
            self.phases, self.target, self.stage = self.target, None, Stage.IDLE
            self.switches += 1
            return [], self.phases
        return [], None
