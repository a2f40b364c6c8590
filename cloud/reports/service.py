"""Reports and their print history (the caller's transaction commits).

A print job is requested, then confirmed printed or failed by the kiosk that asked for it;
only confirmed jobs count as printed, so a failed job never marks a report printed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.audit.service import record
from cloud.errors import ConflictError, NotFoundError
from cloud.hospital.models import Appointment, Clinician, Department
from cloud.patients.models import Patient
from cloud.reports.flags import flag_for
from cloud.reports.models import LabItem, PrintJob, PrintStatus, Report, ReportKind
from cloud.reports.schemas import LabItemRead, PrintResult, ReportContent, ReportCreate

log = logging.getLogger(__name__)

DEFAULT_PRINT_ERROR = "the printer reported a failure"


@dataclass(frozen=True)
class PrintStats:
    """Confirmed prints of a report."""

    count: int = 0
    last_at: datetime | None = None


def create_report(session: Session, *, data: ReportCreate, actor: str) -> Report:
    """Store a finished report; numeric items are flagged from their ranges. Audited."""
    if session.get(Patient, data.patient_id) is None:
        raise NotFoundError("patient", data.patient_id)
    if data.appointment_id is not None:
        appointment = session.get(Appointment, data.appointment_id)
        if appointment is None or appointment.patient_id != data.patient_id:
            raise NotFoundError("appointment of this patient", data.appointment_id)
    if data.department_id is not None and session.get(Department, data.department_id) is None:
        raise NotFoundError("department", data.department_id)
    if data.clinician_id is not None and session.get(Clinician, data.clinician_id) is None:
        raise NotFoundError("clinician", data.clinician_id)
    items = [
        LabItem(
            **item.model_dump(exclude={"flag"}),
            flag=(
                flag_for(item.value, item.ref_low, item.ref_high)
                if item.value is not None
                else item.flag or ""
            ),
        )
        for item in data.items
    ]
    report = Report(**data.model_dump(exclude={"items"}), items=items)
    session.add(report)
    session.flush()
    record(
        session,
        actor=actor,
        action="reports.create",
        target=f"report:{report.id}",
        patient_id=data.patient_id,
    )
    return report


def get_report_or_raise(
    session: Session, *, report_id: int, patient_id: int | None = None
) -> Report:
    """The report (of patient_id if given); NotFoundError otherwise."""
    report = session.get(Report, report_id)
    if report is None or (patient_id is not None and report.patient_id != patient_id):
        raise NotFoundError("report", report_id)
    return report


def list_reports(
    session: Session, *, patient_id: int | None = None, kind: str | None = None, limit: int = 100
) -> list[Report]:
    """Reports, newest first, optionally of one patient and kind."""
    query = select(Report).order_by(Report.reported_at.desc(), Report.id.desc()).limit(limit)
    if patient_id is not None:
        query = query.where(Report.patient_id == patient_id)
    if kind is not None:
        query = query.where(Report.kind == kind)
    return list(session.scalars(query))


def print_stats(session: Session, *, report_ids: Iterable[int]) -> dict[int, PrintStats]:
    """Confirmed print count and last print time per report."""
    ids = list(report_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(PrintJob.report_id, func.count(), func.max(PrintJob.finished_at))
        .where(PrintJob.report_id.in_(ids), PrintJob.status == PrintStatus.PRINTED.value)
        .group_by(PrintJob.report_id)
    )
    # max() keeps the column's type, so the time comes back aware (UtcDateTime).
    return {report_id: PrintStats(count, last) for report_id, count, last in rows}


def contents(session: Session, reports: list[Report]) -> list[ReportContent]:
    """What each report says, with department names and confirmed print counts."""
    stats = print_stats(session, report_ids=[r.id for r in reports])
    departments = {
        d.id: d
        for d in session.scalars(
            select(Department).where(
                Department.id.in_({r.department_id for r in reports if r.department_id})
            )
        )
    }
    views = []
    for report in reports:
        department = departments.get(report.department_id) if report.department_id else None
        printed = stats.get(report.id, PrintStats())
        views.append(
            ReportContent(
                id=report.id,
                kind=ReportKind(report.kind),
                title_zh=report.title_zh,
                title_en=report.title_en,
                reported_at=report.reported_at,
                department_name_zh=department.name_zh if department else None,
                department_name_en=department.name_en if department else None,
                modality=report.modality,
                findings=report.findings,
                impression=report.impression,
                items=[LabItemRead.of(item) for item in report.items],
                abnormal_count=sum(1 for item in report.items if item.flag),
                printed_count=printed.count,
                last_printed_at=printed.last_at,
            )
        )
    return views


def request_print(
    session: Session, *, report: Report, kiosk_id: int | None, now: datetime, actor: str
) -> PrintJob:
    """Open a print job for a report. Audited."""
    job = PrintJob(
        report_id=report.id,
        patient_id=report.patient_id,
        kiosk_id=kiosk_id,
        status=PrintStatus.REQUESTED.value,
        requested_by=actor,
        requested_at=now,
    )
    session.add(job)
    session.flush()
    record(
        session,
        actor=actor,
        action="reports.print_requested",
        target=f"report:{report.id}",
        print_job_id=job.id,
        patient_id=report.patient_id,
    )
    return job


def finish_print(
    session: Session,
    *,
    job_id: int,
    kiosk_id: int,
    result: PrintResult,
    now: datetime,
    actor: str,
) -> PrintJob:
    """Record the printer's answer for a job of this kiosk. Audited.

    Requested → printed or failed, once. Repeating the same answer is harmless (a retried
    request); a different answer is a ConflictError, so a failed job never becomes printed.
    """
    job = session.scalars(
        select(PrintJob)
        .where(PrintJob.id == job_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if job is None or job.kiosk_id != kiosk_id:
        raise NotFoundError("print job", job_id)
    if job.status == result.outcome:
        return job
    if job.status != PrintStatus.REQUESTED:
        raise ConflictError(f"print job {job_id} is already {job.status}")
    job.status = result.outcome
    job.finished_at = now
    if result.outcome == PrintStatus.FAILED:
        job.error = result.error or DEFAULT_PRINT_ERROR
    record(
        session,
        actor=actor,
        action=f"reports.{result.outcome}",
        target=f"report:{job.report_id}",
        print_job_id=job.id,
        error=job.error,
    )
    log.info("print job %s for report %s: %s", job.id, job.report_id, result.outcome)
    return job


def list_print_jobs(session: Session, *, report_id: int) -> list[PrintJob]:
    """A report's print history, oldest first."""
    return list(
        session.scalars(
            select(PrintJob).where(PrintJob.report_id == report_id).order_by(PrintJob.id)
        )
    )
