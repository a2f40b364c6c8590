"""SQL side of ingest: what the pipeline needs to know, and the ledger commit of a batch."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Dialect, select
from sqlalchemy.orm import Session

from cloud.deadletters.service import add_dead_letter
from cloud.devices.service import touch_last_seen
from cloud.ingest.last_seen import LastSeen
from cloud.ingest.pipeline import AnyReading, Key, Rejected
from cloud.readings.models import ReadingKey

_SEQ_CHUNK = 500  # bound the size of one "seq IN (...)" list


def stored_keys(session: Session, keys: Iterable[Key]) -> set[Key]:
    """Which of keys the ledger already holds.

    One query per device with a plain ``seq IN (...)`` list: a batch holds a few devices with
    many readings each, and three bound values per key in a tuple ``IN`` cost several times
    as much per reading in SQLAlchemy and the driver (measured on SQLite).
    """
    seqs_by_device: dict[tuple[str, str], list[int]] = defaultdict(list)
    for gateway_id, device_id, seq in keys:
        seqs_by_device[(gateway_id, device_id)].append(seq)
    found: set[Key] = set()
    for (gateway_id, device_id), seqs in seqs_by_device.items():
        for start in range(0, len(seqs), _SEQ_CHUNK):
            rows = session.scalars(
                select(ReadingKey.seq).where(
                    ReadingKey.gateway_id == gateway_id,
                    ReadingKey.device_id == device_id,
                    ReadingKey.seq.in_(seqs[start : start + _SEQ_CHUNK]),
                )
            )
            found.update((gateway_id, device_id, seq) for seq in rows)
    return found


def record_batch(
    session: Session,
    *,
    accepted: Sequence[tuple[AnyReading, int | None]],
    rejected: Sequence[Rejected],
    received_at: datetime,
    last_seen: LastSeen,
) -> None:
    """Add the ledger rows, dead letters and last-seen times of one batch to session."""
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
            received_at=received_at,
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
    for gateway_id, devices in last_seen.items():
        touch_last_seen(session, gateway_id=gateway_id, device_seen=devices)


_LEDGER_TABLE = ReadingKey.__table__
_LEDGER_COLUMNS = (
    "gateway_id",
    "device_id",
    "seq",
    "patient_id",
    "kind",
    "measured_at",
    "received_at",
)


def _insert_ledger_rows(
    session: Session, rows: Sequence[tuple[object, ...]], *, received_at: datetime
) -> None:
    """Insert ledger rows (values in ``_LEDGER_COLUMNS`` order but the last, ``received_at``,
    which the batch shares), ignoring known keys.

    As few multi-row ``INSERT … VALUES (…), (…)`` statements as the driver's parameter limit
    allows (one per batch on SQLite 3.32+ and PostgreSQL), rather than an ``executemany``: the
    sqlite3 driver steps once per row of an executemany and releases the GIL around each
    step; with paho's thread busy, taking it back a thousand times per batch made the ledger
    insert several times slower in the ingest benchmark. Values go through the columns' own
    bind processors, so they are stored as SQLAlchemy stores them; ``received_at`` once.
    """
    dialect = session.get_bind().dialect
    *processors, process_received = _bind_processors(dialect)
    shared = received_at if process_received is None else process_received(received_at)
    per_statement = max(1, dialect.insertmanyvalues_max_parameters // len(_LEDGER_COLUMNS))
    connection = session.connection()
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        parameters: list[object] = []
        for row in chunk:
            parameters += [
                value if process is None else process(value)
                for value, process in zip(row, processors, strict=True)
            ]
            parameters.append(shared)
        connection.exec_driver_sql(_ledger_insert_sql(dialect, len(chunk)), tuple(parameters))


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
