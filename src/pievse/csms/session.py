"""One charge point's websocket, seen from the CSMS.

Built on ``ocpp.v16.ChargePoint`` (the central-system side of the ``ocpp`` package): the ``@on``
handlers below give the default answers to the CALLs a charge point sends. What the library does
not do for a test CSMS, this class adds:

- every frame, both ways, goes to the ledger and to the log;
- a test's ``on_call`` hook may answer (or refuse) any CALL before the default handlers do;
- CALLs from the CSMS are matched to their answers by unique id, so a raw frame sent by a test
  (``send_raw``) gets back exactly the frame that answers it, and a CALLERROR reaches the caller
  as an exception carrying its code;
- CALLERRORs we send use the OCPP 1.6 error codes (the library answers some 1.6 problems with
  2.0.1 codes, and an unknown action with NotSupported where 1.6 says NotImplemented).

The library handles inbound CALLs inline in its receive loop; this class answers each one in a
task of its own instead. Frames are still recorded in the order they arrive, and the default
answers (which never wait) still go out in order, but a hook that takes its time delays only its
own answer: the charge point's next frames are read and recorded meanwhile, and a hook may await
a command to the same charge point without deadlocking.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from jsonschema.exceptions import ValidationError as SchemaError
from ocpp import exceptions as ocpp_errors
from ocpp import messages as ocpp_messages
from ocpp.messages import Call, CallResult, get_validator, validate_payload
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action
from websockets.exceptions import ConnectionClosed

from pievse.csms.ledger import CALL, CALLERROR, CALLRESULT, Message

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from pievse.csms.server import CentralSystem

# Schema validation in a thread pool costs more than it saves for payloads this small.
ocpp_messages.ASYNC_VALIDATION = False

OnCall = Callable[[str, str, dict], Awaitable[dict | None] | dict | None]

_KNOWN_16_ACTIONS = frozenset(a.value for a in Action)

# How a JSON-schema failure is named in OCPP-J 1.6 (section 4.2.3).
_SCHEMA_ERRORS: dict[str, type[ocpp_errors.OCPPError]] = {
    "type": ocpp_errors.TypeConstraintViolationError,
    "required": ocpp_errors.OccurenceConstraintViolationError,
    "additionalProperties": ocpp_errors.FormationViolationError,
    "enum": ocpp_errors.PropertyConstraintViolationError,
    "maxLength": ocpp_errors.PropertyConstraintViolationError,
    "minLength": ocpp_errors.PropertyConstraintViolationError,
    "pattern": ocpp_errors.PropertyConstraintViolationError,
    "format": ocpp_errors.PropertyConstraintViolationError,
    "minimum": ocpp_errors.PropertyConstraintViolationError,
    "maximum": ocpp_errors.PropertyConstraintViolationError,
    "multipleOf": ocpp_errors.PropertyConstraintViolationError,
}


class CallErrorResponse(Exception):
    """The charge point answered a CSMS command with a CALLERROR.

    ``code`` is the OCPP-J error code exactly as sent (``NotImplemented``, ``NotSupported``, ...).
    """

    def __init__(self, cp_id: str, action: str, code: str, description: str, details: Any):
        super().__init__(f"{cp_id} answered {action} with CALLERROR {code}: {description}")
        self.cp_id = cp_id
        self.action = action
        self.code = code
        self.description = description
        self.details = details


class ChargePointNotConnected(ConnectionError):
    """No websocket to that charge point, or it closed before the answer came."""


class InvalidRequest(ValueError):
    """A command the CSMS was asked to send does not fit the OCPP 1.6 schema for its action."""


class InvalidResponse(ValueError):
    """A charge point's CALLRESULT does not fit the OCPP 1.6 schema for the action it answers."""

    def __init__(self, cp_id: str, action: str, payload: Any, problem: str):
        super().__init__(f"{cp_id} answered {action} with {payload!r}, not valid: {problem}")
        self.cp_id = cp_id
        self.action = action
        self.payload = payload


def ocpp_time(moment: datetime | None = None) -> str:
    """OCPP date-time: UTC, milliseconds, 'Z'."""
    moment = moment or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(frame: Any) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def classify(text: str) -> tuple[int | None, str | None, str | None, Any]:
    """(message type, unique id, action, payload) of a frame; type None if it is not OCPP-J.

    A CALLERROR's payload is ``{"errorCode", "errorDescription", "errorDetails"}``. For a frame
    that is not well-formed, the unique id is still picked out when there is one, so that its
    answer can be matched.
    """
    try:
        frame = json.loads(text)
    except ValueError:
        return None, None, None, text
    if not isinstance(frame, list) or not frame:
        return None, None, None, frame
    unique_id = frame[1] if len(frame) > 1 else None
    well_formed_id = isinstance(unique_id, str)
    kind = frame[0]
    if kind == CALL and len(frame) == 4 and well_formed_id and isinstance(frame[2], str) and \
            isinstance(frame[3], dict):
        return CALL, unique_id, frame[2], frame[3]
    if kind == CALLRESULT and len(frame) == 3 and well_formed_id and isinstance(frame[2], dict):
        return CALLRESULT, unique_id, None, frame[2]
    if kind == CALLERROR and len(frame) == 5 and well_formed_id:
        code, description, details = frame[2:]
        return CALLERROR, unique_id, None, {
            "errorCode": code, "errorDescription": description, "errorDetails": details,
        }
    loose_id = str(unique_id) if isinstance(unique_id, str | int) and \
        not isinstance(unique_id, bool) else None
    return None, loose_id, None, frame


def _cause(error: ocpp_errors.OCPPError) -> str:
    details = error.details if isinstance(error.details, dict) else {}
    return str(details.get("cause") or error.description)


def check_schema(action: str, payload: dict) -> None:
    """Raise the OCPP 1.6 CALLERROR exception for a CALL payload that breaks its schema."""
    try:
        validator = get_validator(CALL, action, "1.6")
    except (OSError, ValueError) as error:
        raise ocpp_errors.NotSupportedError(description=f"no schema for {action}") from error
    try:
        validator.validate(payload)
    except SchemaError as error:
        kind = _SCHEMA_ERRORS.get(str(error.validator), ocpp_errors.FormationViolationError)
        where = "/".join(str(p) for p in error.absolute_path) or "payload"
        raise kind(description=f"{where}: {error.message}"[:255]) from None


class ChargePointSession(ChargePoint):
    """The CSMS side of one websocket. ``central`` holds the configuration and the ledger."""

    def __init__(self, cp_id: str, websocket: ServerConnection, central: CentralSystem) -> None:
        super().__init__(cp_id, websocket, response_timeout=central.response_timeout,
                         logger=logging.getLogger("pievse.csms.ocpp"))
        self.central = central
        self.websocket = websocket
        self.closed = False
        # Our CALLs awaiting an answer, by unique id; raw frames awaiting theirs, oldest first.
        self._pending: dict[str, asyncio.Future[Message]] = {}
        self._raw_waiters: list[tuple[str | None, asyncio.Future[str | None]]] = []
        # Actions by unique id, to label answers in the ledger: the charge point's CALLs we have
        # not answered yet, and our CALLs it has not answered yet.
        self._inbound: dict[str, str] = {}
        self._outbound: dict[str, str] = {}
        # OCPP 1.6: one CALL at a time from each side. Raw sends ignore this on purpose.
        self._command_lock = asyncio.Lock()
        self._answering: set[asyncio.Task] = set()

    # -- receiving ------------------------------------------------------------------------

    async def start(self) -> None:
        """Read frames until the websocket closes (cleanly or not)."""
        try:
            async for frame in self.websocket:
                await self.route_message(frame)
        except ConnectionClosed:
            pass

    async def route_message(self, raw_msg: str | bytes) -> None:
        text = raw_msg if isinstance(raw_msg, str) else raw_msg.decode("utf-8", "replace")
        kind, unique_id, action, payload = classify(text)
        if kind in (CALLRESULT, CALLERROR) and unique_id is not None:
            action = self._outbound.pop(unique_id, None)
        message = Message(self.id, "in", kind, unique_id, action, payload, self.central.now(),
                          text)
        self.central.record(message)
        if kind == CALL:
            self._inbound[unique_id] = action
            task = asyncio.create_task(self._answer(Call(unique_id, action, payload)))
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)
        elif kind is None and isinstance(payload, list) and payload[:1] == [CALL] and \
                isinstance(unique_id, str):
            await self._send(dumps([CALLERROR, unique_id, "FormationViolation",
                                    "a CALL is [2, uniqueId, action, {payload}]", {}]))
        else:
            self._deliver(message, text)

    def _deliver(self, message: Message, text: str) -> None:
        uid = message.unique_id
        pending = self._pending.pop(uid, None) if uid is not None else None
        if pending is not None:
            if not pending.done():
                pending.set_result(message)
            return
        for key, waiter in self._raw_waiters:
            if key is not None and key == uid and not waiter.done():
                waiter.set_result(text)
                return
        # An error answer that names no frame we sent (the id was unreadable, say) goes to the
        # oldest raw sender: that is what a test sending garbage is waiting for.
        if message.message_type in (CALLERROR, None):
            for _, waiter in self._raw_waiters:
                if not waiter.done():
                    waiter.set_result(text)
                    return
        self.central.log.warning("%s: an answer to nothing we sent: %s", self.id, text[:300])

    async def _answer(self, request: Call) -> None:
        try:
            try:
                answer = await self._ask_hook(request)
                if answer is None:
                    self._check_request(request)
                    await super()._handle_call(request)
                else:
                    await self._send(dumps([CALLRESULT, request.unique_id, answer]))
            except ocpp_errors.OCPPError as error:
                await self._send(request.create_call_error(error).to_json())
        except ConnectionClosed:
            pass  # the charge point left before it got its answer

    async def _ask_hook(self, request: Call) -> dict | None:
        hook = self.central.on_call
        if hook is None:
            return None
        try:
            answer = hook(self.id, request.action, request.payload)
            if inspect.isawaitable(answer):
                answer = await answer
        except (ocpp_errors.OCPPError, ConnectionClosed):
            raise
        except Exception as error:
            self.central.log.exception("%s: the on_call hook failed on %s", self.id,
                                       request.action)
            raise ocpp_errors.InternalError(description=f"on_call hook: {error!r}"[:255]) from error
        return answer

    def _check_request(self, request: Call) -> None:
        if request.action not in self.route_map:
            if request.action in _KNOWN_16_ACTIONS:
                raise ocpp_errors.NotSupportedError(
                    description=f"a CSMS does not take {request.action}")
            raise ocpp_errors.NotImplementedError(
                description=f"{request.action} is not an OCPP 1.6 action")
        check_schema(request.action, request.payload)

    # -- sending --------------------------------------------------------------------------

    async def _send(self, message: str) -> None:
        kind, unique_id, action, payload = classify(message)
        if kind == CALL:
            self._outbound[unique_id] = action
        elif kind in (CALLRESULT, CALLERROR) and unique_id is not None:
            action = self._inbound.pop(unique_id, None)
        # Recorded before it leaves: the answer may be read before send() returns.
        self.central.record(Message(self.id, "out", kind, unique_id, action, payload,
                                    self.central.now(), message))
        await self.websocket.send(message)

    async def request(self, action: str, payload: dict, timeout: float | None = None, *,
                      validate: bool = True, validate_response: bool = True) -> dict:
        """Send a CALL and return the charge point's CALLRESULT payload (camelCase dict).

        Raises CallErrorResponse for a CALLERROR, TimeoutError when no answer comes in time,
        ChargePointNotConnected when the websocket is gone, InvalidRequest (``validate``) or
        InvalidResponse (``validate_response``) when a payload breaks the OCPP 1.6 schema.
        """
        timeout = self.central.response_timeout if timeout is None else timeout
        unique_id = str(uuid.uuid4())
        if validate:
            try:
                await validate_payload(Call(unique_id, action, payload), "1.6")
            except ocpp_errors.OCPPError as error:
                raise InvalidRequest(f"{action} {payload!r}: {_cause(error)}") from None
        async with self._command_lock:
            if self.closed:
                raise ChargePointNotConnected(f"{self.id} is not connected")
            answered = asyncio.get_running_loop().create_future()
            self._pending[unique_id] = answered
            try:
                await self._send(dumps([CALL, unique_id, action, payload]))
                answer = await self.central.clock.wait_for(answered, timeout)
            except ConnectionClosed as error:
                raise ChargePointNotConnected(f"{self.id} is not connected") from error
            except TimeoutError:
                raise TimeoutError(
                    f"{self.id} did not answer {action} within {timeout:g} s") from None
            finally:
                self._pending.pop(unique_id, None)
        if answer.message_type == CALLERROR:
            e = answer.payload
            raise CallErrorResponse(self.id, action, e["errorCode"], e["errorDescription"],
                                    e["errorDetails"])
        if validate_response:
            try:
                await validate_payload(CallResult(unique_id, answer.payload, action), "1.6")
            except ocpp_errors.OCPPError as error:
                raise InvalidResponse(self.id, action, answer.payload,
                                      _cause(error)) from None
        return answer.payload

    async def send_raw(self, text: str, timeout: float) -> str | None:
        """Send ``text`` as it is; return the frame that answers it, or None if none comes."""
        _, unique_id, _, _ = classify(text)
        waiter: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        entry = (unique_id, waiter)
        self._raw_waiters.append(entry)
        try:
            if self.closed:
                raise ChargePointNotConnected(f"{self.id} is not connected")
            await self._send(text)
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return None
        except ConnectionClosed as error:
            raise ChargePointNotConnected(f"{self.id} is not connected") from error
        finally:
            self._raw_waiters.remove(entry)

    def close(self) -> None:
        """Forget the websocket: fail the commands waiting on it, end the raw waits, stop
        answering."""
        self.closed = True
        for task in self._answering:
            if task is not asyncio.current_task():
                task.cancel()
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(ChargePointNotConnected(
                    f"{self.id} disconnected before answering"))
        self._pending.clear()
        for _, waiter in self._raw_waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- the default answers --------------------------------------------------------------
    # Each request was already checked against its schema in _check_request.

    @on(Action.boot_notification, skip_schema_validation=True)
    def on_boot_notification(self, **_: Any) -> call_result.BootNotification:
        status = str(self.central.boot_status)
        interval = self.central.heartbeat_interval if status == "Accepted" \
            else self.central.retry_interval
        return call_result.BootNotification(current_time=ocpp_time(self.central.now()),
                                            interval=interval, status=status)

    @on(Action.heartbeat, skip_schema_validation=True)
    def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=ocpp_time(self.central.now()))

    @on(Action.status_notification, skip_schema_validation=True)
    def on_status_notification(self, **_: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on(Action.authorize, skip_schema_validation=True)
    def on_authorize(self, id_tag: str, **_: Any) -> call_result.Authorize:
        return call_result.Authorize(id_tag_info={"status": self.central.id_tag_status(id_tag)})

    @on(Action.start_transaction, skip_schema_validation=True)
    def on_start_transaction(self, connector_id: int, id_tag: str, meter_start: int,
                             timestamp: str, **_: Any) -> call_result.StartTransaction:
        return call_result.StartTransaction(
            transaction_id=self.central.transaction_id_for(self.id, connector_id, id_tag,
                                                           meter_start, timestamp),
            id_tag_info={"status": self.central.id_tag_status(id_tag)},
        )

    @on(Action.stop_transaction, skip_schema_validation=True)
    def on_stop_transaction(self, id_tag: str | None = None,
                            **_: Any) -> call_result.StopTransaction:
        info = {"status": self.central.id_tag_status(id_tag)} if id_tag is not None else None
        return call_result.StopTransaction(id_tag_info=info)

    @on(Action.meter_values, skip_schema_validation=True)
    def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on(Action.data_transfer, skip_schema_validation=True)
    def on_data_transfer(self, **_: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status="UnknownVendorId")

    @on(Action.diagnostics_status_notification, skip_schema_validation=True)
    def on_diagnostics_status_notification(
        self, **_: Any
    ) -> call_result.DiagnosticsStatusNotification:
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification, skip_schema_validation=True)
    def on_firmware_status_notification(self, **_: Any) -> call_result.FirmwareStatusNotification:
        return call_result.FirmwareStatusNotification()

    # The 1.6 security extension's messages from the charge point: noted in the ledger and
    # acknowledged. This CSMS holds no CA, so it signs no certificate.

    @on(Action.security_event_notification, skip_schema_validation=True)
    def on_security_event_notification(self, **_: Any) -> call_result.SecurityEventNotification:
        return call_result.SecurityEventNotification()

    @on(Action.log_status_notification, skip_schema_validation=True)
    def on_log_status_notification(self, **_: Any) -> call_result.LogStatusNotification:
        return call_result.LogStatusNotification()

    @on(Action.signed_firmware_status_notification, skip_schema_validation=True)
    def on_signed_firmware_status_notification(
        self, **_: Any
    ) -> call_result.SignedFirmwareStatusNotification:
        return call_result.SignedFirmwareStatusNotification()

    @on(Action.sign_certificate, skip_schema_validation=True)
    def on_sign_certificate(self, **_: Any) -> call_result.SignCertificate:
        return call_result.SignCertificate(status="Rejected")
