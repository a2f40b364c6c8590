"""Alert and notification figures read from SQL when the API's /metrics is scraped.

They describe the shared database, not one process, so every API replica reports the same
values (aggregate with ``max``, not ``sum``). Each is one grouped count: the active alerts use
``ix_alerts_state_severity_opened`` and the notification counts ``ix_notifications_due``;
the totals count whole tables that grow by alerts (a few per patient per week), not readings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.alerts.lifecycle import AlertState
from cloud.alerts.models import Alert
from cloud.oncall.escalation import EscalationEvent
from cloud.oncall.models import Notification

ACTIVE_STATES = (AlertState.OPEN.value, AlertState.ACKNOWLEDGED.value)
ESCALATION_EVENTS = (EscalationEvent.ESCALATED.value, EscalationEvent.REPEATED.value)


@dataclass
class AlertFigures:
    """Counts at one instant."""

    #: (state, severity) -> alerts open or acknowledged now.
    active: dict[tuple[str, str], int] = field(default_factory=dict)
    #: Alerts ever opened, and of those ever acknowledged.
    opened_total: int = 0
    acknowledged_total: int = 0
    #: Escalation steps (a later level or a repeat) that notified at least one nurse.
    escalations_total: int = 0
    #: (channel, status) -> notifications; ``failed`` is final, ``pending`` awaits delivery.
    notifications: dict[tuple[str, str], int] = field(default_factory=dict)


def alert_figures(session: Session) -> AlertFigures:
    """Read the current figures (five grouped counts, one transaction)."""
    active = session.execute(
        select(Alert.state, Alert.severity, func.count())
        .where(Alert.state.in_(ACTIVE_STATES))
        .group_by(Alert.state, Alert.severity)
    ).all()
    opened = session.scalar(select(func.count()).select_from(Alert)) or 0
    acknowledged = (
        session.scalar(
            select(func.count()).select_from(Alert).where(Alert.acknowledged_at.is_not(None))
        )
        or 0
    )
    # One escalation step enqueues a row per nurse and channel, all with the step's time.
    steps = (
        select(Notification.alert_id, Notification.level, Notification.created_at)
        .where(Notification.event.in_(ESCALATION_EVENTS))
        .distinct()
        .subquery()
    )
    escalations = session.scalar(select(func.count()).select_from(steps)) or 0
    notifications = session.execute(
        select(Notification.channel, Notification.status, func.count()).group_by(
            Notification.channel, Notification.status
        )
    ).all()
    return AlertFigures(
        active={(state, severity): count for state, severity, count in active},
        opened_total=opened,
        acknowledged_total=acknowledged,
        escalations_total=escalations,
        notifications={(channel, status): count for channel, status, count in notifications},
    )
