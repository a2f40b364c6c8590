"""HTTP endpoints of reports for staff: clinicians (admin, nurse) file and read them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from cloud.api.deps import ClinicalUser, SessionDep
from cloud.reports import service
from cloud.reports.models import Report, ReportKind
from cloud.reports.schemas import PrintJobRead, ReportCreate, ReportRead

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


def _reads(session: SessionDep, reports: list[Report]) -> list[ReportRead]:
    return [
        ReportRead(
            **content.model_dump(),
            patient_id=report.patient_id,
            appointment_id=report.appointment_id,
            department_id=report.department_id,
            clinician_id=report.clinician_id,
        )
        for report, content in zip(reports, service.contents(session, reports), strict=True)
    ]


@router.post("", response_model=ReportRead, status_code=status.HTTP_201_CREATED)
def create_report(body: ReportCreate, session: SessionDep, user: ClinicalUser) -> ReportRead:
    """File a lab or imaging report (admin, nurse); lab values are flagged H/L from the range."""
    report = service.create_report(session, data=body, actor=user.username)
    return _reads(session, [report])[0]


@router.get("", response_model=list[ReportRead])
def list_reports(
    session: SessionDep,
    user: ClinicalUser,
    patient_id: Annotated[int | None, Query()] = None,
    kind: Annotated[ReportKind | None, Query()] = None,
) -> list[ReportRead]:
    """The newest 100 reports, filtered by patient and kind (admin, nurse)."""
    reports = service.list_reports(
        session, patient_id=patient_id, kind=kind.value if kind else None
    )
    return _reads(session, reports)


@router.get("/{report_id}", response_model=ReportRead)
def read_report(report_id: int, session: SessionDep, user: ClinicalUser) -> ReportRead:
    """One report (admin, nurse); 404 if unknown."""
    return _reads(session, [service.get_report_or_raise(session, report_id=report_id)])[0]


@router.get("/{report_id}/print-jobs", response_model=list[PrintJobRead])
def list_print_jobs(report_id: int, session: SessionDep, user: ClinicalUser) -> list[PrintJobRead]:
    """The report's print history, oldest first (admin, nurse)."""
    service.get_report_or_raise(session, report_id=report_id)
    return [
        PrintJobRead.model_validate(j)
        for j in service.list_print_jobs(session, report_id=report_id)
    ]
