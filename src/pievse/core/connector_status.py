"""What a connector shows: the OCPP status, error code and info derived from its facts.

Nothing is stored here: the status follows from the faults, the transaction, the pilot, the
offer and the availability each time it is asked for, so it can never disagree with them. The
connector reports it when it changed (``Connector.report_status``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from pievse.core.fault_reports import (
    FAULT_REPORT,
    IMPLAUSIBLE_METER_INFO,
    METER_FAILURE_INFO,
    VENTILATION_INFO,
)
from pievse.core.hardware import FaultKind, PilotState
from pievse.core.vocabulary import ConnectorStatus, ErrorCode

if TYPE_CHECKING:
    from pievse.core.connector import PendingAuthorization
    from pievse.core.meter_plausibility import MeterPlausibility
    from pievse.core.transactions import Transaction

__all__ = ["ENERGY_LIMIT_INFO", "StatusFacts", "status_of"]

#: Why a transaction is SuspendedEVSE once its id tag was refused after the start and it took
#: the MaxEnergyOnInvalidId it was allowed (the info field of 1.6; 2.0.1's EnergyLimitReached).
ENERGY_LIMIT_INFO = "MaxEnergyOnInvalidId reached"


class StatusFacts(Protocol):
    """The facts of a connector its status follows from."""

    faults: set[FaultKind]
    transaction: Transaction | None
    pilot: PilotState
    contactor_closed: bool
    operative: bool
    finishing: bool
    pending: PendingAuthorization | None
    meter_problem: str | None
    meter_check: MeterPlausibility

    @property
    def ventilation_fault(self) -> bool: ...

    @property
    def offering(self) -> bool: ...

    @property
    def held_for_update(self) -> bool: ...

    @property
    def energy_allowance_used_up(self) -> bool: ...


def status_of(c: StatusFacts, reserved: Callable[[], bool]
              ) -> tuple[ConnectorStatus, ErrorCode, str | None]:
    """The status, error code and info the CSMS sees; ``reserved``: whether a reservation holds
    the connector (asked, and shown, only while it is otherwise Available)."""
    if c.faults:
        kind = sorted(c.faults, key=lambda k: k.value)[0]
        code, _, info = FAULT_REPORT[kind]
        return ConnectorStatus.FAULTED, code, info
    if c.ventilation_fault:
        return ConnectorStatus.FAULTED, ErrorCode.OTHER_ERROR, VENTILATION_INFO
    status = _operational_status(c)
    if status is ConnectorStatus.AVAILABLE and reserved():
        status = ConnectorStatus.RESERVED
    if c.meter_problem is not None:
        # Not Faulted: energy can still be delivered; the error code tells the CSMS that
        # the energy figures of this connector are frozen at the last good reading.
        return status, ErrorCode.POWER_METER_FAILURE, METER_FAILURE_INFO
    if c.meter_check.failed:
        return status, ErrorCode.POWER_METER_FAILURE, IMPLAUSIBLE_METER_INFO
    if status is ConnectorStatus.SUSPENDED_EVSE and c.energy_allowance_used_up:
        return status, ErrorCode.NO_ERROR, ENERGY_LIMIT_INFO
    return status, ErrorCode.NO_ERROR, None


def _operational_status(c: StatusFacts) -> ConnectorStatus:
    tx = c.transaction
    if tx is not None:
        if tx.stop is not None or tx.authorization_ended:
            return ConnectorStatus.FINISHING
        if tx.id_token is None:
            return ConnectorStatus.PREPARING  # plugged in, waiting for a driver
        if not c.pilot.vehicle_connected:
            # Unplugged with StopTransactionOnEVSideDisconnect false (or authorised before the
            # car came): the session waits for the car.
            return ConnectorStatus.SUSPENDED_EV
        if not c.offering:
            return ConnectorStatus.SUSPENDED_EVSE
        if c.contactor_closed:
            return ConnectorStatus.CHARGING
        return ConnectorStatus.SUSPENDED_EV
    if not c.operative or c.held_for_update:
        return ConnectorStatus.UNAVAILABLE
    if c.finishing:
        return ConnectorStatus.FINISHING
    if c.pending is not None or c.pilot.vehicle_connected:
        return ConnectorStatus.PREPARING
    return ConnectorStatus.AVAILABLE
