"""HTTP endpoints a patient session reaches: that one patient's appointments and check-in,
bills and reports, and printing a report. Another patient's object is a 404, as if absent."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.api.deps import KioskPatientSession, NowDep, SessionDep, SettingsDep
from cloud.billing import service as billing_service
from cloud.billing.schemas import BillSummary
from cloud.hospital import service as hospital_service
from cloud.hospital.days import local_day, ticket_label
from cloud.hospital.models import Appointment, AppointmentStatus, Clinician, Department
from cloud.hospital.schemas import DepartmentRead
from cloud.kiosk.router import kiosk_error
from cloud.kiosk.schemas import KioskAppointment, KioskCheckIn, KioskError
from cloud.kiosk.service import actor_of
from cloud.reports import service as reports_service
from cloud.reports.schemas import PrintJobRead, ReportContent

router = APIRouter(prefix="/api/v1/kiosk", tags=["kiosk patient session"])


def _appointment_views(
    session: Session, appointments: list[Appointment], *, today: date
) -> list[KioskAppointment]:
    departments = {d.id: d for d in hospital_service.list_departments(session)}
    clinician_ids = {a.clinician_id for a in appointments if a.clinician_id is not None}
    clinicians = {
        c.id: c for c in session.scalars(select(Clinician).where(Clinician.id.in_(clinician_ids)))
    }
    views = []
    for appointment in appointments:
        department: Department = departments[appointment.department_id]
        clinician = clinicians.get(appointment.clinician_id) if appointment.clinician_id else None
        number = appointment.queue_number
        views.append(
            KioskAppointment(
                id=appointment.id,
                department=DepartmentRead.model_validate(department),
                clinician_name_zh=clinician.name_zh if clinician else None,
                clinician_name_en=clinician.name_en if clinician else None,
                clinician_title_zh=clinician.title_zh if clinician else None,
                clinician_title_en=clinician.title_en if clinician else None,
                starts_at=appointment.starts_at,
                ends_at=appointment.ends_at,
                visit_date=appointment.visit_date,
                status=AppointmentStatus(appointment.status),
                queue_number=number,
                ticket=ticket_label(department.queue_prefix, number) if number else None,
                can_check_in=appointment.status == AppointmentStatus.BOOKED
                and appointment.visit_date == today,
            )
        )
    return views


@router.get("/appointments", response_model=list[KioskAppointment])
def todays_appointments(
    session: SessionDep, settings: SettingsDep, now: NowDep, patient: KioskPatientSession
) -> list[KioskAppointment]:
    """The patient's appointments today (hospital time zone), by start time."""
    today = local_day(now, settings.hospital_zone)
    rows, _ = hospital_service.list_appointments(session, day=today, patient_id=patient.patient_id)
    return _appointment_views(session, rows, today=today)


@router.post(
    "/appointments/{appointment_id}/check-in",
    response_model=KioskCheckIn,
    responses={409: {"model": KioskError, "description": "cancelled or not today"}},
)
def check_in(
    appointment_id: int,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    patient: KioskPatientSession,
) -> KioskCheckIn | JSONResponse:
    """Check in one of the patient's appointments today; again returns the same ticket."""
    try:
        result = hospital_service.check_in(
            session,
            appointment_id=appointment_id,
            patient_id=patient.patient_id,
            now=now,
            zone=settings.hospital_zone,
            actor=actor_of(patient.kiosk_id),
        )
    except hospital_service.CheckInRefusedError as exc:
        return kiosk_error(409, exc.code, str(exc))
    today = local_day(now, settings.hospital_zone)
    (view,) = _appointment_views(session, [result.appointment], today=today)
    return KioskCheckIn(
        appointment=view,
        ticket=result.ticket,
        queue_number=result.appointment.queue_number or 0,
        repeated=result.repeated,
    )


@router.get("/bills", response_model=list[BillSummary])
def my_bills(
    session: SessionDep, settings: SettingsDep, patient: KioskPatientSession
) -> list[BillSummary]:
    """The patient's bills, newest first, with pay links for what is unpaid."""
    bills = billing_service.list_bills(session, patient_id=patient.patient_id)
    return [BillSummary.of(b, settings.payment_url) for b in bills]


@router.get("/bills/{bill_id}", response_model=BillSummary)
def my_bill(
    bill_id: int, session: SessionDep, settings: SettingsDep, patient: KioskPatientSession
) -> BillSummary:
    """One of the patient's bills."""
    bill = billing_service.get_bill_or_raise(
        session, bill_id=bill_id, patient_id=patient.patient_id
    )
    return BillSummary.of(bill, settings.payment_url)


@router.get("/reports", response_model=list[ReportContent])
def my_reports(session: SessionDep, patient: KioskPatientSession) -> list[ReportContent]:
    """The patient's newest 100 reports with items, flags and print counts."""
    reports = reports_service.list_reports(session, patient_id=patient.patient_id)
    return reports_service.contents(session, reports)


@router.get("/reports/{report_id}", response_model=ReportContent)
def my_report(report_id: int, session: SessionDep, patient: KioskPatientSession) -> ReportContent:
    """One of the patient's reports (what the kiosk prints)."""
    report = reports_service.get_report_or_raise(
        session, report_id=report_id, patient_id=patient.patient_id
    )
    return reports_service.contents(session, [report])[0]


@router.post(
    "/reports/{report_id}/print-jobs",
    response_model=PrintJobRead,
    status_code=status.HTTP_201_CREATED,
)
def print_report(
    report_id: int, session: SessionDep, now: NowDep, patient: KioskPatientSession
) -> PrintJobRead:
    """Open a print job for one of the patient's reports at this kiosk; confirm it with
    ``POST /api/v1/kiosk/print-jobs/{id}/result`` once the printer answers."""
    report = reports_service.get_report_or_raise(
        session, report_id=report_id, patient_id=patient.patient_id
    )
    job = reports_service.request_print(
        session, report=report, kiosk_id=patient.kiosk_id, now=now, actor=actor_of(patient.kiosk_id)
    )
    return PrintJobRead.model_validate(job)
