"""HTTP endpoints of wards, patient ward assignment, nurses, shifts, escalation policies
and the on-call lookup. Changes need an admin; clinicians may read."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlalchemy import select

from cloud.api.deps import AdminUser, ClinicalUser, SessionDep
from cloud.auth.models import User
from cloud.db import utcnow
from cloud.oncall import service
from cloud.oncall.models import Nurse, Shift
from cloud.oncall.schemas import (
    NurseCreate,
    NurseRead,
    NurseUpdate,
    OnCallRead,
    PatientWardRead,
    PatientWardUpdate,
    PolicyRead,
    PolicyWrite,
    RotaCreate,
    ShiftCreate,
    ShiftRead,
    WardCreate,
    WardRead,
    WardUpdate,
)
from protocol.topics import NurseTopic

router = APIRouter(prefix="/api/v1", tags=["on-call"])


def _unprocessable(exc: Exception) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc))


def _local(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).isoformat()


# --- wards ----------------------------------------------------------------------------------


@router.get("/wards", response_model=list[WardRead])
def list_wards(session: SessionDep, user: ClinicalUser) -> list[WardRead]:
    """Every ward (admin, nurse)."""
    return [WardRead.model_validate(w) for w in service.list_wards(session)]


@router.post("/wards", response_model=WardRead, status_code=status.HTTP_201_CREATED)
def create_ward(body: WardCreate, session: SessionDep, user: AdminUser) -> WardRead:
    """Create a ward (admin); 422 for an unknown time zone, 409 for a taken name."""
    try:
        ward = service.create_ward(
            session,
            name=body.name,
            timezone=body.timezone,
            escalation_policy_id=body.escalation_policy_id,
            actor=user.username,
        )
    except service.OnCallError as exc:
        raise _unprocessable(exc) from exc
    return WardRead.model_validate(ward)


@router.get("/wards/{ward_id}", response_model=WardRead)
def read_ward(ward_id: int, session: SessionDep, user: ClinicalUser) -> WardRead:
    """One ward; 404 if unknown."""
    return WardRead.model_validate(service.get_ward_or_raise(session, ward_id=ward_id))


@router.patch("/wards/{ward_id}", response_model=WardRead)
def update_ward(ward_id: int, body: WardUpdate, session: SessionDep, user: AdminUser) -> WardRead:
    """Rename a ward or change its time zone or policy (admin)."""
    current = service.get_ward_or_raise(session, ward_id=ward_id)
    policy_id = (
        body.escalation_policy_id
        if "escalation_policy_id" in body.model_fields_set
        else current.escalation_policy_id
    )
    try:
        ward = service.update_ward(
            session,
            ward_id=ward_id,
            name=body.name,
            timezone=body.timezone,
            escalation_policy_id=policy_id,
            actor=user.username,
        )
    except service.OnCallError as exc:
        raise _unprocessable(exc) from exc
    return WardRead.model_validate(ward)


@router.delete("/wards/{ward_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_ward(ward_id: int, session: SessionDep, user: AdminUser) -> Response:
    """Delete an empty ward (admin); 409 while nurses, patients or shifts refer to it."""
    service.delete_ward(session, ward_id=ward_id, actor=user.username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/patients/{patient_id}/ward", response_model=PatientWardRead)
def assign_patient(
    patient_id: int, body: PatientWardUpdate, session: SessionDep, user: AdminUser
) -> PatientWardRead:
    """Make a ward responsible for the patient's alerts (admin). Audited."""
    row = service.assign_patient(
        session, patient_id=patient_id, ward_id=body.ward_id, actor=user.username
    )
    session.flush()
    return PatientWardRead.model_validate(row)


@router.get("/wards/{ward_id}/on-call", response_model=list[OnCallRead])
def read_on_call(
    ward_id: int,
    session: SessionDep,
    user: ClinicalUser,
    at: Annotated[datetime | None, Query(description="instant; default now")] = None,
) -> list[OnCallRead]:
    """Who is on call for the ward at an instant, by tier (admin, nurse)."""
    ward = service.get_ward_or_raise(session, ward_id=ward_id)
    moment = at if at is not None else utcnow()
    if moment.tzinfo is None:
        raise _unprocessable(ValueError("at must include a UTC offset"))
    rows = session.execute(
        select(Shift, Nurse, User)
        .join(Nurse, Nurse.id == Shift.nurse_id)
        .join(User, User.id == Nurse.user_id)
        .where(
            Shift.ward_id == ward_id,
            Shift.starts_at <= moment,
            Shift.ends_at > moment,
            Nurse.active.is_(True),
        )
        .order_by(Shift.tier, Shift.starts_at, Nurse.id)
    ).all()
    return [
        OnCallRead(
            nurse=_nurse_read(nurse, account),
            tier=shift.tier,
            shift_id=shift.id,
            ends_at=shift.ends_at,
            ends_local=_local(shift.ends_at, ward.timezone),
        )
        for shift, nurse, account in rows
    ]


# --- nurses ---------------------------------------------------------------------------------


def _nurse_read(nurse: Nurse, account: User) -> NurseRead:
    return NurseRead(
        id=nurse.id,
        user_id=nurse.user_id,
        username=account.username,
        display_name=account.display_name,
        ward_id=nurse.ward_id,
        phone=nurse.phone,
        mqtt_enabled=nurse.mqtt_enabled,
        mqtt_topic=str(NurseTopic(str(nurse.id))),
        active=nurse.active,
    )


def _with_account(session: SessionDep, nurse: Nurse) -> NurseRead:
    account = session.get(User, nurse.user_id)
    assert account is not None  # a foreign key guarantees it
    return _nurse_read(nurse, account)


@router.get("/nurses", response_model=list[NurseRead])
def list_nurses(
    session: SessionDep, user: ClinicalUser, ward_id: int | None = None
) -> list[NurseRead]:
    """Nurses, of one ward if given (admin, nurse)."""
    return [_with_account(session, n) for n in service.list_nurses(session, ward_id=ward_id)]


@router.post("/nurses", response_model=NurseRead, status_code=status.HTTP_201_CREATED)
def create_nurse(body: NurseCreate, session: SessionDep, user: AdminUser) -> NurseRead:
    """Make a user a nurse (admin); 409 if they are one already or not a clinician."""
    nurse = service.create_nurse(
        session,
        user_id=body.user_id,
        ward_id=body.ward_id,
        phone=body.phone,
        mqtt_enabled=body.mqtt_enabled,
        actor=user.username,
    )
    return _with_account(session, nurse)


@router.patch("/nurses/{nurse_id}", response_model=NurseRead)
def update_nurse(
    nurse_id: int, body: NurseUpdate, session: SessionDep, user: AdminUser
) -> NurseRead:
    """Change a nurse's ward, phone, MQTT device or active flag (admin)."""
    nurse = service.update_nurse(
        session, nurse_id=nurse_id, actor=user.username, **body.model_dump(exclude_unset=True)
    )
    return _with_account(session, nurse)


# --- shifts ---------------------------------------------------------------------------------


def _shift_read(shift: Shift) -> ShiftRead:
    return ShiftRead(
        id=shift.id,
        ward_id=shift.ward_id,
        nurse_id=shift.nurse_id,
        tier=shift.tier,
        starts_at=shift.starts_at,
        ends_at=shift.ends_at,
        timezone=shift.timezone,
        starts_local=_local(shift.starts_at, shift.timezone),
        ends_local=_local(shift.ends_at, shift.timezone),
        created_by=shift.created_by,
    )


@router.get("/shifts", response_model=list[ShiftRead])
def list_shifts(
    session: SessionDep,
    user: ClinicalUser,
    ward_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ShiftRead]:
    """Shifts overlapping [since, until), of one ward if given (admin, nurse)."""
    if any(t is not None and t.tzinfo is None for t in (since, until)):
        raise _unprocessable(ValueError("since and until must include a UTC offset"))
    shifts = service.list_shifts(session, ward_id=ward_id, since=since, until=until)
    return [_shift_read(s) for s in shifts]


@router.post("/shifts", response_model=ShiftRead, status_code=status.HTTP_201_CREATED)
def create_shift(body: ShiftCreate, session: SessionDep, user: AdminUser) -> ShiftRead:
    """Put a nurse on call (admin); 422 if it ends before it starts."""
    try:
        shift = service.create_shift(
            session,
            ward_id=body.ward_id,
            nurse_id=body.nurse_id,
            tier=body.tier,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            actor=user.username,
        )
    except service.OnCallError as exc:
        raise _unprocessable(exc) from exc
    return _shift_read(shift)


@router.post("/shifts/rota", response_model=list[ShiftRead], status_code=status.HTTP_201_CREATED)
def create_rota(body: RotaCreate, session: SessionDep, user: AdminUser) -> list[ShiftRead]:
    """Daily shifts at the ward's local handover times, DST-aware (admin)."""
    try:
        shifts = service.create_rota(
            session,
            ward_id=body.ward_id,
            nurse_id=body.nurse_id,
            tier=body.tier,
            first_day=body.first_day,
            days=body.days,
            start=body.start,
            end=body.end,
            actor=user.username,
        )
    except service.OnCallError as exc:
        raise _unprocessable(exc) from exc
    return [_shift_read(s) for s in shifts]


@router.delete("/shifts/{shift_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_shift(shift_id: int, session: SessionDep, user: AdminUser) -> Response:
    """Remove a shift (admin)."""
    service.delete_shift(session, shift_id=shift_id, actor=user.username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- escalation policies --------------------------------------------------------------------


@router.get("/escalation-policies", response_model=list[PolicyRead])
def list_policies(session: SessionDep, user: ClinicalUser) -> list[PolicyRead]:
    """Every escalation policy (admin, nurse)."""
    return [PolicyRead.model_validate(p) for p in service.list_policies(session)]


def _save(session: SessionDep, policy_id: int | None, body: PolicyWrite, actor: str) -> PolicyRead:
    try:
        row = service.save_policy(
            session,
            policy_id=policy_id,
            name=body.name,
            levels=[level.model_dump() for level in body.levels],
            repeat_minutes=body.repeat_minutes,
            critical_repeat_minutes=body.critical_repeat_minutes,
            is_default=body.is_default,
            actor=actor,
        )
    except service.OnCallError as exc:
        raise _unprocessable(exc) from exc
    return PolicyRead.model_validate(row)


@router.post("/escalation-policies", response_model=PolicyRead, status_code=status.HTTP_201_CREATED)
def create_policy(body: PolicyWrite, session: SessionDep, user: AdminUser) -> PolicyRead:
    """Create an escalation policy (admin)."""
    return _save(session, None, body, user.username)


@router.put("/escalation-policies/{policy_id}", response_model=PolicyRead)
def replace_policy(
    policy_id: int, body: PolicyWrite, session: SessionDep, user: AdminUser
) -> PolicyRead:
    """Replace an escalation policy (admin)."""
    return _save(session, policy_id, body, user.username)


@router.delete("/escalation-policies/{policy_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_policy(policy_id: int, session: SessionDep, user: AdminUser) -> Response:
    """Delete a policy no ward uses (admin); 409 otherwise."""
    service.delete_policy(session, policy_id=policy_id, actor=user.username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
