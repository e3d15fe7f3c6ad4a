"""M ISO 15118 certificate management, the OCPP side of Plug & Charge without a PLC modem.

A Raspberry Pi has no HomePlug Green PHY modem, so pievse speaks no ISO 15118 to the car. What
it does have is the OCPP half that a board with an ISO 15118 stack (a SECC on its own MCU or
Linux process) needs from the station, through :class:`PlugAndCharge`:

* Get15118EVCertificate (M01, M02): the stack hands over the EXI the car sent
  (CertificateInstallationReq or CertificateUpdateReq, base64) and gets the CSMS's answer
  (status and EXI response) to pass back to the car;
* GetCertificateStatus (M06): the stack hands over the OCSP request data of a certificate of
  the car's contract chain and gets the OCSP response;
* the certificates: the V2G and MO roots the CSMS installs (InstallCertificate), and the SECC's
  own V2G certificate, whose key is made on the station (SignCertificate of type
  V2GCertificate), as files the stack's TLS server loads.

The CALLs are ordinary ones: they go out only while the CSMS has accepted the station, and
without an answer (offline, an error, a timeout) the stack hears None and tells the car so.
ISO15118Ctrlr says what there is: PnC and the certificate installations are enabled once a stack
has attached itself (:meth:`ISO15118Block.attach`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ocpp.v201 import call

from pievse.protocol.v201.context import Context
from pievse.protocol.v201.device_model import DataType, Mutability, Variable

__all__ = ["CertificateStatusAnswer", "EvCertificateAnswer", "ISO15118Block", "PlugAndCharge"]

RO = Mutability.READ_ONLY
ISO15118 = "ISO15118Ctrlr"


@dataclass(frozen=True)
class EvCertificateAnswer:
    """The CSMS's answer to Get15118EVCertificate: Accepted or Failed, the EXI for the car."""

    status: str
    exi_response: str


@dataclass(frozen=True)
class CertificateStatusAnswer:
    """The CSMS's answer to GetCertificateStatus: Accepted or Failed, the OCSP response."""

    status: str
    ocsp_result: str | None


class PlugAndCharge(Protocol):
    """What a board with an ISO 15118 stack calls on the station."""

    async def ev_certificate(self, schema_version: str, action: str,
                             exi_request: str) -> EvCertificateAnswer | None:
        """Get15118EVCertificate: ``action`` Install or Update, ``exi_request`` base64."""
        ...

    async def certificate_status(self, ocsp_request_data: dict[str, str]
                                 ) -> CertificateStatusAnswer | None:
        """GetCertificateStatus: hashAlgorithm, issuerNameHash, issuerKeyHash, serialNumber,
        responderURL."""
        ...

    def v2g_certificate_file(self) -> Path | None:
        """The SECC's key and certificate chain (PEM), once the CSMS has signed one."""
        ...

    def root_files(self, kind: str) -> list[Path]:
        """The installed roots of a kind: "V2GRootCertificate" or "MORootCertificate"."""
        ...


class ISO15118Block:
    """Implements :class:`PlugAndCharge` over the context's CALLs and certificate store."""

    def __init__(self, context: Context, *, identity: str = "") -> None:
        self.context = context
        self.identity = identity
        #: Whether a board with an ISO 15118 stack is attached.
        self.attached = False

    def attach(self) -> PlugAndCharge:
        """A board with an ISO 15118 stack takes the hooks (ISO15118Ctrlr then says so)."""
        self.attached = True
        return self

    def variables(self) -> list[Variable]:
        model = self.context.device_model

        def attached() -> bool:
            return self.attached

        return [
            # What the OCPP side can do depends on a stack being there; none is set by the CSMS.
            *(Variable(ISO15118, name, DataType.BOOLEAN, False, RO, persistent=False,
                       read=attached)
              for name in ("PnCEnabled", "V2GCertificateInstallationEnabled",
                           "ContractCertificateInstallationEnabled")),
            # Contracts are the stack's and the CSMS's to validate: none offline, none here.
            Variable(ISO15118, "ContractValidationOffline", DataType.BOOLEAN, False, RO),
            Variable(ISO15118, "CentralContractValidationAllowed", DataType.BOOLEAN, False, RO),
            Variable(ISO15118, "SeccId", DataType.STRING, self.identity, RO),
            Variable(ISO15118, "OrganizationName", DataType.STRING, "", RO, persistent=False,
                     read=lambda: model["CpoName"]),
        ]

    async def _ask(self, request: Any) -> Any:
        """Send a CALL and wait for its answer; None when none comes (or the CSMS has not
        accepted the station)."""
        if not self.context.registered:
            return None
        answered: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def settle(response: Any) -> None:
            if not answered.done():
                answered.set_result(response)

        self.context.send(request, settle)
        return await answered

    async def ev_certificate(self, schema_version: str, action: str,
                             exi_request: str) -> EvCertificateAnswer | None:
        response = await self._ask(call.Get15118EVCertificate(
            iso15118_schema_version=schema_version, action=action, exi_request=exi_request))
        if response is None:
            return None
        return EvCertificateAnswer(response.status, response.exi_response)

    async def certificate_status(self, ocsp_request_data: dict[str, str]
                                 ) -> CertificateStatusAnswer | None:
        response = await self._ask(call.GetCertificateStatus(
            ocsp_request_data=ocsp_request_data))
        if response is None:
            return None
        return CertificateStatusAnswer(response.status, response.ocsp_result)

    def v2g_certificate_file(self) -> Path | None:
        from pievse.services.certificates import Leaf

        store = self.context.certificates
        if store is None or store.charge_point_certificate(leaf=Leaf.V2G) is None:
            return None
        return store.leaf_path(Leaf.V2G)

    def root_files(self, kind: str) -> list[Path]:
        from pievse.services.certificates import CertificateUse

        store = self.context.certificates
        return store.root_files(CertificateUse(kind)) if store is not None else []
