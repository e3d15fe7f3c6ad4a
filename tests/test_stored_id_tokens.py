"""A transaction keeps the id token that started it whole, value and type, through the store: a
card stays a card (ISO14443), a session the CSMS started stays Central, across a power cut. What
the store wrote before it kept the type (an open transaction's id tag, an outbox entry's
``id_tag``) reads back as a card. OCPP 1.6 still sends the value alone."""

from __future__ import annotations

import json
import sqlite3

from pievse.core.authorization import IdToken, IdTokenType
from pievse.core.effects import TransactionStarted, TransactionStopped
from pievse.core.transactions import InterruptedTransaction
from pievse.core.vocabulary import StopReason
from pievse.persistence.recorder import TransactionRecorder
from pievse.persistence.store import MIGRATIONS, SCHEMA_VERSION, Store, StoredOutboxJournal
from pievse.protocol.common.outbox import Outbox
from pievse.protocol.v16 import messages
from tests.test_station_rig import NEW_YEAR, TAG, Bench, card, only

T0 = NEW_YEAR - 3600
APP = IdToken("APP-SESSION-7", IdTokenType.CENTRAL)

#: What the outbox held, written as effect_codec wrote it up to schema 3: the id tag alone.
OLD_START = {"type": "started", "ref": 7, "connector": 1, "id_tag": TAG,
             "meter_start_wh": 1000.0, "at": T0, "reservation_id": None}
OLD_STOP_BY_CARD = {"type": "stopped", "ref": 7, "transaction_id": 4711, "connector": 1,
                    "id_tag": TAG, "meter_stop_wh": 1800.0, "at": T0 + 120, "reason": "Local",
                    "data": []}
OLD_STOP_BY_NOBODY = {**OLD_STOP_BY_CARD, "ref": 8, "transaction_id": 4712, "id_tag": None,
                      "reason": "PowerLoss"}


def write_schema_3_store(path: str) -> None:
    """A store as pievse left it while its schema was at version 3."""
    db = sqlite3.connect(path, isolation_level=None)
    for migrate in MIGRATIONS[:3]:
        migrate(db)
    db.execute("INSERT INTO open_transactions VALUES (9, 2, '04FFEE01', 3000.0, ?, NULL, "
               "3500.0, ?)", (T0, T0 + 60))
    for seq, (kind, effect) in enumerate([("start", OLD_START), ("stop", OLD_STOP_BY_CARD),
                                          ("stop", OLD_STOP_BY_NOBODY)], start=1):
        db.execute("INSERT INTO outbox VALUES (?, ?, ?, ?, 0)",
                   (seq, kind, effect["ref"], json.dumps(effect)))
    db.execute("PRAGMA user_version = 3")
    db.close()


def test_what_was_stored_without_a_type_reads_back_as_a_card(tmp_path) -> None:
    path = str(tmp_path / "pievse.sqlite3")
    write_schema_3_store(path)
    store = Store(path).open()
    assert store.moved_aside is None
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store.open_transactions() == [InterruptedTransaction(
        9, 2, card("04FFEE01"), 3000.0, T0, None, 3500.0, T0 + 60)]
    start, stop, lost = (entry.data for entry in store.outbox_entries())
    assert start == TransactionStarted(7, 1, card(TAG), 1000.0, T0)
    assert isinstance(stop, TransactionStopped) and stop.id_token == card(TAG)
    assert isinstance(lost, TransactionStopped) and lost.id_token is None
    assert lost.reason is StopReason.POWER_LOSS

    # What is written from now on keeps its type beside what was there.
    store.transaction_started(10, 1, APP, 5000.0, NEW_YEAR)
    assert [t.id_token for t in store.open_transactions()] == [card("04FFEE01"), APP]


def test_a_remote_start_and_a_card_keep_their_token_types_through_a_power_cut(tmp_path) -> None:
    path = str(tmp_path / "pievse.sqlite3")
    store = Store(path).open()
    outbox = Outbox(StoredOutboxJournal(store))
    before = Bench(connectors=2, authorize_remote_tx_requests=False)
    recorder = TransactionRecorder(store, before.station)
    before.start_charging(TAG, connector=1)
    before.command(before.station.remote_start(APP, 2))
    before.pilot("B", 2)
    for effect in before.log:  # as the daemon does: recorded and queued in one batch
        with store.batch():
            recorder.record(effect)
            if isinstance(effect, TransactionStarted):
                outbox.put("start", effect.transaction_ref, effect)
    assert [s.id_token for s in before.started()] == [card(TAG), APP]
    store.close()  # the power goes

    reopened = Store(path).open()
    assert [(t.connector_id, t.id_token) for t in reopened.open_transactions()] == [
        (1, card(TAG)), (2, APP)]
    queued = [entry.data for entry in Outbox(StoredOutboxJournal(reopened)).entries()]
    assert [start.id_token for start in queued] == [card(TAG), APP]
    # OCPP 1.6 has no token types: its StartTransaction carries the value alone.
    assert [messages.start_transaction(start).id_tag for start in queued] == [TAG, APP.value]

    after = Bench(connectors=2, resume_interrupted_transactions=True)
    after.record(TransactionRecorder(reopened, after.station).recover())
    after.pilot("B", 1)
    after.pilot("B", 2)
    assert [after.station.connector(n).transaction.id_token for n in (1, 2)] == [card(TAG), APP]
    # The same card ends its own resumed session, and the stop names it.
    after.tap(TAG)
    after.pilot("A", 1)
    [stopped] = only(after.log, TransactionStopped)
    assert stopped.connector_id == 1 and stopped.id_token == card(TAG)
    assert messages.stop_transaction(stopped, 4711, [], []).id_tag == TAG
