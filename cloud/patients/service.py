"""Patients: lookup, listing and registration (the caller's transaction commits)."""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.audit.service import record
from cloud.errors import ConflictError, NotFoundError
from cloud.patients.models import Patient
from cloud.patients.schemas import PatientCreate

log = logging.getLogger(__name__)


def get(session: Session, *, patient_id: int) -> Patient | None:
    """The patient with id patient_id, or None."""
    return session.get(Patient, patient_id)


def get_or_raise(session: Session, *, patient_id: int) -> Patient:
    """The patient with id patient_id; NotFoundError if there is none."""
    patient = get(session, patient_id=patient_id)
    if patient is None:
        raise NotFoundError("patient", patient_id)
    return patient


def get_by_mrn(session: Session, *, mrn: str) -> Patient | None:
    """The patient with hospital number mrn, or None."""
    return session.scalars(select(Patient).where(Patient.mrn == mrn)).one_or_none()


def list_patients(session: Session, *, limit: int, offset: int) -> tuple[list[Patient], int]:
    """One page of patients ordered by id, and how many there are in all."""
    total = session.scalar(select(func.count()).select_from(Patient)) or 0
    items = session.scalars(select(Patient).order_by(Patient.id).limit(limit).offset(offset))
    return list(items), total


def create(session: Session, *, data: PatientCreate, actor: str) -> Patient:
    """Register a patient; ConflictError if the mrn is taken. Audited."""
    if get_by_mrn(session, mrn=data.mrn) is not None:
        raise ConflictError(f"a patient with mrn {data.mrn!r} already exists")
    patient = Patient(mrn=data.mrn, name=data.name, birth_date=data.birth_date)
    session.add(patient)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent request took the mrn between check and insert
        raise ConflictError(f"a patient with mrn {data.mrn!r} already exists") from exc
    record(session, actor=actor, action="patients.create", target=f"patient:{patient.id}")
    log.info("patient %s registered by %s", patient.id, actor)
    return patient
