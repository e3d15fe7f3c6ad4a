"""Meter values: the station's meter samples as MeterValues, and the keys that choose what is
sampled and what is sent.

A sample of a transaction travels through the outbox, in order with its StartTransaction and
StopTransaction (the transactions block sends it); its first and last readings travel in the
StopTransaction's transactionData instead. A sample outside a transaction, or one a
TriggerMessage asked for, is sent now if the CSMS is there, and otherwise not at all.
"""

from __future__ import annotations

from pievse.core.effects import MeterSample
from pievse.core.vocabulary import ReadingContext
from pievse.protocol.common.measurands import SUPPORTED_MEASURANDS
from pievse.protocol.v16 import messages
from pievse.protocol.v16.configuration import (
    MAX_CSL_ITEMS,
    Configuration,
    KeyDefinition,
    KeyType,
    csl,
)
from pievse.protocol.v16.context import Context

__all__ = ["MeterValuesBlock", "measurands"]


def measurands(configuration: Configuration, context: ReadingContext) -> list[str]:
    """The measurands a MeterValues of a sample taken in ``context`` carries."""
    key = (
        "MeterValuesAlignedData"
        if context is ReadingContext.SAMPLE_CLOCK
        else "MeterValuesSampledData"
    )
    return configuration.list_csl(key)


class MeterValuesBlock:
    def __init__(self, context: Context) -> None:
        self.context = context
        context.on_effect(MeterSample, self._sample)
        for triggers in (context.triggers, context.extended_triggers):
            triggers.register("MeterValues", self._sample_now)

    def keys(self) -> list[KeyDefinition]:
        """The Core profile's keys about meter values (OCPP 1.6 section 9.1)."""
        seconds = float
        return [
            KeyDefinition("ClockAlignedDataInterval", KeyType.INT, 0, minimum=0, maximum=86400,
                          setting="clock_aligned_data_interval_s", to_setting=seconds),
            KeyDefinition("MeterValuesAlignedData", KeyType.CSL,
                          "Energy.Active.Import.Register",
                          choices=SUPPORTED_MEASURANDS, max_items=MAX_CSL_ITEMS),
            KeyDefinition("MeterValuesAlignedDataMaxLength", KeyType.INT, MAX_CSL_ITEMS,
                          readonly=True),
            KeyDefinition("MeterValuesSampledData", KeyType.CSL,
                          csl(("Energy.Active.Import.Register", "Power.Active.Import",
                               "Current.Import", "Current.Offered", "Voltage")),
                          choices=SUPPORTED_MEASURANDS, max_items=MAX_CSL_ITEMS),
            KeyDefinition("MeterValuesSampledDataMaxLength", KeyType.INT, MAX_CSL_ITEMS,
                          readonly=True),
            KeyDefinition("MeterValueSampleInterval", KeyType.INT, 60, minimum=0,
                          maximum=86400, setting="meter_value_sample_interval_s",
                          to_setting=seconds),
        ]

    def _sample(self, sample: MeterSample) -> None:
        context = self.context
        reading = sample.context
        if reading in (ReadingContext.TRANSACTION_BEGIN, ReadingContext.TRANSACTION_END):
            return  # they travel in the StopTransaction's transactionData
        if sample.transaction_ref is not None and reading is not ReadingContext.TRIGGER:
            context.outbox.put("meter", sample.transaction_ref, sample,
                              offline=not context.registered)
        elif context.registered:
            tx_id = (
                context.outbox.transaction_id(sample.transaction_ref)
                if sample.transaction_ref is not None
                else None
            )
            request = messages.meter_values(
                sample, measurands(context.configuration, reading), tx_id)
            if request is not None:
                context.send(request)

    def _sample_now(self, connector_id: int | None) -> None:
        self.context.dispatch(self.context.station.sample_now(connector_id))
