"""SQL side of ingest: what the pipeline needs to know, and the ledger commit of a batch."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Dialect, text, tuple_, update
from sqlalchemy.orm import Session

from cloud.deadletters.service import add_dead_letter
from cloud.devices.service import touch_last_seen_many
from cloud.ingest.last_seen import LastSeen
from cloud.ingest.pipeline import AnyReading, Key, Rejected, Undurable
from cloud.readings.models import ReadingKey, TsdbDurableMark

_KEY_CHUNK = 500  # bound the size of one "(gateway_id, device_id, seq) IN (...)" list
_LEDGER_TABLE = ReadingKey.__table__
_MARKS_TABLE = TsdbDurableMark.__table__


class TsdbBatch(NamedTuple):
    """A batch written to a store that persists separately: writer (process run) and number."""

    writer: int
    number: int


class StoredKeys(NamedTuple):
    """Keys the ledger holds: those whose points are known durable, and the others."""

    durable: set[Key]
    undurable: dict[Key, Undurable]


#: One query for a whole batch: the keys as three arrays, joined to the ledger by primary key.
_STORED_KEYS_POSTGRES = text(
    """
    SELECT k.gateway_id, k.device_id, k.seq, k.patient_id, k.kind, k.measured_at,
           COALESCE(k.tsdb_batch IS NULL OR k.tsdb_batch <= m.durable_batch, false)
    FROM unnest(CAST(:gateways AS varchar[]), CAST(:devices AS varchar[]),
                CAST(:seqs AS bigint[])) AS q(gateway_id, device_id, seq)
    JOIN reading_keys AS k
      ON k.gateway_id = q.gateway_id AND k.device_id = q.device_id AND k.seq = q.seq
    LEFT JOIN tsdb_durable_marks AS m ON m.id = k.tsdb_writer
    """
)


def stored_keys(session: Session, keys: Iterable[Key]) -> StoredKeys:
    """Which of keys the ledger already holds, and whether their points are known durable.

    One query per batch. PostgreSQL: the keys as three arrays through ``unnest``. SQLite: the
    keys as a ``VALUES`` list joined on the primary key, sent as driver-level SQL: SQLAlchemy
    expanding an ``IN`` list per device cost about 9 µs per key, more than ten times SQLite's
    own lookup.
    """
    keys = list(keys)
    found = StoredKeys(set(), {})
    if not keys:
        return found
    if session.get_bind().dialect.name == "postgresql":
        gateways, devices, seqs = (list(column) for column in zip(*keys, strict=True))
        rows: Iterable[Sequence[Any]] = session.execute(
            _STORED_KEYS_POSTGRES, {"gateways": gateways, "devices": devices, "seqs": seqs}
        )
    else:
        rows = _stored_rows_values(session, keys)
    for gateway_id, device_id, seq, patient_id, kind, measured_at, durable in rows:
        key = (gateway_id, device_id, seq)
        if durable:
            found.durable.add(key)
        else:
            found.undurable[key] = Undurable(patient_id, kind, _as_utc(measured_at))
    return found


def _stored_rows_values(session: Session, keys: Sequence[Key]) -> Iterable[Sequence[Any]]:
    """Ledger rows of keys in ``_STORED_KEYS_POSTGRES`` form, through a ``VALUES`` list.

    Lists are padded (with their last key) to a power of two, so that a few statements serve
    every batch size; a padded key only repeats a row, which the caller collapses.
    """
    connection = session.connection()
    dialect = connection.dialect
    measured_at = _LEDGER_TABLE.c.measured_at.type.dialect_impl(dialect).result_processor(
        dialect, None
    )
    per_statement = _power_of_two_at_most(max(1, dialect.insertmanyvalues_max_parameters // 3))
    for start in range(0, len(keys), per_statement):
        chunk = keys[start : start + per_statement]
        size = min(per_statement, _power_of_two_at_least(len(chunk)))
        padded = [*chunk, *[chunk[-1]] * (size - len(chunk))]
        parameters = tuple(value for key in padded for value in key)
        for row in connection.exec_driver_sql(_stored_keys_sql(dialect, size), parameters):
            gateway_id, device_id, seq, patient_id, kind, at, durable = row
            when = at if measured_at is None else measured_at(at)
            yield gateway_id, device_id, seq, patient_id, kind, when, bool(durable)


def _power_of_two_at_least(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()


def _power_of_two_at_most(n: int) -> int:
    return 1 << (n.bit_length() - 1)


@cache
def _stored_keys_sql(dialect: Dialect, keys: int) -> str:
    """Driver-level SQL finding the ledger rows of `keys` keys given as (gateway, device, seq)
    parameters, with whether a snapshot covers each (as ``_STORED_KEYS_POSTGRES``)."""
    quote = dialect.identifier_preparer.quote
    placeholder = "?" if dialect.paramstyle == "qmark" else "%s"
    row = f"({placeholder}, {placeholder}, {placeholder})"
    ledger, marks = quote(_LEDGER_TABLE.name), quote(_MARKS_TABLE.name)
    return (
        "SELECT k.gateway_id, k.device_id, k.seq, k.patient_id, k.kind, k.measured_at, "
        "COALESCE(k.tsdb_batch IS NULL OR k.tsdb_batch <= m.durable_batch, 0) "
        f"FROM (VALUES {', '.join([row] * keys)}) AS q "
        f"JOIN {ledger} AS k "
        "ON k.gateway_id = q.column1 AND k.device_id = q.column2 AND k.seq = q.column3 "
        f"LEFT JOIN {marks} AS m ON m.id = k.tsdb_writer"
    )


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def register_writer(session: Session, *, client_id: str, started_at: datetime) -> int:
    """A new writer row for this process run; its batches are numbered from 1."""
    mark = TsdbDurableMark(client_id=client_id, started_at=started_at, durable_batch=0)
    session.add(mark)
    session.flush()
    return mark.id


def mark_durable(session: Session, batch: TsdbBatch) -> None:
    """Record that a snapshot covers the writer's batches up to batch.number (never lowers)."""
    session.execute(
        update(TsdbDurableMark)
        .where(TsdbDurableMark.id == batch.writer, TsdbDurableMark.durable_batch < batch.number)
        .values(durable_batch=batch.number)
    )


def record_batch(
    session: Session,
    *,
    accepted: Sequence[tuple[AnyReading, int | None]],
    rejected: Sequence[Rejected],
    received_at: datetime,
    last_seen: LastSeen,
    tsdb_batch: TsdbBatch | None = None,
    rewritten: Sequence[Key] = (),
) -> None:
    """Add the ledger rows, dead letters and last-seen times of one batch to session.

    tsdb_batch is the batch that writes the points, when the store persists separately; the
    rows of rewritten keys (already in the ledger) are pointed at it too.
    """
    if rewritten and tsdb_batch is not None:
        _repoint(session, rewritten, tsdb_batch)
    if accepted:
        _insert_ledger_rows(
            session,
            [
                (
                    reading.gateway_id,
                    reading.device_id,
                    reading.seq,
                    patient_id,
                    reading.kind,
                    reading.measured_at,
                )
                for reading, patient_id in accepted
            ],
            shared=(received_at, *(tsdb_batch or (None, None))),
        )
    for item in rejected:
        add_dead_letter(
            session,
            topic=item.message.topic,
            payload=item.message.payload,
            reason=item.reason,
            gateway_id=item.gateway_id,
            received_at=received_at,
        )
    touch_last_seen_many(session, last_seen)


#: Per-row columns first, then those the batch shares (``_SHARED_COLUMNS``).
_LEDGER_COLUMNS = (
    "gateway_id",
    "device_id",
    "seq",
    "patient_id",
    "kind",
    "measured_at",
    "received_at",
    "tsdb_writer",
    "tsdb_batch",
)
_SHARED_COLUMNS = 3


def _repoint(session: Session, keys: Sequence[Key], batch: TsdbBatch) -> None:
    """Point the ledger rows of keys at batch, which writes their points again."""
    columns = tuple_(ReadingKey.gateway_id, ReadingKey.device_id, ReadingKey.seq)
    for start in range(0, len(keys), _KEY_CHUNK):
        session.execute(
            update(ReadingKey)
            .where(columns.in_(keys[start : start + _KEY_CHUNK]))
            .values(tsdb_writer=batch.writer, tsdb_batch=batch.number)
        )


def _insert_ledger_rows(
    session: Session, rows: Sequence[tuple[object, ...]], *, shared: tuple[object, ...]
) -> None:
    """Insert ledger rows (values in ``_LEDGER_COLUMNS`` order but the last
    ``_SHARED_COLUMNS``, whose values ``shared`` the batch shares), ignoring known keys.

    SQLite: as few multi-row ``INSERT … VALUES (…), (…)`` statements as the driver's parameter
    limit allows (one per batch on SQLite 3.32+), rather than an ``executemany``: the sqlite3
    driver steps once per row of an executemany and releases the GIL around each step; with
    paho's thread busy, taking it back a thousand times per batch made the ledger insert
    several times slower in the ingest benchmark. PostgreSQL: one statement of a fixed text
    with a column array per parameter, through ``unnest``; psycopg parses a statement's text
    for its placeholders on every execution once it is longer than 4 KiB, which a thousand
    rows' ``VALUES`` list is (an eighth of the worker's time under live load). On SQLite the
    values go through the columns' own bind processors, so they are stored as SQLAlchemy
    stores them (shared values once); PostgreSQL takes the aware datetimes as they are.
    """
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        _insert_ledger_rows_postgres(session, rows, shared=shared)
        return
    processors = _bind_processors(dialect)
    per_row, shared_processors = (
        processors[:-_SHARED_COLUMNS],
        processors[-_SHARED_COLUMNS:],
    )
    suffix = [
        value if process is None else process(value)
        for value, process in zip(shared, shared_processors, strict=True)
    ]
    per_statement = max(1, dialect.insertmanyvalues_max_parameters // len(_LEDGER_COLUMNS))
    connection = session.connection()
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        parameters: list[object] = []
        for row in chunk:
            parameters += [
                value if process is None else process(value)
                for value, process in zip(row, per_row, strict=True)
            ]
            parameters += suffix
        connection.exec_driver_sql(_ledger_insert_sql(dialect, len(chunk)), tuple(parameters))


_LEDGER_INSERT_POSTGRES = text(
    """
    INSERT INTO reading_keys (gateway_id, device_id, seq, patient_id, kind, measured_at,
                              received_at, tsdb_writer, tsdb_batch)
    SELECT q.gateway_id, q.device_id, q.seq, q.patient_id, q.kind, q.measured_at,
           CAST(:received_at AS timestamptz), CAST(:writer AS integer), CAST(:batch AS bigint)
    FROM unnest(CAST(:gateways AS varchar[]), CAST(:devices AS varchar[]),
                CAST(:seqs AS bigint[]), CAST(:patients AS integer[]), CAST(:kinds AS varchar[]),
                CAST(:measured AS timestamptz[]))
         AS q(gateway_id, device_id, seq, patient_id, kind, measured_at)
    ON CONFLICT DO NOTHING
    """
)


def _insert_ledger_rows_postgres(
    session: Session, rows: Sequence[tuple[object, ...]], *, shared: tuple[object, ...]
) -> None:
    gateways, devices, seqs, patients, kinds, measured = (
        list(column) for column in zip(*rows, strict=True)
    )
    received_at, writer, batch = shared
    if any(when.tzinfo is None for when in (received_at, *measured)):  # type: ignore[attr-defined]
        raise ValueError("naive datetime given to a UTC column")
    session.execute(
        _LEDGER_INSERT_POSTGRES,
        {
            "gateways": gateways,
            "devices": devices,
            "seqs": seqs,
            "patients": patients,
            "kinds": kinds,
            "measured": measured,
            "received_at": received_at,
            "writer": writer,
            "batch": batch,
        },
    )


@cache
def _bind_processors(dialect: Dialect) -> tuple[Callable[[Any], Any] | None, ...]:
    """What SQLAlchemy applies to each column's value for dialect (e.g. SQLite's text dates)."""
    return tuple(
        _LEDGER_TABLE.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        for name in _LEDGER_COLUMNS
    )


@cache
def _ledger_insert_sql(dialect: Dialect, rows: int) -> str:
    """Driver-level SQL inserting `rows` ledger rows (qmark for sqlite3, %s for psycopg)."""
    quote = dialect.identifier_preparer.quote
    placeholder = "?" if dialect.paramstyle == "qmark" else "%s"
    row = "(" + ", ".join([placeholder] * len(_LEDGER_COLUMNS)) + ")"
    return (
        f"INSERT INTO {quote(_LEDGER_TABLE.name)} ({', '.join(map(quote, _LEDGER_COLUMNS))}) "
        f"VALUES {', '.join([row] * rows)} ON CONFLICT DO NOTHING"
    )
