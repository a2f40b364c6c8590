"""Alerts in SQL: creation and attachment for the engine, the clinician's verbs (list, get,
acknowledge, resolve), patient thresholds and monitoring schedules. Every transition is
audited; the caller's transaction commits."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from sqlalchemy import Select, Table, Update, bindparam, case, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.alerts import lifecycle
from cloud.alerts.lifecycle import AlertState, AlertStatus, LifecycleError, Transition
from cloud.alerts.models import Alert, AlertReading, MonitoringSchedule, PatientThresholds
from cloud.alerts.rules import (
    DEFAULT_SCHEDULES,
    DEFAULT_THRESHOLDS,
    RULES,
    SEVERITY_RANK,
    AnyReading,
    Breach,
    RuleId,
    ThresholdError,
    Thresholds,
)
from cloud.audit.service import entry, record, record_many
from cloud.db import in_batch
from cloud.errors import ConflictError, NotFoundError
from cloud.oncall.models import PatientWard
from cloud.oncall.service import stop_escalation, stop_escalations
from cloud.patients.service import get_or_raise as get_patient_or_raise

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertChange:
    """One thing that happened to an alert (what the console and the worker's log want)."""

    alert_id: int
    patient_id: int
    rule_id: str
    severity: str
    transition: Transition
    at: datetime


def change_of(alert: Alert | AlertRecord, transition: Transition, at: datetime) -> AlertChange:
    """The change record of alert (written: it has an id)."""
    return AlertChange(
        written_id(alert), alert.patient_id, alert.rule_id, alert.severity, transition, at
    )


def written_id(alert: Alert | AlertRecord) -> int:
    """The id of an alert; ValueError for a record not inserted yet."""
    if alert.id is None:
        raise ValueError(f"alert {alert.rule_id} of patient {alert.patient_id} is not written")
    return alert.id


# --- the engine's plain alert records ----------------------------------------------------

ALERTS = cast(Table, Alert.__table__)
ALERT_READINGS = cast(Table, AlertReading.__table__)


@dataclass(slots=True, eq=False)
class AlertRecord:
    """An alert row as plain attributes (the columns of :class:`Alert`, same names).

    The ingest engine reads, changes and writes alerts as these, with Core statements: ORM
    objects and their unit of work were most of its cost per batch. ``id`` is None until
    the record is inserted; ``readings_changed`` (no column) says a reading was attached
    since it was last written.
    """

    id: int | None
    patient_id: int
    rule_id: str
    active_rule_id: str | None
    severity: str
    category: str
    kind: str | None
    state: str
    message_en: str
    message_zh: str
    first_value: float | None
    last_value: float | None
    opened_at: datetime
    updated_at: datetime
    first_reading_at: datetime | None
    last_reading_at: datetime | None
    first_gateway_id: str | None
    first_device_id: str | None
    first_seq: int | None
    last_gateway_id: str | None
    last_device_id: str | None
    last_seq: int | None
    readings_count: int
    clear_since: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    acknowledge_note: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolve_note: str | None
    auto_resolved: bool
    readings_changed: bool = False


_RECORD_COLUMNS = [ALERTS.c[field.name] for field in fields(AlertRecord) if field.name in ALERTS.c]
#: What the lifecycle changes (acknowledgement and notes are the clinician's, the rest is
#: fixed when the alert opens) and what attaching a reading changes besides.
_STATUS_COLUMNS = ("active_rule_id", "state", "updated_at", "readings_count", "clear_since",
                   "resolved_by", "resolved_at", "auto_resolved")  # fmt: skip
_READING_COLUMNS = ("message_en", "message_zh", "first_value", "last_value", "first_reading_at",
                    "last_reading_at", "first_gateway_id", "first_device_id", "first_seq",
                    "last_gateway_id", "last_device_id", "last_seq")  # fmt: skip
#: Inserted: all but the id and what only a clinician sets.
_INSERT_COLUMNS = tuple(
    column.name
    for column in _RECORD_COLUMNS
    if column.name not in ("id", "acknowledged_by", "acknowledged_at", "acknowledge_note",
                           "resolve_note")
)  # fmt: skip


def _update(names: Sequence[str]) -> Update:
    return (
        update(ALERTS)
        .where(ALERTS.c.id == bindparam("record_id"))
        .values({name: bindparam(name) for name in names})
    )


_UPDATE_STATUS = _update(_STATUS_COLUMNS)
_UPDATE_STATUS_AND_READINGS = _update(_STATUS_COLUMNS + _READING_COLUMNS)


def new_alert_values(*, patient_id: int, breach: Breach, now: datetime) -> dict[str, Any]:
    """The columns (all but id) of a new open alert for breach, before any reading attaches."""
    status, _ = lifecycle.open_alert(patient_id, breach, measured_at=None, now=now)
    return {
        "patient_id": patient_id,
        "rule_id": breach.rule_id.value,
        "active_rule_id": breach.rule_id.value,
        "severity": breach.severity.value,
        "category": breach.category.value,
        "kind": RULES[breach.rule_id].kind,
        "state": status.state.value,
        "message_en": breach.message_en,
        "message_zh": breach.message_zh,
        "first_value": breach.value,
        "last_value": breach.value,
        "opened_at": now,
        "updated_at": now,
        "first_reading_at": None,
        "last_reading_at": None,
        "first_gateway_id": None,
        "first_device_id": None,
        "first_seq": None,
        "last_gateway_id": None,
        "last_device_id": None,
        "last_seq": None,
        "readings_count": 0,
        "clear_since": None,
        "acknowledged_by": None,
        "acknowledged_at": None,
        "acknowledge_note": None,
        "resolved_by": None,
        "resolved_at": None,
        "resolve_note": None,
        "auto_resolved": False,
    }


# Statements the engine runs per batch, built once: building one (and its cache key) cost
# more than executing it.
_INSERT_ALERT = insert(ALERTS).returning(ALERTS.c.id)
_INSERT_ALERT_READING = insert(ALERT_READINGS)


@cache
def _active_records_query(dialect_name: str) -> Select[Any]:
    return (
        select(*_RECORD_COLUMNS)
        .where(
            in_batch(ALERTS.c.patient_id, "patient_ids", dialect_name),
            ALERTS.c.active_rule_id.is_not(None),
        )
        .with_for_update()
    )


def active_alert_records(
    session: Session, *, patient_ids: Sequence[int]
) -> dict[tuple[int, str], AlertRecord]:
    """:func:`active_alerts` as plain records, for the engine."""
    if not patient_ids:
        return {}
    query = _active_records_query(session.get_bind().dialect.name)
    rows = session.execute(query, {"patient_ids": sorted(set(patient_ids))})
    records = [AlertRecord(*row) for row in rows]
    return {(record.patient_id, record.rule_id): record for record in records}


def open_alert_record(
    session: Session,
    *,
    patient_id: int,
    breach: Breach,
    now: datetime,
    changed: dict[int, AlertRecord],
) -> AlertRecord | None:
    """:func:`create_alert` for the engine: a new open record; None if another worker just
    opened the same alert. On PostgreSQL it is inserted at once, in a savepoint, after the
    changed records so far (which it writes and empties: a resolution earlier in the batch
    frees its rule); on SQLite it waits for :func:`write_alert_records`."""
    record = AlertRecord(None, **new_alert_values(patient_id=patient_id, breach=breach, now=now))
    if session.get_bind().dialect.name == "postgresql":
        write_alert_records(session, list(changed.values()))
        changed.clear()
        try:
            with session.begin_nested():
                record.id = session.execute(_INSERT_ALERT, _insert_values(record)).scalar_one()
        except IntegrityError:
            log.info("alert %s of patient %s was opened concurrently", breach.rule_id, patient_id)
            return None
    return record


def _insert_values(record: AlertRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in _INSERT_COLUMNS}


def write_alert_records(session: Session, records: Sequence[AlertRecord]) -> None:
    """Write what the engine changed on the stored records, then insert the new ones (in
    order, giving them ids): one statement each, updates first, so that an alert resolved in
    the batch frees its (patient, rule) for a new one. Parameters, not statements, are most
    of the cost here: a record without a new reading writes its status columns only."""
    for statement, names, readings_changed in (
        (_UPDATE_STATUS, _STATUS_COLUMNS, False),
        (_UPDATE_STATUS_AND_READINGS, _STATUS_COLUMNS + _READING_COLUMNS, True),
    ):
        changed = [
            {"record_id": record.id, **{name: getattr(record, name) for name in names}}
            for record in records
            if record.id is not None and record.readings_changed is readings_changed
        ]
        if changed:
            session.execute(statement, changed)
    for written in records:
        written.readings_changed = False
    new = [record for record in records if record.id is None]
    if new:  # only on SQLite (PostgreSQL inserts at opening), which numbers the rows of one
        # INSERT in order (each gets the largest rowid + 1) but returns them in no set order;
        # asking SQLAlchemy for that order would cost an INSERT per row.
        ids = session.execute(_INSERT_ALERT, [_insert_values(record) for record in new]).scalars()
        for record, alert_id in zip(new, sorted(ids), strict=True):
            record.id = alert_id


# --- between the SQL row and the pure lifecycle ----------------------------------------------


def status_of(alert: Alert | AlertRecord) -> AlertStatus:
    """The lifecycle view of a row."""
    return AlertStatus(
        patient_id=alert.patient_id,
        rule_id=RuleId(alert.rule_id),
        state=AlertState(alert.state),
        opened_at=alert.opened_at,
        last_breach_at=alert.last_reading_at,
        readings_count=alert.readings_count,
        clear_since=alert.clear_since,
        acknowledged_by=alert.acknowledged_by,
        acknowledged_at=alert.acknowledged_at,
        resolved_by=alert.resolved_by,
        resolved_at=alert.resolved_at,
        auto_resolved=alert.auto_resolved,
    )


def apply_status(alert: Alert | AlertRecord, status: AlertStatus, *, now: datetime) -> None:
    """Copy the lifecycle fields of status onto the row."""
    alert.state = status.state.value
    alert.active_rule_id = alert.rule_id if status.active else None
    alert.readings_count = status.readings_count
    alert.clear_since = status.clear_since
    alert.acknowledged_by = status.acknowledged_by
    alert.acknowledged_at = status.acknowledged_at
    alert.resolved_by = status.resolved_by
    alert.resolved_at = status.resolved_at
    alert.auto_resolved = status.auto_resolved
    alert.updated_at = now


def active_alerts(session: Session, *, patient_ids: Sequence[int]) -> dict[tuple[int, str], Alert]:
    """Open and acknowledged alerts of the patients by (patient, rule), locked (PostgreSQL)."""
    if not patient_ids:
        return {}
    rows = session.scalars(
        select(Alert)
        .where(Alert.patient_id.in_(sorted(set(patient_ids))), Alert.active_rule_id.is_not(None))
        .with_for_update()
    )
    return {(row.patient_id, row.rule_id): row for row in rows}


def create_alert(
    session: Session, *, patient_id: int, breach: Breach, now: datetime
) -> Alert | None:
    """Add a new open alert for breach; None if another worker just opened the same one.

    On PostgreSQL the insert runs at once in a savepoint: the unique (patient, active rule)
    constraint decides a race between workers, and the loser attaches to the winner's alert.
    SQLite has one writer at a time, so the insert waits for the caller's next flush. Either
    way the caller audits it with :func:`audit_opened` once it has an id.
    """
    alert = Alert(**new_alert_values(patient_id=patient_id, breach=breach, now=now))
    if session.get_bind().dialect.name == "postgresql":
        try:
            with session.begin_nested():
                session.add(alert)
                session.flush()
        except IntegrityError:
            log.info("alert %s of patient %s was opened concurrently", breach.rule_id, patient_id)
            return None
    else:
        session.add(alert)
    return alert


def _opened_entry(alert: Alert | AlertRecord) -> dict[str, Any]:
    log.info(
        "alert %s opened: patient %s %s (%s) %s",
        alert.id, alert.patient_id, alert.rule_id, alert.severity, alert.message_en,
    )  # fmt: skip
    return entry(
        actor=lifecycle.SYSTEM_ACTOR,
        action="alerts.opened",
        target=f"alert:{alert.id}",
        patient_id=alert.patient_id,
        rule_id=alert.rule_id,
        severity=alert.severity,
        message=alert.message_en,
    )


def _auto_resolved_entry(alert: Alert | AlertRecord) -> dict[str, Any]:
    log.info("alert %s auto-resolved (in range since %s)", alert.id, alert.clear_since)
    return entry(
        actor=lifecycle.SYSTEM_ACTOR,
        action="alerts.auto_resolved",
        target=f"alert:{alert.id}",
        in_range_since=alert.clear_since.isoformat() if alert.clear_since else None,
    )


def audit_opened(session: Session, *, alert: Alert) -> None:
    """Audit and log a new alert (after a flush gave it an id)."""
    audit_transitions(session, opened=[alert], auto_resolved=[])


def audit_transitions(
    session: Session,
    *,
    opened: Sequence[Alert | AlertRecord],
    auto_resolved: Sequence[Alert | AlertRecord],
) -> None:
    """Audit and log new alerts, then auto-resolutions decided by the lifecycle, and stop the
    escalations of the resolved: one statement per table for all of them (after a flush gave
    the alerts ids)."""
    if auto_resolved:
        resolved_ids = [written_id(alert) for alert in auto_resolved]
        stop_escalations(session, alert_ids=resolved_ids, reason="auto_resolved")
    record_many(
        session,
        [_opened_entry(alert) for alert in opened]
        + [_auto_resolved_entry(alert) for alert in auto_resolved],
    )


def attach_reading(
    alert: AlertRecord, status: AlertStatus, *, reading: AnyReading, breach: Breach, now: datetime
) -> AlertStatus:
    """Attach a breaching reading to alert (whose lifecycle status is status): count it,
    remember first/last, end a clear streak; the new status. The caller inserts the
    alert_readings row with :func:`add_alert_readings` once the alert has an id."""
    status, _ = lifecycle.on_breach(status, measured_at=reading.measured_at)
    measured_at = reading.measured_at
    if alert.first_reading_at is None or measured_at < alert.first_reading_at:
        alert.first_reading_at = measured_at
        alert.first_gateway_id, alert.first_device_id, alert.first_seq = reading.key
        alert.first_value = breach.value
    if alert.last_reading_at is None or measured_at >= alert.last_reading_at:
        alert.last_reading_at = measured_at
        alert.last_gateway_id, alert.last_device_id, alert.last_seq = reading.key
        alert.last_value = breach.value
        alert.message_en, alert.message_zh = breach.message_en, breach.message_zh
    apply_status(alert, status, now=now)
    alert.readings_changed = True
    return status


def add_alert_readings(
    session: Session, attached: Sequence[tuple[AlertRecord, AnyReading, Breach]]
) -> None:
    """Insert the alert_readings rows of attached breaches in one statement (Core rows: one
    ORM object per breaching reading cost more than the rest of attaching it)."""
    if not attached:
        return
    session.execute(
        _INSERT_ALERT_READING,
        [
            {
                "alert_id": alert.id,
                "gateway_id": reading.gateway_id,
                "device_id": reading.device_id,
                "seq": reading.seq,
                "measured_at": reading.measured_at,
                "value": breach.value,
                "values": breach.values,
            }
            for alert, reading, breach in attached
        ],
    )


# --- the clinician's verbs -------------------------------------------------------------------


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts to list; None means any."""

    states: tuple[str, ...] | None = None
    severities: tuple[str, ...] | None = None
    ward_id: int | None = None
    patient_id: int | None = None


def get_or_raise(session: Session, *, alert_id: int) -> Alert:
    """The alert alert_id; NotFoundError if unknown."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFoundError("alert", alert_id)
    return alert


def list_alerts(
    session: Session, *, where: AlertFilter, limit: int, offset: int
) -> tuple[list[Alert], int]:
    """Alerts matching where, most severe first, then the longest waiting; and the total."""
    statement = select(Alert)
    if where.states:
        statement = statement.where(Alert.state.in_(where.states))
    if where.severities:
        statement = statement.where(Alert.severity.in_(where.severities))
    if where.patient_id is not None:
        statement = statement.where(Alert.patient_id == where.patient_id)
    if where.ward_id is not None:
        statement = statement.join(PatientWard, PatientWard.patient_id == Alert.patient_id).where(
            PatientWard.ward_id == where.ward_id
        )
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rank = case(SEVERITY_RANK, value=Alert.severity, else_=len(SEVERITY_RANK))
    ordered = statement.order_by(rank, Alert.opened_at, Alert.id).limit(limit).offset(offset)
    return list(session.scalars(ordered)), total


def acknowledge(
    session: Session, *, alert_id: int, actor: str, note: str | None, now: datetime
) -> Alert:
    """actor has seen the alert: its escalation stops; no other alert changes. Audited.

    ConflictError if the alert is resolved or someone else acknowledged it already.
    """
    alert = session.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        raise NotFoundError("alert", alert_id)
    before = status_of(alert)
    try:
        status = lifecycle.acknowledge(before, by=actor, at=now)
    except LifecycleError as exc:
        raise ConflictError(f"alert {alert_id}: {exc}") from exc
    if status == before:
        return alert
    apply_status(alert, status, now=now)
    alert.acknowledge_note = note
    stop_escalation(session, alert_id=alert_id, reason="acknowledged")
    record(session, actor=actor, action="alerts.acknowledged", target=f"alert:{alert_id}",
           note=note)  # fmt: skip
    log.info("alert %s acknowledged by %s", alert_id, actor)
    return alert


def resolve(
    session: Session, *, alert_id: int, actor: str, note: str | None, now: datetime
) -> Alert:
    """actor closes the alert; ConflictError if it is resolved already. Audited."""
    alert = session.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        raise NotFoundError("alert", alert_id)
    try:
        status = lifecycle.resolve(status_of(alert), by=actor, at=now)
    except LifecycleError as exc:
        raise ConflictError(f"alert {alert_id}: {exc}") from exc
    apply_status(alert, status, now=now)
    alert.resolve_note = note
    stop_escalation(session, alert_id=alert_id, reason="resolved")
    record(session, actor=actor, action="alerts.resolved", target=f"alert:{alert_id}", note=note)
    log.info("alert %s resolved by %s", alert_id, actor)
    return alert


def alert_readings(session: Session, *, alert_id: int) -> list[AlertReading]:
    """The breaching readings attached to alert_id, oldest first; NotFoundError if unknown."""
    get_or_raise(session, alert_id=alert_id)
    return list(
        session.scalars(
            select(AlertReading)
            .where(AlertReading.alert_id == alert_id)
            .order_by(AlertReading.measured_at, AlertReading.id)
        )
    )


# --- thresholds and schedules ----------------------------------------------------------------


_THRESHOLDS_TABLE = cast(Table, PatientThresholds.__table__).c


@cache
def _thresholds_query(dialect_name: str) -> Select[Any]:
    return select(_THRESHOLDS_TABLE.patient_id, _THRESHOLDS_TABLE.overrides).where(
        in_batch(_THRESHOLDS_TABLE.patient_id, "patient_ids", dialect_name)
    )


def thresholds_of(session: Session, *, patient_ids: Sequence[int]) -> dict[int, Thresholds]:
    """Each patient's effective thresholds (defaults merged with overrides), in one query."""
    found = {patient_id: DEFAULT_THRESHOLDS for patient_id in patient_ids}
    if not found:
        return found
    query = _thresholds_query(session.get_bind().dialect.name)
    rows = session.execute(query, {"patient_ids": sorted(found)})
    for patient_id, overrides in rows:
        try:
            found[patient_id] = DEFAULT_THRESHOLDS.merged(overrides)
        except ThresholdError as exc:  # written before a rule changed; never skip evaluation
            log.warning("patient %s: stored thresholds unusable (%s); using defaults",
                        patient_id, exc)  # fmt: skip
    return found


def get_thresholds(session: Session, *, patient_id: int) -> PatientThresholds | None:
    """The patient's overrides row, or None (defaults); NotFoundError for an unknown patient."""
    get_patient_or_raise(session, patient_id=patient_id)
    return session.get(PatientThresholds, patient_id)


def put_thresholds(
    session: Session, *, patient_id: int, overrides: dict[str, float], actor: str, now: datetime
) -> PatientThresholds:
    """Replace the patient's overrides (empty: back to defaults). ThresholdError if invalid.

    Audited with the previous and the new overrides.
    """
    get_patient_or_raise(session, patient_id=patient_id)
    DEFAULT_THRESHOLDS.merged(overrides)
    row = session.get(PatientThresholds, patient_id)
    previous = dict(row.overrides) if row is not None else {}
    if row is None:
        row = PatientThresholds(patient_id=patient_id, overrides={}, updated_by=actor)
        session.add(row)
    row.overrides = dict(overrides)
    row.updated_by, row.updated_at = actor, now
    record(session, actor=actor, action="alerts.thresholds", target=f"patient:{patient_id}",
           previous=previous, overrides=dict(overrides))  # fmt: skip
    return row


@dataclass(frozen=True)
class ScheduleView:
    """A patient's schedule of one kind: the explicit one, or the default."""

    kind: str
    readings_per_day: int
    grace_minutes: int
    enabled: bool
    is_default: bool
    updated_by: str | None
    updated_at: datetime | None

    @property
    def max_gap(self) -> timedelta:
        """The longest allowed time without a reading."""
        return timedelta(days=1) / self.readings_per_day + timedelta(minutes=self.grace_minutes)


def schedules(session: Session, *, patient_id: int) -> list[ScheduleView]:
    """The patient's schedule of every kind (explicit rows, defaults for the rest)."""
    get_patient_or_raise(session, patient_id=patient_id)
    rows = {
        row.kind: row
        for row in session.scalars(
            select(MonitoringSchedule).where(MonitoringSchedule.patient_id == patient_id)
        )
    }
    views = []
    for kind, (per_day, grace) in DEFAULT_SCHEDULES.items():
        row = rows.get(kind)
        if row is None:
            views.append(ScheduleView(kind, per_day, int(grace.total_seconds() // 60), True, True,
                                      None, None))  # fmt: skip
        else:
            views.append(ScheduleView(kind, row.readings_per_day, row.grace_minutes, row.enabled,
                                      False, row.updated_by, row.updated_at))  # fmt: skip
    return views


def put_schedule(
    session: Session,
    *,
    patient_id: int,
    kind: str,
    readings_per_day: int,
    grace_minutes: int,
    enabled: bool,
    actor: str,
    now: datetime,
) -> MonitoringSchedule:
    """Set the patient's schedule of kind (it replaces the default). Audited."""
    get_patient_or_raise(session, patient_id=patient_id)
    if kind not in DEFAULT_SCHEDULES:
        raise ConflictError(f"no schedule for reading kind {kind!r}")
    if readings_per_day < 1 or grace_minutes < 0:
        raise ConflictError("readings_per_day must be at least 1 and grace_minutes not negative")
    row = session.scalars(
        select(MonitoringSchedule).where(
            MonitoringSchedule.patient_id == patient_id, MonitoringSchedule.kind == kind
        )
    ).one_or_none()
    if row is None:
        row = MonitoringSchedule(patient_id=patient_id, kind=kind, updated_by=actor)
        session.add(row)
    row.readings_per_day, row.grace_minutes, row.enabled = readings_per_day, grace_minutes, enabled
    row.updated_by, row.updated_at = actor, now
    record(session, actor=actor, action="alerts.schedule", target=f"patient:{patient_id}",
           kind=kind, readings_per_day=readings_per_day, grace_minutes=grace_minutes,
           enabled=enabled)  # fmt: skip
    return row
