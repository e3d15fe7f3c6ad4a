"""Registering with the CSMS and the heartbeat, as every OCPP version does them.

Registration sends BootNotification until the CSMS accepts it; Pending and Rejected wait the
interval the CSMS gives (a TriggerMessage(BootNotification) cuts the wait short), and a
BootNotification that fails (error, no answer) is tried again after :data:`BOOT_RETRY_S`. A
reconnect is not a reboot: once the CSMS has accepted a BootNotification from this process, a new
connection goes straight to the current statuses and the queued messages (CSMSs such as Home
Assistant's report each BootNotification as a reboot). A BootNotification is sent again when the
CSMS asks for one, and on the next connection when it answered one with Pending or Rejected.

The heartbeat goes every HeartbeatInterval seconds of silence: any message the CSMS answered
stands for one. BootNotification's answer has the same fields (currentTime, interval, status) in
1.6 and 2.0.1; what differs (the request, where the interval is kept) is given by the version.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pievse.protocol.common.adapter_context import AdapterContext
from pievse.protocol.common.datetimes import parse_datetime
from pievse.protocol.common.notifications import Call
from pievse.protocol.common.rpc import (
    CallErrorReceived,
    ConnectionLost,
    InvalidResponse,
    ResponseTimeout,
)

__all__ = ["BOOT_INTERVAL_S", "BOOT_RETRY_S", "Registration"]

#: How long a BootNotification that failed (error, no answer) waits before the next.
BOOT_RETRY_S = 30
#: How long Pending or Rejected wait when the CSMS gives no interval.
BOOT_INTERVAL_S = 60


class Registration:
    """BootNotification and Heartbeat for one adapter.

    ``boot()`` makes the BootNotification request, ``heartbeat()`` the Heartbeat request;
    ``heartbeat_interval()`` reads the interval in force and ``set_heartbeat_interval(s)`` keeps
    the one an Accepted answer gives. Call :meth:`heartbeat_changed` when the interval changes.
    """

    def __init__(self, context: AdapterContext, *, boot: Callable[[], Any],
                 heartbeat: Callable[[], Any], heartbeat_interval: Callable[[], int],
                 set_heartbeat_interval: Callable[[int], None],
                 on_csms_time: Callable[[float], None] | None = None) -> None:
        self.context = context
        self.log = context.log
        self._boot = boot
        self._heartbeat_request = heartbeat
        self._heartbeat_interval = heartbeat_interval
        self._set_heartbeat_interval = set_heartbeat_interval
        self._on_csms_time = on_csms_time
        #: The CSMS accepted this process's BootNotification (and no later one was refused).
        self.accepted = False
        #: The status of the CSMS's last answer to a BootNotification (None before one came).
        self.status: str | None = None
        self._boot_now = asyncio.Event()
        self._heartbeat_changed = asyncio.Event()
        context.while_registered("ocpp-heartbeat", self._heartbeat)
        context.triggers.register("BootNotification", self.boot_triggered)
        context.triggers.register("Heartbeat", lambda _: context.send(heartbeat()))

    async def register(self, call_csms: Call) -> bool:
        """BootNotification until Accepted (True); False if the connection closed first.
        Registered at once when the CSMS has accepted this process already."""
        if self.accepted:
            self.log.info("reconnected to the CSMS (registered since this start: no "
                          "BootNotification)")
            return True
        while True:
            try:
                response = await call_csms(self._boot())
            except (CallErrorReceived, ResponseTimeout, InvalidResponse) as error:
                self.log.warning("BootNotification failed (%s); retrying in %s s", error,
                                 BOOT_RETRY_S)
                await self._wait_boot_retry(BOOT_RETRY_S)
                continue
            except ConnectionLost:
                return False
            if self.answered(response):
                return True
            interval = int(response.interval)
            retry = interval if interval > 0 else BOOT_INTERVAL_S
            self.log.warning(
                "BootNotification %s by the CSMS; trying again in %s s", response.status, retry
            )
            await self._wait_boot_retry(retry)

    def answered(self, response: Any) -> bool:
        """Take in the CSMS's answer to a BootNotification; True when it is Accepted."""
        if self._on_csms_time is not None:
            try:
                csms_time = parse_datetime(response.current_time)
            except (ValueError, OverflowError) as error:
                self.log.warning("BootNotification: the CSMS's currentTime is unusable (%s)",
                                 error)
            else:
                self._on_csms_time(csms_time)
        self.status = str(response.status)
        self.accepted = self.status == "Accepted"
        if self.accepted:
            interval = int(response.interval)
            if interval > 0:
                self._set_heartbeat_interval(interval)
                self.heartbeat_changed()
            self.log.info("registered with the CSMS (heartbeat every %s s)", interval)
        return self.accepted

    def _triggered_boot_answered(self, response: Any) -> None:
        # No answer (the link dropped) leaves things as they were.
        if response is not None and not self.answered(response):
            self.log.warning("BootNotification %s by the CSMS; it is sent again on the next "
                             "connection", response.status)

    async def _wait_boot_retry(self, seconds: float) -> None:
        self._boot_now.clear()
        await self.context.clock.wait(self._boot_now, seconds)

    def boot_triggered(self, _: int | None = None) -> None:
        """The CSMS asked for a BootNotification: now, rather than after the wait."""
        self._boot_now.set()
        if self.context.registered:
            self.context.send(self._boot(), self._triggered_boot_answered)

    def heartbeat_changed(self) -> None:
        self._heartbeat_changed.set()

    async def _heartbeat(self, _: Call) -> None:
        context = self.context
        while True:
            interval = int(self._heartbeat_interval())
            if interval <= 0:
                self._heartbeat_changed.clear()
                await self._heartbeat_changed.wait()
                continue
            idle = context.clock.monotonic() - context.last_sent
            if idle < interval:
                self._heartbeat_changed.clear()
                await context.clock.wait(self._heartbeat_changed, interval - idle)
                continue
            context.last_sent = context.clock.monotonic()
            context.send(self._heartbeat_request())
