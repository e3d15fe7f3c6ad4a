"""The store: what must survive a power cut, in one SQLite file on disk (``[storage] path``).

A CPO bills from StartTransaction, MeterValues and StopTransaction. Each of them is written here,
and the write is on disk (committed, fsync'd), before anything else happens that depends on it:
before the message is offered to the CSMS, before the station moves on. What is kept:

* the **outbox**: transaction messages not yet answered by the CSMS, in order, with their
  attempts, and the transactionId the CSMS gave each transaction;
* the **open transactions**: id token, meter start and the last energy reading (written at most
  every ``ENERGY_WRITE_INTERVAL_S`` while charging, and with every sampled meter value), so that
  a restart after ``kill -9`` or a power cut can stop them with the energy really delivered;
* the **session history**: each open transaction's row moves to ``sessions`` when it ends
  (see ``history.py``), and the cards of a station without CSMS (``pievse cards``);
* the **configuration keys** the CSMS changed (ChangeConfiguration survives a reboot);
* small facts about the last run (``state``): the next transaction number, a Reset under way,
  the last energy register of each connector's meter, and what the CSMS installed (the charging
  profiles, in the core's own form: see ``profile_codec.py``).

SQLite in WAL mode with ``synchronous=FULL``: a commit is durable when it returns, and a power
cut in the middle of one leaves the previous state. Several writes that belong together (the
StopTransaction queued *and* the open transaction removed) go in one ``batch()``, one commit.
A database that cannot be read (a corrupt file, say, after an SD card failure) is moved aside
with a clear error and a fresh one is started, rather than a daemon that fails at every start.
The schema carries a version (``PRAGMA user_version``) and migrates forward from day one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import Any

from pievse.core.authorization import IdToken, token_key
from pievse.core.transactions import InterruptedTransaction
from pievse.persistence.access_migration import access_in_core_form
from pievse.persistence.history import CLEARED_ID_TOKEN, SessionRecord, Tariff
from pievse.persistence.effect_codec import decode_effect, encode_effect
from pievse.persistence.profile_codec import from_schema_1
from pievse.persistence.token_codec import UNTYPED_ID_TAG_TYPE, id_token_type
from pievse.protocol.common.outbox import OutboxEntry

__all__ = ["ENERGY_WRITE_INTERVAL_S", "Store", "StoreError", "StoredOutboxJournal"]

log = logging.getLogger(__name__)

#: While charging, the open transaction's energy is written at most this often: at 22 kW that
#: is at most ~60 Wh unaccounted after a power cut, and one small write per 10 s spares the SD
#: card.
ENERGY_WRITE_INTERVAL_S = 10.0


def _profiles_in_core_form(db: sqlite3.Connection) -> None:
    """Schema 1 kept the charging profiles as OCPP 1.6 payloads; from 2 on they are kept in the
    core's own form. A profile that cannot be read is dropped (and said so): the CSMS sets it
    again, while a store that fails to open would stop the charge point."""
    row = db.execute("SELECT value FROM state WHERE name = 'charging_profiles'").fetchone()
    if row is None:
        return
    converted = []
    for payload in json.loads(row[0]) or []:
        try:
            converted.append(from_schema_1(payload))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            log.error("a stored charging profile cannot be read (%r: %s): dropped", payload,
                      error)
    db.execute("UPDATE state SET value = ? WHERE name = 'charging_profiles'",
               (json.dumps(converted),))


_TABLES = """
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('start', 'stop', 'meter')),
        transaction_ref INTEGER NOT NULL,
        effect TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE transaction_ids (
        transaction_ref INTEGER PRIMARY KEY,
        transaction_id INTEGER NOT NULL
    );
    CREATE TABLE open_transactions (
        transaction_ref INTEGER PRIMARY KEY,
        connector_id INTEGER NOT NULL,
        id_tag TEXT NOT NULL,
        meter_start_wh REAL NOT NULL,
        started_at REAL NOT NULL,
        transaction_id INTEGER,
        last_energy_wh REAL NOT NULL,
        last_energy_at REAL NOT NULL
    );
    CREATE TABLE configuration (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _create_tables(db: sqlite3.Connection) -> None:
    for statement in _statements(_TABLES):
        db.execute(statement)


def _id_token_types(db: sqlite3.Connection) -> None:
    """Up to schema 3 an open transaction kept its id tag alone; from 4 on the token's type
    goes with it. The rows already there were cards (``UNTYPED_ID_TAG_TYPE``). The outbox
    needs nothing: ``effect_codec`` reads its entries of either form."""
    db.execute("ALTER TABLE open_transactions RENAME COLUMN id_tag TO id_token")
    db.execute("ALTER TABLE open_transactions ADD COLUMN id_token_type TEXT NOT NULL "
               f"DEFAULT '{UNTYPED_ID_TAG_TYPE.value}'")


def _session_history(db: sqlite3.Connection) -> None:
    """From schema 5 on, every session is kept (``persistence.history``): an open transaction
    also keeps its peak power and the price it started at, and moves to ``sessions`` when it
    ends. The cards of a station without CSMS (``pievse cards``) are kept too. The sessions
    that ended before are not known any more: the history starts here."""
    db.execute("ALTER TABLE open_transactions ADD COLUMN peak_power_w REAL")
    db.execute("ALTER TABLE open_transactions ADD COLUMN price_per_kwh REAL")
    db.execute("ALTER TABLE open_transactions ADD COLUMN currency TEXT")
    db.execute("""
        CREATE TABLE sessions (
            transaction_ref INTEGER PRIMARY KEY,
            connector_id INTEGER NOT NULL,
            id_token TEXT NOT NULL,
            started_at REAL NOT NULL,
            ended_at REAL NOT NULL,
            meter_start_wh REAL NOT NULL,
            meter_stop_wh REAL NOT NULL,
            peak_power_w REAL,
            stop_reason TEXT NOT NULL,
            price_per_kwh REAL,
            currency TEXT
        )""")
    db.execute("CREATE INDEX sessions_by_start ON sessions (started_at)")
    db.execute("CREATE TABLE cards (id_token TEXT PRIMARY KEY COLLATE NOCASE, name TEXT NOT NULL, "
               "added_at REAL NOT NULL)")


def _transaction_event_counts(db: sqlite3.Connection) -> None:
    """From schema 6 on, a transaction's messages delivered so far are counted (2.0.1 numbers
    its TransactionEvents by seqNo, without gaps, across restarts), each queued message says
    whether it was made while the CSMS was unreachable (2.0.1's ``offline``), and a
    transaction's charging state may be queued too (``state``)."""
    db.execute("ALTER TABLE transaction_ids ADD COLUMN events_sent INTEGER NOT NULL DEFAULT 0")
    # A new kind of entry (a transaction's charging state, 2.0.1) widens the CHECK: SQLite
    # changes a constraint only by copying the table.
    db.execute("""
        CREATE TABLE outbox_6 (
            seq INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('start', 'stop', 'meter', 'state')),
            transaction_ref INTEGER NOT NULL,
            effect TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            offline INTEGER NOT NULL DEFAULT 0
        )""")
    db.execute("INSERT INTO outbox_6 (seq, kind, transaction_ref, effect, attempts) "
               "SELECT seq, kind, transaction_ref, effect, attempts FROM outbox")
    db.execute("DROP TABLE outbox")
    db.execute("ALTER TABLE outbox_6 RENAME TO outbox")


#: Each entry upgrades the schema from version ``index`` to ``index + 1`` inside one SQLite
#: transaction; append, never edit.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _create_tables,  # 1
    _profiles_in_core_form,  # 2: the charging profiles in the core's form
    access_in_core_form,  # 3: the list, the cache and the reservations in the core's form
    _id_token_types,  # 4: an open transaction's id token keeps its type
    _session_history,  # 5: the session history and the standalone card list
    _transaction_event_counts,  # 6: a transaction's messages delivered so far
)
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(Exception):
    """The store cannot be opened; the message names the file and what to do."""


class Store:
    """The SQLite file at ``path`` (``":memory:"`` for a store that dies with the process)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._depth = 0  # nesting of batch()
        #: Set when the file could not be read and was moved aside: where it went.
        self.moved_aside: str | None = None

    # --- opening --------------------------------------------------------------------------------

    def open(self) -> Store:
        if self.path != ":memory:":
            folder = os.path.dirname(os.path.abspath(self.path))
            if not os.path.isdir(folder):
                raise StoreError(f"[storage] path = {self.path!r}: the directory {folder} does "
                                 "not exist; create it (the systemd unit's StateDirectory does) "
                                 "or choose another path")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise StoreError(f"[storage] path = {self.path!r}: the directory {folder} is "
                                 "not writable by this user")
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as error:
            if self.path == ":memory:" or _cannot_open(error):
                raise StoreError(f"[storage] path = {self.path!r}: cannot open it: {error}") \
                    from None
            self._move_aside(error)
            self._db = self._connect()
        return self

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are begun and committed here, explicitly.
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            if self.path != ":memory:":
                with contextlib.suppress(OSError):
                    os.chmod(self.path, 0o600)  # id tags and keys are nobody else's business
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {check}")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            self._migrate(db)
        except BaseException:
            db.close()
            raise
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer pievse (schema {version}, "
                             f"this one knows {SCHEMA_VERSION}); upgrade pievse or move the "
                             "file away")
        for number in range(version, SCHEMA_VERSION):
            db.execute("BEGIN IMMEDIATE")
            MIGRATIONS[number](db)
            db.execute(f"PRAGMA user_version = {number + 1}")
            db.execute("COMMIT")
            log.info("store %s: schema version %d", self.path, number + 1)

    def _move_aside(self, error: Exception) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        aside = f"{self.path}.unreadable-{stamp}"
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.replace(self.path + suffix, aside + suffix)
        self.moved_aside = aside
        log.error("store %s cannot be read (%s): moved aside to %s, starting with an empty "
                  "store; transactions not yet delivered may be in the old file", self.path,
                  error, aside)

    def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()

    # --- writing ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Writes inside are committed together, once, when the outermost batch ends."""
        db = self._connection()
        if self._depth == 0:
            db.execute("BEGIN IMMEDIATE")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                db.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            db.execute("COMMIT")

    def _write(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self.batch():
            return self._connection().execute(sql, params)

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(f"store {self.path} is not open")
        return self._db

    # --- the outbox -------------------------------------------------------------------------------

    def outbox_entries(self) -> list[OutboxEntry]:
        rows = self._connection().execute(
            "SELECT seq, kind, transaction_ref, effect, attempts, offline FROM outbox "
            "ORDER BY seq")
        return [OutboxEntry(seq, kind, ref, decode_effect(json.loads(effect)), attempts,
                            offline=bool(offline))
                for seq, kind, ref, effect, attempts, offline in rows]

    def outbox_added(self, entry: OutboxEntry) -> None:
        self._write("INSERT INTO outbox (seq, kind, transaction_ref, effect, attempts, offline) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (entry.seq, entry.kind, entry.transaction_ref,
                     json.dumps(encode_effect(entry.data)), entry.attempts, int(entry.offline)))

    def outbox_removed(self, entry: OutboxEntry) -> None:
        self._write("DELETE FROM outbox WHERE seq = ?", (entry.seq,))

    def outbox_attempted(self, entry: OutboxEntry) -> None:
        self._write("UPDATE outbox SET attempts = ? WHERE seq = ?", (entry.attempts, entry.seq))

    def transaction_ids(self) -> dict[int, int | str]:
        return dict(self._connection().execute(
            "SELECT transaction_ref, transaction_id FROM transaction_ids"))

    def transaction_id_assigned(self, transaction_ref: int, transaction_id: int | str) -> None:
        with self.batch():
            self._write("INSERT OR REPLACE INTO transaction_ids (transaction_ref, "
                        "transaction_id) VALUES (?, ?)", (transaction_ref, transaction_id))
            self._write("UPDATE open_transactions SET transaction_id = ? "
                        "WHERE transaction_ref = ?", (transaction_id, transaction_ref))

    def transaction_events_sent(self) -> dict[int, int]:
        return dict(self._connection().execute(
            "SELECT transaction_ref, events_sent FROM transaction_ids"))

    def transaction_event_sent(self, transaction_ref: int, count: int) -> None:
        self._write("UPDATE transaction_ids SET events_sent = ? WHERE transaction_ref = ?",
                    (count, transaction_ref))

    def transaction_delivered(self, transaction_ref: int) -> None:
        """Its StopTransaction was answered: nothing of it is left to send."""
        self._write("DELETE FROM transaction_ids WHERE transaction_ref = ?", (transaction_ref,))

    # --- open transactions ------------------------------------------------------------------------

    def transaction_started(self, transaction_ref: int, connector_id: int,
                            id_token: IdToken | None, meter_start_wh: float, started_at: float,
                            tariff: Tariff | None = None) -> None:
        """``id_token`` None: begun before anyone was authorised (kept as an empty id token
        until ``transaction_authorized``)."""
        value, kind = ((id_token.value, id_token.type.value) if id_token is not None
                       else ("", UNTYPED_ID_TAG_TYPE.value))
        with self.batch():
            self._write("INSERT OR REPLACE INTO open_transactions (transaction_ref, connector_id, "
                        "id_token, id_token_type, meter_start_wh, started_at, transaction_id, "
                        "last_energy_wh, last_energy_at, price_per_kwh, currency) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (transaction_ref, connector_id, value, kind, meter_start_wh,
                         started_at, None, meter_start_wh, started_at,
                         tariff.price_per_kwh if tariff else None,
                         tariff.currency if tariff else None))
            self.set_state("next_transaction_ref", transaction_ref + 1)

    def transaction_authorized(self, transaction_ref: int, id_token: IdToken) -> None:
        self._write("UPDATE open_transactions SET id_token = ?, id_token_type = ? "
                    "WHERE transaction_ref = ?", (id_token.value, id_token.type.value,
                                                  transaction_ref))

    def transaction_energy(self, transaction_ref: int, energy_wh: float, at: float,
                           peak_power_w: float | None = None) -> None:
        with self.batch():
            self._write("UPDATE open_transactions SET last_energy_wh = ?, last_energy_at = ? "
                        "WHERE transaction_ref = ? AND last_energy_wh <= ?",
                        (energy_wh, at, transaction_ref, energy_wh))
            if peak_power_w is not None:
                self._write("UPDATE open_transactions SET peak_power_w = "
                            "MAX(COALESCE(peak_power_w, 0), ?) WHERE transaction_ref = ?",
                            (peak_power_w, transaction_ref))

    def transaction_ended(self, transaction_ref: int, *, ended_at: float | None = None,
                          meter_stop_wh: float | None = None,
                          stop_reason: str | None = None,
                          peak_power_w: float | None = None) -> None:
        """The transaction is over: its row moves to the session history with its end (when the
        end is given), in one commit."""
        with self.batch():
            if ended_at is not None and meter_stop_wh is not None and stop_reason is not None:
                self._write(
                    "INSERT OR REPLACE INTO sessions (transaction_ref, connector_id, id_token, "
                    "started_at, ended_at, meter_start_wh, meter_stop_wh, peak_power_w, "
                    "stop_reason, price_per_kwh, currency) SELECT transaction_ref, "
                    "connector_id, id_token, started_at, ?, meter_start_wh, "
                    "MAX(?, meter_start_wh), NULLIF(MAX(COALESCE(peak_power_w, 0), ?), 0), ?, "
                    "price_per_kwh, currency FROM open_transactions WHERE transaction_ref = ?",
                    (ended_at, meter_stop_wh, peak_power_w or 0.0, stop_reason,
                     transaction_ref))
            self._write("DELETE FROM open_transactions WHERE transaction_ref = ?",
                        (transaction_ref,))

    def open_transactions(self) -> list[InterruptedTransaction]:
        rows = self._connection().execute(
            "SELECT transaction_ref, connector_id, id_token, id_token_type, meter_start_wh, "
            "started_at, transaction_id, last_energy_wh, last_energy_at FROM open_transactions "
            "ORDER BY transaction_ref")
        return [InterruptedTransaction(ref, connector_id,
                                       IdToken(value, id_token_type(kind)) if value else None,
                                       *rest)
                for ref, connector_id, value, kind, *rest in rows]

    # --- the session history and the standalone cards ------------------------------------------

    def sessions(self, since: float | None = None, limit: int | None = None) -> list[SessionRecord]:
        """The sessions that started at or after ``since`` (all if None), newest first, at most
        ``limit`` of them; those still going on come with the energy written so far."""
        query = (
            "SELECT * FROM (SELECT transaction_ref, connector_id, id_token, started_at, "
            "ended_at, meter_start_wh, meter_stop_wh, peak_power_w, stop_reason, price_per_kwh, "
            "currency FROM sessions UNION ALL SELECT transaction_ref, connector_id, id_token, "
            "started_at, NULL, meter_start_wh, last_energy_wh, peak_power_w, NULL, "
            "price_per_kwh, currency FROM open_transactions) WHERE started_at >= ? "
            "ORDER BY started_at DESC, transaction_ref DESC LIMIT ?")
        rows = self._connection().execute(
            query, (-math.inf if since is None else since, -1 if limit is None else limit))
        return [SessionRecord(*row) for row in rows]

    def sessions_of(self, id_token: str) -> list[SessionRecord]:
        """The sessions of ``id_token`` (compared as the stores compare ids), newest first,
        those still going on included."""
        key = token_key(id_token)
        return [s for s in self.sessions() if token_key(s.id_token) == key]

    def forget_id_token(self, id_token: str) -> int:
        """A customer's data cleared: the ended sessions of ``id_token`` keep all but the id,
        which becomes ``CLEARED_ID_TOKEN``; returns how many. A session still going on keeps it
        (its end, and its recovery after a power cut, need it), and so does a transaction
        message still waiting in the outbox: what the CSMS has not heard yet is never changed,
        and it leaves the store once delivered."""
        key = token_key(id_token)
        refs = [ref for ref, value in self._connection().execute(
            "SELECT transaction_ref, id_token FROM sessions") if token_key(value) == key]
        with self.batch():
            self._connection().executemany(
                "UPDATE sessions SET id_token = ? WHERE transaction_ref = ?",
                [(CLEARED_ID_TOKEN, ref) for ref in refs])
        return len(refs)

    def cards(self) -> list[tuple[str, str]]:
        """The cards ``pievse cards add`` put in: (id token, name), in the order added."""
        return list(self._connection().execute(
            "SELECT id_token, name FROM cards ORDER BY added_at, id_token"))

    def card_added(self, id_token: str, name: str, at: float) -> None:
        self._write("INSERT INTO cards (id_token, name, added_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (id_token) DO UPDATE SET name = excluded.name",
                    (id_token, name, at))

    def card_removed(self, id_token: str) -> bool:
        """False if there was no such card."""
        return self._write("DELETE FROM cards WHERE id_token = ?", (id_token,)).rowcount > 0

    # --- configuration and state ------------------------------------------------------------------

    def configuration(self) -> dict[str, Any]:
        rows = self._connection().execute("SELECT name, value FROM configuration")
        return {name: json.loads(value) for name, value in rows}

    def configuration_changed(self, name: str, value: Any) -> None:
        self._write("INSERT OR REPLACE INTO configuration VALUES (?, ?)",
                    (name, json.dumps(value)))

    def state(self, name: str, default: Any = None) -> Any:
        row = self._connection().execute("SELECT value FROM state WHERE name = ?",
                                         (name,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_state(self, name: str, value: Any) -> None:
        if value is None:
            self._write("DELETE FROM state WHERE name = ?", (name,))
        else:
            self._write("INSERT OR REPLACE INTO state VALUES (?, ?)", (name, json.dumps(value)))


class StoredOutboxJournal:
    """Writes the outbox through to the store (the ``OutboxJournal`` the outbox takes)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def load(self) -> tuple[list[OutboxEntry], dict[int, int | str]]:
        return self._store.outbox_entries(), self._store.transaction_ids()

    def batch(self) -> contextlib.AbstractContextManager[None]:
        return self._store.batch()

    def added(self, entry: OutboxEntry) -> None:
        self._store.outbox_added(entry)

    def removed(self, entry: OutboxEntry) -> None:
        self._store.outbox_removed(entry)

    def attempted(self, entry: OutboxEntry) -> None:
        self._store.outbox_attempted(entry)

    def transaction_id(self, transaction_ref: int, transaction_id: int | str) -> None:
        self._store.transaction_id_assigned(transaction_ref, transaction_id)

    def transaction_done(self, transaction_ref: int) -> None:
        self._store.transaction_delivered(transaction_ref)

    def events_sent(self) -> dict[int, int]:
        return self._store.transaction_events_sent()

    def event_sent(self, transaction_ref: int, count: int) -> None:
        self._store.transaction_event_sent(transaction_ref, count)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _cannot_open(error: sqlite3.DatabaseError) -> bool:
    """A file we may not open (permissions, a directory in its place) is not a corrupt one:
    moving it aside would not help and could lose data."""
    return isinstance(error, sqlite3.OperationalError) and "unable to open" in str(error)
