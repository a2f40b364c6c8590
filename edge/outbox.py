"""The gateway's durable outbox: every reading is on disk before anything else happens to it.

SQLite in WAL mode with ``synchronous=FULL``: when :meth:`Outbox.put` returns, the entry
survives a crash or a power cut. A reading leaves only through :meth:`Outbox.confirm`, when the
cloud confirms it holds it (:mod:`protocol.confirmations`); after the broker's PUBACK the uplink
only marks it sent (:meth:`Outbox.mark_sent`), and it is sent again if no confirmation follows.
Telemetry leaves on the PUBACK (:meth:`Outbox.ack`). The policy (drain order, bound, what is
dropped, when to re-send) lives in :mod:`edge.outbox_policy`; this module carries it out.

Beside the entries, the same file holds, each updated in the transaction of the puts it
belongs to:

* ``natural_keys``: keys the caller derives from the meter's own identity of a record (e.g.
  ``(device_id, user, meter timestamp)``), so a meter that resends its whole memory is not
  enqueued twice. Keys stay after delivery; :meth:`Outbox.forget_keys_before` prunes them.
* ``sequences``: the last ``seq`` given to each device (gateway-assigned, only grows).
* ``cursors``: per device, the last meter sequence number already in the outbox, for the
  glucose Record Access Control Point ("report records greater than"). Committed with the
  records themselves, so a crash can neither skip records nor lose the cursor.
* ``counters``: depth per class (kept by triggers, so other processes see it) and the number
  of telemetry entries dropped at the bound.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.errors import EdgeError
from edge.outbox_policy import ENTRY_KINDS, PRIORITY, EntryKind, admit, confirmation_wait
from edge.outbox_policy import next_seq as following_seq
from protocol.confirmations import reading_key_of

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
DEFAULT_MAX_ROWS = 100_000
OVER_BOUND_LOG_EVERY = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: the uplink maps packet ids to it
    kind TEXT NOT NULL CHECK (kind IN ('reading', 'telemetry')),
    priority INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    enqueued_at REAL NOT NULL,
    device_id TEXT,  -- a reading's (device_id, seq), matched by the cloud's confirmations
    seq INTEGER,
    due_at REAL NOT NULL DEFAULT 0,  -- not (re-)sent before this epoch time
    attempts INTEGER NOT NULL DEFAULT 0  -- sends the broker accepted, awaiting confirmation
);
CREATE INDEX IF NOT EXISTS entries_drain ON entries (priority, id);
CREATE INDEX IF NOT EXISTS entries_kind ON entries (kind, id);
CREATE TABLE IF NOT EXISTS natural_keys (
    key TEXT PRIMARY KEY,
    enqueued_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sequences (
    device_id TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cursors (
    device_id TEXT PRIMARY KEY,
    meter_seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO counters (name, value) VALUES
    ('depth.reading', 0), ('depth.telemetry', 0), ('dropped_telemetry', 0);
CREATE TRIGGER IF NOT EXISTS entries_count_insert AFTER INSERT ON entries BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'depth.' || NEW.kind;
END;
CREATE TRIGGER IF NOT EXISTS entries_count_delete AFTER DELETE ON entries BEGIN
    UPDATE counters SET value = value - 1 WHERE name = 'depth.' || OLD.kind;
END;
"""


class OutboxError(EdgeError):
    """The outbox cannot do what was asked (``reason`` says why); the entry was not stored."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)

    def __reduce__(self) -> tuple[type[OutboxError], tuple[str]]:
        return (type(self), (self.reason,))


#: Columns added by schema version 2 (delivery confirmations), for files of version 1.
_V2_COLUMNS = {
    "device_id": "TEXT",
    "seq": "INTEGER",
    "due_at": "REAL NOT NULL DEFAULT 0",
    "attempts": "INTEGER NOT NULL DEFAULT 0",
}


@dataclass(frozen=True)
class Entry:
    """One message waiting to be sent, or to be confirmed after its PUBACK."""

    id: int
    kind: EntryKind
    topic: str
    payload: bytes
    enqueued_at: float
    attempts: int = 0


#: A record for :meth:`Outbox.put_readings`: its natural key (or None) and a function that
#: builds the payload once the outbox has assigned the record's ``seq``.
RecordBuilder = tuple[tuple[Hashable, ...] | None, Callable[[int], bytes]]


def encode_key(key: tuple[Any, ...]) -> str:
    """The stored form of a natural key: compact JSON of its parts (str, int, float, bool)."""
    if not isinstance(key, tuple) or not key:
        raise OutboxError(f"a natural key must be a non-empty tuple, got {key!r}")
    for part in key:
        if part is not None and not isinstance(part, str | int | float):
            raise OutboxError(f"natural key part {part!r} is not a str, int or float")
    return json.dumps(list(key), separators=(",", ":"), ensure_ascii=False)


class Outbox:
    """A durable, bounded, thread-safe queue of MQTT messages in one SQLite file."""

    def __init__(self, path: str | Path, *, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        if max_rows < 1:
            raise OutboxError(f"max_rows must be at least 1, got {max_rows}")
        self.path = Path(path)
        self.max_rows = max_rows
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._listeners: list[Callable[[], None]] = []
        try:
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit in WAL mode is on disk when it returns, not only after a checkpoint.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            with self._transaction():
                for statement in _split_script(_SCHEMA):
                    self._db.execute(statement)
                self._upgrade_entries()
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open outbox {self.path}: {exc}") from exc
        depth = self.depth()
        log.info(
            "outbox %s open: %d readings, %d telemetry waiting",
            self.path,
            depth["reading"],
            depth["telemetry"],
        )

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the database connection (entries stay on disk)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every put that enqueued something (e.g. to wake a drain)."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        """Stop calling a listener added with :meth:`add_listener`."""
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    # -- writing -------------------------------------------------------------------------

    def next_seq(self, device_id: str) -> int:
        """Allocate and persist the next ``seq`` for device_id (gaps are harmless, reuse is not)."""
        with self._transaction():
            return self._allocate_seq(device_id)

    def put(
        self,
        kind: EntryKind,
        topic: str,
        payload: bytes,
        key: tuple[Any, ...] | None = None,
        *,
        cursor: tuple[str, int] | None = None,
    ) -> int | None:
        """Store one message durably; return its entry id, or None if not enqueued.

        None means ``key`` was seen before (already enqueued or delivered) or, for telemetry
        only, that the outbox is full of readings and the telemetry was dropped and counted.
        ``cursor=(device_id, meter_seq)`` is committed in the same transaction. A reading's
        ``(device_id, seq)`` is read from its payload, for the cloud's confirmations.
        """
        reading_key = reading_key_of(payload) if kind == "reading" else None
        with self._transaction() as db:
            entry_id = self._insert(db, kind, topic, payload, key, reading_key)
            if cursor is not None:
                self._store_cursor(db, *cursor)
        if entry_id is not None:
            self._notify()
        return entry_id

    def put_readings(
        self,
        device_id: str,
        topic: str,
        records: Iterable[RecordBuilder],
        *,
        cursor: int | None = None,
    ) -> list[int]:
        """Enqueue a device's readings in one transaction, assigning each its ``seq``.

        Each record is ``(natural_key, build)``; records whose key is known are skipped
        without using a ``seq``; ``build(seq)`` returns the payload. ``cursor`` (the last meter
        sequence number now in the outbox) is committed atomically with the records: if
        anything fails, nothing is stored and the cursor is unchanged. Returns new entry ids.
        """
        ids: list[int] = []
        with self._transaction() as db:
            for key, build in records:
                if key is not None and self._key_known(db, encode_key(key)):
                    continue
                seq = self._allocate_seq(device_id)
                entry_id = self._insert(db, "reading", topic, build(seq), key, (device_id, seq))
                if entry_id is not None:
                    ids.append(entry_id)
            if cursor is not None:
                self._store_cursor(db, device_id, cursor)
        if ids:
            self._notify()
        return ids

    def set_cursor(self, device_id: str, meter_seq: int) -> None:
        """Record the last meter sequence number of device_id now safely in the outbox."""
        with self._transaction() as db:
            self._store_cursor(db, device_id, meter_seq)

    def ack(self, ids: Iterable[int]) -> int:
        """Remove delivered entries (one transaction); return how many were still there."""
        removed = 0
        with self._transaction() as db:
            for chunk, marks in _chunks(list(ids)):
                removed += db.execute(f"DELETE FROM entries WHERE id IN ({marks})", chunk).rowcount
        return removed

    def mark_sent(self, ids: Iterable[int], *, base_wait: float, now: float | None = None) -> int:
        """After the broker's PUBACK: readings wait for the cloud's confirmation, telemetry goes.

        A reading becomes due again :func:`~edge.outbox_policy.confirmation_wait` after this
        send (doubling with each unconfirmed send). Returns the readings now awaiting
        confirmation.
        """
        now = time.time() if now is None else now
        waiting = 0
        with self._transaction() as db:
            for chunk, marks in _chunks(list(ids)):
                db.execute(
                    f"DELETE FROM entries WHERE kind = 'telemetry' AND id IN ({marks})", chunk
                )
                rows = db.execute(
                    f"SELECT id, attempts FROM entries WHERE id IN ({marks})", chunk
                ).fetchall()
                db.executemany(
                    "UPDATE entries SET attempts = ?, due_at = ? WHERE id = ?",
                    [
                        (attempts + 1, now + confirmation_wait(attempts + 1, base_wait), id_)
                        for id_, attempts in rows
                    ],
                )
                waiting += len(rows)
        return waiting

    def confirm(self, device_id: str, seqs: Iterable[int]) -> int:
        """Remove readings the cloud confirmed (by their envelope key); return how many."""
        removed = 0
        with self._transaction() as db:
            for chunk, marks in _chunks(list(seqs)):
                removed += db.execute(
                    "DELETE FROM entries WHERE kind = 'reading' AND device_id = ? "
                    f"AND seq IN ({marks})",
                    [device_id, *chunk],
                ).rowcount
        return removed

    def forget_keys_before(self, epoch_seconds: float) -> int:
        """Prune natural keys enqueued before a time (only safe once meters forgot the records)."""
        with self._transaction() as db:
            return db.execute(
                "DELETE FROM natural_keys WHERE enqueued_at < ?", (epoch_seconds,)
            ).rowcount

    # -- reading -------------------------------------------------------------------------

    def peek(
        self, limit: int, *, exclude: Collection[int] = (), due_by: float | None = None
    ) -> list[Entry]:
        """Up to ``limit`` entries in drain order (readings first, FIFO), skipping ``exclude``
        and, with ``due_by``, entries awaiting confirmation that are not due again by then."""
        if limit <= 0:
            return []
        excluded = list(exclude)
        conditions = [f"id NOT IN ({','.join('?' * len(excluded))})"] if excluded else []
        parameters: list[object] = list(excluded)
        if due_by is not None:
            conditions.append("due_at <= ?")
            parameters.append(due_by)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, kind, topic, payload, enqueued_at, attempts FROM entries "
                f"{where} ORDER BY priority, id LIMIT ?",
                [*parameters, limit],
            ).fetchall()
        return [Entry(row[0], row[1], row[2], bytes(row[3]), row[4], row[5]) for row in rows]

    def awaiting_confirmation(self) -> int:
        """Readings the broker accepted that the cloud has not confirmed yet."""
        with self._lock:
            row = self._db.execute("SELECT count(*) FROM entries WHERE attempts > 0").fetchone()
        return int(row[0])

    def depth(self) -> dict[str, int]:
        """Entries waiting per class: ``{"reading": n, "telemetry": m}``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name, value FROM counters WHERE name LIKE 'depth.%'"
            ).fetchall()
        depth = dict.fromkeys(ENTRY_KINDS, 0)
        depth.update({name.removeprefix("depth."): value for name, value in rows})
        return depth

    @property
    def dropped_telemetry(self) -> int:
        """Telemetry entries dropped at the bound since the outbox file was created."""
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM counters WHERE name = 'dropped_telemetry'"
            ).fetchone()
        return int(row[0])

    def get_cursor(self, device_id: str) -> int | None:
        """The last meter sequence number of device_id in the outbox, or None if none yet."""
        with self._lock:
            row = self._db.execute(
                "SELECT meter_seq FROM cursors WHERE device_id = ?", (device_id,)
            ).fetchone()
        return None if row is None else int(row[0])

    def has_key(self, key: tuple[Any, ...]) -> bool:
        """True when a record with this natural key was enqueued before."""
        with self._lock:
            return self._key_known(self._db, encode_key(key))

    # -- internals -----------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            # IMMEDIATE takes the write lock up front: no deadlock between two processes
            # that both started reading (the bench and tests write from a second process).
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def _notify(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                log.exception("outbox listener %r failed", listener)

    @staticmethod
    def _key_known(db: sqlite3.Connection, encoded: str) -> bool:
        row = db.execute("SELECT 1 FROM natural_keys WHERE key = ?", (encoded,)).fetchone()
        return row is not None

    def _allocate_seq(self, device_id: str) -> int:
        row = self._db.execute(
            "SELECT last_seq FROM sequences WHERE device_id = ?", (device_id,)
        ).fetchone()
        seq = following_seq(None if row is None else int(row[0]), time.time_ns() // 1000)
        self._db.execute(
            "INSERT INTO sequences (device_id, last_seq) VALUES (?, ?) "
            "ON CONFLICT (device_id) DO UPDATE SET last_seq = excluded.last_seq",
            (device_id, seq),
        )
        return seq

    @staticmethod
    def _store_cursor(db: sqlite3.Connection, device_id: str, meter_seq: int) -> None:
        db.execute(
            "INSERT INTO cursors (device_id, meter_seq) VALUES (?, ?) "
            "ON CONFLICT (device_id) DO UPDATE SET meter_seq = excluded.meter_seq",
            (device_id, meter_seq),
        )

    def _insert(
        self,
        db: sqlite3.Connection,
        kind: EntryKind,
        topic: str,
        payload: bytes,
        key: tuple[Any, ...] | None,
        reading_key: tuple[str, int] | None = None,
    ) -> int | None:
        if kind not in PRIORITY:
            raise OutboxError(f"unknown entry kind {kind!r}; expected one of {ENTRY_KINDS}")
        if not isinstance(payload, bytes | bytearray | memoryview):
            raise OutboxError(f"payload must be bytes, got {type(payload).__name__}")
        now = time.time()
        encoded = None if key is None else encode_key(key)
        if encoded is not None and self._key_known(db, encoded):
            log.debug("outbox: %s already enqueued, skipped", encoded)
            return None
        counts = dict(
            db.execute("SELECT name, value FROM counters WHERE name LIKE 'depth.%'").fetchall()
        )
        readings, telemetry = counts["depth.reading"], counts["depth.telemetry"]
        decision = admit(kind, readings, telemetry, self.max_rows)
        if decision.drop_oldest_telemetry:
            dropped = db.execute(
                "DELETE FROM entries WHERE id IN (SELECT id FROM entries "
                "WHERE kind = 'telemetry' ORDER BY id LIMIT ?)",
                (decision.drop_oldest_telemetry,),
            ).rowcount
            self._count_dropped(db, dropped)
            log.warning(
                "outbox full (%d rows): dropped the %d oldest telemetry entries to make room",
                self.max_rows,
                dropped,
            )
        if not decision.accept:
            self._count_dropped(db, 1)
            log.warning(
                "outbox full of readings (%d rows, bound %d): dropped new telemetry on %s",
                readings,
                self.max_rows,
                topic,
            )
            return None
        if decision.over_bound:
            over = readings + telemetry - decision.drop_oldest_telemetry + 1 - self.max_rows
            if over == 1 or over % OVER_BOUND_LOG_EVERY == 0:
                log.warning(
                    "outbox holds %d readings, %d over its bound of %d: readings are never "
                    "dropped, the disk is the limit (is the uplink down?)",
                    readings + 1,
                    over,
                    self.max_rows,
                )
        device_id, seq = reading_key or (None, None)
        cursor = db.execute(
            "INSERT INTO entries (kind, priority, topic, payload, enqueued_at, device_id, seq) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (kind, PRIORITY[kind], topic, bytes(payload), now, device_id, seq),
        )
        if encoded is not None:
            db.execute("INSERT INTO natural_keys (key, enqueued_at) VALUES (?, ?)", (encoded, now))
        return int(cursor.lastrowid or 0)

    def _upgrade_entries(self) -> None:
        """Add the version-2 columns to an outbox file of version 1 (entries are kept)."""
        present = {row[1] for row in self._db.execute("PRAGMA table_info(entries)")}
        missing = [column for column in _V2_COLUMNS if column not in present]
        for column in missing:
            self._db.execute(f"ALTER TABLE entries ADD COLUMN {column} {_V2_COLUMNS[column]}")
        self._db.execute(
            "CREATE INDEX IF NOT EXISTS entries_reading_key ON entries (device_id, seq)"
        )
        if "device_id" in missing:
            self._fill_reading_keys()

    def _fill_reading_keys(self) -> None:
        rows = self._db.execute("SELECT id, payload FROM entries WHERE kind = 'reading'")
        keys = [(*key, id_) for id_, payload in rows if (key := reading_key_of(payload))]
        self._db.executemany("UPDATE entries SET device_id = ?, seq = ? WHERE id = ?", keys)

    @staticmethod
    def _count_dropped(db: sqlite3.Connection, count: int) -> None:
        if count:
            db.execute(
                "UPDATE counters SET value = value + ? WHERE name = 'dropped_telemetry'", (count,)
            )


def _chunks(values: list[Any], size: int = 500) -> Iterator[tuple[list[Any], str]]:
    """values in chunks small enough for SQLite's parameter limit, with their placeholders."""
    for start in range(0, len(values), size):
        chunk = values[start : start + size]
        yield chunk, ",".join("?" * len(chunk))


def _split_script(script: str) -> list[str]:
    """Split the schema into statements (sqlite3.executescript would COMMIT on its own)."""
    statements: list[str] = []
    current: list[str] = []
    for line in script.strip().splitlines():
        current.append(line)
        text = "\n".join(current).strip()
        if text.endswith(";") and sqlite3.complete_statement(text):
            statements.append(text)
            current = []
    return statements
