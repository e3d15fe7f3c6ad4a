"""The CSMS's memory: every OCPP-J frame seen, and what those frames mean.

A test (or the demo) asks questions of the ledger: did the charge point boot, what does it say
about connector 1, which transactions did it start, which meter values came with them. Everything
here is derived from the frames alone, whoever answered them (the default handlers or a test's
``on_call`` hook), so the ledger shows what was really said on the wire.

Waiting is event-driven: each recorded frame (and each connect or disconnect) wakes the waiters,
which re-check their condition. Nobody polls.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pievse.protocol.common.datetimes import format_datetime
from pievse.protocol.common.frames import CALL, CALLERROR, CALLRESULT
from pievse.protocol.common.rpc import Direction

# Arrows as seen from the CSMS: "→" a frame the charge point sent us, "←" a frame we sent.
_ARROWS = {"in": "→", "out": "←"}


@dataclass(frozen=True)
class Message:
    """One frame on one charge point's websocket.

    ``direction`` is ``"in"`` for frames the charge point sent and ``"out"`` for frames the CSMS
    sent. ``message_type`` is the OCPP-J MessageTypeId (2 CALL, 3 CALLRESULT, 4 CALLERROR), or
    ``None`` for a frame that is not OCPP-J at all. A CALLRESULT or CALLERROR carries the action of
    the CALL it answers. For a CALLERROR, ``payload`` holds ``errorCode``, ``errorDescription`` and
    ``errorDetails``.
    """

    cp_id: str
    direction: Direction
    message_type: int | None
    unique_id: str | None
    action: str | None
    payload: Any
    time: datetime
    raw: str = field(repr=False, default="")

    @property
    def error_code(self) -> str | None:
        if self.message_type == CALLERROR and isinstance(self.payload, dict):
            return self.payload.get("errorCode")
        return None

    def describe(self) -> str:
        """The readable one-line form used in the log: ``CP1 → Authorize {"idTag": "..."}``."""
        arrow = _ARROWS[self.direction]
        if self.message_type is None:
            return f"{self.cp_id} {arrow} (not an OCPP-J frame) {self.raw[:200]!r}"
        action = self.action or f"(unmatched id {self.unique_id})"
        if self.message_type == CALLERROR:
            p = self.payload
            details = _compact(p.get("errorDetails") or {})
            return (
                f"{self.cp_id} {arrow} {action} CALLERROR {p.get('errorCode')} "
                f"{json.dumps(p.get('errorDescription'), ensure_ascii=False)} {details}"
            )
        return f"{self.cp_id} {arrow} {action} {_compact(self.payload)}"


def _compact(payload: Any) -> str:
    try:
        return json.dumps(payload, ensure_ascii=False, separators=(", ", ": "), default=str)
    except (TypeError, ValueError):
        return repr(payload)


@dataclass
class Transaction:
    """A transaction as the charge point told it: StartTransaction, MeterValues, StopTransaction.

    ``start_time`` and ``stop_time`` are the charge point's own timestamps, as sent. A transaction
    the CSMS never saw start (a StopTransaction or MeterValues for an unknown id) appears with the
    start fields left ``None``.
    """

    transaction_id: int | str
    cp_id: str
    connector_id: int | None = None
    id_tag: str | None = None
    id_tag_status: str | None = None
    meter_start: float | None = None
    start_time: str | None = None
    reservation_id: int | None = None
    meter_stop: float | None = None
    stop_time: str | None = None
    stop_reason: str | None = None
    stop_id_tag: str | None = None
    transaction_data: list[dict] = field(default_factory=list)
    meter_values: list[dict] = field(default_factory=list)
    #: 2.0.1: every TransactionEvent of the transaction, as it came.
    events: list[dict] = field(default_factory=list)

    @property
    def stopped(self) -> bool:
        return self.meter_stop is not None

    @property
    def energy_wh(self) -> float | None:
        """Energy delivered, from the meter start and stop registers (Wh)."""
        if self.meter_start is None or self.meter_stop is None:
            return None
        return self.meter_stop - self.meter_start

    def as_json(self, *, with_meter_values: bool = False) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "transactionId": self.transaction_id,
            "chargePoint": self.cp_id,
            "connectorId": self.connector_id,
            "idTag": self.id_tag,
            "idTagStatus": self.id_tag_status,
            "meterStart": self.meter_start,
            "startTime": self.start_time,
            "meterStop": self.meter_stop,
            "stopTime": self.stop_time,
            "stopReason": self.stop_reason,
            "energyWh": self.energy_wh,
            "meterValueCount": len(self.meter_values),
        }
        if with_meter_values:
            shown["meterValues"] = self.meter_values
            shown["transactionData"] = self.transaction_data
        return shown


@dataclass
class ChargePointRecord:
    """What the CSMS knows about one charge point, across its connections.

    ``statuses`` maps each connector id (0 is the charge point as a whole) to the last status it
    reported; ``status_notifications`` keeps the whole last StatusNotification (error code, info).
    """

    cp_id: str
    connected: bool = False
    connections: int = 0
    boot: dict | None = None
    statuses: dict[int, str] = field(default_factory=dict)
    status_notifications: dict[int, dict] = field(default_factory=dict)
    last_heartbeat: datetime | None = None
    last_seen: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.cp_id,
            "connected": self.connected,
            "connections": self.connections,
            "boot": self.boot,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errorCodes": {
                str(k): v.get("errorCode") for k, v in sorted(self.status_notifications.items())
            },
            "lastHeartbeat": format_datetime(self.last_heartbeat) if self.last_heartbeat else None,
            "lastSeen": format_datetime(self.last_seen) if self.last_seen else None,
        }


def _register(meter_values: list[dict], context: str) -> float | None:
    """The energy register among 2.0.1 meter values taken in ``context``, if there is one."""
    for value in meter_values:
        for sampled in value.get("sampledValue") or []:
            if sampled.get("context") == context and sampled.get("measurand", (
                    "Energy.Active.Import.Register")) == "Energy.Active.Import.Register":
                return sampled.get("value")
    return None


def now() -> datetime:
    return datetime.now(UTC)


class Ledger:
    """Records frames, keeps the derived view, and lets coroutines wait for a condition."""

    def __init__(self, now: Callable[[], datetime] = now) -> None:
        self.now = now
        self.messages: list[Message] = []
        self.transactions: dict[int, Transaction] = {}
        self.charge_points: dict[str, ChargePointRecord] = {}
        self._changed = asyncio.Event()
        # StartTransaction requests waiting for their answer, which carries the transactionId.
        self._starts: dict[tuple[str, str], dict] = {}

    # -- recording ------------------------------------------------------------------------

    def charge_point(self, cp_id: str) -> ChargePointRecord:
        record = self.charge_points.get(cp_id)
        if record is None:
            record = self.charge_points[cp_id] = ChargePointRecord(cp_id)
        return record

    def connected(self, cp_id: str) -> None:
        record = self.charge_point(cp_id)
        record.connected = True
        record.connections += 1
        record.last_seen = self.now()
        self._wake()

    def disconnected(self, cp_id: str) -> None:
        self.charge_point(cp_id).connected = False
        self._wake()

    def record(self, message: Message) -> None:
        self.messages.append(message)
        cp = self.charge_point(message.cp_id)
        if message.direction == "in":
            cp.last_seen = message.time
        if message.message_type == CALL and message.direction == "in":
            self._note_call(cp, message)
        elif message.message_type == CALLRESULT and message.direction == "out":
            self._note_answer(message)
        self._wake()

    def _note_call(self, cp: ChargePointRecord, message: Message) -> None:
        payload = message.payload if isinstance(message.payload, dict) else {}
        action = message.action
        if action == "BootNotification":
            cp.boot = payload
        elif action == "Heartbeat":
            cp.last_heartbeat = message.time
        elif action == "StatusNotification" and isinstance(payload.get("evseId"), int):
            # 2.0.1: one connector per EVSE here, so the EVSE stands for the connector.
            cp.statuses[payload["evseId"]] = payload.get("connectorStatus")
            cp.status_notifications[payload["evseId"]] = payload
        elif action == "StatusNotification" and isinstance(payload.get("connectorId"), int):
            cp.statuses[payload["connectorId"]] = payload.get("status")
            cp.status_notifications[payload["connectorId"]] = payload
        elif action == "TransactionEvent" and isinstance(payload.get("transactionInfo"), dict):
            self._note_transaction_event(cp.cp_id, payload)
        elif action == "StartTransaction" and message.unique_id is not None:
            self._starts[(cp.cp_id, message.unique_id)] = payload
        elif action == "StopTransaction" and isinstance(payload.get("transactionId"), int):
            tx = self._transaction(payload["transactionId"], cp.cp_id)
            tx.meter_stop = payload.get("meterStop")
            tx.stop_time = payload.get("timestamp")
            # OCPP 1.6 lets the charge point leave the reason out only when it is Local.
            tx.stop_reason = payload.get("reason", "Local")
            tx.stop_id_tag = payload.get("idTag")
            tx.transaction_data = list(payload.get("transactionData") or [])
        elif action == "MeterValues" and isinstance(payload.get("transactionId"), int):
            tx = self._transaction(payload["transactionId"], cp.cp_id)
            tx.meter_values.extend(payload.get("meterValue") or [])

    def _note_transaction_event(self, cp_id: str, event: dict[str, Any]) -> None:
        """A 2.0.1 TransactionEvent: the station names the transaction, and its Started and
        Ended events carry the meter's register at either end."""
        info = event["transactionInfo"]
        tx = self._transaction(info.get("transactionId"), cp_id)
        tx.events.append(event)
        kind = event.get("eventType")
        values = list(event.get("meterValue") or [])
        if kind == "Started":
            tx.connector_id = (event.get("evse") or {}).get("id")
            tx.id_tag = (event.get("idToken") or {}).get("idToken")
            tx.start_time = event.get("timestamp")
            tx.reservation_id = event.get("reservationId")
            tx.meter_start = _register(values, "Transaction.Begin")
        elif kind == "Ended":
            tx.stop_time = event.get("timestamp")
            tx.stop_reason = info.get("stoppedReason", "Local")
            tx.stop_id_tag = (event.get("idToken") or {}).get("idToken")
            tx.transaction_data = values
            tx.meter_stop = _register(values, "Transaction.End")
        else:
            tx.meter_values.extend(values)

    def _note_answer(self, message: Message) -> None:
        if message.action != "StartTransaction" or message.unique_id is None:
            return
        request = self._starts.pop((message.cp_id, message.unique_id), None)
        answer = message.payload if isinstance(message.payload, dict) else {}
        if request is None or not isinstance(answer.get("transactionId"), int):
            return
        tx = self._transaction(answer["transactionId"], message.cp_id)
        tx.connector_id = request.get("connectorId")
        tx.id_tag = request.get("idTag")
        tx.meter_start = request.get("meterStart")
        tx.start_time = request.get("timestamp")
        tx.reservation_id = request.get("reservationId")
        tx.id_tag_status = (answer.get("idTagInfo") or {}).get("status")

    def _transaction(self, transaction_id: int | str, cp_id: str) -> Transaction:
        tx = self.transactions.get(transaction_id)
        if tx is None:
            tx = self.transactions[transaction_id] = Transaction(transaction_id, cp_id)
        return tx

    def _wake(self) -> None:
        # Wake everyone waiting on the current event, and give later waiters a fresh one.
        self._changed.set()
        self._changed = asyncio.Event()

    # -- waiting --------------------------------------------------------------------------

    async def wait_until(
        self, condition: Callable[[], Any], timeout: float, what: Callable[[], str]
    ) -> Any:
        """Return ``condition()``'s first truthy value, re-checked after every change.

        Raises TimeoutError naming ``what()`` and the last frames seen, so a failing test says
        what it was waiting for and what happened instead.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = condition()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"timed out after {timeout:g} s waiting for {what()}; {self._recently()}"
                )
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                pass

    def _recently(self, count: int = 5) -> str:
        if not self.messages:
            return "no frames recorded"
        last = "\n  ".join(m.describe()[:300] for m in self.messages[-count:])
        return f"{len(self.messages)} frames recorded, the last:\n  {last}"

    def find_message(
        self,
        start: int,
        cp_id: str,
        action: str,
        direction: Direction,
        predicate: Callable[[Message], Any] | None,
    ) -> tuple[Message | None, int]:
        """The first matching record at or after index ``start``, and where to look next."""
        for index in range(start, len(self.messages)):
            m = self.messages[index]
            if (
                m.cp_id == cp_id
                and m.action == action
                and m.direction == direction
                and (predicate is None or predicate(m))
            ):
                return m, index
        return None, len(self.messages)
