"""SQL models of departments, clinicians, appointments and the per-day queue counters."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db import Base, UtcDateTime, utcnow


class AppointmentStatus(StrEnum):
    """Where an appointment stands; check-in is one-way."""

    BOOKED = "booked"
    CHECKED_IN = "checked_in"
    CANCELLED = "cancelled"


class Department(Base):
    """A clinical department patients are sent to; ``queue_prefix`` starts its ticket labels."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    location_zh: Mapped[str] = mapped_column(String(200), default="")
    location_en: Mapped[str] = mapped_column(String(200), default="")
    queue_prefix: Mapped[str] = mapped_column(String(4))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Clinician(Base):
    """A doctor seeing patients in one department (public data: shown on kiosks unmasked)."""

    __tablename__ = "clinicians"

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    title_zh: Mapped[str] = mapped_column(String(50), default="")
    title_en: Mapped[str] = mapped_column(String(50), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Appointment(Base):
    """A patient's time slot in a department; ``visit_date`` is its day in the hospital's zone.

    The queue number is unique per department and visit day (the counter hands it out; the
    constraint is the safety net).
    """

    __tablename__ = "appointments"
    __table_args__ = (
        UniqueConstraint(
            "department_id", "visit_date", "queue_number", name="uq_appointments_queue_number"
        ),
        Index("ix_appointments_patient_day", "patient_id", "visit_date"),
        Index("ix_appointments_department_day", "department_id", "visit_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    clinician_id: Mapped[int | None] = mapped_column(ForeignKey("clinicians.id"), default=None)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    visit_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=AppointmentStatus.BOOKED.value)
    queue_number: Mapped[int | None] = mapped_column(default=None)
    checked_in_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    checked_in_by: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class QueueCounter(Base):
    """The last queue number issued by a department on a day (incremented by an upsert)."""

    __tablename__ = "queue_counters"

    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last_number: Mapped[int]
