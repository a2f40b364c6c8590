"""Table of the embedded ``sql`` time-series adapter (one wide row per reading)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db import Base, UtcDateTime


class TsReading(Base):
    """A reading's values; the primary key makes rewrites idempotent."""

    __tablename__ = "ts_readings"
    __table_args__ = (Index("ix_ts_readings_patient_time", "patient_id", "measured_at"),)

    gateway_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    patient_id: Mapped[int | None] = mapped_column(default=None)
    kind: Mapped[str] = mapped_column(String(32))
    measured_at: Mapped[datetime] = mapped_column(UtcDateTime)
    systolic_mmhg: Mapped[float | None] = mapped_column(Float, default=None)
    diastolic_mmhg: Mapped[float | None] = mapped_column(Float, default=None)
    map_mmhg: Mapped[float | None] = mapped_column(Float, default=None)
    pulse_bpm: Mapped[float | None] = mapped_column(Float, default=None)
    glucose_mmol_l: Mapped[float | None] = mapped_column(Float, default=None)
