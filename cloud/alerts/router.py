"""HTTP endpoints of alerts (list, read, acknowledge, resolve, readings) and of a patient's
alert thresholds and monitoring schedules."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from cloud.alerts import service
from cloud.alerts.rules import DEFAULT_THRESHOLDS, ThresholdError
from cloud.alerts.schemas import (
    AlertNote,
    AlertRead,
    AlertReadingRead,
    AlertStateParam,
    ScheduleRead,
    ScheduleUpdate,
    SeverityParam,
    ThresholdsRead,
    ThresholdsUpdate,
)
from cloud.api.deps import ClinicalUser, SessionDep, StoreDep
from cloud.api.pagination import Page, PageDep
from cloud.audit.service import record
from cloud.db import utcnow
from cloud.readings.schemas import ReadingKind

router = APIRouter(prefix="/api/v1", tags=["alerts"])

_EPSILON = timedelta(microseconds=1)


@router.get("/alerts", response_model=Page[AlertRead])
def list_alerts(
    session: SessionDep,
    user: ClinicalUser,
    page: PageDep,
    state: Annotated[list[AlertStateParam] | None, Query()] = None,
    severity: Annotated[list[SeverityParam] | None, Query()] = None,
    ward_id: int | None = None,
    patient_id: int | None = None,
) -> Page[AlertRead]:
    """Alerts, most severe first, then longest waiting (admin, nurse); filters repeatable."""
    where = service.AlertFilter(
        states=tuple(s.value for s in state) if state else None,
        severities=tuple(s.value for s in severity) if severity else None,
        ward_id=ward_id,
        patient_id=patient_id,
    )
    items, total = service.list_alerts(session, where=where, limit=page.limit, offset=page.offset)
    return Page(
        items=[AlertRead.model_validate(a) for a in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/alerts/{alert_id}", response_model=AlertRead)
def read_alert(alert_id: int, session: SessionDep, user: ClinicalUser) -> AlertRead:
    """One alert (admin, nurse); 404 if unknown."""
    return AlertRead.model_validate(service.get_or_raise(session, alert_id=alert_id))


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertRead)
def acknowledge_alert(
    alert_id: int, body: AlertNote, session: SessionDep, user: ClinicalUser
) -> AlertRead:
    """I have seen this alert: its escalation stops (nothing else does); 409 if resolved or
    acknowledged by someone else. Audited."""
    alert = service.acknowledge(
        session, alert_id=alert_id, actor=user.username, note=body.note, now=utcnow()
    )
    return AlertRead.model_validate(alert)


@router.post("/alerts/{alert_id}/resolve", response_model=AlertRead)
def resolve_alert(
    alert_id: int, body: AlertNote, session: SessionDep, user: ClinicalUser
) -> AlertRead:
    """Close the alert with a note; 409 if already resolved. Audited."""
    alert = service.resolve(
        session, alert_id=alert_id, actor=user.username, note=body.note, now=utcnow()
    )
    return AlertRead.model_validate(alert)


@router.get("/alerts/{alert_id}/readings", response_model=list[AlertReadingRead])
def read_alert_readings(
    alert_id: int, session: SessionDep, store: StoreDep, user: ClinicalUser
) -> list[AlertReadingRead]:
    """The readings that breached the alert's rule, oldest first, with every stored value
    (pulse, MAP) from the time-series store when it has them. Audited."""
    alert = service.get_or_raise(session, alert_id=alert_id)
    rows = service.alert_readings(session, alert_id=alert_id)
    stored: dict[tuple[str, str, int], dict[str, float]] = {}
    if rows:
        points = store.query(
            patient_id=alert.patient_id,
            since=rows[0].measured_at,
            until=max(r.measured_at for r in rows) + _EPSILON,
            kind=alert.kind,
        )
        stored = {point.key: point.values for point in points}
    record(session, actor=user.username, action="alerts.readings.read", target=f"alert:{alert_id}",
           patient_id=alert.patient_id, points=len(rows))  # fmt: skip
    return [
        AlertReadingRead(
            gateway_id=row.gateway_id,
            device_id=row.device_id,
            seq=row.seq,
            measured_at=row.measured_at,
            value=row.value,
            values={**row.values, **stored.get((row.gateway_id, row.device_id, row.seq), {})},
        )
        for row in rows
    ]


def _thresholds_read(patient_id: int, row: object | None) -> ThresholdsRead:
    overrides = dict(getattr(row, "overrides", {}) or {})
    try:
        effective = DEFAULT_THRESHOLDS.merged(overrides).as_dict()
    except ThresholdError:
        effective = DEFAULT_THRESHOLDS.as_dict()
    return ThresholdsRead(
        patient_id=patient_id,
        overrides=overrides,
        effective=effective,
        updated_by=getattr(row, "updated_by", None),
        updated_at=getattr(row, "updated_at", None),
    )


@router.get("/patients/{patient_id}/alert-thresholds", response_model=ThresholdsRead)
def read_thresholds(patient_id: int, session: SessionDep, user: ClinicalUser) -> ThresholdsRead:
    """The patient's threshold overrides and the thresholds in effect (admin, nurse)."""
    return _thresholds_read(patient_id, service.get_thresholds(session, patient_id=patient_id))


@router.put("/patients/{patient_id}/alert-thresholds", response_model=ThresholdsRead)
def write_thresholds(
    patient_id: int, body: ThresholdsUpdate, session: SessionDep, user: ClinicalUser
) -> ThresholdsRead:
    """Replace the patient's overrides (clinicians: admin, nurse); 422 if they are unknown or
    contradict each other. Audited with the previous values."""
    try:
        row = service.put_thresholds(
            session,
            patient_id=patient_id,
            overrides=body.overrides,
            actor=user.username,
            now=utcnow(),
        )
    except ThresholdError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    return _thresholds_read(patient_id, row)


def _schedule_read(view: service.ScheduleView) -> ScheduleRead:
    return ScheduleRead(
        kind=view.kind,
        readings_per_day=view.readings_per_day,
        grace_minutes=view.grace_minutes,
        enabled=view.enabled,
        is_default=view.is_default,
        max_gap_minutes=int(view.max_gap.total_seconds() // 60),
        updated_by=view.updated_by,
        updated_at=view.updated_at,
    )


@router.get("/patients/{patient_id}/monitoring-schedules", response_model=list[ScheduleRead])
def read_schedules(patient_id: int, session: SessionDep, user: ClinicalUser) -> list[ScheduleRead]:
    """The patient's monitoring schedule of each kind (defaults where none was set)."""
    return [_schedule_read(v) for v in service.schedules(session, patient_id=patient_id)]


@router.put("/patients/{patient_id}/monitoring-schedules/{kind}", response_model=list[ScheduleRead])
def write_schedule(
    patient_id: int,
    kind: ReadingKind,
    body: ScheduleUpdate,
    session: SessionDep,
    user: ClinicalUser,
) -> list[ScheduleRead]:
    """Set how often the patient should measure kind (admin, nurse). Audited."""
    service.put_schedule(
        session,
        patient_id=patient_id,
        kind=kind.value,
        readings_per_day=body.readings_per_day,
        grace_minutes=body.grace_minutes,
        enabled=body.enabled,
        actor=user.username,
        now=utcnow(),
    )
    session.flush()
    return [_schedule_read(v) for v in service.schedules(session, patient_id=patient_id)]
