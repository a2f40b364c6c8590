"""The delivery ledger: one row per reading ever stored, keyed for idempotent ingest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db import Base, UtcDateTime, utcnow


class ReadingKey(Base):
    """A reading that reached the time-series store; its key drops redeliveries."""

    __tablename__ = "reading_keys"
    __table_args__ = (Index("ix_reading_keys_patient_time", "patient_id", "measured_at"),)

    gateway_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    patient_id: Mapped[int | None] = mapped_column(default=None)
    kind: Mapped[str] = mapped_column(String(32))
    measured_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
