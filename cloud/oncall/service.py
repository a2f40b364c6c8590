"""On-call: who is on call where and when, escalation of unacknowledged alerts, and the
wards, nurses, shifts and policies behind them (the caller's transaction commits)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from cloud.alerts.lifecycle import AlertState
from cloud.alerts.models import Alert
from cloud.audit.service import entry, record, record_many
from cloud.errors import ConflictError, NotFoundError
from cloud.oncall import notifications
from cloud.oncall.escalation import DEFAULT_POLICY, Policy, PolicyError, Step, first_step, next_step
from cloud.oncall.models import EscalationPolicy, EscalationState, Nurse, PatientWard, Shift, Ward
from cloud.oncall.rota import daily_windows
from cloud.patients.models import Patient

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
ESCALATION_STATES = cast(Table, EscalationState.__table__)
PATIENT_WARDS = cast(Table, PatientWard.__table__)


class OnCallError(ValueError):
    """A request about wards, shifts or policies that cannot be right (bad zone, empty shift)."""


def check_timezone(name: str) -> str:
    """name if it is an IANA time zone; OnCallError otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise OnCallError(f"{name!r} is not an IANA time zone (e.g. Asia/Shanghai)") from None
    return name


# --- who is on call -------------------------------------------------------------------------


def on_call(
    session: Session, *, ward_id: int, at: datetime, tier: int | None = None
) -> list[Nurse]:
    """Active nurses on call for ward_id at instant at (shift start <= at < end), by tier."""
    tiers = on_call_by_ward(session, ward_ids=[ward_id], at=at).get(ward_id, {})
    return [
        nurse
        for shift_tier in sorted(tiers)
        if tier is None or shift_tier == tier
        for nurse in tiers[shift_tier]
    ]


def on_call_by_ward(
    session: Session, *, ward_ids: Iterable[int], at: datetime
) -> dict[int, dict[int, list[Nurse]]]:
    """Nurses on call at at, by ward and tier, in one query (overlapping handovers: both)."""
    ids = sorted(set(ward_ids))
    found: dict[int, dict[int, list[Nurse]]] = {ward_id: defaultdict(list) for ward_id in ids}
    if not ids:
        return found
    rows = session.execute(
        select(Shift.ward_id, Shift.tier, Nurse)
        .join(Nurse, Nurse.id == Shift.nurse_id)
        .where(
            Shift.ward_id.in_(ids),
            Shift.starts_at <= at,
            Shift.ends_at > at,
            Nurse.active.is_(True),
        )
        .order_by(Shift.ward_id, Shift.tier, Shift.starts_at, Nurse.id)
    )
    for ward_id, tier, nurse in rows:
        if nurse not in found[ward_id][tier]:
            found[ward_id][tier].append(nurse)
    return found


# --- escalation -----------------------------------------------------------------------------


class OpenedAlert(Protocol):
    """What escalation reads of an alert: an ORM row, or the engine's plain record."""

    @property
    def id(self) -> int | None: ...
    @property
    def patient_id(self) -> int: ...
    @property
    def rule_id(self) -> str: ...
    @property
    def severity(self) -> str: ...


@dataclass(frozen=True)
class EscalationResult:
    """What one escalation step did for one alert."""

    alert_id: int
    level: int
    event: str
    nurse_ids: tuple[int, ...]
    next_escalation_at: datetime | None


def _policies(
    session: Session, ward_ids: Iterable[int]
) -> dict[int | None, tuple[int | None, Policy]]:
    """The policy of each ward (its own, else the default row, else DEFAULT_POLICY); key None
    holds the fallback for alerts of patients without a ward."""
    ids = sorted(set(ward_ids))
    wards = (
        {ward.id: ward for ward in session.scalars(select(Ward).where(Ward.id.in_(ids)))}
        if ids
        else {}
    )
    wanted = {w.escalation_policy_id for w in wards.values() if w.escalation_policy_id}
    rows = list(
        session.scalars(
            select(EscalationPolicy).where(
                EscalationPolicy.id.in_(sorted(wanted)) | EscalationPolicy.is_default.is_(True)
            )
        )
    )
    by_id = {row.id: row for row in rows}
    default_row = next((row for row in rows if row.is_default), None)

    def as_policy(row: EscalationPolicy | None) -> tuple[int | None, Policy]:
        if row is None:
            return None, DEFAULT_POLICY
        try:
            return row.id, Policy.from_json(
                row.levels, row.repeat_minutes, row.critical_repeat_minutes
            )
        except (PolicyError, KeyError, TypeError, ValueError) as exc:
            log.warning(
                "escalation policy %s is unusable (%s); using the built-in one", row.id, exc
            )
            return None, DEFAULT_POLICY

    result: dict[int | None, tuple[int | None, Policy]] = {None: as_policy(default_row)}
    for ward_id, ward in wards.items():
        own = by_id.get(ward.escalation_policy_id) if ward.escalation_policy_id else None
        result[ward_id] = as_policy(own or default_row)
    return result


def _route(
    policy: Policy,
    severity: str,
    step: Step,
    tiers: dict[int, list[Nurse]],
    now: datetime,
) -> tuple[Step, list[Nurse]]:
    """step, or the first later level with somebody on call when step's tier is empty."""
    while not tiers.get(step.tier) and step.level < len(policy.levels):
        step = next_step(policy, severity, step.level, now)
    return step, list(tiers.get(step.tier, ()))


@dataclass
class _NewState:
    """The escalation state of an alert being opened, until it is inserted with the others."""

    alert_id: int
    ward_id: int | None
    policy_id: int | None
    level: int = 0
    last_notified_at: datetime | None = None
    next_escalation_at: datetime | None = None
    stopped_reason: str | None = None


def _notify(
    *,
    alert: OpenedAlert,
    state: EscalationState | _NewState,
    step: Step,
    nurses: Sequence[Nurse],
    now: datetime,
    queue: list[dict[str, Any]],
    audit: list[dict[str, Any]],
) -> EscalationResult:
    """Advance state (of alert) to step; notifications and audit entries go to queue and
    audit."""
    # Nobody reached: the next attempt starts again at level 1 (a patient given a ward, a
    # shift added, or the primary on-call paged again when there is nobody above them).
    state.level = step.level if nurses else 0
    state.last_notified_at = now
    state.next_escalation_at = step.next_at
    if step.next_at is None:
        state.stopped_reason = state.stopped_reason or "exhausted"
    if nurses:
        queue.extend(
            notifications.pending(
                alert_id=state.alert_id, nurses=nurses, event=step.event, level=step.level, now=now
            )
        )
        log.info(
            "alert %s (%s %s): level %d, notified nurses %s",
            state.alert_id, alert.severity, alert.rule_id, step.level, [n.id for n in nurses],
        )  # fmt: skip
    else:
        log.warning(
            "alert %s (%s %s) of patient %s: nobody on call (ward %s, level %d); retry at %s",
            state.alert_id, alert.severity, alert.rule_id, alert.patient_id, state.ward_id,
            step.level, step.next_at,
        )  # fmt: skip
        audit.append(
            entry(
                actor=SYSTEM_ACTOR,
                action="alerts.unrouted",
                target=f"alert:{state.alert_id}",
                ward_id=state.ward_id,
                level=step.level,
            )
        )
    return EscalationResult(
        state.alert_id, step.level, step.event.value, tuple(n.id for n in nurses), step.next_at
    )


def _wards_of(session: Session, *, patient_ids: Iterable[int]) -> dict[int, int]:
    """The ward of each patient that has one, in one query."""
    table = PATIENT_WARDS.c
    rows = session.execute(
        select(table.patient_id, table.ward_id).where(
            table.patient_id.in_(sorted(set(patient_ids)))
        )
    ).all()
    return {patient_id: ward_id for patient_id, ward_id in rows}


def start_escalation(
    session: Session, *, alerts: Sequence[OpenedAlert], now: datetime
) -> list[EscalationResult]:
    """Notify level 1 of each newly opened alert and start its escalation timer (in SQL).

    A fixed number of statements for any number of alerts: wards of the patients, policies,
    shifts on call now; then the states, notifications and audit entries, each inserted in
    one statement (Core rows: this runs in the ingest stream for every alert opened).
    """
    if not alerts:
        return []
    session.flush()  # rows the caller added (alerts, audit entries) keep their place
    ward_of = _wards_of(session, patient_ids={alert.patient_id for alert in alerts})
    policies = _policies(session, ward_of.values())
    rota = on_call_by_ward(session, ward_ids=ward_of.values(), at=now)
    states: list[_NewState] = []
    queue: list[dict[str, Any]] = []
    audit: list[dict[str, Any]] = []
    results = []
    for alert in alerts:
        ward_id = ward_of.get(alert.patient_id)
        policy_id, policy = policies.get(ward_id, policies[None])
        if alert.id is None:
            raise ValueError(f"alert {alert.rule_id} of patient {alert.patient_id} is not written")
        state = _NewState(alert_id=alert.id, ward_id=ward_id, policy_id=policy_id)
        states.append(state)
        step, nurses = _route(
            policy,
            alert.severity,
            first_step(policy, alert.severity, now),
            rota.get(ward_id, {}) if ward_id else {},
            now,
        )
        results.append(
            _notify(
                alert=alert,
                state=state,
                step=step,
                nurses=nurses,
                now=now,
                queue=queue,
                audit=audit,
            )  # fmt: skip
        )
    session.execute(insert(ESCALATION_STATES), [vars(state) for state in states])
    notifications.enqueue(session, queue)
    record_many(session, audit)
    return results


def stop_escalation(session: Session, *, alert_id: int, reason: str) -> None:
    """Stop the alert's timer and cancel its undelivered notifications (ack or resolution)."""
    stop_escalations(session, alert_ids=[alert_id], reason=reason)


def stop_escalations(session: Session, *, alert_ids: Sequence[int], reason: str) -> None:
    """stop_escalation for many alerts: one statement per table.

    Core statements (the ORM's bulk update costs more than the update on this path); a state
    already loaded in the session is refreshed from the row when next read.
    """
    if not alert_ids:
        return
    session.flush()  # nothing pending is written over the update afterwards
    session.execute(
        update(ESCALATION_STATES)
        .where(ESCALATION_STATES.c.alert_id.in_(sorted(alert_ids)))
        .values(next_escalation_at=None, stopped_reason=reason)
    )
    for alert_id in alert_ids:
        loaded = session.identity_map.get(identity_key(EscalationState, alert_id))
        if loaded is not None:
            session.expire(loaded, ["next_escalation_at", "stopped_reason"])
    notifications.cancel_pending(session, alert_ids=alert_ids)


def escalate_due(session: Session, *, now: datetime) -> list[EscalationResult]:
    """Escalate every open alert whose timer is due; timers of others stop. Audited."""
    due = list(
        session.execute(
            select(EscalationState, Alert)
            .join(Alert, Alert.id == EscalationState.alert_id)
            .where(EscalationState.next_escalation_at <= now)
            .order_by(EscalationState.next_escalation_at)
            .with_for_update(skip_locked=True, of=EscalationState)
        ).all()
    )
    if not due:
        return []
    # The patient's ward now: a patient transferred (or first given a ward) since the alert
    # opened is escalated in the new ward.
    ward_of = _wards_of(session, patient_ids={alert.patient_id for _, alert in due})
    for state, alert in due:
        state.ward_id = ward_of.get(alert.patient_id)
    ward_ids = {state.ward_id for state, _ in due if state.ward_id is not None}
    policies = _policies(session, ward_ids)
    rota = on_call_by_ward(session, ward_ids=ward_ids, at=now)
    queue: list[dict[str, Any]] = []
    audit: list[dict[str, Any]] = []
    results = []
    for state, alert in due:
        if alert.state != AlertState.OPEN:
            # Acknowledged or resolved without stopping the timer (should not happen): stop now.
            state.next_escalation_at = None
            state.stopped_reason = state.stopped_reason or alert.state
            continue
        _, policy = policies.get(state.ward_id, policies[None])
        tiers = rota.get(state.ward_id, {}) if state.ward_id is not None else {}
        step, nurses = _route(
            policy, alert.severity, next_step(policy, alert.severity, state.level, now), tiers, now
        )
        result = _notify(
            alert=alert, state=state, step=step, nurses=nurses, now=now, queue=queue, audit=audit
        )
        audit.append(
            entry(
                actor=SYSTEM_ACTOR,
                action=f"alerts.{step.event.value}",
                target=f"alert:{alert.id}",
                level=step.level,
                nurse_ids=list(result.nurse_ids),
            )
        )
        results.append(result)
    notifications.enqueue(session, queue)
    record_many(session, audit)
    return results


# --- wards ----------------------------------------------------------------------------------


def get_ward_or_raise(session: Session, *, ward_id: int) -> Ward:
    """The ward ward_id; NotFoundError if unknown."""
    ward = session.get(Ward, ward_id)
    if ward is None:
        raise NotFoundError("ward", ward_id)
    return ward


def list_wards(session: Session) -> list[Ward]:
    """Every ward by name."""
    return list(session.scalars(select(Ward).order_by(Ward.name)))


def _policy_exists(session: Session, policy_id: int | None) -> None:
    if policy_id is not None and session.get(EscalationPolicy, policy_id) is None:
        raise NotFoundError("escalation policy", policy_id)


def create_ward(
    session: Session, *, name: str, timezone: str, escalation_policy_id: int | None, actor: str
) -> Ward:
    """A new ward; ConflictError on a taken name. Audited."""
    check_timezone(timezone)
    _policy_exists(session, escalation_policy_id)
    if session.scalars(select(Ward).where(Ward.name == name)).first() is not None:
        raise ConflictError(f"a ward named {name!r} already exists")
    ward = Ward(name=name, timezone=timezone, escalation_policy_id=escalation_policy_id)
    session.add(ward)
    session.flush()
    record(session, actor=actor, action="wards.create", target=f"ward:{ward.id}", name=name)
    return ward


def update_ward(
    session: Session,
    *,
    ward_id: int,
    name: str | None,
    timezone: str | None,
    escalation_policy_id: int | None,
    actor: str,
) -> Ward:
    """Rename a ward, change its zone or policy. Audited."""
    ward = get_ward_or_raise(session, ward_id=ward_id)
    if timezone is not None:
        ward.timezone = check_timezone(timezone)
    if name is not None and name != ward.name:
        if session.scalars(select(Ward).where(Ward.name == name)).first() is not None:
            raise ConflictError(f"a ward named {name!r} already exists")
        ward.name = name
    _policy_exists(session, escalation_policy_id)
    ward.escalation_policy_id = escalation_policy_id
    record(session, actor=actor, action="wards.update", target=f"ward:{ward.id}")
    return ward


def delete_ward(session: Session, *, ward_id: int, actor: str) -> None:
    """Delete a ward without nurses, patients or shifts; ConflictError otherwise. Audited."""
    ward = get_ward_or_raise(session, ward_id=ward_id)
    for model, column in ((Nurse, Nurse.ward_id), (PatientWard, PatientWard.ward_id),
                          (Shift, Shift.ward_id)):  # fmt: skip
        if session.scalar(select(func.count()).select_from(model).where(column == ward_id)):
            raise ConflictError(f"ward {ward_id} still has {model.__tablename__}")
    session.delete(ward)
    record(session, actor=actor, action="wards.delete", target=f"ward:{ward_id}")


def assign_patient(session: Session, *, patient_id: int, ward_id: int, actor: str) -> PatientWard:
    """Make ward_id responsible for the patient's alerts. Audited."""
    if session.get(Patient, patient_id) is None:
        raise NotFoundError("patient", patient_id)
    get_ward_or_raise(session, ward_id=ward_id)
    row = session.get(PatientWard, patient_id)
    if row is None:
        row = PatientWard(patient_id=patient_id, ward_id=ward_id, updated_by=actor)
        session.add(row)
    else:
        row.ward_id, row.updated_by = ward_id, actor
    record(
        session,
        actor=actor,
        action="patients.ward",
        target=f"patient:{patient_id}",
        ward_id=ward_id,
    )
    return row


# --- nurses ---------------------------------------------------------------------------------


def get_nurse_or_raise(session: Session, *, nurse_id: int) -> Nurse:
    """The nurse nurse_id; NotFoundError if unknown."""
    nurse = session.get(Nurse, nurse_id)
    if nurse is None:
        raise NotFoundError("nurse", nurse_id)
    return nurse


def list_nurses(session: Session, *, ward_id: int | None = None) -> list[Nurse]:
    """Nurses (of one ward if given) by id."""
    statement = select(Nurse).order_by(Nurse.id)
    if ward_id is not None:
        statement = statement.where(Nurse.ward_id == ward_id)
    return list(session.scalars(statement))


def create_nurse(
    session: Session,
    *,
    user_id: int,
    ward_id: int | None,
    phone: str | None,
    mqtt_enabled: bool,
    actor: str,
) -> Nurse:
    """Make user user_id (role nurse or admin) a nurse who can be on call. Audited."""
    from cloud.auth.models import Role, User

    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError("user", user_id)
    if user.role not in (Role.NURSE, Role.ADMIN):
        raise ConflictError(f"user {user.username!r} has role {user.role}, not nurse")
    if ward_id is not None:
        get_ward_or_raise(session, ward_id=ward_id)
    if session.scalars(select(Nurse.id).where(Nurse.user_id == user_id)).first() is not None:
        raise ConflictError(f"user {user.username!r} is already a nurse")
    nurse = Nurse(user_id=user_id, ward_id=ward_id, phone=phone, mqtt_enabled=mqtt_enabled)
    session.add(nurse)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent request made the same user a nurse
        raise ConflictError(f"user {user.username!r} is already a nurse") from exc
    record(
        session, actor=actor, action="nurses.create", target=f"nurse:{nurse.id}", user_id=user_id
    )
    return nurse


def update_nurse(session: Session, *, nurse_id: int, actor: str, **changes: object) -> Nurse:
    """Change a nurse's ward, phone, MQTT device or active flag. Audited."""
    nurse = get_nurse_or_raise(session, nurse_id=nurse_id)
    if changes.get("ward_id") is not None:
        get_ward_or_raise(session, ward_id=int(changes["ward_id"]))  # type: ignore[call-overload]
    for name in ("ward_id", "phone", "mqtt_enabled", "active"):
        if name in changes:
            setattr(nurse, name, changes[name])
    record(session, actor=actor, action="nurses.update", target=f"nurse:{nurse_id}",
           changes=sorted(changes))  # fmt: skip
    return nurse


# --- shifts ---------------------------------------------------------------------------------


def list_shifts(
    session: Session, *, ward_id: int | None, since: datetime | None, until: datetime | None
) -> list[Shift]:
    """Shifts overlapping [since, until) (of one ward if given), by start."""
    statement = select(Shift).order_by(Shift.starts_at, Shift.tier, Shift.id)
    if ward_id is not None:
        statement = statement.where(Shift.ward_id == ward_id)
    if since is not None:
        statement = statement.where(Shift.ends_at > since)
    if until is not None:
        statement = statement.where(Shift.starts_at < until)
    return list(session.scalars(statement))


def create_shift(
    session: Session,
    *,
    ward_id: int,
    nurse_id: int,
    tier: int,
    starts_at: datetime,
    ends_at: datetime,
    actor: str,
) -> Shift:
    """Put nurse_id on call for ward_id at tier on [starts_at, ends_at). Audited."""
    ward = get_ward_or_raise(session, ward_id=ward_id)
    get_nurse_or_raise(session, nurse_id=nurse_id)
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise OnCallError("shift times need a UTC offset")
    if ends_at <= starts_at:
        raise OnCallError("a shift must end after it starts")
    if tier < 1:
        raise OnCallError("tiers start at 1")
    shift = Shift(
        ward_id=ward_id,
        nurse_id=nurse_id,
        tier=tier,
        starts_at=starts_at.astimezone(UTC),
        ends_at=ends_at.astimezone(UTC),
        timezone=ward.timezone,
        created_by=actor,
    )
    session.add(shift)
    session.flush()
    record(session, actor=actor, action="shifts.create", target=f"shift:{shift.id}",
           ward_id=ward_id, nurse_id=nurse_id, tier=tier, starts_at=starts_at.isoformat(),
           ends_at=ends_at.isoformat())  # fmt: skip
    return shift


def create_rota(
    session: Session,
    *,
    ward_id: int,
    nurse_id: int,
    tier: int,
    first_day: date,
    days: int,
    start: time,
    end: time,
    actor: str,
) -> list[Shift]:
    """Daily shifts from start to end in the ward's local time, for days days. Audited."""
    ward = get_ward_or_raise(session, ward_id=ward_id)
    if not 1 <= days <= 366:
        raise OnCallError("a rota covers 1 to 366 days")
    if start == end:
        raise OnCallError("a shift must not start and end at the same time")
    windows = daily_windows(
        timezone=ward.timezone, first_day=first_day, days=days, start=start, end=end
    )
    return [
        create_shift(
            session,
            ward_id=ward_id,
            nurse_id=nurse_id,
            tier=tier,
            starts_at=window.starts_at,
            ends_at=window.ends_at,
            actor=actor,
        )
        for window in windows
    ]


def delete_shift(session: Session, *, shift_id: int, actor: str) -> None:
    """Remove a shift. Audited."""
    shift = session.get(Shift, shift_id)
    if shift is None:
        raise NotFoundError("shift", shift_id)
    session.delete(shift)
    record(session, actor=actor, action="shifts.delete", target=f"shift:{shift_id}")


# --- escalation policies --------------------------------------------------------------------


def list_policies(session: Session) -> list[EscalationPolicy]:
    """Every escalation policy by name."""
    return list(session.scalars(select(EscalationPolicy).order_by(EscalationPolicy.name)))


def get_policy_or_raise(session: Session, *, policy_id: int) -> EscalationPolicy:
    """The escalation policy policy_id; NotFoundError if unknown."""
    policy = session.get(EscalationPolicy, policy_id)
    if policy is None:
        raise NotFoundError("escalation policy", policy_id)
    return policy


def save_policy(
    session: Session,
    *,
    policy_id: int | None,
    name: str,
    levels: list[dict[str, float]],
    repeat_minutes: int,
    critical_repeat_minutes: int,
    is_default: bool,
    actor: str,
) -> EscalationPolicy:
    """Create (policy_id None) or replace a policy; one default at most. Audited."""
    try:
        Policy.from_json(levels, repeat_minutes, critical_repeat_minutes)
    except PolicyError as exc:
        raise OnCallError(str(exc)) from exc
    clash = session.scalars(select(EscalationPolicy).where(EscalationPolicy.name == name)).first()
    if clash is not None and clash.id != policy_id:
        raise ConflictError(f"an escalation policy named {name!r} already exists")
    if policy_id is None:
        row = EscalationPolicy(name=name, levels=levels)
        session.add(row)
    else:
        row = get_policy_or_raise(session, policy_id=policy_id)
    row.name, row.levels = name, levels
    row.repeat_minutes, row.critical_repeat_minutes = repeat_minutes, critical_repeat_minutes
    if is_default:
        for other in session.scalars(select(EscalationPolicy).where(EscalationPolicy.is_default)):
            if other is not row:
                other.is_default = False
    row.is_default = is_default
    session.flush()
    record(session, actor=actor, action="escalation_policies.save",
           target=f"escalation_policy:{row.id}", levels=levels)  # fmt: skip
    return row


def delete_policy(session: Session, *, policy_id: int, actor: str) -> None:
    """Delete a policy no ward uses; ConflictError otherwise. Audited."""
    row = get_policy_or_raise(session, policy_id=policy_id)
    if session.scalar(
        select(func.count()).select_from(Ward).where(Ward.escalation_policy_id == policy_id)
    ):
        raise ConflictError(f"escalation policy {policy_id} is used by a ward")
    # Escalation states keep their history; running ones fall back to the ward's policy.
    session.execute(
        update(EscalationState)
        .where(EscalationState.policy_id == policy_id)
        .values(policy_id=None)
        .execution_options(synchronize_session=False)
    )
    session.delete(row)
    record(session, actor=actor, action="escalation_policies.delete",
           target=f"escalation_policy:{policy_id}")  # fmt: skip
