"""SQL models of bills and their itemised lines (amounts in fen, integer cents of CNY)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloud.db import Base, UtcDateTime, utcnow


class BillStatus(StrEnum):
    """Whether a bill is settled."""

    UNPAID = "unpaid"
    PAID = "paid"


class Bill(Base):
    """What a patient owes for a visit; totals are computed from the lines."""

    __tablename__ = "bills"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"), default=None)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    status: Mapped[str] = mapped_column(String(8), default=BillStatus.UNPAID.value)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    paid_by: Mapped[str | None] = mapped_column(String(64), default=None)
    lines: Mapped[list[BillLine]] = relationship(
        order_by="BillLine.id", cascade="all, delete-orphan", lazy="selectin"
    )


class BillLine(Base):
    """One item of a bill: quantity × unit price, of which insurance covers ``insurance_cents``."""

    __tablename__ = "bill_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    bill_id: Mapped[int] = mapped_column(ForeignKey("bills.id"), index=True)
    category: Mapped[str] = mapped_column(String(32))
    description_zh: Mapped[str] = mapped_column(String(200))
    description_en: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int]
    unit_price_cents: Mapped[int]
    insurance_cents: Mapped[int] = mapped_column(default=0)
