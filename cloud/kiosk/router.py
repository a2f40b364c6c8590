"""HTTP endpoints of kiosk devices: registration (admin), identification, the patient session,
feedback and print confirmations.

The kiosk device token alone reaches only what is not patient data: the kiosk itself, the
department directory, identification, feedback and confirming its own print jobs.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from cloud.api.deps import (
    AdminUser,
    CurrentKiosk,
    KioskPatientSession,
    NowDep,
    SessionDep,
    SettingsDep,
)
from cloud.api.pagination import PageDep
from cloud.hospital import service as hospital_service
from cloud.hospital.schemas import DepartmentRead
from cloud.kiosk import service
from cloud.kiosk.masking import mask_identifier, mask_name
from cloud.kiosk.models import PatientSession
from cloud.kiosk.schemas import (
    FeedbackCreate,
    FeedbackPage,
    FeedbackRead,
    IdentifyByNumber,
    IdentifyByQr,
    IdentifyResponse,
    KioskCreate,
    KioskError,
    KioskRead,
    KioskUpdate,
    KioskWithToken,
    SessionPatient,
    SessionRead,
)
from cloud.patients.models import Patient
from cloud.reports import service as reports_service
from cloud.reports.schemas import PrintJobRead, PrintResult

router = APIRouter(prefix="/api/v1", tags=["kiosk"])

IDENTIFY_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": KioskError, "description": "not identified (code says why) or bad kiosk token"},
    429: {"model": KioskError, "description": "locked after repeated failures (Retry-After)"},
}


def kiosk_error(status_code: int, code: str, detail: str, **extra: object) -> JSONResponse:
    """An error response the kiosk localises by code. Returned, not raised, so the request's
    transaction still commits what the failure recorded (rate-limit counters, audit)."""
    headers = {"Retry-After": str(extra["retry_after_s"])} if "retry_after_s" in extra else None
    body = KioskError(detail=detail, code=code, **extra)  # type: ignore[arg-type]
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status_code, headers=headers
    )


def _session_read(session: Session, patient_session: PatientSession) -> SessionRead:
    patient = session.get(Patient, patient_session.patient_id)
    assert patient is not None  # foreign key
    return SessionRead(
        method=patient_session.method,  # type: ignore[arg-type]  # "qr" or "patient_number"
        expires_at=patient_session.expires_at,
        patient=SessionPatient(
            name_masked=mask_name(patient.name),
            patient_number_masked=mask_identifier(patient.mrn),
        ),
    )


# --- kiosk registration (admin) -----------------------------------------------------------


@router.post("/kiosks", response_model=KioskWithToken, status_code=status.HTTP_201_CREATED)
def create_kiosk(body: KioskCreate, session: SessionDep, user: AdminUser) -> KioskWithToken:
    """Register a kiosk (admin); the response holds its device token, shown only this once."""
    kiosk, token = service.create_kiosk(
        session, name=body.name, location=body.location, actor=user.username
    )
    return KioskWithToken(**KioskRead.model_validate(kiosk).model_dump(), device_token=token)


@router.get("/kiosks", response_model=list[KioskRead])
def list_kiosks(session: SessionDep, user: AdminUser) -> list[KioskRead]:
    """Every kiosk (admin)."""
    return [KioskRead.model_validate(k) for k in service.list_kiosks(session)]


@router.patch("/kiosks/{kiosk_id}", response_model=KioskRead)
def update_kiosk(
    kiosk_id: int, body: KioskUpdate, session: SessionDep, user: AdminUser
) -> KioskRead:
    """Rename, move, revoke (``active: false``) or reinstate a kiosk (admin)."""
    kiosk = service.update_kiosk(
        session,
        kiosk_id=kiosk_id,
        actor=user.username,
        name=body.name,
        location=body.location,
        active=body.active,
    )
    return KioskRead.model_validate(kiosk)


@router.post("/kiosks/{kiosk_id}/token", response_model=KioskWithToken)
def rotate_kiosk_token(kiosk_id: int, session: SessionDep, user: AdminUser) -> KioskWithToken:
    """Issue a new device token (admin); the old one stops working at once."""
    kiosk, token = service.rotate_token(session, kiosk_id=kiosk_id, actor=user.username)
    return KioskWithToken(**KioskRead.model_validate(kiosk).model_dump(), device_token=token)


@router.get("/feedback", response_model=FeedbackPage)
def list_feedback(session: SessionDep, user: AdminUser, page: PageDep) -> FeedbackPage:
    """Kiosk feedback, newest first, with the mean rating (admin)."""
    rows, total, mean = service.list_feedback(session, limit=page.limit, offset=page.offset)
    return FeedbackPage(
        items=[FeedbackRead.model_validate(f) for f in rows],
        total=total,
        mean_rating=mean,
        limit=page.limit,
        offset=page.offset,
    )


# --- the kiosk device ---------------------------------------------------------------------


@router.get("/kiosk/me", response_model=KioskRead)
def read_kiosk(kiosk: CurrentKiosk) -> KioskRead:
    """The kiosk the device token belongs to (a connectivity and token check)."""
    return KioskRead.model_validate(kiosk)


@router.get("/kiosk/departments", response_model=list[DepartmentRead])
def kiosk_departments(session: SessionDep, kiosk: CurrentKiosk) -> list[DepartmentRead]:
    """The active departments and where they are (the "where do I go" directory)."""
    departments = hospital_service.list_departments(session, active_only=True)
    return [DepartmentRead.model_validate(d) for d in departments]


@router.post("/kiosk/identify/qr", response_model=IdentifyResponse, responses=IDENTIFY_ERRORS)
def identify_by_qr(
    body: IdentifyByQr,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    kiosk: CurrentKiosk,
) -> IdentifyResponse | JSONResponse:
    """Open a patient session from a scanned appointment code.

    401 ``qr_invalid`` (forged, damaged, unknown) or ``qr_expired``; 429 ``locked``.
    """
    try:
        found = service.identify_by_qr(
            session, kiosk=kiosk, code=body.code, now=now, settings=settings
        )
    except service.IdentifyLockedError as exc:
        return kiosk_error(429, "locked", str(exc), retry_after_s=exc.retry_after_s)
    except service.IdentifyFailedError as exc:
        return kiosk_error(401, exc.code, str(exc))
    return IdentifyResponse(
        session_token=found.token, **_session_read(session, found.session).model_dump()
    )


@router.post(
    "/kiosk/identify/patient-number", response_model=IdentifyResponse, responses=IDENTIFY_ERRORS
)
def identify_by_number(
    body: IdentifyByNumber,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    kiosk: CurrentKiosk,
) -> IdentifyResponse | JSONResponse:
    """Open a patient session from patient number and date of birth.

    401 ``no_match`` (whichever of the two is wrong); 429 ``locked``.
    """
    try:
        found = service.identify_by_number(
            session,
            kiosk=kiosk,
            patient_number=body.patient_number,
            birth_date=body.birth_date,
            now=now,
            settings=settings,
        )
    except service.IdentifyLockedError as exc:
        return kiosk_error(429, "locked", str(exc), retry_after_s=exc.retry_after_s)
    except service.IdentifyFailedError as exc:
        return kiosk_error(401, exc.code, str(exc))
    return IdentifyResponse(
        session_token=found.token, **_session_read(session, found.session).model_dump()
    )


@router.post("/kiosk/feedback", response_model=FeedbackRead, status_code=status.HTTP_201_CREATED)
def leave_feedback(
    body: FeedbackCreate, session: SessionDep, now: NowDep, kiosk: CurrentKiosk
) -> FeedbackRead:
    """Store an anonymous 1–5 rating with an optional comment."""
    feedback = service.add_feedback(
        session,
        kiosk=kiosk,
        rating=body.rating,
        comment=body.comment,
        language=body.language,
        now=now,
    )
    return FeedbackRead.model_validate(feedback)


@router.post("/kiosk/print-jobs/{job_id}/result", response_model=PrintJobRead)
def confirm_print(
    job_id: int, body: PrintResult, session: SessionDep, now: NowDep, kiosk: CurrentKiosk
) -> PrintJobRead:
    """Report the printer's answer for one of this kiosk's jobs (works after the session ends).

    404 for another kiosk's job; 409 when the job already ended differently.
    """
    job = reports_service.finish_print(
        session,
        job_id=job_id,
        kiosk_id=kiosk.id,
        result=body,
        now=now,
        actor=service.actor_of(kiosk.id),
    )
    return PrintJobRead.model_validate(job)


# --- the patient session ------------------------------------------------------------------


@router.get("/kiosk/session", response_model=SessionRead)
def read_session(session: SessionDep, patient_session: KioskPatientSession) -> SessionRead:
    """Who is identified (masked) and until when."""
    return _session_read(session, patient_session)


@router.delete("/kiosk/session", status_code=status.HTTP_204_NO_CONTENT)
def end_session(session: SessionDep, now: NowDep, patient_session: KioskPatientSession) -> Response:
    """End the session (finish button or idle timeout); the token stops working at once."""
    service.end_session(session, patient_session=patient_session, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
