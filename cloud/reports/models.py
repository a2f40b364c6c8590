"""SQL models of reports (lab panels with items, imaging text reports) and print jobs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloud.db import Base, UtcDateTime, utcnow


class ReportKind(StrEnum):
    """A lab panel (items with values) or an imaging report (text)."""

    LAB = "lab"
    IMAGING = "imaging"


class PrintStatus(StrEnum):
    """A print job is requested, then printed or failed; never printed after a failure."""

    REQUESTED = "requested"
    PRINTED = "printed"
    FAILED = "failed"


class Report(Base):
    """A finished report of a patient; lab reports have items, imaging reports text."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"), default=None)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), default=None)
    clinician_id: Mapped[int | None] = mapped_column(ForeignKey("clinicians.id"), default=None)
    kind: Mapped[str] = mapped_column(String(16))
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime)
    modality: Mapped[str | None] = mapped_column(String(16), default=None)
    findings: Mapped[str | None] = mapped_column(Text, default=None)
    impression: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    items: Mapped[list[LabItem]] = relationship(
        order_by="LabItem.id", cascade="all, delete-orphan", lazy="selectin"
    )


class LabItem(Base):
    """One analyte: a numeric value (or a qualitative text), its unit, reference range and flag."""

    __tablename__ = "lab_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    value: Mapped[float | None] = mapped_column(Float, default=None)
    value_text: Mapped[str | None] = mapped_column(String(64), default=None)
    unit: Mapped[str] = mapped_column(String(32), default="")
    ref_low: Mapped[float | None] = mapped_column(Float, default=None)
    ref_high: Mapped[float | None] = mapped_column(Float, default=None)
    ref_text: Mapped[str] = mapped_column(String(64), default="")
    #: "H" above, "L" below the range, "A" abnormal qualitative result, "" normal.
    flag: Mapped[str] = mapped_column(String(2), default="")


class PrintJob(Base):
    """One attempt to print a report at a kiosk (the print history)."""

    __tablename__ = "print_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    kiosk_id: Mapped[int | None] = mapped_column(ForeignKey("kiosks.id"), default=None)
    status: Mapped[str] = mapped_column(String(16), default=PrintStatus.REQUESTED.value)
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
