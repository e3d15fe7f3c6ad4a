"""Figures for the store and the outbox. Run on demand; prints, asserts nothing.

    .venv/bin/python benchmarks/bench_store.py [--backlog 10000]

- writing: transaction messages queued per second, each committed to disk on its own (WAL,
  synchronous=FULL: what a real session does), and in one batch;
- restart: time to open a store holding the backlog and load the outbox;
- draining: a daemon starts on that store (a transaction cut off by a "power cut" with the whole
  backlog of MeterValues queued behind its StartTransaction) and delivers everything to an
  embedded CSMS on loopback: messages per second, and the time from start to empty.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from pievse.app.config import parse_config  # noqa: E402
from pievse.csms.server import CentralSystem  # noqa: E402
from pievse.app.daemon import Daemon  # noqa: E402
from pievse.core.authorization import IdToken, IdTokenType  # noqa: E402
from pievse.drivers.contracts import MeterReading  # noqa: E402
from pievse.protocol.common.outbox import Outbox  # noqa: E402
from pievse.core.effects import MeterSample, TransactionStarted  # noqa: E402
from pievse.core.vocabulary import ReadingContext  # noqa: E402
from pievse.persistence.store import Store, StoredOutboxJournal  # noqa: E402

T0 = time.time() - 86_400
CARD = IdToken("04A1B2C3", IdTokenType.ISO14443)


def sample(n: int) -> MeterSample:
    reading = MeterReading(1000.0 + n, T0 + n, 7360.0, (16.0, 16.0, 16.0), (230.0,) * 3, 50.0)
    return MeterSample(1, 1, ReadingContext.SAMPLE_PERIODIC, reading, 16.0, T0 + n)


def fill(path: str, backlog: int) -> tuple[float, float]:
    """Queue a cut-off transaction and its backlog; returns (one-commit-each rate, batch rate)."""
    store = Store(path).open()
    outbox = Outbox(StoredOutboxJournal(store), max_meter_values=backlog + 1)
    outbox.put("start", 1, TransactionStarted(1, 1, CARD, 1000.0, T0))
    store.transaction_started(1, 1, CARD, 1000.0, T0)
    one_by_one = min(500, backlog)
    t0 = time.perf_counter()
    for n in range(one_by_one):
        outbox.put("meter", 1, sample(n))
    single_rate = one_by_one / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    with store.batch():
        for n in range(one_by_one, backlog):
            outbox.put("meter", 1, sample(n))
    batch_rate = (backlog - one_by_one) / max(time.perf_counter() - t0, 1e-9)
    store.transaction_energy(1, 1000.0 + backlog, T0 + backlog)
    store.close()
    return single_rate, batch_rate


async def drain(path: str) -> tuple[float, int]:
    csms = CentralSystem(host="127.0.0.1", port=0, heartbeat_interval=3600)
    await csms.start()
    config = parse_config(f'[charge_point]\nid = "BENCH"\n[ocpp]\nurl = "{csms.url}"\n'
                          f'[api]\nlisten = ""\n[storage]\npath = "{path}"\n', "<bench>")
    t0 = time.perf_counter()
    daemon = Daemon(config)
    queued = len(daemon.protocol.outbox)
    task = asyncio.create_task(daemon.run())
    while daemon.protocol.outbox or not daemon.protocol.registered:
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - t0
    daemon.stop()
    await task
    await csms.stop()
    return elapsed, queued


def main(backlog: int) -> None:
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "pievse.sqlite3")
        single, batch = fill(path, backlog)
        print(f"queueing: {single:8.0f} messages/s committed one by one (fsync each), "
              f"{batch:8.0f} messages/s in one batch")
        t0 = time.perf_counter()
        store = Store(path).open()
        entries = len(Outbox(StoredOutboxJournal(store)).entries())
        store.close()
        print(f"restart: store opened and {entries} queued messages loaded in "
              f"{(time.perf_counter() - t0) * 1000:.0f} ms")
        elapsed, queued = asyncio.run(drain(path))
        print(f"draining: {queued} messages (+ the PowerLoss StopTransaction) delivered in "
              f"{elapsed:.1f} s from daemon start, {queued / elapsed:.0f} messages/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backlog", type=int, default=10_000)
    main(parser.parse_args().backlog)
