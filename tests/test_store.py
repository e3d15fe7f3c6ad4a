"""The store on disk: SQLite in WAL mode, versioned schema, batches that commit together (and a
process killed with SIGKILL in the middle of one), a corrupt file moved aside, and an outbox that
reads back exactly what was written."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys

import pytest

from pievse.core.authorization import IdToken, IdTokenType
from pievse.drivers.contracts import MeterReading
from pievse.persistence.effect_codec import decode_effect, encode_effect
from pievse.protocol.common.outbox import Outbox
from pievse.core.effects import (
    EVConnectionChanged,
    MeterSample,
    TransactionAuthorized,
    TransactionDeauthorized,
    TransactionStarted,
    TransactionStopped,
)
from pievse.core.tx_points import StartCause
from pievse.core.vocabulary import ReadingContext, StopReason
from pievse.persistence.store import SCHEMA_VERSION, Store, StoredOutboxJournal, StoreError

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
CARD = IdToken("04A1B2C3", IdTokenType.ISO14443)

SAMPLE = MeterSample(1, 7, ReadingContext.SAMPLE_PERIODIC,
                     MeterReading(1500.5, T0 + 60, 7360.0, (16.0, 16.0, 0.0), (230.1, 229.9, 0.0),
                                  50.0), 16.0, T0 + 60)
STARTED = TransactionStarted(7, 1, CARD, 1000.0, T0, reservation_id=3)
STOPPED = TransactionStopped(7, 4711, 1, None, 2000.0, T0 + 120, StopReason.POWER_LOSS,
                             (SAMPLE,))


@pytest.fixture
def path(tmp_path) -> str:
    return str(tmp_path / "pievse.sqlite3")


def test_a_new_store_is_wal_at_the_current_schema_version_and_private(path):
    store = Store(path).open()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    store.close()


def test_every_transaction_effect_reads_back_equal():
    plugged = TransactionStarted(8, 1, None, 10.0, T0, None, StartCause.CABLE_PLUGGED_IN,
                                 remote_start_id=None, ev_connected=True)
    remote = TransactionStarted(9, 1, CARD, 10.0, T0, None, StartCause.AUTHORIZED,
                                remote_start_id=4711, ev_connected=False)
    for effect in (STARTED, STOPPED, SAMPLE, plugged, remote,
                   TransactionAuthorized(8, 1, CARD, T0 + 5, 12),
                   TransactionDeauthorized(8, 1, StopReason.LOCAL, CARD, T0 + 9),
                   TransactionDeauthorized(8, 1, StopReason.REMOTE, None, T0 + 9),
                   EVConnectionChanged(8, 1, False, T0 + 11)):
        assert decode_effect(encode_effect(effect)) == effect


def test_a_started_effect_written_before_the_start_points_reads_as_begun_at_authorization():
    data = encode_effect(STARTED)
    for name in ("cause", "remote_start_id", "ev_connected"):
        del data[name]
    assert decode_effect(data) == STARTED


def test_an_open_transaction_begun_before_its_id_token_takes_it_later(path):
    store = Store(path).open()
    store.transaction_started(3, 1, None, 100.0, T0)
    [open_tx] = store.open_transactions()
    assert open_tx.id_token is None
    store.transaction_authorized(3, CARD)
    [open_tx] = store.open_transactions()
    assert open_tx.id_token == CARD
    store.close()


def test_the_outbox_and_transaction_ids_survive_closing_the_store(path):
    store = Store(path).open()
    outbox = Outbox(StoredOutboxJournal(store))
    start = outbox.put("start", 7, STARTED)
    outbox.put("meter", 7, SAMPLE)
    outbox.put("stop", 7, STOPPED)
    outbox.start_answered(start, 4711)
    outbox.head().attempts = 2
    outbox.attempted(outbox.head())
    store.close()

    reopened = Outbox(StoredOutboxJournal(Store(path).open()))
    assert [(e.kind, e.data, e.attempts) for e in reopened.entries()] == [
        ("meter", SAMPLE, 2), ("stop", STOPPED, 0)]
    assert reopened.transaction_id(7) == 4711
    # Numbering goes on after what is already queued.
    assert reopened.put("meter", 8, SAMPLE).seq == 4


def test_a_station_made_transaction_id_and_its_events_delivered_survive_closing_the_store(path):
    # OCPP 2.0.1: the station names the transaction and numbers its events (seqNo) itself.
    store = Store(path).open()
    outbox = Outbox(StoredOutboxJournal(store))
    outbox.remember_transaction_id(7, "5f0c8e0e-6a7e-4c55-9d3a-0f3c2b1a9e77")
    outbox.event_delivered(outbox.put("start", 7, STARTED))
    outbox.event_delivered(outbox.put("meter", 7, SAMPLE))
    outbox.put("stop", 7, STOPPED, offline=True)
    store.close()

    reopened = Outbox(StoredOutboxJournal(Store(path).open()))
    assert reopened.transaction_id(7) == "5f0c8e0e-6a7e-4c55-9d3a-0f3c2b1a9e77"
    assert reopened.events_sent(7) == 2
    assert [e.offline for e in reopened.entries()] == [True]
    reopened.event_delivered(reopened.head())
    assert reopened.events_sent(7) == 0 and reopened.transaction_id(7) is None


def test_an_outbox_written_under_schema_4_opens_with_its_entries_and_takes_charging_states(path):
    # The outbox of a 1.6 station, before 2.0.1 counted events and queued charging states.
    from pievse.core.effects import StatusChanged
    from pievse.core.vocabulary import ConnectorStatus, ErrorCode
    from pievse.persistence.store import MIGRATIONS

    db = sqlite3.connect(path)
    for migrate in MIGRATIONS[:4]:
        migrate(db)
    db.execute("INSERT INTO outbox (seq, kind, transaction_ref, effect, attempts) "
               "VALUES (1, 'start', 7, ?, 2)", (json.dumps(encode_effect(STARTED)),))
    db.execute("INSERT INTO transaction_ids VALUES (7, 4711)")
    db.execute("PRAGMA user_version = 4")
    db.commit()
    db.close()

    outbox = Outbox(StoredOutboxJournal(Store(path).open()))
    [entry] = outbox.entries()
    assert (entry.data, entry.attempts, entry.offline) == (STARTED, 2, False)
    assert outbox.transaction_id(7) == 4711 and outbox.events_sent(7) == 0
    charging = StatusChanged(1, ConnectorStatus.CHARGING, ErrorCode.NO_ERROR, None, T0 + 5)
    outbox.put("state", 7, charging, offline=True)
    assert [e.data for e in Outbox(StoredOutboxJournal(Store(path).open())).entries()] == [
        STARTED, charging]


def test_a_stop_delivered_forgets_the_transaction_id(path):
    store = Store(path).open()
    outbox = Outbox(StoredOutboxJournal(store))
    outbox.start_answered(outbox.put("start", 7, STARTED), 4711)
    outbox.ack(outbox.put("stop", 7, STOPPED))
    assert store.transaction_ids() == {} and store.outbox_entries() == []


def test_a_batch_commits_together_or_not_at_all(path):
    store = Store(path).open()
    with pytest.raises(RuntimeError), store.batch():
        store.transaction_started(7, 1, CARD, 1000.0, T0)
        store.set_state("reset_pending", True)
        raise RuntimeError("a failure in the middle of the batch")
    assert store.open_transactions() == [] and store.state("reset_pending") is None
    with store.batch():
        store.transaction_started(7, 1, CARD, 1000.0, T0)
        # Not visible to another reader until the batch ends.
        other = sqlite3.connect(path)
        assert other.execute("SELECT COUNT(*) FROM open_transactions").fetchone()[0] == 0
    assert other.execute("SELECT COUNT(*) FROM open_transactions").fetchone()[0] == 1


# A process of its own writes to the store and is killed with SIGKILL inside a batch: no clean-up,
# no close, as in a crash or a power cut.
KILLED_IN_A_BATCH = """
import sys
from pievse.core.authorization import IdToken, IdTokenType
from pievse.persistence.store import Store
store = Store(sys.argv[1]).open()
card = IdToken("04A1B2C3", IdTokenType.ISO14443)
store.transaction_started(7, 1, card, 1000.0, 1767225600.0)
store.configuration_changed("MeterValueSampleInterval", 30)
with store.batch():
    store.transaction_ended(7)
    store.set_state("reset_pending", True)
    print("inside the batch", flush=True)
    sys.stdin.read()  # until killed
"""


def test_a_process_killed_inside_a_batch_leaves_what_was_committed_and_none_of_the_batch(path):
    writer = subprocess.Popen([sys.executable, "-c", KILLED_IN_A_BATCH, path],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "inside the batch\n"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
    assert writer.returncode == -signal.SIGKILL
    store = Store(path).open()
    assert store.moved_aside is None, "a kill is no reason to lose the file"
    [open_tx] = store.open_transactions()  # its end was in the batch
    assert (open_tx.ref, open_tx.meter_start_wh) == (7, 1000.0)
    assert store.state("reset_pending") is None
    assert store.configuration() == {"MeterValueSampleInterval": 30}


def test_an_open_transaction_keeps_its_id_and_its_highest_energy(path):
    store = Store(path).open()
    store.transaction_started(7, 1, CARD, 1000.0, T0)
    store.transaction_id_assigned(7, 4711)
    store.transaction_energy(7, 1800.0, T0 + 60)
    store.transaction_energy(7, 1700.0, T0 + 70)  # a late, lower write never wins
    [open_tx] = Store(path).open().open_transactions()
    assert (open_tx.ref, open_tx.transaction_id, open_tx.last_energy_wh,
            open_tx.last_energy_at) == (7, 4711, 1800.0, T0 + 60)
    assert store.state("next_transaction_ref") == 8


def test_configuration_changed_by_the_csms_is_kept(path):
    store = Store(path).open()
    store.configuration_changed("MeterValueSampleInterval", 30)
    store.configuration_changed("MeterValuesSampledData", "Energy.Active.Import.Register")
    assert Store(path).open().configuration() == {
        "MeterValueSampleInterval": 30,
        "MeterValuesSampledData": "Energy.Active.Import.Register"}


def test_a_corrupt_file_is_moved_aside_and_a_fresh_store_started(path, caplog):
    with open(path, "wb") as file:
        file.write(b"this is not a database, it is what a dying SD card returns" * 100)
    store = Store(path).open()
    assert store.moved_aside is not None and os.path.exists(store.moved_aside)
    assert store.open_transactions() == []
    assert "cannot be read" in caplog.text and store.moved_aside in caplog.text


def test_a_truncated_database_is_moved_aside(path):
    store = Store(path).open()
    for ref in range(200):
        store.configuration_changed(f"Key{ref}", "x" * 200)
    store.close()
    for suffix in ("-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    size = os.path.getsize(path)
    with open(path, "r+b") as file:
        file.truncate(size // 2)
    fresh = Store(path).open()
    assert fresh.moved_aside is not None
    assert fresh.configuration() == {}


def test_a_missing_directory_is_a_clear_error_not_a_new_tree(tmp_path):
    with pytest.raises(StoreError, match=r"\[storage\] path = .*does not exist"):
        Store(str(tmp_path / "nowhere" / "pievse.sqlite3")).open()


def test_a_file_from_a_newer_pievse_is_refused_not_overwritten(path):
    Store(path).open().close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer pievse"):
        Store(path).open()


def test_past_the_backlog_limit_the_oldest_meter_values_give_way_never_start_or_stop(path):
    store = Store(path).open()
    outbox = Outbox(StoredOutboxJournal(store), max_meter_values=3)
    outbox.put("start", 7, STARTED)
    for n in range(5):
        outbox.put("meter", 7, MeterSample(1, 7, ReadingContext.SAMPLE_PERIODIC,
                                           MeterReading(1000.0 + n, T0 + n), 16.0, T0 + n))
    outbox.put("stop", 7, STOPPED)
    kept = Outbox(StoredOutboxJournal(store)).entries()
    assert [e.kind for e in kept] == ["start", "meter", "meter", "meter", "stop"]
    assert [e.data.reading.energy_import_wh for e in kept if e.kind == "meter"] == [
        1002.0, 1003.0, 1004.0]
    assert outbox.dropped_meter_values == 2
