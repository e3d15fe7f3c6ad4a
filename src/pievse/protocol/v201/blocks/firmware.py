"""L Firmware management: UpdateFirmware and FirmwareStatusNotification, translated to
:mod:`pievse.services.firmware`, the updater 1.6 uses too.

* **L01 secure update**: a request with a signingCertificate and a signature. The certificate
  must chain to an installed ManufacturerRootCertificate, or the answer is InvalidCertificate
  and the security event InvalidFirmwareSigningCertificate goes out (L01.FR.02); the updater
  verifies the signature over the download (SignatureVerified, or InvalidSignature and the
  security event InvalidFirmwareSignature). RevokedCertificate is never answered: the station
  holds no revocation data.
* **L02 update without a signature**: taken as 1.6's UpdateFirmware is, until a
  ManufacturerRootCertificate is installed; from then on it is Rejected (firmware is taken
  signed only). A certificate without a signature, or the reverse, is Rejected.
* A new request cancels an update not yet installing (AcceptedCanceled, L01.FR.24); one that
  installs cannot be cancelled (Rejected, L01.FR.27). Without an updater every request is
  Rejected.

The answer goes out first; the update starts in the ``@after`` handler, so that no
FirmwareStatusNotification precedes it. Each step (:mod:`pievse.protocol.v201.codec.firmware`)
carries the request's requestId, through the redelivery queue, and the result of an install is
reported after the restart that runs it (:mod:`pievse.protocol.common.firmware_reports`). The
updater installs only once no transaction is active (L01.FR.06): InstallScheduled while it waits,
the station held meanwhile (no new session, the connectors not in use Unavailable: L01.FR.07)
unless ChargingStation.AllowNewSessionsPendingFirmwareUpdate is true.
TriggerMessage(FirmwareStatusNotification) hears the last status sent, Idle once that was
Installed or when there was none.
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import after, on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from pievse.protocol.common.firmware_reports import (
    FirmwareReports,
    signing_certificate_refusal,
    unsigned_firmware_refusal,
)
from pievse.protocol.common.transfer_requests import request_retries, request_time
from pievse.protocol.v201.codec.charging_profiles import status_info
from pievse.protocol.v201.codec.firmware import firmware_status_notification
from pievse.protocol.v201.context import Context
from pievse.protocol.v201.device_model import DataType, Variable
from pievse.services.firmware import FirmwareStatus, UpdateRequest

__all__ = ["FirmwareBlock"]

#: ChargingStation's variable: true lets sessions start while an install waits for the running
#: ones to end (L01.FR.07 holds the station otherwise).
ALLOW_NEW_SESSIONS = "ChargingStation.AllowNewSessionsPendingFirmwareUpdate"


class FirmwareBlock:
    def __init__(self, context: Context) -> None:
        self.context = context
        self.log = context.log
        self._asked: UpdateRequest | None = None
        self._signing_refused: str | None = None
        self.reports = FirmwareReports(
            context, firmware_status_notification,
            holds_sessions=lambda: not context.device_model[ALLOW_NEW_SESSIONS])
        context.triggers.register(
            "FirmwareStatusNotification",
            lambda evse_id: context.send(self.firmware_status_notification()))

    def variables(self) -> list[Variable]:
        component, name = ALLOW_NEW_SESSIONS.split(".")
        return [Variable(component, name, DataType.BOOLEAN, False)]

    @on(Action.update_firmware)
    def on_update_firmware(self, request_id: int, firmware: dict[str, Any],
                           retries: int | None = None, retry_interval: int | None = None,
                           **_: Any) -> call_result.UpdateFirmware:
        retrieve = request_time(firmware["retrieve_date_time"], "retrieveDateTime")
        install = request_time(firmware.get("install_date_time"), "installDateTime")
        certificate, signature = firmware.get("signing_certificate"), firmware.get("signature")
        updater = self.context.firmware
        if updater is None:
            return self._refused(request_id, "Rejected", "NotSupported",
                                 "firmware updates are not set up on this charging station")
        if (certificate is None) != (signature is None):
            return self._refused(request_id, "Rejected", "MissingSignature",
                                 "a signingCertificate and a signature go together")
        if certificate is not None:
            why = signing_certificate_refusal(self.context.certificates, certificate)
            if why:
                self._signing_refused = why
                return self._refused(request_id, "InvalidCertificate", "InvalidCertificate",
                                     why)
        elif refused := unsigned_firmware_refusal(self.context.certificates):
            return self._refused(request_id, "Rejected", "UnsignedFirmware", refused)
        if updater.installing:
            return self._refused(request_id, "Rejected", "InstallationUnderWay",
                                 "an installation is under way and cannot be cancelled")
        self._asked = UpdateRequest(
            firmware["location"], retrieve or 0.0, *request_retries(retries, retry_interval),
            install, certificate, signature, request_id)
        return call_result.UpdateFirmware(
            status="AcceptedCanceled" if updater.busy else "Accepted")

    @after(Action.update_firmware)
    def after_update_firmware(self, **_: Any) -> None:
        refused, self._signing_refused = self._signing_refused, None
        asked, self._asked = self._asked, None
        self.reports.start(asked, refused)

    def _refused(self, request_id: int, status: str, code: str,
                 why: str) -> call_result.UpdateFirmware:
        self.log.warning("UpdateFirmware %s: %s: %s", request_id, status, why)
        return call_result.UpdateFirmware(status=status, status_info=status_info(code, why))

    def firmware_status_notification(self) -> Any:
        """What a trigger sends: the last status sent with its requestId, Idle once that was
        Installed or when there was none."""
        updater = self.context.firmware
        if updater is None:
            return firmware_status_notification(FirmwareStatus.IDLE, None)
        return firmware_status_notification(updater.last_status, updater.request)

