"""Transactions that a crash or a power cut cut off, and what becomes of them at the restart.

The store hands back every transaction that was still open when the daemon died. By default each
is stopped at once: reason PowerLoss (Reboot when a Reset was under way), the last energy the
store saw, and the time of that reading, since the contactor has been open ever since.

Where the configuration asks for it (``resume_interrupted_transactions``), a transaction whose
car is still plugged in goes on instead: the same transaction (same transactionId, same meter
start, no second StartTransaction), the energy counted from the meter as it reads now. Whether
the car is still there is only known once the board has told the pilot state, which it does
first thing after starting; until then the transaction waits, at most ``DECIDE_WITHIN_S``.
The contactor closes again only as it would for any transaction: the car asks (state C), no
fault, current offered.

It sees a connector only as ``ResumableConnector``: whether its pilot state is known yet, whether
a car is there, and the means to go on with a transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from pievse.core.clock import Clock
from pievse.core.effects import Effect, MeterSample, TransactionStopped
from pievse.core.hardware import MeterReading, PilotState
from pievse.core.transactions import InterruptedTransaction, Transaction
from pievse.core.vocabulary import ReadingContext, StopReason

__all__ = ["InterruptedTransactions", "ResumableConnector"]

#: How long an interrupted transaction waits for its connector's pilot state before it is
#: stopped as if it could not be resumed.
DECIDE_WITHIN_S = 10.0


class ResumableConnector(Protocol):
    """What deciding about an interrupted transaction needs of its connector."""

    @property
    def id(self) -> int: ...

    @property
    def pilot_known(self) -> bool:
        """Has the board told the pilot state since the start?"""
        ...

    @property
    def pilot(self) -> PilotState: ...

    @property
    def transaction(self) -> Transaction | None: ...

    @property
    def energy_wh(self) -> float:
        """The meter's register as it reads now."""
        ...

    def resume(self, tx: Transaction) -> None:
        """Go on with ``tx`` from before the restart."""
        ...


class InterruptedTransactions:
    def __init__(
        self,
        connector: Callable[[int], ResumableConnector],
        restore_transaction_refs: Callable[[int], None],
        *,
        clock: Clock,
        emit: Callable[[Effect], None],
    ) -> None:
        """``connector`` finds a connector by its id (ValueError if there is none);
        ``restore_transaction_refs`` is told the next free transaction ref."""
        self._connector = connector
        self._restore_transaction_refs = restore_transaction_refs
        self._clock = clock
        self._emit = emit
        # connector id -> (the transaction, the reason to stop it with, decide by)
        self._waiting: dict[int, tuple[InterruptedTransaction, StopReason, float]] = {}

    def end(self, interrupted: InterruptedTransaction, reason: StopReason) -> None:
        self._restore_transaction_refs(interrupted.ref + 1)
        end = MeterSample(
            connector_id=interrupted.connector_id,
            transaction_ref=interrupted.ref,
            context=ReadingContext.TRANSACTION_END,
            reading=MeterReading(interrupted.last_energy_wh, interrupted.last_energy_at),
            offered_current_a=0.0,
            timestamp=interrupted.last_energy_at,
        )
        self._emit(
            TransactionStopped(
                transaction_ref=interrupted.ref,
                transaction_id=interrupted.transaction_id,
                connector_id=interrupted.connector_id,
                id_token=None,
                meter_stop_wh=max(interrupted.last_energy_wh, interrupted.meter_start_wh),
                timestamp=interrupted.last_energy_at,
                reason=reason,
                transaction_data=(end,),
            )
        )

    def hold(self, interrupted: InterruptedTransaction, reason: StopReason) -> None:
        """Resume it if its car turns out to be plugged in, else stop it with ``reason``."""
        self._restore_transaction_refs(interrupted.ref + 1)
        connector = self._connector(interrupted.connector_id)
        self._waiting[connector.id] = (interrupted, reason, self._clock.now() + DECIDE_WITHIN_S)
        if connector.pilot_known:
            self.pilot_known(connector)

    def pilot_known(self, connector: ResumableConnector) -> None:
        """The connector's pilot state is known: resume or stop what waits there."""
        waiting = self._waiting.pop(connector.id, None)
        if waiting is None:
            return
        interrupted, reason, _ = waiting
        if not connector.pilot.vehicle_connected or connector.transaction is not None:
            self.end(interrupted, reason)
            return
        tx = Transaction(
            ref=interrupted.ref,
            connector_id=connector.id,
            id_token=interrupted.id_token,
            meter_start_wh=interrupted.meter_start_wh,
            started_at=interrupted.started_at,
            transaction_id=interrupted.transaction_id,
        )
        tx.last_energy_wh = max(interrupted.last_energy_wh, connector.energy_wh)
        connector.resume(tx)

    def next_deadline(self) -> float | None:
        return min((until for _, _, until in self._waiting.values()), default=None)

    def tick(self, now: float) -> None:
        for connector_id, (interrupted, reason, until) in list(self._waiting.items()):
            if now >= until:
                del self._waiting[connector_id]
                self.end(interrupted, reason)
