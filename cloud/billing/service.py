"""Bills: issue, look up, list and settle (the caller's transaction commits)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.audit.service import record
from cloud.billing.models import Bill, BillLine, BillStatus
from cloud.billing.schemas import BillCreate
from cloud.errors import ConflictError, NotFoundError
from cloud.hospital.models import Appointment
from cloud.patients.models import Patient

log = logging.getLogger(__name__)


def get_bill_or_raise(session: Session, *, bill_id: int, patient_id: int | None = None) -> Bill:
    """The bill (of patient_id if given); NotFoundError otherwise."""
    bill = session.get(Bill, bill_id)
    if bill is None or (patient_id is not None and bill.patient_id != patient_id):
        raise NotFoundError("bill", bill_id)
    return bill


def list_bills(
    session: Session, *, patient_id: int | None = None, status: BillStatus | None = None
) -> list[Bill]:
    """Bills, newest first, optionally of one patient and in one status."""
    query = select(Bill).order_by(Bill.issued_at.desc(), Bill.id.desc())
    if patient_id is not None:
        query = query.where(Bill.patient_id == patient_id)
    if status is not None:
        query = query.where(Bill.status == status.value)
    return list(session.scalars(query))


def create_bill(session: Session, *, data: BillCreate, now: datetime, actor: str) -> Bill:
    """Issue a bill with its lines; ConflictError if the number is taken. Audited."""
    if session.get(Patient, data.patient_id) is None:
        raise NotFoundError("patient", data.patient_id)
    if data.appointment_id is not None:
        appointment = session.get(Appointment, data.appointment_id)
        if appointment is None or appointment.patient_id != data.patient_id:
            raise NotFoundError("appointment of this patient", data.appointment_id)
    if session.scalar(select(Bill.id).where(Bill.number == data.number)) is not None:
        raise ConflictError(f"a bill numbered {data.number!r} already exists")
    bill = Bill(
        number=data.number,
        patient_id=data.patient_id,
        appointment_id=data.appointment_id,
        currency=data.currency,
        issued_at=data.issued_at or now,
        status=BillStatus.UNPAID.value,
        lines=[BillLine(**line.model_dump()) for line in data.lines],
    )
    session.add(bill)
    session.flush()
    record(session, actor=actor, action="bills.create", target=f"bill:{bill.id}")
    return bill


def mark_paid(session: Session, *, bill_id: int, now: datetime, actor: str) -> Bill:
    """Record that a bill was settled (cashier, or the payment provider's confirmation)."""
    bill = get_bill_or_raise(session, bill_id=bill_id)
    if bill.status == BillStatus.PAID:
        raise ConflictError(f"bill {bill.number} is already paid")
    bill.status = BillStatus.PAID.value
    bill.paid_at = now
    bill.paid_by = actor
    record(session, actor=actor, action="bills.paid", target=f"bill:{bill.id}")
    log.info("bill %s paid (recorded by %s)", bill.number, actor)
    return bill
