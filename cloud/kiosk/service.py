"""Kiosk devices, patient identification, patient sessions and feedback.

Identification failures are recorded in SQL (so rate limits hold across restarts and API
replicas) and audited; the service raises after recording, and the router answers without
raising so that the request's transaction still commits the record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cloud.audit.service import record
from cloud.errors import CloudError, ConflictError, NotFoundError
from cloud.hospital.models import Appointment
from cloud.kiosk.models import Feedback, IdentifyFailure, Kiosk, PatientSession
from cloud.kiosk.qr_tokens import QrTokenError, derive_key, verify_qr_token
from cloud.kiosk.rate_limit import locked_for
from cloud.kiosk.tokens import DEVICE_PREFIX, SESSION_PREFIX, hash_token, new_token
from cloud.patients.models import Patient
from cloud.settings import Settings

log = logging.getLogger(__name__)

#: last_seen_at is refreshed at most this often, not on every request.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


class IdentifyFailedError(CloudError):
    """Identification failed; ``code`` is stable for the kiosk's localised message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class IdentifyLockedError(CloudError):
    """Too many recent failures at this kiosk or for this patient number."""

    def __init__(self, retry_after: timedelta) -> None:
        self.retry_after_s = max(1, int(retry_after.total_seconds() + 0.999))
        minutes = max(1, (self.retry_after_s + 59) // 60)
        super().__init__(
            f"too many failed attempts; try again in {minutes} min or ask at the service desk"
        )


class SessionInvalidError(CloudError):
    """A patient session token that is unknown, expired, ended or from a revoked kiosk."""


@dataclass(frozen=True)
class Identified:
    """A new patient session: its row, the token (shown once) and the patient."""

    session: PatientSession
    token: str
    patient: Patient


def actor_of(kiosk_id: int) -> str:
    """How a kiosk appears in the audit log."""
    return f"kiosk:{kiosk_id}"


def normalise_patient_number(value: str) -> str:
    """Patient numbers as stored: no spaces, upper case."""
    return "".join(value.split()).upper()


# --- kiosk devices ------------------------------------------------------------------------


def list_kiosks(session: Session) -> list[Kiosk]:
    """Every kiosk by id."""
    return list(session.scalars(select(Kiosk).order_by(Kiosk.id)))


def get_kiosk_or_raise(session: Session, *, kiosk_id: int) -> Kiosk:
    """The kiosk; NotFoundError if there is none."""
    kiosk = session.get(Kiosk, kiosk_id)
    if kiosk is None:
        raise NotFoundError("kiosk", kiosk_id)
    return kiosk


def create_kiosk(session: Session, *, name: str, location: str, actor: str) -> tuple[Kiosk, str]:
    """Register a kiosk; returns it and its device token (the only time the token is seen)."""
    if session.scalar(select(Kiosk.id).where(Kiosk.name == name)) is not None:
        raise ConflictError(f"a kiosk named {name!r} already exists")
    token = new_token(DEVICE_PREFIX)
    kiosk = Kiosk(name=name, location=location, token_hash=hash_token(token), active=True)
    session.add(kiosk)
    session.flush()
    record(session, actor=actor, action="kiosks.create", target=f"kiosk:{kiosk.id}")
    log.info("kiosk %s (%s) registered by %s", kiosk.id, name, actor)
    return kiosk, token


def update_kiosk(
    session: Session,
    *,
    kiosk_id: int,
    actor: str,
    name: str | None = None,
    location: str | None = None,
    active: bool | None = None,
) -> Kiosk:
    """Rename, move or (de)activate a kiosk; deactivation ends its patient sessions. Audited."""
    kiosk = get_kiosk_or_raise(session, kiosk_id=kiosk_id)
    changes: dict[str, object] = {}
    if name is not None and name != kiosk.name:
        if session.scalar(select(Kiosk.id).where(Kiosk.name == name)) is not None:
            raise ConflictError(f"a kiosk named {name!r} already exists")
        kiosk.name = changes["name"] = name
    if location is not None and location != kiosk.location:
        kiosk.location = changes["location"] = location
    if active is not None and active != kiosk.active:
        kiosk.active = changes["active"] = active
    if changes:
        record(session, actor=actor, action="kiosks.update", target=f"kiosk:{kiosk.id}", **changes)
    return kiosk


def rotate_token(session: Session, *, kiosk_id: int, actor: str) -> tuple[Kiosk, str]:
    """Replace a kiosk's device token (the old one stops working at once). Audited."""
    kiosk = get_kiosk_or_raise(session, kiosk_id=kiosk_id)
    token = new_token(DEVICE_PREFIX)
    kiosk.token_hash = hash_token(token)
    record(session, actor=actor, action="kiosks.rotate_token", target=f"kiosk:{kiosk.id}")
    return kiosk, token


def authenticate_kiosk(session: Session, *, token: str, now: datetime) -> Kiosk | None:
    """The active kiosk holding this device token, or None."""
    if not token.startswith(DEVICE_PREFIX):
        return None
    kiosk = session.scalars(
        select(Kiosk).where(Kiosk.token_hash == hash_token(token))
    ).one_or_none()
    if kiosk is None or not kiosk.active:
        return None
    if kiosk.last_seen_at is None or now - kiosk.last_seen_at >= LAST_SEEN_RESOLUTION:
        kiosk.last_seen_at = now
    return kiosk


# --- identification and sessions ----------------------------------------------------------


def _failure_times(session: Session, *, since: datetime, **where: object) -> list[datetime]:
    query = select(IdentifyFailure.at).where(IdentifyFailure.at > since)
    for column, value in where.items():
        query = query.where(getattr(IdentifyFailure, column) == value)
    return list(session.scalars(query))


def _raise_if_locked(
    session: Session,
    *,
    kiosk: Kiosk,
    patient_number: str | None,
    now: datetime,
    settings: Settings,
) -> None:
    window = timedelta(minutes=settings.kiosk_failure_window_minutes)
    since = now - window
    waits = [
        locked_for(
            _failure_times(session, since=since, kiosk_id=kiosk.id),
            now=now,
            window=window,
            limit=settings.kiosk_max_failures_per_kiosk,
        )
    ]
    if patient_number:
        waits.append(
            locked_for(
                _failure_times(session, since=since, patient_number=patient_number),
                now=now,
                window=window,
                limit=settings.kiosk_max_failures_per_patient,
            )
        )
    longest = max((wait for wait in waits if wait is not None), default=None)
    if longest is not None:
        record(
            session,
            actor=actor_of(kiosk.id),
            action="kiosk.identify_locked",
            target=f"kiosk:{kiosk.id}",
            patient_number=patient_number,
            retry_after_s=int(longest.total_seconds()),
        )
        log.warning("kiosk %s: identification locked (number %r)", kiosk.id, patient_number)
        raise IdentifyLockedError(longest)


def _fail(
    session: Session,
    *,
    kiosk: Kiosk,
    patient_number: str | None,
    code: str,
    message: str,
    now: datetime,
) -> IdentifyFailedError:
    session.add(
        IdentifyFailure(kiosk_id=kiosk.id, patient_number=patient_number, reason=code, at=now)
    )
    record(
        session,
        actor=actor_of(kiosk.id),
        action="kiosk.identify_failed",
        target=f"kiosk:{kiosk.id}",
        reason=code,
        patient_number=patient_number,
    )
    log.info("kiosk %s: identification failed (%s)", kiosk.id, code)
    return IdentifyFailedError(code, message)


def _open_session(
    session: Session,
    *,
    kiosk: Kiosk,
    patient: Patient,
    method: str,
    now: datetime,
    settings: Settings,
) -> Identified:
    # One patient per kiosk at a time: a new identification ends the previous patient's session.
    session.execute(
        update(PatientSession)
        .where(PatientSession.kiosk_id == kiosk.id, PatientSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    token = new_token(SESSION_PREFIX)
    row = PatientSession(
        token_hash=hash_token(token),
        kiosk_id=kiosk.id,
        patient_id=patient.id,
        method=method,
        created_at=now,
        expires_at=now + timedelta(minutes=settings.kiosk_session_minutes),
    )
    session.add(row)
    session.flush()
    record(
        session,
        actor=actor_of(kiosk.id),
        action="kiosk.identify",
        target=f"patient:{patient.id}",
        method=method,
        session_id=row.id,
    )
    return Identified(session=row, token=token, patient=patient)


def identify_by_qr(
    session: Session, *, kiosk: Kiosk, code: str, now: datetime, settings: Settings
) -> Identified:
    """Open a session for the patient of a scanned appointment code."""
    _raise_if_locked(session, kiosk=kiosk, patient_number=None, now=now, settings=settings)
    key = derive_key(settings.secret_key.get_secret_value())
    try:
        claims = verify_qr_token(code, key=key, now=now)
    except QrTokenError as exc:
        raise _fail(
            session, kiosk=kiosk, patient_number=None, code=exc.reason, message=str(exc), now=now
        ) from exc
    appointment = session.get(Appointment, claims.appointment_id)
    if appointment is None:
        raise _fail(
            session,
            kiosk=kiosk,
            patient_number=None,
            code="qr_invalid",
            message="the appointment of this code no longer exists",
            now=now,
        )
    patient = session.get(Patient, appointment.patient_id)
    assert patient is not None  # foreign key
    return _open_session(
        session, kiosk=kiosk, patient=patient, method="qr", now=now, settings=settings
    )


def identify_by_number(
    session: Session,
    *,
    kiosk: Kiosk,
    patient_number: str,
    birth_date: date,
    now: datetime,
    settings: Settings,
) -> Identified:
    """Open a session for the patient with this number and date of birth.

    A wrong number and a wrong date give the same answer, so the kiosk reveals nothing about
    which patient numbers exist.
    """
    number = normalise_patient_number(patient_number)
    _raise_if_locked(session, kiosk=kiosk, patient_number=number, now=now, settings=settings)
    patient = session.scalars(select(Patient).where(Patient.mrn == number)).one_or_none()
    if patient is None or patient.birth_date != birth_date:
        raise _fail(
            session,
            kiosk=kiosk,
            patient_number=number,
            code="no_match",
            message="patient number and date of birth do not match our records",
            now=now,
        )
    return _open_session(
        session, kiosk=kiosk, patient=patient, method="patient_number", now=now, settings=settings
    )


def resolve_session(session: Session, *, token: str, now: datetime) -> PatientSession:
    """The live session of a token; SessionInvalidError saying why not."""
    if not token.startswith(SESSION_PREFIX):
        raise SessionInvalidError("not a patient session token")
    row = session.scalars(
        select(PatientSession).where(PatientSession.token_hash == hash_token(token))
    ).one_or_none()
    if row is None:
        raise SessionInvalidError("unknown patient session token")
    if row.ended_at is not None:
        raise SessionInvalidError("patient session ended; identify again")
    if now >= row.expires_at:
        raise SessionInvalidError("patient session expired; identify again")
    kiosk = session.get(Kiosk, row.kiosk_id)
    if kiosk is None or not kiosk.active:
        raise SessionInvalidError("the kiosk of this session is revoked")
    return row


def end_session(session: Session, *, patient_session: PatientSession, now: datetime) -> None:
    """End a patient session (the kiosk's idle timeout or "finish")."""
    patient_session.ended_at = now
    record(
        session,
        actor=actor_of(patient_session.kiosk_id),
        action="kiosk.session_end",
        target=f"patient:{patient_session.patient_id}",
        session_id=patient_session.id,
    )


# --- feedback -----------------------------------------------------------------------------


def add_feedback(
    session: Session, *, kiosk: Kiosk, rating: int, comment: str, language: str, now: datetime
) -> Feedback:
    """Store an anonymous rating left at a kiosk."""
    if not 1 <= rating <= 5:
        raise ValueError("rating must be 1 to 5")
    feedback = Feedback(
        kiosk_id=kiosk.id, rating=rating, comment=comment, language=language, created_at=now
    )
    session.add(feedback)
    session.flush()
    return feedback


def list_feedback(
    session: Session, *, limit: int, offset: int
) -> tuple[list[Feedback], int, float | None]:
    """Newest feedback first, the count, and the mean rating of all."""
    total = session.scalar(select(func.count()).select_from(Feedback)) or 0
    mean = session.scalar(select(func.avg(Feedback.rating)))
    rows = session.scalars(
        select(Feedback).order_by(Feedback.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), total, float(mean) if mean is not None else None
