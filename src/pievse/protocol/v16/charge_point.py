"""The OCPP 1.6J adapter: translates between the station core and a 1.6 CSMS.

It knows the wire and the CSMS, and decides nothing about charging: CSMS commands become station
calls, station effects become 1.6 messages. Per connection it registers the charge point
(BootNotification, with Pending and Rejected handled), reports the current status of every
connector, keeps the heartbeat, and drains three queues:

* the outbox (StartTransaction, StopTransaction, transaction MeterValues): in order, each until the
  CSMS has answered it, kept across connection losses, retried per TransactionMessageAttempts and
  TransactionMessageRetryInterval;
* the redelivery queue (:mod:`pievse.protocol.common.notifications`): the notifications the CSMS
  must hear even if the link drops (firmware, diagnostics and log statuses, security events),
  kept while offline and retried at a set pace;
* everything else (StatusNotification, Authorize, MeterValues outside a transaction), which is only
  worth sending while connected: after a reconnection the current statuses are sent instead of a
  stale history.

Every interval (heartbeat, retries, response timeouts) is measured on the injected clock.

Inbound handlers answer at once (the RPC layer reads nothing while a handler runs); follow-up
messages, such as the one a TriggerMessage asks for, are queued and sent afterwards.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from pievse import __version__
from pievse.aio import AsyncClock, SystemClock
from pievse.protocol.common.notifications import RedeliveryQueue
from pievse.protocol.common.outbox import Outbox, OutboxEntry
from pievse.protocol.common.rpc import (
    CallErrorReceived,
    ConnectionLost,
    InvalidResponse,
    ResponseTimeout,
)
from pievse.protocol.common.rpc import RpcSession
from pievse.protocol.v16 import messages
from pievse.protocol.v16.codec import charging_profiles
from pievse.protocol.v16.configuration import Configuration, core_keys
from pievse.protocol.v16.local_auth import LocalAuthHandlers, local_auth_keys, reservation_keys
from pievse.protocol.v16.smart_charging import SmartChargingHandlers, smart_charging_keys
from pievse.core.authorization import AuthorizationResult, IdToken
from pievse.core.effects import (
    AuthorizeRequest,
    Effect,
    MeterSample,
    StatusChanged,
    TransactionStarted,
    TransactionStopped,
)
from pievse.core.station import Station
from pievse.core.vocabulary import ReadingContext
from pievse.protocol.v16.codec.answers import (
    encode_availability_status,
    encode_remote_start_stop_status,
    encode_reset_status,
    encode_unlock_status,
)
from pievse.protocol.v16.codec.authorization import (
    CodecError,
    decode_authorization_status,
    decode_id_tag,
    decode_id_tag_info,
)

log = logging.getLogger("pievse.ocpp")

Dispatch = Callable[[list[Effect]], None]

#: Start and Stop are never given up (a CPO bills from them); past TransactionMessageAttempts they
#: are retried at this slow pace instead, and each failure is logged.
SLOW_RETRY_S = 600.0


class ChargePoint16(SmartChargingHandlers, LocalAuthHandlers):
    """One charge point on OCPP 1.6J. ``run_session`` is given to the websocket link."""

    version = "1.6"

    def __init__(
        self,
        station: Station,
        dispatch: Dispatch,
        *,
        vendor: str,
        model: str,
        serial_number: str | None = None,
        response_timeout: float = 30.0,
        configuration: Configuration | None = None,
        on_ping_interval: Callable[[int], None] | None = None,
        on_connection_change: Callable[[], None] | None = None,
        outbox: Outbox | None = None,
        clock: AsyncClock | None = None,
    ) -> None:
        self.station = station
        #: What the heartbeat, the retries and the response timeouts are measured on.
        self.clock = clock or SystemClock()
        self._dispatch = dispatch
        self._boot = call.BootNotification(
            charge_point_vendor=vendor,
            charge_point_model=model,
            charge_point_serial_number=serial_number or None,
            firmware_version=f"pievse {__version__}",
        )
        self._response_timeout = response_timeout
        self.configuration = configuration or Configuration(
            core_keys(len(station.connectors))
            + smart_charging_keys(station.charging.capabilities))
        # This adapter implements Local Auth List Management and Reservation itself, so their
        # keys are there whichever configuration it was given.
        self.configuration.declare(local_auth_keys(station.access) + reservation_keys())
        self.configuration.on_change(self._configuration_changed)
        self._on_ping_interval = on_ping_interval
        self._on_connection_change = on_connection_change or (lambda: None)
        self.outbox = outbox if outbox is not None else Outbox(clock=self.clock)
        #: Notifications the CSMS must hear even if the link drops on their way.
        self.notifications = RedeliveryQueue(self.clock, logger=log)
        self._session: RpcSession | None = None
        self._registered = False
        self._messages: asyncio.Queue[tuple[Any, Callable[[Any], None] | None]] = asyncio.Queue()
        self._boot_now = asyncio.Event()
        self._heartbeat_changed = asyncio.Event()
        self._last_sent = self.clock.monotonic()

    # --- state ---------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._session is not None

    @property
    def registered(self) -> bool:
        """Connected and accepted by the CSMS (BootNotification Accepted)."""
        return self._session is not None and self._registered

    # --- effects from the station --------------------------------------------------------------

    def handle(self, effect: Effect) -> None:
        """Turn one station effect into a message (or a queue entry). Never blocks."""
        match effect:
            case TransactionStarted():
                self.outbox.put("start", effect.transaction_ref, effect)
            case TransactionStopped():
                self.outbox.put("stop", effect.transaction_ref, effect)
            case MeterSample():
                self._meter_sample(effect)
            case StatusChanged():
                if self.registered:
                    self._send(messages.status_notification(effect))
            case AuthorizeRequest():
                self._authorize(effect.id_token)

    def _meter_sample(self, sample: MeterSample) -> None:
        context = sample.context
        if context in (ReadingContext.TRANSACTION_BEGIN, ReadingContext.TRANSACTION_END):
            return  # they travel in the StopTransaction's transactionData
        if sample.transaction_ref is not None and context is not ReadingContext.TRIGGER:
            self.outbox.put("meter", sample.transaction_ref, sample)
        elif self.registered:
            tx_id = (
                self.outbox.transaction_id(sample.transaction_ref)
                if sample.transaction_ref is not None
                else None
            )
            request = messages.meter_values(sample, self._measurands(context), tx_id)
            if request is not None:
                self._send(request)

    def _measurands(self, context: ReadingContext) -> list[str]:
        key = (
            "MeterValuesAlignedData"
            if context is ReadingContext.SAMPLE_CLOCK
            else "MeterValuesSampledData"
        )
        return self.configuration.list_csl(key)

    def _authorize(self, id_token: IdToken) -> None:
        if not self.registered:
            log.info("Authorize %s: CSMS not reachable", id_token.value)
            self._later(lambda: self.station.authorization_result(id_token, None))
            return

        def answered(response: Any) -> None:
            if response is None:
                self._later(lambda: self.station.authorization_result(id_token, None))
                return
            result = _id_tag_info(response.id_tag_info)
            self._later(lambda: self.station.authorization_result(id_token, result))

        self._send(call.Authorize(id_tag=id_token.value), answered)

    def _later(self, step: Callable[[], list[Effect]]) -> None:
        """Feed an answer back to the station outside the current call stack."""
        asyncio.get_running_loop().call_soon(lambda: self._dispatch(step()))

    def _send(self, request: Any, on_response: Callable[[Any], None] | None = None) -> None:
        self._messages.put_nowait((request, on_response))

    # --- one connection ------------------------------------------------------------------------

    async def run_session(self, connection: Any) -> None:
        """Run the whole OCPP session over one open websocket, until it closes."""
        session = RpcSession(
            connection, self, version="1.6", response_timeout=self._response_timeout, logger=log,
            clock=self.clock)
        reader = asyncio.create_task(session.run(), name="ocpp-reader")
        tasks: list[asyncio.Task] = []
        self._session = session
        self._registered = False
        self._link_changed()
        self._fail_pending_authorizations()
        try:
            booting = asyncio.create_task(self._register(session))
            done, _ = await asyncio.wait({reader, booting}, return_when=asyncio.FIRST_COMPLETED)
            if booting in done and booting.result():
                self._registered = True
                self._link_changed()
                for status in self.station.statuses():
                    self._send(messages.status_notification(status))
                tasks = [
                    asyncio.create_task(self._send_messages(session), name="ocpp-messages"),
                    asyncio.create_task(self._send_outbox(session), name="ocpp-outbox"),
                    asyncio.create_task(self._heartbeat(session), name="ocpp-heartbeat"),
                    asyncio.create_task(
                        self.notifications.deliver(functools.partial(self._call, session)),
                        name="ocpp-notifications"),
                ]
                await reader
            else:
                booting.cancel()
        finally:
            self._session = None
            self._registered = False
            self._link_changed()
            for task in tasks:
                task.cancel()
            reader.cancel()
            await asyncio.gather(reader, *tasks, return_exceptions=True)
            self._fail_pending_authorizations()

    def _link_changed(self) -> None:
        # The station pre-authorises cards locally (LocalPreAuthorize) only while the CSMS is
        # there to hear of the start. This runs in the session's clean-up as well, while the
        # daemon may be cancelling its tasks: an empty batch is not dispatched, as dispatching
        # wakes the daemon's timer, and a wake-up racing its cancellation can swallow it.
        effects = self.station.csms_connection_changed(self.registered)
        if effects:
            self._dispatch(effects)
        self._on_connection_change()

    def _fail_pending_authorizations(self) -> None:
        """Non-transaction messages do not outlive a connection; an Authorize that never got
        its answer is answered 'CSMS unreachable' so the card holder is not left waiting."""
        while not self._messages.empty():
            request, on_response = self._messages.get_nowait()
            if on_response is not None:
                on_response(None)

    async def _register(self, session: RpcSession) -> bool:
        """BootNotification until Accepted; Pending and Rejected wait the interval given."""
        while True:
            try:
                response = await session.call(self._boot)
            except (CallErrorReceived, ResponseTimeout, InvalidResponse) as error:
                log.warning("BootNotification failed (%s); retrying in 30 s", error)
                await self._wait_boot_retry(30)
                continue
            except ConnectionLost:
                return False
            interval = int(response.interval)
            if response.status == "Accepted":
                if interval > 0:
                    self.configuration.set_initial("HeartbeatInterval", interval)
                log.info("registered with the CSMS (heartbeat every %s s)", interval)
                return True
            retry = interval if interval > 0 else 60
            log.warning(
                "BootNotification %s by the CSMS; trying again in %s s", response.status, retry
            )
            await self._wait_boot_retry(retry)

    async def _wait_boot_retry(self, seconds: float) -> None:
        self._boot_now.clear()
        await self.clock.wait(self._boot_now, seconds)

    async def _call(self, session: RpcSession, request: Any) -> Any:
        response = await session.call(request)
        self._last_sent = self.clock.monotonic()  # an answered message stands for a Heartbeat
        return response

    async def _send_messages(self, session: RpcSession) -> None:
        while True:
            request, on_response = await self._messages.get()
            response = None
            try:
                response = await self._call(session, request)
            except (CallErrorReceived, ResponseTimeout, InvalidResponse) as error:
                log.warning("%s failed: %s", type(request).__name__, error)
            except ConnectionLost:
                if on_response is not None:
                    on_response(None)
                return
            except asyncio.CancelledError:
                # The session ended while this message waited for its turn (one CALL at a time)
                # or for its answer: whoever waits for the answer hears "no answer" now.
                if on_response is not None:
                    on_response(None)
                raise
            if on_response is not None:
                on_response(response)

    async def _send_outbox(self, session: RpcSession) -> None:
        while True:
            entry = await self.outbox.next_ready()
            request = self._outbox_request(entry)
            if request is None:
                self.outbox.ack(entry)
                continue
            try:
                response = await self._call(session, request)
            except (CallErrorReceived, ResponseTimeout, InvalidResponse) as error:
                self._retry_later(entry, error)
                continue
            except ConnectionLost:
                return
            self._delivered(entry, response)

    def _outbox_request(self, entry: OutboxEntry) -> Any:
        if entry.kind == "start":
            return messages.start_transaction(entry.data)
        transaction_id = self.outbox.transaction_id(entry.transaction_ref)
        if transaction_id is None:
            # Only possible if its StartTransaction was given up, which we never do.
            log.error("no transactionId for transaction %s; dropping %s", entry.transaction_ref,
                      entry.kind)
            return None
        if entry.kind == "stop":
            return messages.stop_transaction(
                entry.data,
                transaction_id,
                self.configuration.list_csl("StopTxnSampledData"),
                self.configuration.list_csl("StopTxnAlignedData"),
            )
        sample: MeterSample = entry.data
        return messages.meter_values(sample, self._measurands(sample.context), transaction_id)

    def _retry_later(self, entry: OutboxEntry, error: Exception) -> None:
        entry.attempts += 1
        self.outbox.attempted(entry)
        attempts = int(self.configuration["TransactionMessageAttempts"])
        interval = float(self.configuration["TransactionMessageRetryInterval"])
        name = {"start": "StartTransaction", "stop": "StopTransaction", "meter": "MeterValues"}
        if entry.attempts >= attempts:
            if entry.kind == "meter":
                log.error("MeterValues of transaction %s given up after %s attempts: %s",
                          entry.transaction_ref, entry.attempts, error)
                self.outbox.ack(entry)
                return
            delay = SLOW_RETRY_S
        else:
            # TransactionMessageRetryInterval times the number of attempts so far (OCPP 1.6 4.7).
            delay = interval * entry.attempts
        log.warning("%s of transaction %s failed (%s); attempt %s, next in %.0f s",
                    name[entry.kind], entry.transaction_ref, error, entry.attempts, delay)
        self.outbox.postpone(entry, delay)

    def _delivered(self, entry: OutboxEntry, response: Any) -> None:
        if entry.kind == "start":
            transaction_id = int(response.transaction_id)
            result = _id_tag_info(response.id_tag_info)
            self.outbox.start_answered(entry, transaction_id)
            log.info("transaction %s has transactionId %s (id tag %s)", entry.transaction_ref,
                     transaction_id, result.status.word)
            self._dispatch(self.station.verdict_received(entry.data.id_token, result))
            self._dispatch(
                self.station.transaction_accepted(entry.transaction_ref, transaction_id,
                                                  result.status)
            )
            return
        self.outbox.ack(entry)
        stopped_by = entry.data.id_token if entry.kind == "stop" else None
        if stopped_by is not None and getattr(response, "id_tag_info", None):
            # The verdict on the card that ended the session: the cache keeps it too.
            self._dispatch(self.station.verdict_received(
                stopped_by, _id_tag_info(response.id_tag_info)))

    async def _heartbeat(self, session: RpcSession) -> None:
        while True:
            interval = int(self.configuration["HeartbeatInterval"])
            if interval <= 0:
                self._heartbeat_changed.clear()
                await self._heartbeat_changed.wait()
                continue
            idle = self.clock.monotonic() - self._last_sent
            if idle < interval:
                self._heartbeat_changed.clear()
                await self.clock.wait(self._heartbeat_changed, interval - idle)
                continue
            self._last_sent = self.clock.monotonic()
            self._send(call.Heartbeat())

    # --- configuration -------------------------------------------------------------------------

    def _configuration_changed(self, name: str, value: Any) -> None:
        definition = self.configuration.definition(name)
        if definition.setting is not None:
            converted = definition.to_setting(value) if definition.to_setting else value
            self._dispatch(self.station.update_settings(**{definition.setting: converted}))
        elif name == "HeartbeatInterval":
            self._heartbeat_changed.set()
        elif name == "WebSocketPingInterval" and self._on_ping_interval is not None:
            self._on_ping_interval(int(value))

    # --- commands from the CSMS ----------------------------------------------------------------

    def _answer(self, answer: Any) -> Any:
        """Carry out what a command caused; its answer, in the core's words, is left to the
        handler to say in 1.6's."""
        self._dispatch(answer.effects)
        return answer.status

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(self, id_tag: str, connector_id: int | None = None,
                                    charging_profile: dict | None = None,
                                    **_: Any) -> call_result.RemoteStartTransaction:
        if not self._registered:
            return call_result.RemoteStartTransaction(status="Rejected")
        try:
            token = decode_id_tag(id_tag)
            profile = (charging_profiles.decode_charging_profile(
                snake_to_camel_case(charging_profile)) if charging_profile else None)
        except (CodecError, charging_profiles.ProfileFormatError) as error:
            log.info("RemoteStartTransaction: %s", error)
            return call_result.RemoteStartTransaction(status="Rejected")
        answer = self.station.remote_start(token, connector_id, profile)
        return call_result.RemoteStartTransaction(
            status=encode_remote_start_stop_status(self._answer(answer)))

    @on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(self, transaction_id: int,
                                   **_: Any) -> call_result.RemoteStopTransaction:
        answer = self.station.remote_stop(transaction_id)
        return call_result.RemoteStopTransaction(
            status=encode_remote_start_stop_status(self._answer(answer)))

    @on(Action.reset)
    def on_reset(self, type: str, **_: Any) -> call_result.Reset:
        log.warning("%s reset requested by the CSMS", type)
        answer = self.station.reset(hard=type == "Hard")
        return call_result.Reset(status=encode_reset_status(self._answer(answer)))

    @on(Action.change_availability)
    def on_change_availability(self, connector_id: int, type: str,
                               **_: Any) -> call_result.ChangeAvailability:
        answer = self.station.change_availability(connector_id, type == "Operative")
        return call_result.ChangeAvailability(
            status=encode_availability_status(self._answer(answer)))

    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id: int, **_: Any) -> call_result.UnlockConnector:
        answer = self.station.unlock_connector(connector_id)
        return call_result.UnlockConnector(status=encode_unlock_status(self._answer(answer)))

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None,
                             **_: Any) -> call_result.GetConfiguration:
        known, unknown = self.configuration.get(key)
        return call_result.GetConfiguration(
            configuration_key=known or None, unknown_key=unknown or None
        )

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str,
                                **_: Any) -> call_result.ChangeConfiguration:
        result, why = self.configuration.change(key, value)
        log.info("ChangeConfiguration %s = %r: %s (%s)", key, value, result.value, why)
        return call_result.ChangeConfiguration(status=result.value)

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status="UnknownVendorId")

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, connector_id: int | None = None,
                           **_: Any) -> call_result.TriggerMessage:
        if connector_id is not None and connector_id != 0 and (
            connector_id not in self.station.connectors
        ):
            return call_result.TriggerMessage(status="Rejected")
        return call_result.TriggerMessage(status="Accepted")

    @after(Action.trigger_message)
    def after_trigger_message(self, requested_message: str, connector_id: int | None = None,
                              **_: Any) -> None:
        if connector_id is not None and connector_id != 0 and (
            connector_id not in self.station.connectors
        ):
            return
        if requested_message == "BootNotification":
            self._boot_now.set()
            if self._registered:
                self._send(self._boot)
        elif requested_message == "Heartbeat":
            self._send(call.Heartbeat())
        elif requested_message == "StatusNotification":
            for status in self.station.statuses():
                if connector_id is None or status.connector_id == connector_id:
                    self._send(messages.status_notification(status))
        elif requested_message == "MeterValues":
            self._dispatch(self.station.sample_now(connector_id))
        elif requested_message == "DiagnosticsStatusNotification":
            self._send(call.DiagnosticsStatusNotification(status="Idle"))
        elif requested_message == "FirmwareStatusNotification":
            self._send(call.FirmwareStatusNotification(status="Idle"))


def _id_tag_info(obj: Any) -> AuthorizationResult:
    """An idTagInfo from the ``ocpp`` package (snake_case) as the core's authorization result.
    The schema has checked its shape already; an expiryDate the codec cannot read costs only
    the expiry (the status still counts), and is logged."""
    camel = snake_to_camel_case(obj)
    try:
        return decode_id_tag_info(camel)
    except CodecError as error:
        log.warning("idTagInfo %s: %s; keeping its status only", camel, error)
        return AuthorizationResult(decode_authorization_status(camel["status"]))
