"""One charging station's OCPP 2.0.1 websocket, seen from the CSMS: 2.0.1's default answers.

Everything else (the ledger, the hooks, the commands, raw frames) is the same as for 1.6
(:class:`~pievse.csms.session.SessionBase`). The policy is the central system's: the boot
status and heartbeat interval, the id tokens accepted (in Authorize and in a transaction's
Started event).
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import after, on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from pievse.csms.session import SessionBase

__all__ = ["ChargePointSession201"]


class ChargePointSession201(SessionBase):
    """The CSMS side of an OCPP 2.0.1 websocket."""

    version = "2.0.1"

    def _token_info(self, id_token: dict[str, Any]) -> dict[str, Any]:
        return {"status": self.central.id_tag_status(id_token["id_token"])}

    @on(Action.boot_notification)
    def on_boot_notification(self, **_: Any) -> call_result.BootNotification:
        return call_result.BootNotification(**self.boot_answer())

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(**self.heartbeat_answer())

    @on(Action.status_notification)
    def on_status_notification(self, **_: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_token: dict[str, Any], **_: Any) -> call_result.Authorize:
        return call_result.Authorize(id_token_info=self._token_info(id_token))

    @on(Action.transaction_event)
    def on_transaction_event(self, event_type: str, id_token: dict[str, Any] | None = None,
                             **_: Any) -> call_result.TransactionEvent:
        if id_token is None or event_type == "Updated":
            return call_result.TransactionEvent()
        return call_result.TransactionEvent(id_token_info=self._token_info(id_token))

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on(Action.notify_report)
    def on_notify_report(self, **_: Any) -> call_result.NotifyReport:
        return call_result.NotifyReport()

    @on(Action.notify_event)
    def on_notify_event(self, **_: Any) -> call_result.NotifyEvent:
        return call_result.NotifyEvent()

    @on(Action.security_event_notification)
    def on_security_event_notification(self, **_: Any) -> call_result.SecurityEventNotification:
        return call_result.SecurityEventNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, **_: Any) -> call_result.FirmwareStatusNotification:
        return call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    def on_log_status_notification(self, **_: Any) -> call_result.LogStatusNotification:
        return call_result.LogStatusNotification()

    @on(Action.notify_customer_information)
    def on_notify_customer_information(self, **_: Any) -> call_result.NotifyCustomerInformation:
        return call_result.NotifyCustomerInformation()

    @on(Action.data_transfer)
    def on_data_transfer(self, **_: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status="UnknownVendorId")

    @on(Action.report_charging_profiles)
    def on_report_charging_profiles(self, **_: Any) -> call_result.ReportChargingProfiles:
        return call_result.ReportChargingProfiles()

    @on(Action.notify_charging_limit)
    def on_notify_charging_limit(self, **_: Any) -> call_result.NotifyChargingLimit:
        return call_result.NotifyChargingLimit()

    @on(Action.cleared_charging_limit)
    def on_cleared_charging_limit(self, **_: Any) -> call_result.ClearedChargingLimit:
        return call_result.ClearedChargingLimit()

    @on(Action.sign_certificate)
    def on_sign_certificate(self, **_: Any) -> call_result.SignCertificate:
        return call_result.SignCertificate(status=self.sign_answer())

    @after(Action.sign_certificate)
    async def after_sign_certificate(self, csr: str, certificate_type: str | None = None,
                                     **_: Any) -> None:
        await self.send_signed(csr, **({"certificateType": certificate_type}
                                       if certificate_type is not None else {}))

    # ISO 15118 certificates for a car (M01, M02, M06): the bench has no contract PKI, so it
    # says Failed unless a test answers them itself (``on_call``).

    @on(Action.get_15118_ev_certificate)
    def on_get_15118_ev_certificate(self, **_: Any) -> call_result.Get15118EVCertificate:
        return call_result.Get15118EVCertificate(status="Failed", exi_response="")

    @on(Action.get_certificate_status)
    def on_get_certificate_status(self, **_: Any) -> call_result.GetCertificateStatus:
        return call_result.GetCertificateStatus(status="Failed")
