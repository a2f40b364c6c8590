"""HTTP endpoints of patients."""

from __future__ import annotations

from fastapi import APIRouter, status

from cloud.api.deps import AdminUser, ClinicalUser, SessionDep
from cloud.api.pagination import Page, PageDep
from cloud.patients import service
from cloud.patients.schemas import PatientCreate, PatientRead

router = APIRouter(prefix="/api/v1/patients", tags=["patients"])


@router.post("", response_model=PatientRead, status_code=status.HTTP_201_CREATED)
def create_patient(data: PatientCreate, session: SessionDep, user: AdminUser) -> PatientRead:
    """Register a patient (admin); 409 if the mrn exists."""
    patient = service.create(session, data=data, actor=user.username)
    return PatientRead.model_validate(patient)


@router.get("", response_model=Page[PatientRead])
def list_patients(session: SessionDep, user: ClinicalUser, page: PageDep) -> Page[PatientRead]:
    """Patients ordered by id, one page at a time (admin, nurse)."""
    items, total = service.list_patients(session, limit=page.limit, offset=page.offset)
    return Page(
        items=[PatientRead.model_validate(p) for p in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{patient_id}", response_model=PatientRead)
def read_patient(patient_id: int, session: SessionDep, user: ClinicalUser) -> PatientRead:
    """One patient (admin, nurse); 404 if unknown."""
    return PatientRead.model_validate(service.get_or_raise(session, patient_id=patient_id))
