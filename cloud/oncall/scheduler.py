"""The timer side of alerting: escalation of unacknowledged alerts and stale-data checks.

Timers live in SQL (``escalation_states.next_escalation_at``, the last readings), so a
restarted or second scheduler process picks up where the last one stopped; on PostgreSQL
due rows are taken with ``SKIP LOCKED``, so two schedulers never escalate one alert twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts import service as alerts
from cloud.alerts.engine import last_values
from cloud.alerts.lifecycle import Transition
from cloud.alerts.models import Alert, MonitoringSchedule
from cloud.alerts.rules import DEFAULT_SCHEDULES, STALE_RULE_BY_KIND, Schedule, stale_patients
from cloud.alerts.service import AlertChange, change_of
from cloud.db import transaction
from cloud.devices.models import Device, DeviceBinding
from cloud.oncall.service import EscalationResult, escalate_due, start_escalation

log = logging.getLogger(__name__)


def monitored_schedules(session: Session, *, now: datetime) -> list[Schedule]:
    """The schedule of every patient and kind with a meter of the kind bound now.

    Defaults apply unless the patient has an explicit schedule. Staleness counts from the
    binding's start, or from a clinician's last manual resolution of the stale alert (so a
    resolved "no reading" alert does not reopen a minute later).
    """
    bound = session.execute(
        select(DeviceBinding.patient_id, Device.kind, func.min(DeviceBinding.valid_from))
        .join(Device, Device.id == DeviceBinding.device_id)
        .where(
            Device.kind.in_(sorted(DEFAULT_SCHEDULES)),
            DeviceBinding.valid_from <= now,
            or_(DeviceBinding.valid_until.is_(None), DeviceBinding.valid_until > now),
        )
        .group_by(DeviceBinding.patient_id, Device.kind)
    ).all()
    since = {(patient_id, kind): start for patient_id, kind, start in bound}
    if not since:
        return []
    patient_ids = sorted({patient_id for patient_id, _ in since})
    explicit = {
        (row.patient_id, row.kind): row
        for row in session.scalars(
            select(MonitoringSchedule).where(MonitoringSchedule.patient_id.in_(patient_ids))
        )
    }
    kind_of_rule = {rule.value: kind for kind, rule in STALE_RULE_BY_KIND.items()}
    manual = session.execute(
        select(Alert.patient_id, Alert.rule_id, func.max(Alert.resolved_at))
        .where(
            Alert.patient_id.in_(patient_ids),
            Alert.rule_id.in_(sorted(kind_of_rule)),
            Alert.auto_resolved.is_(False),
            Alert.resolved_at.is_not(None),
        )
        .group_by(Alert.patient_id, Alert.rule_id)
    ).all()
    for patient_id, rule_id, resolved_at in manual:
        key = (patient_id, kind_of_rule[rule_id])
        if key in since and resolved_at is not None:
            since[key] = max(since[key], resolved_at)
    found = []
    for (patient_id, kind), active_since in sorted(since.items()):
        row = explicit.get((patient_id, kind))
        if row is None:
            per_day, grace = DEFAULT_SCHEDULES[kind]
            found.append(Schedule(patient_id, kind, per_day, grace, active_since))
        else:
            found.append(
                Schedule(patient_id, kind, row.readings_per_day,
                         timedelta(minutes=row.grace_minutes), active_since, row.enabled)
            )  # fmt: skip
    return found


def check_stale(session: Session, *, now: datetime) -> list[AlertChange]:
    """Open a stale-data alert for every scheduled patient and kind overdue at now.

    The alert resolves itself on the first newer reading of the kind (``evaluate_readings``).
    """
    schedules = monitored_schedules(session, now=now)
    if not schedules:
        return []
    patient_ids = sorted({schedule.patient_id for schedule in schedules})
    last = {key: at for key, (at, _) in last_values(session, patient_ids=patient_ids).items()}
    findings = stale_patients(last, schedules, now)
    if not findings:
        return []
    active = alerts.active_alerts(session, patient_ids=[f.patient_id for f in findings])
    opened: list[Alert] = []
    for finding in findings:
        if (finding.patient_id, finding.rule_id.value) in active:
            continue
        alert = alerts.create_alert(
            session, patient_id=finding.patient_id, breach=finding.breach(), now=now
        )
        if alert is None:
            continue
        # Only a reading newer than the last known one shows the patient measured again.
        alert.last_reading_at = finding.last_reading_at
        opened.append(alert)
    session.flush()  # new alerts get their ids
    for alert in opened:
        alerts.audit_opened(session, alert=alert)
    start_escalation(session, alerts=opened, now=now)
    return [change_of(alert, Transition.OPENED, now) for alert in opened]


@dataclass
class SchedulerRun:
    """What one scheduler pass did."""

    escalations: list[EscalationResult] = field(default_factory=list)
    stale: list[AlertChange] = field(default_factory=list)


def run_scheduler_once(session_factory: sessionmaker[Session], now: datetime) -> SchedulerRun:
    """One pass: escalate due alerts, then check stale data; each in its own transaction.

    Call it every few seconds (escalation delays are minutes); a failure of one part is
    logged and the other still runs.
    """
    run = SchedulerRun()
    try:
        with transaction(session_factory) as session:
            run.escalations = escalate_due(session, now=now)
    except Exception:
        log.exception("escalation pass failed; retrying on the next tick")
    try:
        with transaction(session_factory) as session:
            run.stale = check_stale(session, now=now)
    except Exception:
        log.exception("stale-data pass failed; retrying on the next tick")
    return run
