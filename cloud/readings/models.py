"""The delivery ledger: one row per reading ever stored, keyed for idempotent ingest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db import Base, UtcDateTime, utcnow


class ReadingKey(Base):
    """A reading that reached the time-series store; its key drops redeliveries.

    ``tsdb_writer`` and ``tsdb_batch`` name the batch that wrote its points to a store that
    persists separately (VictoriaMetrics snapshots); both are empty when the write was durable
    on return. The row's points are known durable once the writer's mark reaches the batch
    (docs/ingest.md). No foreign key: it would cost a lookup per inserted row.
    """

    __tablename__ = "reading_keys"
    __table_args__ = (Index("ix_reading_keys_patient_time", "patient_id", "measured_at"),)

    gateway_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    patient_id: Mapped[int | None] = mapped_column(default=None)
    kind: Mapped[str] = mapped_column(String(32))
    measured_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    tsdb_writer: Mapped[int | None] = mapped_column(default=None)
    tsdb_batch: Mapped[int | None] = mapped_column(BigInteger, default=None)


class TsdbDurableMark(Base):
    """One ingest process run writing to the time-series store, and how far it is durable.

    Batches of a run are numbered from 1; ``durable_batch`` is the last one a completed
    snapshot covers. A new run gets a new row, so a crashed run's uncovered batches stay
    uncovered.
    """

    __tablename__ = "tsdb_durable_marks"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    durable_batch: Mapped[int] = mapped_column(BigInteger, default=0)
