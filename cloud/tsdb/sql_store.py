"""The embedded ``sql`` time-series adapter: readings in a SQL table (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, select, text
from sqlalchemy.exc import OperationalError

from cloud.db import dialect_insert
from cloud.errors import StoreUnavailableError
from cloud.tsdb.base import FIELDS, ReadingPoint, ReadingStore
from cloud.tsdb.sql_models import TsReading

_ALL_FIELDS = tuple(dict.fromkeys(name for names in FIELDS.values() for name in names))


class SqlReadingStore(ReadingStore):
    """Stores readings in ``ts_readings``; a rewritten key is ignored (idempotent)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = dialect_insert(engine.dialect.name)

    def write(self, points: Sequence[ReadingPoint]) -> None:
        if not points:
            return
        rows = [
            {
                "gateway_id": p.gateway_id,
                "device_id": p.device_id,
                "seq": p.seq,
                "patient_id": p.patient_id,
                "kind": p.kind,
                "measured_at": p.measured_at,
                **{name: p.values.get(name) for name in _ALL_FIELDS},
            }
            for p in points
        ]
        statement = self._insert(TsReading).on_conflict_do_nothing(
            index_elements=["gateway_id", "device_id", "seq"]
        )
        try:
            with self._engine.begin() as connection:
                connection.execute(statement, rows)
        except OperationalError as exc:
            raise StoreUnavailableError(f"sql reading store unavailable: {exc.orig}") from exc

    def query(
        self,
        *,
        patient_id: int,
        since: datetime,
        until: datetime,
        kind: str | None = None,
    ) -> list[ReadingPoint]:
        statement = (
            select(TsReading)
            .where(TsReading.patient_id == patient_id)
            .where(TsReading.measured_at >= since, TsReading.measured_at < until)
            .order_by(TsReading.measured_at, TsReading.device_id, TsReading.seq)
        )
        if kind is not None:
            statement = statement.where(TsReading.kind == kind)
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(statement).all()
        except OperationalError as exc:
            raise StoreUnavailableError(f"sql reading store unavailable: {exc.orig}") from exc
        return [
            ReadingPoint(
                gateway_id=row.gateway_id,
                device_id=row.device_id,
                seq=row.seq,
                kind=row.kind,
                measured_at=TsReading.measured_at.type.process_result_value(row.measured_at, None),
                patient_id=row.patient_id,
                values={
                    name: value
                    for name in FIELDS[row.kind]
                    if (value := getattr(row, name)) is not None
                },
            )
            for row in rows
        ]

    def ping(self) -> None:
        try:
            with self._engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except OperationalError as exc:
            raise StoreUnavailableError(f"sql reading store unavailable: {exc.orig}") from exc
