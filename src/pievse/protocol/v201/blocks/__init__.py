"""The OCPP 2.0.1 adapter's functional blocks, named after the specification's:

==================  ===========================================================================
provisioning (B)    BootNotification, Heartbeat, Get/SetVariables, GetBaseReport and
                    NotifyReport, Reset, DataTransfer; the communication and device-data
                    variables
availability (G)    StatusNotification, ChangeAvailability; the ChargingStation, EVSE and
                    Connector components
authorization (C)   Authorize, ClearCache; AuthCtrlr, AuthCacheCtrlr
transactions (E)    TransactionEvent through the outbox, meter values (J) in and outside a
                    transaction; TxCtrlr, SampledDataCtrlr, AlignedDataCtrlr
remote_control (F)  RequestStart/StopTransaction, TriggerMessage
local_list (D)      SendLocalList, GetLocalListVersion; LocalAuthListCtrlr
reservation (H)     ReserveNow, CancelReservation
security (A)        SecurityCtrlr, BasicAuthPassword
certificates (A, M) InstallCertificate, GetInstalledCertificateIds, DeleteCertificate,
                    SignCertificate / CertificateSigned (the common certificate management)
network_profiles    SetNetworkProfile (B09); NetworkConfigurationPriority and
  (B09, B10)        NetworkProfileConnectionAttempts
iso15118 (M)        Get15118EVCertificate, GetCertificateStatus for a board's ISO 15118 stack;
                    ISO15118Ctrlr
smart_charging (K)  Set/Clear/GetChargingProfiles, GetCompositeSchedule; SmartChargingCtrlr
fault_events (G05)  NotifyEvent of the faults (RCD, emergency stop, contactor, pilot, lock)
firmware (L)        UpdateFirmware, FirmwareStatusNotification
diagnostics (N01)   GetLog, LogStatusNotification
customer_           CustomerInformation, NotifyCustomerInformation: what the station holds of
  information       one id token (the cache, the local list, the session history)
  (N09, N10)
==================  ===========================================================================

Each is built over the shared :class:`~pievse.protocol.v201.context.Context` and nothing else
of the adapter or of another block, as the 1.6 blocks are: its ``@on``/``@after`` handlers,
the device model variables it owns (:meth:`Block.variables`), and what it registers in the
context.
"""

from __future__ import annotations

from typing import Protocol

from pievse.protocol.v201.device_model import Variable

__all__ = ["Block"]


class Block(Protocol):
    def variables(self) -> list[Variable]:
        """The device model variables this block owns."""
        ...
