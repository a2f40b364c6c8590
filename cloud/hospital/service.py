"""Departments, clinicians, appointments and check-in (the caller's transaction commits)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.audit.service import record
from cloud.db import dialect_insert
from cloud.errors import ConflictError, NotFoundError
from cloud.hospital.days import local_day, ticket_label
from cloud.hospital.models import (
    Appointment,
    AppointmentStatus,
    Clinician,
    Department,
    QueueCounter,
)
from cloud.hospital.schemas import AppointmentCreate, ClinicianCreate, DepartmentCreate
from cloud.patients.models import Patient

log = logging.getLogger(__name__)


class CheckInRefusedError(ConflictError):
    """The appointment cannot be checked in; ``code`` is stable for kiosk messages."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class CheckIn:
    """A checked-in appointment, its department, and whether it had been checked in before."""

    appointment: Appointment
    department: Department
    repeated: bool

    @property
    def ticket(self) -> str:
        """The queue ticket label."""
        assert self.appointment.queue_number is not None
        return ticket_label(self.department.queue_prefix, self.appointment.queue_number)


# --- departments and clinicians ------------------------------------------------------------


def list_departments(session: Session, *, active_only: bool = False) -> list[Department]:
    """Departments ordered by code."""
    query = select(Department).order_by(Department.code)
    if active_only:
        query = query.where(Department.active.is_(True))
    return list(session.scalars(query))


def get_department_or_raise(session: Session, *, department_id: int) -> Department:
    """The department; NotFoundError if there is none."""
    department = session.get(Department, department_id)
    if department is None:
        raise NotFoundError("department", department_id)
    return department


def create_department(session: Session, *, data: DepartmentCreate, actor: str) -> Department:
    """Add a department; ConflictError if the code is taken. Audited."""
    if session.scalar(select(Department.id).where(Department.code == data.code)) is not None:
        raise ConflictError(f"a department with code {data.code!r} already exists")
    department = Department(**data.model_dump())
    session.add(department)
    session.flush()
    record(session, actor=actor, action="departments.create", target=f"department:{department.id}")
    return department


def list_clinicians(session: Session, *, department_id: int | None = None) -> list[Clinician]:
    """Clinicians ordered by id, optionally of one department."""
    query = select(Clinician).order_by(Clinician.id)
    if department_id is not None:
        query = query.where(Clinician.department_id == department_id)
    return list(session.scalars(query))


def create_clinician(session: Session, *, data: ClinicianCreate, actor: str) -> Clinician:
    """Add a clinician to an existing department. Audited."""
    get_department_or_raise(session, department_id=data.department_id)
    clinician = Clinician(**data.model_dump())
    session.add(clinician)
    session.flush()
    record(session, actor=actor, action="clinicians.create", target=f"clinician:{clinician.id}")
    return clinician


# --- appointments -------------------------------------------------------------------------


def get_appointment_or_raise(
    session: Session, *, appointment_id: int, patient_id: int | None = None
) -> Appointment:
    """The appointment (of patient_id if given); NotFoundError otherwise, so that another
    patient's appointment is indistinguishable from a missing one."""
    appointment = session.get(Appointment, appointment_id)
    if appointment is None or (patient_id is not None and appointment.patient_id != patient_id):
        raise NotFoundError("appointment", appointment_id)
    return appointment


def create_appointment(
    session: Session, *, data: AppointmentCreate, zone: ZoneInfo, actor: str
) -> Appointment:
    """Book a slot; the visit day is the start's day in the hospital's zone. Audited."""
    if session.get(Patient, data.patient_id) is None:
        raise NotFoundError("patient", data.patient_id)
    get_department_or_raise(session, department_id=data.department_id)
    if data.clinician_id is not None:
        clinician = session.get(Clinician, data.clinician_id)
        if clinician is None:
            raise NotFoundError("clinician", data.clinician_id)
        if clinician.department_id != data.department_id:
            raise ConflictError(
                f"clinician {clinician.id} works in department {clinician.department_id}, "
                f"not {data.department_id}"
            )
    appointment = Appointment(
        **data.model_dump(),
        visit_date=local_day(data.starts_at, zone),
        status=AppointmentStatus.BOOKED.value,
    )
    session.add(appointment)
    session.flush()
    record(
        session,
        actor=actor,
        action="appointments.create",
        target=f"appointment:{appointment.id}",
        patient_id=data.patient_id,
    )
    return appointment


def list_appointments(
    session: Session,
    *,
    day: date | None = None,
    department_id: int | None = None,
    patient_id: int | None = None,
    limit: int = 500,
    offset: int = 0,
) -> tuple[list[Appointment], int]:
    """Appointments by start time, filtered by day, department and patient, and the count."""
    conditions = []
    if day is not None:
        conditions.append(Appointment.visit_date == day)
    if department_id is not None:
        conditions.append(Appointment.department_id == department_id)
    if patient_id is not None:
        conditions.append(Appointment.patient_id == patient_id)
    total = session.scalar(select(func.count()).select_from(Appointment).where(*conditions)) or 0
    rows = session.scalars(
        select(Appointment)
        .where(*conditions)
        .order_by(Appointment.starts_at, Appointment.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows), total


def cancel_appointment(session: Session, *, appointment_id: int, actor: str) -> Appointment:
    """Cancel a booked appointment (idempotent); refused once checked in. Audited."""
    appointment = _lock_appointment(session, appointment_id)
    if appointment.status == AppointmentStatus.CHECKED_IN:
        raise CheckInRefusedError("checked_in", "a checked-in appointment cannot be cancelled")
    if appointment.status != AppointmentStatus.CANCELLED:
        appointment.status = AppointmentStatus.CANCELLED.value
        record(
            session,
            actor=actor,
            action="appointments.cancel",
            target=f"appointment:{appointment_id}",
        )
    return appointment


def _lock_appointment(session: Session, appointment_id: int) -> Appointment:
    # FOR UPDATE serialises concurrent check-ins of one appointment on PostgreSQL (SQLite
    # serialises writers anyway); populate_existing re-reads the row after the lock.
    appointment = session.scalars(
        select(Appointment)
        .where(Appointment.id == appointment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if appointment is None:
        raise NotFoundError("appointment", appointment_id)
    return appointment


def next_queue_number(session: Session, *, department_id: int, day: date) -> int:
    """Take the department's next number for the day in one atomic upsert.

    ``INSERT … ON CONFLICT DO UPDATE SET last_number = last_number + 1 RETURNING`` locks the
    counter row until commit, so concurrent check-ins on PostgreSQL wait and never share a number.
    """
    insert = dialect_insert(session.get_bind().dialect.name)
    statement = (
        insert(QueueCounter)
        .values(department_id=department_id, day=day, last_number=1)
        .on_conflict_do_update(
            index_elements=[QueueCounter.department_id, QueueCounter.day],
            set_={"last_number": QueueCounter.last_number + 1},
        )
        .returning(QueueCounter.last_number)
    )
    number: int = session.execute(statement).scalar_one()
    return number


def check_in(
    session: Session,
    *,
    appointment_id: int,
    now: datetime,
    zone: ZoneInfo,
    actor: str,
    patient_id: int | None = None,
) -> CheckIn:
    """Check an appointment in on its day and give it the department's next queue number.

    Idempotent: checking in again returns the same number. Only patient_id's appointment when
    given (kiosk sessions). Every check-in, first or repeated, is audited.
    """
    get_appointment_or_raise(session, appointment_id=appointment_id, patient_id=patient_id)
    appointment = _lock_appointment(session, appointment_id)
    department = get_department_or_raise(session, department_id=appointment.department_id)
    target = f"appointment:{appointment.id}"
    if appointment.status == AppointmentStatus.CHECKED_IN:
        record(session, actor=actor, action="appointments.check_in_repeated", target=target)
        return CheckIn(appointment=appointment, department=department, repeated=True)
    if appointment.status == AppointmentStatus.CANCELLED:
        raise CheckInRefusedError("cancelled", "the appointment was cancelled")
    today = local_day(now, zone)
    if appointment.visit_date != today:
        raise CheckInRefusedError(
            "not_today",
            f"the appointment is on {appointment.visit_date.isoformat()}; "
            f"check-in is open on that day only (today is {today.isoformat()})",
        )
    appointment.queue_number = next_queue_number(
        session, department_id=department.id, day=appointment.visit_date
    )
    appointment.status = AppointmentStatus.CHECKED_IN.value
    appointment.checked_in_at = now
    appointment.checked_in_by = actor
    session.flush()
    result = CheckIn(appointment=appointment, department=department, repeated=False)
    record(
        session,
        actor=actor,
        action="appointments.check_in",
        target=target,
        patient_id=appointment.patient_id,
        ticket=result.ticket,
    )
    log.info("appointment %s checked in by %s: ticket %s", appointment.id, actor, result.ticket)
    return result
