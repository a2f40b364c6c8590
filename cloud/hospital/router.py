"""HTTP endpoints of departments, clinicians and appointments for staff.

Admins manage departments and clinicians; clinicians (admin, nurse) book, cancel, check in at
the desk and issue the QR codes of appointment messages.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, status

from cloud.api.deps import AdminUser, ClinicalUser, NowDep, SessionDep, SettingsDep
from cloud.api.pagination import Page, PageDep
from cloud.hospital import service
from cloud.hospital.days import day_end, ticket_label
from cloud.hospital.models import Appointment
from cloud.hospital.schemas import (
    AppointmentCreate,
    AppointmentRead,
    CheckInRead,
    ClinicianCreate,
    ClinicianRead,
    DepartmentCreate,
    DepartmentRead,
    QrTokenRead,
)
from cloud.kiosk.qr_tokens import derive_key, make_qr_token

router = APIRouter(prefix="/api/v1", tags=["hospital"])


def appointment_read(session: SessionDep, appointment: Appointment) -> AppointmentRead:
    """The staff view, with the ticket label once checked in."""
    view = AppointmentRead.model_validate(appointment)
    if appointment.queue_number is not None:
        department = service.get_department_or_raise(
            session, department_id=appointment.department_id
        )
        view.ticket = ticket_label(department.queue_prefix, appointment.queue_number)
    return view


@router.get("/departments", response_model=list[DepartmentRead])
def list_departments(session: SessionDep, user: ClinicalUser) -> list[DepartmentRead]:
    """Every department by code (admin, nurse)."""
    return [DepartmentRead.model_validate(d) for d in service.list_departments(session)]


@router.post("/departments", response_model=DepartmentRead, status_code=status.HTTP_201_CREATED)
def create_department(
    body: DepartmentCreate, session: SessionDep, user: AdminUser
) -> DepartmentRead:
    """Add a department (admin); 409 if the code exists."""
    department = service.create_department(session, data=body, actor=user.username)
    return DepartmentRead.model_validate(department)


@router.get("/clinicians", response_model=list[ClinicianRead])
def list_clinicians(
    session: SessionDep,
    user: ClinicalUser,
    department_id: Annotated[int | None, Query()] = None,
) -> list[ClinicianRead]:
    """Clinicians, optionally of one department (admin, nurse)."""
    rows = service.list_clinicians(session, department_id=department_id)
    return [ClinicianRead.model_validate(c) for c in rows]


@router.post("/clinicians", response_model=ClinicianRead, status_code=status.HTTP_201_CREATED)
def create_clinician(body: ClinicianCreate, session: SessionDep, user: AdminUser) -> ClinicianRead:
    """Add a clinician to a department (admin); 404 for an unknown department."""
    return ClinicianRead.model_validate(
        service.create_clinician(session, data=body, actor=user.username)
    )


@router.post("/appointments", response_model=AppointmentRead, status_code=status.HTTP_201_CREATED)
def create_appointment(
    body: AppointmentCreate, session: SessionDep, settings: SettingsDep, user: ClinicalUser
) -> AppointmentRead:
    """Book a slot (admin, nurse); 404 for unknown references, 409 for a clinician elsewhere."""
    appointment = service.create_appointment(
        session, data=body, zone=settings.hospital_zone, actor=user.username
    )
    return appointment_read(session, appointment)


@router.get("/appointments", response_model=Page[AppointmentRead])
def list_appointments(
    session: SessionDep,
    user: ClinicalUser,
    page: PageDep,
    day: Annotated[date | None, Query(description="visit day (hospital time zone)")] = None,
    department_id: Annotated[int | None, Query()] = None,
    patient_id: Annotated[int | None, Query()] = None,
) -> Page[AppointmentRead]:
    """Appointments by start time, filtered by day, department and patient (admin, nurse)."""
    rows, total = service.list_appointments(
        session,
        day=day,
        department_id=department_id,
        patient_id=patient_id,
        limit=page.limit,
        offset=page.offset,
    )
    return Page(
        items=[appointment_read(session, a) for a in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/appointments/{appointment_id}", response_model=AppointmentRead)
def read_appointment(
    appointment_id: int, session: SessionDep, user: ClinicalUser
) -> AppointmentRead:
    """One appointment (admin, nurse); 404 if unknown."""
    appointment = service.get_appointment_or_raise(session, appointment_id=appointment_id)
    return appointment_read(session, appointment)


@router.post("/appointments/{appointment_id}/cancel", response_model=AppointmentRead)
def cancel_appointment(
    appointment_id: int, session: SessionDep, user: ClinicalUser
) -> AppointmentRead:
    """Cancel a booked appointment (admin, nurse); 409 once checked in."""
    appointment = service.cancel_appointment(
        session, appointment_id=appointment_id, actor=user.username
    )
    return appointment_read(session, appointment)


@router.post("/appointments/{appointment_id}/check-in", response_model=CheckInRead)
def check_in_at_desk(
    appointment_id: int, session: SessionDep, settings: SettingsDep, now: NowDep, user: ClinicalUser
) -> CheckInRead:
    """Check a patient in at the service desk (admin, nurse); idempotent, 409 if not today."""
    result = service.check_in(
        session,
        appointment_id=appointment_id,
        now=now,
        zone=settings.hospital_zone,
        actor=user.username,
    )
    return CheckInRead(
        appointment=appointment_read(session, result.appointment),
        ticket=result.ticket,
        queue_number=result.appointment.queue_number or 0,
        repeated=result.repeated,
    )


@router.get("/appointments/{appointment_id}/qr-token", response_model=QrTokenRead)
def issue_qr_token(
    appointment_id: int, session: SessionDep, settings: SettingsDep, user: ClinicalUser
) -> QrTokenRead:
    """The signed code for the appointment message's QR; valid until the visit day ends."""
    appointment = service.get_appointment_or_raise(session, appointment_id=appointment_id)
    expires_at = day_end(appointment.visit_date, settings.hospital_zone)
    token = make_qr_token(
        appointment_id=appointment.id,
        expires_at=expires_at,
        key=derive_key(settings.secret_key.get_secret_value()),
    )
    return QrTokenRead(token=token, expires_at=expires_at)
