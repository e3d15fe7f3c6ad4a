"""Where a transaction begins and where it ends: OCPP 2.0.1's TxStartPoint and TxStopPoint, in
the core's words.

A transaction is the part of a charging session the CSMS bills. Under 1.6 it begins once the
driver is authorised *and* the car is plugged in, and ends when either is no longer so (or, with
StopTransactionOnEVSideDisconnect false, only when the driver ends it): that is
``POWER_PATH_CLOSED`` at both ends, the default. 2.0.1 lets the CSMS choose other points:

* start: ``EV_CONNECTED`` (the cable plugged in, before anyone is authorised: the transaction
  waits for its id token and no energy flows until it has one), ``AUTHORIZED`` (the driver
  authorised, before the car is plugged in: EVConnectionTimeOut then ends it if no car comes),
  ``POWER_PATH_CLOSED``, ``ENERGY_TRANSFER`` (the car asks for power). With several, the
  transaction begins at the first of them reached.
* stop: the transaction ends when any of the listed conditions no longer holds: ``EV_CONNECTED``
  (the cable unplugged), ``AUTHORIZED`` (the driver or the CSMS ended the authorisation),
  ``POWER_PATH_CLOSED`` (either), ``ENERGY_TRANSFER`` (the car stopped taking energy). With
  ``EV_CONNECTED`` alone, ending the authorisation only stops the energy; the transaction goes
  on until the cable is unplugged.

A parking bay sensor (ParkingBayOccupancy) is no part of a station here: that point does not
exist in the core, and the adapter refuses it as a value the station cannot do.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pievse.core.vocabulary import StopReason

if TYPE_CHECKING:
    from pievse.core.settings import StationSettings
    from pievse.core.transactions import Transaction

__all__ = ["StartCause", "TxPoint", "TxPoints", "car_moved", "cause_of_start",
           "ev_connection_deadline"]


class TxPoint(str, enum.Enum):
    EV_CONNECTED = "EVConnected"
    AUTHORIZED = "Authorized"
    POWER_PATH_CLOSED = "PowerPathClosed"
    ENERGY_TRANSFER = "EnergyTransfer"


class StartCause(str, enum.Enum):
    """What made a transaction begin: the last of the facts its start point waited for."""

    CABLE_PLUGGED_IN = "CablePluggedIn"
    AUTHORIZED = "Authorized"
    ENERGY_TRANSFER = "EnergyTransfer"


@dataclass(frozen=True, slots=True)
class TxPoints:
    start: frozenset[TxPoint] = frozenset({TxPoint.POWER_PATH_CLOSED})
    stop: frozenset[TxPoint] = frozenset({TxPoint.POWER_PATH_CLOSED})

    def start_reached(self, *, authorized: bool, connected: bool, asks_for_power: bool,
                      plugged_anew: bool = True) -> bool:
        """Has the first of the start points been reached? ``plugged_anew``: the car is not
        the one a transaction just ended with (it must leave before it starts another one by
        being plugged in)."""
        start = self.start
        return ((TxPoint.EV_CONNECTED in start and connected and plugged_anew)
                or (TxPoint.AUTHORIZED in start and authorized)
                or (TxPoint.POWER_PATH_CLOSED in start and authorized and connected)
                or (TxPoint.ENERGY_TRANSFER in start and authorized and asks_for_power))

    @property
    def ends_on_unplug(self) -> bool:
        """The cable unplugged ends the transaction whatever StopTxOnEVSideDisconnect says."""
        return TxPoint.EV_CONNECTED in self.stop

    @property
    def ends_with_authorization(self) -> bool:
        """Ending the authorisation ends the transaction (else it only stops the energy)."""
        return bool(self.stop - {TxPoint.EV_CONNECTED})

    @property
    def ends_with_energy_transfer(self) -> bool:
        return TxPoint.ENERGY_TRANSFER in self.stop


def cause_of_start(points: TxPoints, last_fact: StartCause, *, authorized: bool,
                   connected: bool) -> StartCause:
    """Why a transaction that begins now begins: the fact that came last (``last_fact``: the
    cable plugged in, or the authorisation), unless only the car taking energy made it begin."""
    if not authorized:
        return StartCause.CABLE_PLUGGED_IN
    without_energy = TxPoints(points.start - {TxPoint.ENERGY_TRANSFER}, points.stop)
    if not without_energy.start_reached(authorized=authorized, connected=connected,
                                        asks_for_power=False):
        return StartCause.ENERGY_TRANSFER
    return last_fact


def ev_connection_deadline(tx: Transaction | None, connected: bool, timeout_s: float,
                           points: TxPoints) -> float | None:
    """When a transaction waiting for its car ends (EVConnectionTimeOut): one begun at the
    authorisation, or one the car left under a stop point that waits for it (E10; not
    PowerPathClosed, whose transaction waits as 1.6's does, for as long as it takes). None
    when none waits."""
    if tx is None or tx.stop is not None or connected:
        return None
    if not tx.ev_seen:
        return tx.started_at + timeout_s
    if tx.unplugged_at is not None and TxPoint.POWER_PATH_CLOSED not in points.stop:
        return tx.unplugged_at + timeout_s
    return None


def car_moved(tx: Transaction, settings: StationSettings, *, unplugged: bool, connected: bool,
              was_connected: bool, asks_for_power: bool, now: float) -> StopReason | None:
    """The pilot changed during a transaction: note the car's coming and going, and say why
    the transaction ends now, if it does (the cable unplugged: StopTxOnEVSideDisconnect or the
    EVConnected stop point; the car no longer taking energy: the EnergyTransfer stop point)."""
    tx.ev_seen = tx.ev_seen or connected
    if connected:
        tx.unplugged_at = None
    elif was_connected:
        tx.unplugged_at = now
    if tx.stop is not None:
        return None
    points = settings.tx_points
    if unplugged and (settings.stop_transaction_on_ev_side_disconnect or points.ends_on_unplug):
        return StopReason.EV_DISCONNECTED
    if tx.energy_flowed and points.ends_with_energy_transfer and not asks_for_power:
        return StopReason.STOPPED_BY_EV
    return None
