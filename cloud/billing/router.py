"""HTTP endpoints of bills for staff: admins issue and settle, clinicians read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from cloud.api.deps import AdminUser, ClinicalUser, NowDep, SessionDep, SettingsDep
from cloud.billing import service
from cloud.billing.models import BillStatus
from cloud.billing.schemas import BillCreate, BillRead

router = APIRouter(prefix="/api/v1/bills", tags=["billing"])


@router.post("", response_model=BillRead, status_code=status.HTTP_201_CREATED)
def create_bill(
    body: BillCreate, session: SessionDep, settings: SettingsDep, now: NowDep, user: AdminUser
) -> BillRead:
    """Issue a bill with itemised lines (admin); 409 if the number exists."""
    bill = service.create_bill(session, data=body, now=now, actor=user.username)
    return BillRead.of(bill, settings.payment_url)


@router.get("", response_model=list[BillRead])
def list_bills(
    session: SessionDep,
    settings: SettingsDep,
    user: ClinicalUser,
    patient_id: Annotated[int | None, Query()] = None,
    bill_status: Annotated[BillStatus | None, Query(alias="status")] = None,
) -> list[BillRead]:
    """Bills, newest first, filtered by patient and status (admin, nurse)."""
    bills = service.list_bills(session, patient_id=patient_id, status=bill_status)
    return [BillRead.of(bill, settings.payment_url) for bill in bills]


@router.get("/{bill_id}", response_model=BillRead)
def read_bill(
    bill_id: int, session: SessionDep, settings: SettingsDep, user: ClinicalUser
) -> BillRead:
    """One bill (admin, nurse); 404 if unknown."""
    return BillRead.of(service.get_bill_or_raise(session, bill_id=bill_id), settings.payment_url)


@router.post("/{bill_id}/paid", response_model=BillRead)
def mark_paid(
    bill_id: int, session: SessionDep, settings: SettingsDep, now: NowDep, user: AdminUser
) -> BillRead:
    """Record that the bill was paid (admin: cashier or payment reconciliation); 409 if paid."""
    bill = service.mark_paid(session, bill_id=bill_id, now=now, actor=user.username)
    return BillRead.of(bill, settings.payment_url)
