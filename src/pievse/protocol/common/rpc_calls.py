"""Our side of an OCPP-J session: the CALLs this end sends, each in its turn, and how each wait
ends (see :mod:`pievse.protocol.common.rpc_waiting` for the turns and the timer).

A CALL is written the moment its turn comes, from whatever gives it that turn: the sender
handing it over while nothing is in flight, or the answer (timeout, loss) of the CALL before it.
Where the connection allows (:mod:`pievse.protocol.common.direct_frames`) it is written there and
then, without a task; otherwise a task awaits the connection's ``send()``. A sender either awaits
the answer (:meth:`OwnCalls.call_payload`) or is called back with it (:meth:`OwnCalls.start`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ocpp.exceptions import OCPPError

from pievse.aio import AsyncClock
from pievse.protocol.common.direct_frames import direct_writer
from pievse.protocol.common.frames import Call, Frame
from pievse.protocol.common.rpc_errors import InvalidRequest
from pievse.protocol.common.rpc_results import ResultClasses, answer_of, payload_of_answer
from pievse.protocol.common.rpc_waiting import Answer, CallIds, Pending, ResponseTimer, Turns
from pievse.protocol.common.schemas import SchemaValidator

__all__ = ["OnAnswer", "OwnCalls"]

#: Told how one of our CALLs ended: (the response, None) or (None, the RpcError; or whatever
#: else its send raised, which an awaiting caller would have had raised).
OnAnswer = Callable[[Any, Exception | None], None]


class OwnCalls:
    """The CALLs this end sends over one connection, one in flight at a time.

    ``show_sent(frame)`` sees each CALL before it is written; ``called`` is the session's map of
    unique id -> action for labelling answers, from which a CALL whose wait ended is removed;
    ``closed_errors`` are what a connection's ``send()`` raises once it is gone.
    """

    __slots__ = ("_called", "_closed_errors", "_codes", "_ids", "_sending", "_show_sent",
                 "_timer", "_turns", "closed", "connection", "log", "response_timeout",
                 "results", "validate_outbound", "validator", "write_now")

    def __init__(self, connection: Any, *, version: str, clock: AsyncClock,
                 log: logging.Logger, validator: SchemaValidator, response_timeout: float,
                 validate_outbound: bool, show_sent: Callable[[str], None],
                 called: dict[str, str], closed_errors: tuple[type[BaseException], ...]) -> None:
        self.connection = connection
        self.log = log
        self.validator = validator
        self.response_timeout = response_timeout
        #: False: our own CALLs go unchecked (a fleet checks them in its tests, not per send).
        self.validate_outbound = validate_outbound
        self.results = ResultClasses(version)
        self.closed = False
        self._codes = validator.codes
        self._show_sent = show_sent
        self._called = called
        self._closed_errors = closed_errors
        self._turns = Turns()
        self._ids = CallIds()
        self._timer = ResponseTimer(clock, self._timed_out)
        #: Writes a frame at once where the connection allows (else a task awaits its send()).
        self.write_now = direct_writer(connection)
        #: Sends that await the connection's send() (made when first needed).
        self._sending: set[asyncio.Task] | None = None

    def start(self, action: str, payload: dict[str, Any], on_answer: OnAnswer, *,
              timeout: float | None = None) -> Pending:
        """Send a CALL without waiting: ``on_answer`` hears the response dataclass or the
        RpcError once its wait is over. Raises InvalidRequest (nothing sent)."""
        self.check_outbound(action, payload)
        results, validator = self.results, self.validator

        def answered(answer: Answer) -> None:
            try:
                response = results.response(action, payload_of_answer(pending, answer, validator))
            except Exception as error:  # noqa: BLE001 - the sender hears of it
                on_answer(None, error)
                return
            on_answer(response, None)

        pending = Pending(action, payload, self._timeout(timeout), answered)
        self._start(pending)
        return pending

    async def call_payload(self, action: str, payload: dict[str, Any], *,
                           timeout: float | None, validate: bool,
                           validate_response: bool) -> dict[str, Any]:
        """Send a CALL and wait for the payload of its answer (see ``RpcSession.call_payload``)."""
        if validate:
            self.check_outbound(action, payload)
        answered: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        pending = Pending(action, payload, self._timeout(timeout),
                          lambda answer: answered.done() or answered.set_result(answer))
        self._start(pending)
        try:
            answer = await answered
        except asyncio.CancelledError:
            # Whoever waited has gone: the CALL no longer holds back those behind it.
            self._abandon(pending)
            raise
        return payload_of_answer(pending, answer,
                                 self.validator if validate_response else None)

    def check_outbound(self, action: str, payload: dict[str, Any]) -> None:
        if self.validate_outbound:
            try:
                self.validator.validate_call(action, payload)
            except OCPPError as error:
                raise InvalidRequest(f"refusing to send {action}: {error.description}") from error

    def answer(self, frame: Frame) -> bool:
        """Take a CALLRESULT or CALLERROR in; False if it answers no CALL of ours in flight."""
        pending = self._turns.in_flight
        if pending is None or frame.unique_id != pending.unique_id or pending.done:
            return False
        self._finish(pending, answer_of(frame, self._codes))
        return True

    def close(self) -> None:
        """The connection is gone: every CALL in flight or waiting its turn is lost."""
        self.closed = True
        self._timer.stop()
        for pending in self._turns.clear():
            self._finish(pending, ("lost", None))

    def _timeout(self, timeout: float | None) -> float:
        return self.response_timeout if timeout is None else timeout

    def _start(self, pending: Pending) -> None:
        if self.closed:
            self._finish(pending, ("lost", f"cannot send {pending.action}: the connection is "
                                           "closed"))
        elif self._turns.take(pending):
            self._send(pending)

    def _send(self, pending: Pending) -> None:
        """Write ``pending``'s CALL, whose turn it is: at once where the connection allows,
        else from a task that awaits the connection's ``send()``."""
        pending.unique_id = unique_id = self._ids.next()
        action, payload = pending.action, pending.payload
        pending.payload = None
        try:
            frame = Call(unique_id, action, payload or {}).to_json()
            if self.log.isEnabledFor(logging.DEBUG):
                self.log.debug("send %s", frame, extra={"OCPP_ACTION": action})
            self._show_sent(frame)
            if self.write_now is not None and self.write_now(frame):
                self._timer.watch(pending)
                return
        except Exception as error:  # noqa: BLE001 - its sender hears of it; the turn passes on
            self._finish(pending, ("failed", error))
            return
        task = asyncio.get_running_loop().create_task(self._send_later(pending, frame),
                                                      name=f"ocpp-send-{action}")
        if self._sending is None:
            self._sending = set()
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send_later(self, pending: Pending, frame: str) -> None:
        try:
            await self.connection.send(frame)
        except self._closed_errors as closed:
            self._finish(pending, ("lost", f"could not send {pending.action}: {closed}"))
            return
        except Exception as error:  # noqa: BLE001 - its sender hears of it, not the loop
            self._finish(pending, ("failed", error))
            return
        if not pending.done:
            self._timer.watch(pending)

    def _timed_out(self, pending: Pending) -> None:
        self._finish(pending, ("timeout", None))

    def _finish(self, pending: Pending, answer: Answer) -> None:
        """``pending``'s wait is over: the next CALL goes out, then ``pending`` hears how."""
        if pending.done:
            return
        self._abandon(pending)
        pending.on_answer(answer)

    def _abandon(self, pending: Pending) -> None:
        """Nobody waits for ``pending`` any more: its turn goes to the next (an answer that
        still comes is dropped as one nobody waits for)."""
        if pending.done:
            return
        pending.done = True
        self._called.pop(pending.unique_id, None)
        following = self._turns.finish(pending)
        if following is None:
            return
        if self.closed:
            self._turns.finish(following)
            self._finish(following, ("lost", None))
        else:
            self._send(following)
