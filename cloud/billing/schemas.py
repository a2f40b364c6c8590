"""API shapes of bills; amounts are integer fen (1/100 CNY)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from cloud.billing import amounts
from cloud.billing.models import Bill, BillLine, BillStatus

_INPUT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class BillLineCreate(BaseModel):
    """One item: quantity × unit price, of which insurance covers insurance_cents."""

    model_config = _INPUT

    category: str = Field(min_length=1, max_length=32, examples=["lab", "drug", "consultation"])
    description_zh: str = Field(min_length=1, max_length=200)
    description_en: str = Field(min_length=1, max_length=200)
    quantity: int = Field(ge=1, le=10_000)
    unit_price_cents: int = Field(ge=0, le=100_000_000)
    insurance_cents: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _insurance_within_amount(self) -> BillLineCreate:
        amounts.check_line(self)
        return self


class BillCreate(BaseModel):
    """A bill to issue."""

    model_config = _INPUT

    number: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")
    patient_id: int
    appointment_id: int | None = None
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    issued_at: AwareDatetime | None = None
    lines: list[BillLineCreate] = Field(min_length=1, max_length=200)

    @field_validator("issued_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None


class BillLineRead(BaseModel):
    """A bill line with its computed amounts."""

    category: str
    description_zh: str
    description_en: str
    quantity: int
    unit_price_cents: int
    amount_cents: int
    insurance_cents: int
    self_pay_cents: int

    @classmethod
    def of(cls, line: BillLine) -> BillLineRead:
        """The view of a stored line."""
        amount = amounts.line_amount(line)
        return cls(
            category=line.category,
            description_zh=line.description_zh,
            description_en=line.description_en,
            quantity=line.quantity,
            unit_price_cents=line.unit_price_cents,
            amount_cents=amount,
            insurance_cents=line.insurance_cents,
            self_pay_cents=amount - line.insurance_cents,
        )


class BillSummary(BaseModel):
    """A bill's totals, status and, while unpaid, the pay link (also the QR payload)."""

    id: int
    number: str
    currency: str
    status: BillStatus
    issued_at: datetime
    paid_at: datetime | None
    total_cents: int
    insurance_cents: int
    self_pay_cents: int
    pay_url: str | None = Field(
        description="payment provider page for the self-pay amount; null when paid, nothing "
        "to pay, or CAREDGE_PAYMENT_URL unset"
    )
    lines: list[BillLineRead]

    @classmethod
    def of(cls, bill: Bill, payment_url: str) -> BillSummary:
        """The summary of a stored bill (pay_url only when payment_url is configured)."""
        totals = amounts.totals(bill.lines)
        pay_url = None
        if payment_url and bill.status == BillStatus.UNPAID and totals.self_pay_cents > 0:
            pay_url = amounts.pay_link(
                payment_url,
                bill_number=bill.number,
                amount_cents=totals.self_pay_cents,
                currency=bill.currency,
            )
        return BillSummary(
            id=bill.id,
            number=bill.number,
            currency=bill.currency,
            status=BillStatus(bill.status),
            issued_at=bill.issued_at,
            paid_at=bill.paid_at,
            total_cents=totals.total_cents,
            insurance_cents=totals.insurance_cents,
            self_pay_cents=totals.self_pay_cents,
            pay_url=pay_url,
            lines=[BillLineRead.of(line) for line in bill.lines],
        )


class BillRead(BillSummary):
    """A bill as staff see it."""

    patient_id: int
    appointment_id: int | None
    paid_by: str | None

    @classmethod
    def of(cls, bill: Bill, payment_url: str) -> BillRead:
        """The staff view of a stored bill."""
        return cls(
            **BillSummary.of(bill, payment_url).model_dump(),
            patient_id=bill.patient_id,
            appointment_id=bill.appointment_id,
            paid_by=bill.paid_by,
        )
