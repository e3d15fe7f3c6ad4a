"""`pievse demo`: one whole charging session, on this machine, with nothing to set up.

It starts the embedded CSMS and a charge point with simulated hardware on loopback, then plays
the part of the driver: plug the car in, present a card, let the car charge, unplug. Each step
is checked against what the CSMS really received, and the demo exits 0 only if every step
happened, within the time limit. It speaks OCPP 1.6J or 2.0.1 (``--ocpp``): the same session,
told in each version's messages; ``--ocpp auto`` offers both and plays it in the one the CSMS
chooses.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TextIO

CHARGE_POINT_ID = "pievse-demo"
ID_TAG = "04A1B2C3"
CHARGING_SECONDS = 10.0
TIME_LIMIT_S = 60.0

DEMO_CONFIG = f"""
[charge_point]
id = "{CHARGE_POINT_ID}"
model = "pievse-demo"

[ocpp]
url = "ws://127.0.0.1:{{port}}/ocpp"
version = "{{version}}"
response_timeout = 10

[meter]
interval = 0.5

[simulation]
ev_max_current = 32
ev_phases = 3
ev_reaction_delay = 1.0

[api]
listen = ""
"""


class DemoFailed(Exception):
    pass


@dataclass(frozen=True)
class Wire:
    """How a version says the steps of the session, as the CSMS sees them."""

    title: str
    #: The connector's status once the car is plugged in, and while it charges.
    preparing: str
    charging: str
    start: str
    stop: str
    samples: str
    #: The CSMS's verdict in its answer to Authorize.
    verdict: Callable[[dict[str, Any]], str]
    #: The frames of the station that carried meter values during the session.
    is_sample: Callable[[Any], bool]


WIRES = {
    "1.6": Wire("OCPP 1.6J", "Preparing", "Charging", "StartTransaction", "StopTransaction",
                "MeterValues", lambda answer: answer["idTagInfo"]["status"],
                lambda m: m.action == "MeterValues"),
    "2.0.1": Wire("OCPP 2.0.1", "Occupied", "Occupied", "TransactionEvent Started",
                  "TransactionEvent Ended", "TransactionEvent Updated",
                  lambda answer: answer["idTokenInfo"]["status"],
                  lambda m: m.action == "TransactionEvent" and m.message_type == 2
                  and m.payload.get("eventType") == "Updated"),
}


class Timeline:
    """Prints what happens, with the time since the demo started."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.started = time.monotonic()
        self.tty = out.isatty()
        self._progress_shown = False

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def step(self, text: str) -> None:
        self._end_progress()
        print(f"  {self.elapsed():5.1f} s  {text}", file=self.out, flush=True)

    def progress(self, text: str) -> None:
        if self.tty:
            print(f"\r  {self.elapsed():5.1f} s  {text}\033[K", end="", file=self.out, flush=True)
            self._progress_shown = True
        else:
            self.step(text)

    def _end_progress(self) -> None:
        if self._progress_shown:
            print(file=self.out)
            self._progress_shown = False


def _bar(fraction: float, width: int = 20) -> str:
    filled = max(0, min(width, round(fraction * width)))
    return "█" * filled + "░" * (width - filled)


async def _until(
    what: str, condition: Callable[[], bool], timeout: float, poll: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise DemoFailed(f"timed out waiting for: {what}")
        await asyncio.sleep(poll)


async def _expect(what: str, awaitable: Awaitable[Any]) -> Any:
    try:
        return await awaitable
    except TimeoutError as error:
        raise DemoFailed(f"timed out waiting for: {what}") from error


async def play(out: TextIO, version: str = "1.6") -> None:
    from pievse.app.config import parse_config
    from pievse.csms.server import CentralSystem
    from pievse.app.daemon import Daemon
    from pievse.persistence.store import Store

    t = Timeline(out)
    wire = WIRES.get(version)  # None: "auto", known once the CSMS has chosen
    title = wire.title if wire is not None else "OCPP 2.0.1 or 1.6 (the CSMS chooses)"
    print(f"pievse demo: a whole {title} charging session with simulated hardware", file=out)
    csms = CentralSystem(host="127.0.0.1", port=0, accept_id_tags={ID_TAG}, heartbeat_interval=60)
    await csms.start()
    t.step(f"embedded CSMS listening on {csms.url}")
    config = parse_config(DEMO_CONFIG.format(port=csms.port, version=version), source="<demo>")
    # The demo leaves nothing behind: its store lives in memory.
    daemon = Daemon(config, configuration_overrides={"MeterValueSampleInterval": 2},
                    store=Store(":memory:").open())
    running = asyncio.create_task(daemon.run())
    try:
        await _session(t, wire, csms, daemon, running)
    finally:
        daemon.stop()
        await asyncio.wait_for(running, 10)
        await csms.stop()


async def _session(t: Timeline, wire: Wire | None, csms: Any, daemon: Any,
                   running: asyncio.Task) -> None:
    connector = daemon.station.connector(1)
    sim = daemon.hardware.simulated
    ev, reader = sim.evs[1], sim.reader

    boot = await _expect(
        "BootNotification",
        csms.wait_for_message(CHARGE_POINT_ID, "BootNotification", "out", timeout=15),
    )
    t.step(
        f"charge point {CHARGE_POINT_ID} connected: BootNotification {boot.payload['status']}"
    )
    if wire is None:
        wire = WIRES[daemon.protocol.version]
        t.step(f"both versions offered: the CSMS chose {wire.title}")
    await _until("connector 1 Available", lambda: _status(csms) == "Available", 10)
    t.step("connector 1 Available, status reported to the CSMS")

    ev.set_state("B")
    await _until(wire.preparing, lambda: _status(csms) == wire.preparing, 10)
    t.step(f"car plugged in (pilot state B): connector {wire.preparing}")

    reader.present(ID_TAG)
    t.step(f"card {ID_TAG} presented")
    auth = await _expect(
        "Authorize", csms.wait_for_message(CHARGE_POINT_ID, "Authorize", "out", timeout=10)
    )
    t.step(f"Authorize: id tag {wire.verdict(auth.payload)}")
    await _until("a transaction", lambda: bool(csms.transactions), 10)
    tx_id, tx = next(iter(csms.transactions.items()))
    t.step(f"{wire.start}: transactionId {tx_id}, meter start {tx.meter_start:g} Wh")

    ev.set_state("C")
    await _until("Charging", lambda: connector.contactor_closed
                 and _status(csms) == wire.charging, 10)
    t.step(
        f"car asks for power (state C): contactor closed, {connector.offered_a:.0f} A offered, "
        f"Charging ({wire.charging})"
    )
    start = time.monotonic()
    peak = 0.0
    while (elapsed := time.monotonic() - start) < CHARGING_SECONDS:
        if running.done():
            raise DemoFailed("the charge point stopped unexpectedly")
        reading = connector.last_reading
        power = (reading.power_w or 0.0) if reading else 0.0
        peak = max(peak, power)
        energy = connector.transaction.energy_wh if connector.transaction else 0.0
        t.progress(
            f"charging {_bar(elapsed / CHARGING_SECONDS)} {power / 1000:5.1f} kW "
            f"{energy:7.1f} Wh"
        )
        await asyncio.sleep(0.25)
    if peak <= 0:
        raise DemoFailed("the car never drew any power")
    samples = sum(1 for m in csms.messages if m.direction == "in" and wire.is_sample(m))
    t.step(f"{samples} {wire.samples} received by the CSMS during the session")

    ev.set_state("A")
    t.step("car unplugged (pilot state A): contactor open")
    await _until(wire.stop, lambda: tx.stopped, 10)
    delivered = tx.energy_wh or 0
    t.step(
        f"{wire.stop}: reason {tx.stop_reason}, meter stop {tx.meter_stop:g} Wh "
        f"({delivered:g} Wh delivered)"
    )
    if delivered <= 0:
        raise DemoFailed("the transaction delivered no energy")
    await _until("Available", lambda: _status(csms) == "Available", 10)
    t.step("connector 1 Available again")
    t.step(f"session complete: {delivered:g} Wh, peak {peak / 1000:.1f} kW")


def _status(csms: Any) -> str | None:
    cp = csms.charge_points.get(CHARGE_POINT_ID)
    if cp is None:
        return None
    return cp.statuses.get(1)


def run_demo(*, verbose: bool = False, out: TextIO | None = None, version: str = "1.6") -> int:
    out = out or sys.stdout
    logging.basicConfig(
        level=logging.INFO if verbose else logging.CRITICAL,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        asyncio.run(asyncio.wait_for(play(out, version), TIME_LIMIT_S))
    except DemoFailed as failure:
        print(f"demo FAILED: {failure}", file=out)
        return 1
    except TimeoutError:
        print(f"demo FAILED: not done within {TIME_LIMIT_S:.0f} s", file=out)
        return 1
    print("demo OK: every step of the session happened", file=out)
    return 0
