"""SQL models of alerts, their readings, per-patient thresholds and monitoring schedules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloud.db import Base, UtcDateTime, utcnow


class Alert(Base):
    """One alert of one patient and rule, from its first breach to its resolution.

    ``active_rule_id`` equals ``rule_id`` while the alert is open or acknowledged and is NULL
    once resolved: the unique (patient_id, active_rule_id) constraint makes "one active alert
    per patient and rule" hold in the database on SQLite and PostgreSQL alike (NULLs never
    collide), even with several ingest workers.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("patient_id", "active_rule_id", name="uq_alerts_active_rule"),
        Index("ix_alerts_state_severity_opened", "state", "severity", "opened_at"),
        Index("ix_alerts_patient_opened", "patient_id", "opened_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    rule_id: Mapped[str] = mapped_column(String(64))
    active_rule_id: Mapped[str | None] = mapped_column(String(64), default=None)
    severity: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str | None] = mapped_column(String(32), default=None)
    state: Mapped[str] = mapped_column(String(16))
    message_en: Mapped[str] = mapped_column(Text)
    message_zh: Mapped[str] = mapped_column(Text)
    #: The primary value (systolic mmHg, glucose mmol/L) of the first and latest breach.
    first_value: Mapped[float | None] = mapped_column(Float, default=None)
    last_value: Mapped[float | None] = mapped_column(Float, default=None)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    first_reading_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    last_reading_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    first_gateway_id: Mapped[str | None] = mapped_column(String(64), default=None)
    first_device_id: Mapped[str | None] = mapped_column(String(64), default=None)
    first_seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
    last_gateway_id: Mapped[str | None] = mapped_column(String(64), default=None)
    last_device_id: Mapped[str | None] = mapped_column(String(64), default=None)
    last_seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
    readings_count: Mapped[int] = mapped_column(Integer, default=0)
    #: Time of the first in-range reading of the current clear streak (hysteresis).
    clear_since: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64), default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    acknowledge_note: Mapped[str | None] = mapped_column(Text, default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(64), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    resolve_note: Mapped[str | None] = mapped_column(Text, default=None)
    auto_resolved: Mapped[bool] = mapped_column(Boolean, default=False)


class AlertReading(Base):
    """A breaching reading attached to an alert, by its idempotency key."""

    __tablename__ = "alert_readings"
    __table_args__ = (
        UniqueConstraint("alert_id", "gateway_id", "device_id", "seq", name="uq_alert_readings"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    gateway_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    measured_at: Mapped[datetime] = mapped_column(UtcDateTime)
    value: Mapped[float | None] = mapped_column(Float, default=None)
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    #: Many-to-one only (no collection on Alert): attaching never loads an alert's readings,
    #: and a reading can be attached to an alert not yet flushed.
    alert: Mapped[Alert] = relationship()


class PatientThresholds(Base):
    """A clinician's overrides of a patient's alert thresholds (names of ``rules.Thresholds``)."""

    __tablename__ = "patient_thresholds"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    overrides: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class MonitoringSchedule(Base):
    """How often a patient should measure one kind; replaces the default schedule of the kind."""

    __tablename__ = "monitoring_schedules"
    __table_args__ = (UniqueConstraint("patient_id", "kind", name="uq_monitoring_schedules"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    kind: Mapped[str] = mapped_column(String(32))
    readings_per_day: Mapped[int] = mapped_column(Integer)
    grace_minutes: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class PatientLastReading(Base):
    """The newest reading of each kind per patient: for the glucose rate and stale-data rules."""

    __tablename__ = "patient_last_readings"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    measured_at: Mapped[datetime] = mapped_column(UtcDateTime)
    value: Mapped[float] = mapped_column(Float)
