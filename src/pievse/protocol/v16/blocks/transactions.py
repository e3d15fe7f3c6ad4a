"""Transactions: StartTransaction, StopTransaction and the MeterValues of a transaction, through
the outbox, and the Core profile's keys about transactions.

The outbox (:mod:`pievse.protocol.common.outbox`) sends them in order, each until the CSMS has
answered it, kept across connection losses and restarts, retried per TransactionMessageAttempts
and TransactionMessageRetryInterval. The CSMS's answer to a start gives the transaction its id,
and its verdict on the card goes back to the station, which decides what follows.
"""

from __future__ import annotations

from typing import Any

from pievse.core.effects import MeterSample, TransactionStarted, TransactionStopped
from pievse.protocol.common.notifications import Call
from pievse.protocol.common.outbox import OutboxEntry
from pievse.protocol.common.rpc import (
    CallErrorReceived,
    ConnectionLost,
    InvalidResponse,
    ResponseTimeout,
)
from pievse.protocol.v16 import messages
from pievse.protocol.v16.blocks.meter_values import measurands
from pievse.protocol.v16.configuration import (
    MAX_CSL_ITEMS,
    SUPPORTED_MEASURANDS,
    KeyDefinition,
    KeyType,
)
from pievse.protocol.v16.context import Context

__all__ = ["SLOW_RETRY_S", "TransactionsBlock"]

#: Start and Stop are never given up (a CPO bills from them); past TransactionMessageAttempts they
#: are retried at this slow pace instead, and each failure is logged.
SLOW_RETRY_S = 600.0

_NAMES = {"start": "StartTransaction", "stop": "StopTransaction", "meter": "MeterValues"}


class TransactionsBlock:
    def __init__(self, context: Context) -> None:
        self.context = context
        self.log = context.log
        outbox = context.outbox
        context.on_effect(TransactionStarted,
                          lambda started: outbox.put("start", started.transaction_ref, started))
        context.on_effect(TransactionStopped,
                          lambda stopped: outbox.put("stop", stopped.transaction_ref, stopped))
        context.while_registered("ocpp-outbox", self._send_outbox)

    def keys(self) -> list[KeyDefinition]:
        """The Core profile's keys about transactions (OCPP 1.6 section 9.1)."""
        seconds = float
        return [
            KeyDefinition("ConnectionTimeOut", KeyType.INT, 60, minimum=1, maximum=3600,
                          setting="connection_timeout_s", to_setting=seconds),
            # Wh a transaction may still take once the CSMS refused its id tag (when
            # StopTransactionOnInvalidId is false); 0: the station suspends it at once.
            KeyDefinition("MaxEnergyOnInvalidId", KeyType.INT, 0, minimum=0, maximum=1_000_000,
                          setting="max_energy_on_invalid_id_wh", to_setting=float),
            KeyDefinition("StopTransactionOnEVSideDisconnect", KeyType.BOOL, True,
                          setting="stop_transaction_on_ev_side_disconnect"),
            KeyDefinition("StopTransactionOnInvalidId", KeyType.BOOL, True,
                          setting="stop_transaction_on_invalid_id"),
            KeyDefinition("StopTxnAlignedData", KeyType.CSL, "",
                          choices=SUPPORTED_MEASURANDS, max_items=MAX_CSL_ITEMS),
            KeyDefinition("StopTxnAlignedDataMaxLength", KeyType.INT, MAX_CSL_ITEMS,
                          readonly=True),
            KeyDefinition("StopTxnSampledData", KeyType.CSL, "Energy.Active.Import.Register",
                          choices=SUPPORTED_MEASURANDS, max_items=MAX_CSL_ITEMS),
            KeyDefinition("StopTxnSampledDataMaxLength", KeyType.INT, MAX_CSL_ITEMS,
                          readonly=True),
            KeyDefinition("TransactionMessageAttempts", KeyType.INT, 3, minimum=1, maximum=100),
            KeyDefinition("TransactionMessageRetryInterval", KeyType.INT, 30, minimum=1,
                          maximum=86400),
        ]

    async def _send_outbox(self, call_csms: Call) -> None:
        outbox = self.context.outbox
        while True:
            entry = await outbox.next_ready()
            request = self._request(entry)
            if request is None:
                outbox.ack(entry)
                continue
            try:
                response = await call_csms(request)
            except (CallErrorReceived, ResponseTimeout, InvalidResponse) as error:
                self._retry_later(entry, error)
                continue
            except ConnectionLost:
                return
            self._delivered(entry, response)

    def _request(self, entry: OutboxEntry) -> Any:
        if entry.kind == "start":
            return messages.start_transaction(entry.data)
        configuration = self.context.configuration
        transaction_id = self.context.outbox.transaction_id(entry.transaction_ref)
        if transaction_id is None:
            # Only possible if its StartTransaction was given up, which we never do.
            self.log.error("no transactionId for transaction %s; dropping %s",
                           entry.transaction_ref, entry.kind)
            return None
        if entry.kind == "stop":
            return messages.stop_transaction(
                entry.data,
                transaction_id,
                configuration.list_csl("StopTxnSampledData"),
                configuration.list_csl("StopTxnAlignedData"),
            )
        sample: MeterSample = entry.data
        return messages.meter_values(sample, measurands(configuration, sample.context),
                                     transaction_id)

    def _retry_later(self, entry: OutboxEntry, error: Exception) -> None:
        outbox, configuration = self.context.outbox, self.context.configuration
        entry.attempts += 1
        outbox.attempted(entry)
        attempts = int(configuration["TransactionMessageAttempts"])
        interval = float(configuration["TransactionMessageRetryInterval"])
        if entry.attempts >= attempts:
            if entry.kind == "meter":
                self.log.error("MeterValues of transaction %s given up after %s attempts: %s",
                               entry.transaction_ref, entry.attempts, error)
                outbox.ack(entry)
                return
            delay = SLOW_RETRY_S
        else:
            # TransactionMessageRetryInterval times the number of attempts so far (OCPP 1.6 4.7).
            delay = interval * entry.attempts
        self.log.warning("%s of transaction %s failed (%s); attempt %s, next in %.0f s",
                         _NAMES[entry.kind], entry.transaction_ref, error, entry.attempts, delay)
        outbox.postpone(entry, delay)

    def _delivered(self, entry: OutboxEntry, response: Any) -> None:
        context = self.context
        station = context.station
        if entry.kind == "start":
            transaction_id = int(response.transaction_id)
            result = messages.id_tag_info(response.id_tag_info)
            context.outbox.start_answered(entry, transaction_id)
            self.log.info("transaction %s has transactionId %s (id tag %s)",
                          entry.transaction_ref, transaction_id, result.status.word)
            context.dispatch(station.verdict_received(entry.data.id_token, result))
            context.dispatch(
                station.transaction_accepted(entry.transaction_ref, transaction_id,
                                             result.status)
            )
            return
        context.outbox.ack(entry)
        stopped_by = entry.data.id_token if entry.kind == "stop" else None
        if stopped_by is not None and getattr(response, "id_tag_info", None):
            # The verdict on the card that ended the session: the cache keeps it too.
            context.dispatch(station.verdict_received(
                stopped_by, messages.id_tag_info(response.id_tag_info)))
