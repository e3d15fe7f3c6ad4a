"""The OCPP 1.6 adapter's functional blocks: one small handler object per functional area.

Each block is built over the shared :class:`~pievse.protocol.v16.context.Context` and nothing
else of the adapter or of another block. It carries the ``@on``/``@after`` handlers of the CSMS's
commands in its area (decode with the codec, call the station core, encode the answer), declares
the configuration keys it owns (:meth:`Block.keys`), and registers in the context the effects it
sends, the messages it sends when triggered, and the tasks it runs while registered.

==================  ===========================================================================
provisioning        BootNotification (registration), Heartbeat, Reset, Get/ChangeConfiguration,
                    DataTransfer
authorization       Authorize, ClearCache
transactions        StartTransaction, StopTransaction, transaction MeterValues (the outbox)
meter_values        MeterValues outside a transaction, the measurands sent
remote_control      RemoteStart/StopTransaction, TriggerMessage, ExtendedTriggerMessage
availability        ChangeAvailability, StatusNotification, UnlockConnector
smart_charging      Set/ClearChargingProfile, GetCompositeSchedule
firmware            UpdateFirmware, SignedUpdateFirmware, (Signed)FirmwareStatusNotification
diagnostics         GetDiagnostics, GetLog, DiagnosticsStatusNotification, LogStatusNotification
security            CertificateSigned, Install/GetInstalled/DeleteCertificate, SignCertificate,
                    SecurityEventNotification, the security keys
local_list          SendLocalList, GetLocalListVersion
reservation         ReserveNow, CancelReservation
==================  ===========================================================================

The adapter (:mod:`pievse.protocol.v16.adapter`) composes them into one route map and one set of
configuration keys.
"""

from __future__ import annotations

from typing import Protocol

from pievse.protocol.v16.configuration import KeyDefinition

__all__ = ["Block"]


class Block(Protocol):
    """What the adapter asks of a functional block besides its handlers."""

    def keys(self) -> list[KeyDefinition]:
        """The configuration keys this block owns."""
        ...
