"""The station's board commands carried out on a board: one place for every composition of a
charge point (the daemon's and a fleet's), so that a board is driven the same way in both.

A SetPhases switches the phases the board supplies; a SetContactor switches the contactor. A
SetPilot of some amps runs the PWM offering them, and
the station is told the current the car really reads (a board quantises its duty cycle, a relay
board has steps); a SetPilot of 0 A stops the PWM.
"""

from __future__ import annotations

from pievse.core.effects import SetContactor, SetPhases, SetPilot
from pievse.core.station import Station
from pievse.drivers.contracts import EvseBoard

__all__ = ["drive_board"]


def drive_board(station: Station, board: EvseBoard,
                effect: SetContactor | SetPilot | SetPhases) -> None:
    """Carry out one board command (whatever the board raises is the caller's to handle)."""
    if isinstance(effect, SetPhases):
        board.set_phases(effect.phases)
    elif isinstance(effect, SetContactor):
        board.set_contactor(effect.closed)
    elif effect.amps > 0:
        station.offered_current_confirmed(effect.connector_id, board.pilot_offer(effect.amps))
    else:
        board.pilot_standby()
