"""The alert state machine, pure: open → acknowledged → resolved, and auto-resolution.

One *active* (open or acknowledged) alert exists per patient and rule. A breaching reading
opens it or attaches to it; an in-range reading starts (or continues) a clear streak, and
the alert auto-resolves once in-range readings have lasted ``clear_after`` (hysteresis: an
alert does not flap on a value hovering at the threshold). A breaching reading ends the
streak. Readings older than the alert's last breaching reading (a meter's stored records
arriving late) never count towards clearing it.

Acknowledgement belongs to one alert: it stops that alert's escalation and nothing else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cloud.alerts.rules import RULES, Breach, Category, RuleId


class AlertState(StrEnum):
    """Where an alert is in its lifecycle."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


ACTIVE_STATES = (AlertState.OPEN, AlertState.ACKNOWLEDGED)


class Transition(StrEnum):
    """What happened to an alert; each is audited as ``alerts.<value>``."""

    OPENED = "opened"
    ATTACHED = "attached"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    AUTO_RESOLVED = "auto_resolved"


class LifecycleError(ValueError):
    """A transition the alert's state does not allow (e.g. acknowledging a resolved alert)."""


@dataclass(frozen=True)
class ClearPolicy:
    """How long readings must be back in range before an alert resolves itself."""

    clinical: timedelta = timedelta(minutes=30)
    #: Device faults and stale data resolve on the first good reading.
    device: timedelta = timedelta(0)
    data: timedelta = timedelta(0)

    def clear_after(self, rule_id: RuleId) -> timedelta:
        """The clear time of rule_id's category."""
        category = RULES[rule_id].category
        if category is Category.CLINICAL:
            return self.clinical
        return self.device if category is Category.DEVICE else self.data


@dataclass(frozen=True)
class AlertStatus:
    """The lifecycle fields of one alert (the SQL row holds the same, plus identity)."""

    patient_id: int
    rule_id: RuleId
    state: AlertState
    opened_at: datetime
    last_breach_at: datetime | None = None
    readings_count: int = 0
    clear_since: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    auto_resolved: bool = False

    @property
    def active(self) -> bool:
        """Open or acknowledged."""
        return self.state in ACTIVE_STATES


SYSTEM_ACTOR = "system"


def open_alert(
    patient_id: int, breach: Breach, *, measured_at: datetime | None, now: datetime
) -> tuple[AlertStatus, Transition]:
    """A new open alert for breach (measured_at None: not from a reading, e.g. stale data)."""
    return AlertStatus(
        patient_id=patient_id,
        rule_id=breach.rule_id,
        state=AlertState.OPEN,
        opened_at=now,
        last_breach_at=measured_at,
        readings_count=1 if measured_at is not None else 0,
    ), Transition.OPENED


def on_breach(alert: AlertStatus, *, measured_at: datetime) -> tuple[AlertStatus, Transition]:
    """A further breaching reading attaches to the active alert and ends any clear streak."""
    if not alert.active:
        raise LifecycleError(f"alert of {alert.rule_id} is {alert.state}; open a new one")
    last = measured_at if alert.last_breach_at is None else max(alert.last_breach_at, measured_at)
    return dataclasses.replace(
        alert,
        last_breach_at=last,
        readings_count=alert.readings_count + 1,
        clear_since=None,
    ), Transition.ATTACHED


def on_clear(
    alert: AlertStatus, *, measured_at: datetime, policy: ClearPolicy
) -> tuple[AlertStatus, Transition | None]:
    """An in-range reading: start or continue the clear streak; auto-resolve when it is long enough.

    The alert resolves at the reading's time, so the resolution means "back in range since";
    never before the alert opened (a reading measured earlier but delivered later).
    """
    if not alert.active:
        return alert, None
    if alert.last_breach_at is not None and measured_at <= alert.last_breach_at:
        return alert, None  # a late, older reading says nothing about now
    since = alert.clear_since if alert.clear_since is not None else measured_at
    since = min(since, measured_at)
    if measured_at - since >= policy.clear_after(alert.rule_id):
        return dataclasses.replace(
            alert,
            state=AlertState.RESOLVED,
            clear_since=since,
            resolved_by=SYSTEM_ACTOR,
            resolved_at=max(measured_at, alert.opened_at),
            auto_resolved=True,
        ), Transition.AUTO_RESOLVED
    if since == alert.clear_since:
        return alert, None  # the streak goes on: nothing changed (the common case)
    return dataclasses.replace(alert, clear_since=since), None


def acknowledge(alert: AlertStatus, *, by: str, at: datetime) -> AlertStatus:
    """The responder by has seen alert; LifecycleError if resolved or acknowledged by someone else.

    Acknowledging again by the same responder changes nothing (a double click is no error).
    """
    if alert.state is AlertState.RESOLVED:
        raise LifecycleError("the alert is already resolved")
    if alert.state is AlertState.ACKNOWLEDGED:
        if alert.acknowledged_by == by:
            return alert
        when = alert.acknowledged_at.isoformat() if alert.acknowledged_at else "?"
        raise LifecycleError(
            f"the alert was already acknowledged by {alert.acknowledged_by} at {when}"
        )
    return dataclasses.replace(
        alert, state=AlertState.ACKNOWLEDGED, acknowledged_by=by, acknowledged_at=at
    )


def resolve(alert: AlertStatus, *, by: str, at: datetime) -> AlertStatus:
    """A clinician closes the alert (from open or acknowledged); LifecycleError if resolved."""
    if alert.state is AlertState.RESOLVED:
        raise LifecycleError("the alert is already resolved")
    return dataclasses.replace(
        alert, state=AlertState.RESOLVED, resolved_by=by, resolved_at=at, auto_resolved=False
    )
