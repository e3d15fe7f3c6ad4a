"""Transactions: StartTransaction, StopTransaction and the MeterValues of a transaction, through
the outbox, and the Core profile's keys about transactions.

The outbox (:mod:`pievse.protocol.common.outbox`) keeps them in order across connection losses
and restarts; :mod:`pievse.protocol.common.outbox_delivery` sends each until the CSMS has
answered it, retried per TransactionMessageAttempts and TransactionMessageRetryInterval. The
CSMS's answer to a start gives the transaction its id, and its verdict on the card goes back to
the station, which decides what follows.
"""

from __future__ import annotations

from typing import Any

from pievse.core.effects import MeterSample, TransactionStarted, TransactionStopped
from pievse.protocol.common.measurands import SUPPORTED_MEASURANDS
from pievse.protocol.common.outbox import OutboxEntry
from pievse.protocol.common.outbox_delivery import SLOW_RETRY_S, OutboxDelivery
from pievse.protocol.v16 import messages
from pievse.protocol.v16.blocks.meter_values import measurands
from pievse.protocol.v16.configuration import (
    MAX_CSL_ITEMS,
    KeyDefinition,
    KeyType,
)
from pievse.protocol.v16.context import Context

__all__ = ["SLOW_RETRY_S", "TransactionsBlock"]

_NAMES = {"start": "StartTransaction", "stop": "StopTransaction", "meter": "MeterValues"}


class TransactionsBlock:
    def __init__(self, context: Context) -> None:
        self.context = context
        self.log = context.log
        outbox = context.outbox
        # Whether it was made offline means nothing in 1.6, but a CSMS that speaks 2.0.1 on the
        # next connection is told (``version = "auto"``).
        context.on_effect(TransactionStarted, lambda started: outbox.put(
            "start", started.transaction_ref, started, offline=not context.registered))
        context.on_effect(TransactionStopped, lambda stopped: outbox.put(
            "stop", stopped.transaction_ref, stopped, offline=not context.registered))
        configuration = context.configuration
        self.delivery = OutboxDelivery(
            context, build=self._request, delivered=self._delivered,
            attempts=lambda: configuration["TransactionMessageAttempts"],
            retry_interval=lambda: configuration["TransactionMessageRetryInterval"],
            name=lambda entry: _NAMES[entry.kind])

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

    def _request(self, entry: OutboxEntry) -> Any:
        if entry.kind == "state":
            return None  # a 2.0.1 charging-state event, queued before a switch to 1.6
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
