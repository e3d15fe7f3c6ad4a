"""A Security and M Certificate management: InstallCertificate, GetInstalledCertificateIds,
DeleteCertificate (M03-M05), SignCertificate and CertificateSigned (A02, A03).

What each does is the common certificate management's
(:mod:`pievse.protocol.common.certificate_management`, the same as under 1.6); this block says
it in 2.0.1's words: the certificate types (CSMSRootCertificate is 1.6's
CentralSystemRootCertificate; the V2G and MO roots and the V2G certificate are an ISO 15118
stack's), the hash data chains, and the status words.

The CSMS asks for a new certificate with TriggerMessage (SignChargingStationCertificate,
SignV2GCertificate), or the station itself a month before its certificate expires (A03): a
key is made here, its CSR (CN = SecurityCtrlr.Identity, O =
SecurityCtrlr.OrganizationName) goes out in a SignCertificate, and when the CSMS accepted it
but no CertificateSigned came within CertSigningWaitMinimum, the request goes out again, the
wait doubling each time, at most CertSigningRepeatTimes times (A02.FR.17). A new charging
station certificate is used from the next connection on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ocpp.routing import after, on
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from pievse.protocol.common.certificate_management import CertificateManagement
from pievse.protocol.v201.context import Context
from pievse.protocol.v201.device_model import DataType, Mutability, Variable

if TYPE_CHECKING:
    from pievse.services.certificates import KeyType

__all__ = ["ROOT_TYPES", "CertificatesBlock"]

#: How often the charging station certificate's end is looked at (A03).
RENEWAL_CHECK_S = 86_400

RO = Mutability.READ_ONLY
SECURITY = "SecurityCtrlr"

#: InstallCertificateUseEnumType -> the store's kind of root (1.6's names).
ROOT_TYPES = {"CSMSRootCertificate": "CentralSystemRootCertificate",
              "ManufacturerRootCertificate": "ManufacturerRootCertificate",
              "V2GRootCertificate": "V2GRootCertificate",
              "MORootCertificate": "MORootCertificate"}
#: The V2G certificate with its chain, as GetInstalledCertificateIds names it.
V2G_CHAIN = "V2GCertificateChain"
#: CertificateSigningUseEnumType -> the store's leaf, and the trigger that asks for it.
LEAVES = {"ChargingStationCertificate": "charge-point", "V2GCertificate": "v2g"}
TRIGGERS = {"SignChargingStationCertificate": "ChargingStationCertificate",
            "SignV2GCertificate": "V2GCertificate"}


class CertificatesBlock:
    """Without a certificate store (a station built without security) every request is
    refused: nothing is installed, nothing found."""

    def __init__(self, context: Context, *, identity: str, key_type: KeyType | None = None,
                 on_security_change: Callable[[str], None] | None = None) -> None:
        self.context = context
        self.log = context.log
        self.management: CertificateManagement | None = None
        if (context.certificates is not None and context.security_state is not None
                and context.security_events is not None):
            self.management = CertificateManagement(
                context.certificates, context.security_state, context.security_events,
                context.log, identity=identity, key_type=key_type,
                on_security_change=on_security_change)
            for trigger, kind in TRIGGERS.items():
                context.triggers.register(
                    trigger, lambda _evse, kind=kind: self.request_certificate(kind),
                    refusal=self._sign_refusal)
            context.while_registered("certificate-renewal", self._renew_when_due)
        #: The leaves whose signing request awaits its CertificateSigned: the event is set when
        #: one came.
        self._awaiting: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task] = set()

    def variables(self) -> list[Variable]:
        store = self.context.certificates
        return [
            Variable(SECURITY, "CertificateEntries", DataType.INTEGER, 0, RO, persistent=False,
                     read=lambda: sum(len(store.root_files(use)) for use in _uses())
                     if store is not None else 0),
            Variable(SECURITY, "MaxCertificateChainSize", DataType.INTEGER, 10000, RO),
            # The rule that a new root be signed by the old one is not implemented: say so.
            Variable(SECURITY, "AdditionalRootCertificateCheck", DataType.BOOLEAN, False, RO),
            Variable(SECURITY, "CertSigningWaitMinimum", DataType.INTEGER, 60, unit="s",
                     minimum=1, maximum=86400),
            Variable(SECURITY, "CertSigningRepeatTimes", DataType.INTEGER, 3, minimum=0,
                     maximum=100),
        ]

    # --- SignCertificate / CertificateSigned (A02, A03) -------------------------------------

    def _organization(self) -> str:
        return str(self.context.device_model["CpoName"])

    def _sign_refusal(self) -> str | None:
        if not self._organization():
            self.log.warning("a new certificate cannot be asked for: "
                             "SecurityCtrlr.OrganizationName is not set")
            return "Rejected"
        return None

    async def request_certificate(self, kind: str = "ChargingStationCertificate") -> bool:
        """Make a key and send its SignCertificate (A02, A03: call it when the certificate is
        due for renewal); True if it went out."""
        from pievse.services.certificates import Leaf

        if self.management is None:
            return False
        csr = await self.management.signing_request(self._organization(), Leaf(LEAVES[kind]))
        if csr is None:
            return False
        self._awaiting[kind] = asyncio.Event()
        self._send_request(csr, kind, attempt=0)
        return True

    def _send_request(self, csr: str, kind: str, attempt: int) -> None:
        def answered(response: Any) -> None:
            if response is None or response.status != "Accepted":
                self.log.warning("the CSMS did not accept our %s signing request (%s)", kind,
                                 "no answer" if response is None else response.status)
                self._awaiting.pop(kind, None)
                return
            task = asyncio.get_running_loop().create_task(self._await_signed(csr, kind,
                                                                             attempt))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        self.context.send(call.SignCertificate(csr=csr, certificate_type=kind), answered)

    async def _renew_when_due(self, _call: Any) -> None:
        """A03: a month before the charging station certificate expires, ask for a new one
        (looked at once per connection and daily)."""
        assert self.management is not None
        while True:
            if (self.management.certificates.renewal_due() and self._organization()
                    and "ChargingStationCertificate" not in self._awaiting):
                self.log.info("the charging station certificate expires within a month: "
                              "asking for a new one")
                await self.request_certificate()
            await self.context.clock.sleep(RENEWAL_CHECK_S)

    async def _await_signed(self, csr: str, kind: str, attempt: int) -> None:
        """A02.FR.17: no CertificateSigned within CertSigningWaitMinimum (doubled at each
        repetition): ask again, at most CertSigningRepeatTimes times."""
        model = self.context.device_model
        signed = self._awaiting.get(kind)
        if signed is None:
            return
        wait = float(model[f"{SECURITY}.CertSigningWaitMinimum"]) * 2 ** attempt
        if await self.context.clock.wait(signed, wait):
            return
        if self._awaiting.get(kind) is not signed:
            return  # a newer request replaced this one
        if attempt >= int(model[f"{SECURITY}.CertSigningRepeatTimes"]):
            self.log.warning("no CertificateSigned for our %s signing request: giving up after "
                             "%s repetitions", kind, attempt)
            self._awaiting.pop(kind, None)
            return
        self.log.info("no CertificateSigned for our %s signing request within %g s: asking "
                      "again", kind, wait)
        self._send_request(csr, kind, attempt + 1)

    @on(Action.certificate_signed)
    def on_certificate_signed(self, certificate_chain: str,
                              certificate_type: str = "ChargingStationCertificate",
                              **_: Any) -> call_result.CertificateSigned:
        from pievse.services.certificates import Leaf

        if self.management is None:
            return call_result.CertificateSigned(status="Rejected")
        waiting = self._awaiting.pop(certificate_type, None)
        if waiting is not None:
            waiting.set()
        outcome = self.management.certificate_signed(certificate_chain,
                                                     Leaf(LEAVES[certificate_type]))
        return call_result.CertificateSigned(status=outcome.status,
                                             status_info=_status_info(outcome))

    @after(Action.certificate_signed)
    def after_certificate_signed(self, **_: Any) -> None:
        if self.management is not None:
            self.management.announce()

    # --- roots (M03-M05) ----------------------------------------------------------------------

    @on(Action.install_certificate)
    def on_install_certificate(self, certificate_type: str, certificate: str,
                               **_: Any) -> call_result.InstallCertificate:
        from pievse.services.certificates import CertificateUse

        if self.management is None:
            return call_result.InstallCertificate(status="Rejected")
        outcome = self.management.install_root(CertificateUse(ROOT_TYPES[certificate_type]),
                                               certificate)
        return call_result.InstallCertificate(status=outcome.status,
                                              status_info=_status_info(outcome))

    @on(Action.get_installed_certificate_ids)
    def on_get_installed_certificate_ids(
            self, certificate_type: list[str] | None = None,
            **_: Any) -> call_result.GetInstalledCertificateIds:
        from pievse.services.certificates import CertificateUse, Leaf

        found: list[dict[str, Any]] = []
        for kind in certificate_type or [*ROOT_TYPES, V2G_CHAIN]:
            if self.management is None:
                break
            if kind == V2G_CHAIN:
                leaf = self.management.certificates.leaf_hash_data(Leaf.V2G)
                hashes = [leaf] if leaf is not None else []
            else:
                hashes = self.management.installed_ids(CertificateUse(ROOT_TYPES[kind]))
            found += [{"certificateType": kind, "certificateHashData": h.to_ocpp()}
                      for h in hashes]
        if not found:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(status="Accepted",
                                                      certificate_hash_data_chain=found)

    @on(Action.delete_certificate)
    def on_delete_certificate(self, certificate_hash_data: dict[str, Any],
                              **_: Any) -> call_result.DeleteCertificate:
        from pievse.services.certificates import CertificateHashData

        if self.management is None:
            return call_result.DeleteCertificate(status="NotFound")
        outcome = self.management.delete(CertificateHashData.from_ocpp(certificate_hash_data))
        return call_result.DeleteCertificate(status=outcome.status,
                                             status_info=_status_info(outcome))


def _uses() -> list[Any]:
    from pievse.services.certificates import CertificateUse

    return list(CertificateUse)


def _status_info(outcome: Any) -> dict[str, str] | None:
    """Why a request was not Accepted, for the CSMS (reasonCode is at most 20 characters)."""
    if outcome.accepted:
        return None
    return {"reasonCode": outcome.status[:20], "additionalInfo": outcome.reason[:512]}
