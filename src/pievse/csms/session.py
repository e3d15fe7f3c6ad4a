"""One charge point's websocket, seen from the CSMS.

The conversation runs on the charge point's own RPC layer, from the other end
(:class:`~pievse.protocol.common.rpc.RpcSession`): the same framing, compiled schema validation,
error codes of the version spoken and response timeout. The ``@on`` handlers below give 1.6's
default answers to the CALLs a charge point sends (2.0.1's are in ``session201``); what a test
CSMS needs besides, the RPC layer offers and this class uses:

- every frame, both ways, goes to the ledger and to the log;
- a test's ``on_call`` hook may answer (or refuse) any CALL before the default handlers do;
- each CALL is answered in a task of its own: the default answers (which never wait) still go out
  in order, but a hook that takes its time delays only its own answer, the charge point's next
  frames are read and recorded meanwhile, and a hook may await a command to the same charge point
  without deadlocking;
- a raw frame sent by a test (``send_raw``) gets back exactly the frame that answers it.

Commands return the answer as a camelCase dict and raise the RPC layer's errors, named for the
charge point and the action.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from ocpp.routing import after, on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from pievse.csms.ledger import Message
from pievse.protocol.common import rpc
from pievse.protocol.common.datetimes import format_datetime
from pievse.protocol.common.frames import Frame

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from pievse.csms.server import CentralSystem

OnCall = Callable[[str, str, dict], Awaitable[dict | None] | dict | None]


class CallErrorResponse(rpc.CallErrorReceived):
    """The charge point answered a CSMS command with a CALLERROR.

    ``code`` is the OCPP-J error code exactly as sent (``NotImplemented``, ``NotSupported``, ...).
    """

    def __init__(self, cp_id: str, action: str, code: str, description: str, details: Any):
        super().__init__(code, description, details)
        self.args = (f"{cp_id} answered {action} with CALLERROR {code}: {description}",)
        self.cp_id = cp_id
        self.action = action


class ChargePointNotConnected(rpc.ConnectionLost):
    """No websocket to that charge point, or it closed before the answer came."""


class InvalidRequest(rpc.InvalidRequest):
    """A command the CSMS was asked to send does not fit the OCPP 1.6 schema for its action."""


class InvalidResponse(rpc.InvalidResponse):
    """A charge point's CALLRESULT does not fit the OCPP 1.6 schema for the action it answers."""

    def __init__(self, cp_id: str, action: str, payload: Any, problem: str,
                 code: str | None = None):
        super().__init__(f"{cp_id} answered {action} with {payload!r}, not valid: {problem}",
                         code, payload)
        self.cp_id = cp_id
        self.action = action


class SessionBase:
    """The CSMS side of one websocket, whatever its OCPP version: the version's class adds its
    default answers. ``central`` holds the configuration and the ledger."""

    version = ""

    def __init__(self, cp_id: str, websocket: ServerConnection, central: CentralSystem) -> None:
        self.id = cp_id
        self.websocket = websocket
        self.central = central
        self.rpc = rpc.RpcSession(
            websocket, self, version=self.version, response_timeout=central.response_timeout,
            logger=central.log, on_frame=self._record, on_call=self._ask_hook, concurrent=True,
            clock=central.clock,
        )

    @property
    def closed(self) -> bool:
        return self.rpc.closed

    async def start(self) -> None:
        """Read frames until the websocket closes (cleanly or not)."""
        await self.rpc.run()

    def close(self) -> None:
        """Forget the websocket: fail the commands waiting on it, end the raw waits, stop
        answering."""
        self.rpc.close()

    def _record(self, direction: rpc.Direction, frame: Frame) -> None:
        message_type = frame.message_type if frame.well_formed else None
        self.central.record(Message(self.id, direction, message_type, frame.unique_id,
                                    frame.action, frame.payload, self.central.now(), frame.text))

    def _ask_hook(self, action: str, payload: dict) -> Awaitable[dict | None] | dict | None:
        hook = self.central.on_call
        return None if hook is None else hook(self.id, action, payload)

    # -- commands -------------------------------------------------------------------------

    async def request(self, action: str, payload: dict, timeout: float | None = None, *,
                      validate: bool = True, validate_response: bool = True) -> dict:
        """Send a CALL and return the charge point's CALLRESULT payload (camelCase dict).

        Raises CallErrorResponse for a CALLERROR, TimeoutError when no answer comes in time,
        ChargePointNotConnected when the websocket is gone, InvalidRequest (``validate``) or
        InvalidResponse (``validate_response``) when a payload breaks the OCPP 1.6 schema.
        """
        timeout = self.central.response_timeout if timeout is None else timeout
        with self._command_errors(action, timeout):
            return await self.rpc.call_payload(action, payload, timeout=timeout,
                                               validate=validate,
                                               validate_response=validate_response)

    async def send(self, request: Any, timeout: float | None = None) -> Any:
        """Send a request dataclass of the version's ``call`` module; return the ``call_result``
        dataclass answering it (errors as :meth:`request`)."""
        timeout = self.central.response_timeout if timeout is None else timeout
        with self._command_errors(type(request).__name__.removesuffix("Payload"), timeout):
            return await self.rpc.call(request, timeout=timeout)

    @contextlib.contextmanager
    def _command_errors(self, action: str, timeout: float) -> Iterator[None]:
        try:
            yield
        except rpc.CallErrorReceived as error:
            raise CallErrorResponse(self.id, action, error.code, error.description,
                                    error.details) from None
        except rpc.ResponseTimeout:
            raise rpc.ResponseTimeout(
                f"{self.id} did not answer {action} within {timeout:g} s") from None
        except rpc.ConnectionLost as error:
            raise ChargePointNotConnected(f"{self.id} is not connected: {error}") from None
        except rpc.InvalidRequest as error:
            raise InvalidRequest(f"{self.id}: {error}") from None
        except rpc.InvalidResponse as error:
            raise InvalidResponse(self.id, action, error.payload, error.reason,
                                  error.code) from None

    async def send_raw(self, text: str, timeout: float) -> str | None:
        """Send ``text`` as it is; return the frame that answers it, or None if none comes."""
        try:
            return await self.rpc.send_raw(text, timeout)
        except rpc.ConnectionLost as error:
            raise ChargePointNotConnected(f"{self.id} is not connected") from error


    # -- what every version answers alike -------------------------------------------------

    def boot_answer(self) -> dict[str, Any]:
        """The answer to BootNotification (its fields are the same in 1.6 and 2.0.1): the boot
        status, and the heartbeat interval or, when not Accepted, the wait before the next."""
        status = str(self.central.boot_status)
        interval = self.central.heartbeat_interval if status == "Accepted" \
            else self.central.retry_interval
        return {"current_time": format_datetime(self.central.now()), "interval": interval,
                "status": status}

    def heartbeat_answer(self) -> dict[str, Any]:
        return {"current_time": format_datetime(self.central.now())}

    def sign_answer(self) -> str:
        """SignCertificate is Accepted when the CSMS has a CA (``central.sign``)."""
        return "Rejected" if self.central.sign is None else "Accepted"

    async def send_signed(self, csr: str, **more: Any) -> None:
        """The CA signs the CSR: a CertificateSigned with the chain (``more``: the version's
        other fields)."""
        sign = self.central.sign
        chain = sign(csr) if sign is not None else None
        if chain is not None:
            await self.request("CertificateSigned", {"certificateChain": chain, **more})


class ChargePointSession(SessionBase):
    """The CSMS side of an OCPP 1.6J websocket, with 1.6's default answers."""

    version = "1.6"

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
    def on_authorize(self, id_tag: str, **_: Any) -> call_result.Authorize:
        return call_result.Authorize(id_tag_info={"status": self.central.id_tag_status(id_tag)})

    @on(Action.start_transaction)
    def on_start_transaction(self, connector_id: int, id_tag: str, meter_start: int,
                             timestamp: str, **_: Any) -> call_result.StartTransaction:
        return call_result.StartTransaction(
            transaction_id=self.central.transaction_id_for(self.id, connector_id, id_tag,
                                                           meter_start, timestamp),
            id_tag_info={"status": self.central.id_tag_status(id_tag)},
        )

    @on(Action.stop_transaction)
    def on_stop_transaction(self, id_tag: str | None = None,
                            **_: Any) -> call_result.StopTransaction:
        info = {"status": self.central.id_tag_status(id_tag)} if id_tag is not None else None
        return call_result.StopTransaction(id_tag_info=info)

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on(Action.data_transfer)
    def on_data_transfer(self, **_: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status="UnknownVendorId")

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status_notification(
        self, **_: Any
    ) -> call_result.DiagnosticsStatusNotification:
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, **_: Any) -> call_result.FirmwareStatusNotification:
        return call_result.FirmwareStatusNotification()

    # The 1.6 security extension's messages from the charge point: noted in the ledger and
    # acknowledged. A certificate signing request is accepted only when the CSMS has a CA
    # (``central.sign``), which then signs it in a CertificateSigned.

    @on(Action.security_event_notification)
    def on_security_event_notification(self, **_: Any) -> call_result.SecurityEventNotification:
        return call_result.SecurityEventNotification()

    @on(Action.log_status_notification)
    def on_log_status_notification(self, **_: Any) -> call_result.LogStatusNotification:
        return call_result.LogStatusNotification()

    @on(Action.signed_firmware_status_notification)
    def on_signed_firmware_status_notification(
        self, **_: Any
    ) -> call_result.SignedFirmwareStatusNotification:
        return call_result.SignedFirmwareStatusNotification()

    @on(Action.sign_certificate)
    def on_sign_certificate(self, **_: Any) -> call_result.SignCertificate:
        return call_result.SignCertificate(status=self.sign_answer())

    @after(Action.sign_certificate)
    async def after_sign_certificate(self, csr: str, **_: Any) -> None:
        await self.send_signed(csr)
