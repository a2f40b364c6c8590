"""The notification queue in SQL: what the alert engine leaves for the delivery channels.

Contract for a channel worker (WebSocket hub, MQTT publisher, webhook sender), one per
channel, any number of processes:

1. ``claim_due(session, channel=..., now=..., limit=...)`` in a short transaction: rows with
   ``status='pending'``, that channel and ``next_attempt_at <= now``, oldest first; on
   PostgreSQL locked with ``FOR UPDATE SKIP LOCKED`` so workers never take the same row.
2. Send each one; the message is built from the alert (``cloud.alerts.schemas.AlertRead``)
   and the row (``event``: opened | escalated | repeated, ``level``). Delivery is at least
   once: a receiver de-duplicates by notification id.
3. ``mark_sent`` or ``mark_failed(error=...)`` in the same transaction. A failure is retried
   with backoff (``escalation.RETRY_DELAYS``) and, when retries run out, becomes ``failed``
   with ``last_error`` kept, logged at WARNING and audited: never silently dropped.

Rows of an alert that is acknowledged or resolved before delivery become ``cancelled``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from cloud.audit.service import record
from cloud.oncall.escalation import EscalationEvent, retry_at
from cloud.oncall.models import Notification, Nurse

log = logging.getLogger(__name__)
NOTIFICATIONS = cast(Table, Notification.__table__)


class Channel(StrEnum):
    """Where a nurse is reached."""

    WEBSOCKET = "websocket"
    MQTT = "mqtt"
    WEBHOOK = "webhook"


class NotificationStatus(StrEnum):
    """Delivery state of one notification."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


def channels_of(nurse: Nurse) -> list[Channel]:
    """The console always; MQTT if the nurse has a device; the paging webhook if a phone."""
    channels = [Channel.WEBSOCKET]
    if nurse.mqtt_enabled:
        channels.append(Channel.MQTT)
    if nurse.phone:
        channels.append(Channel.WEBHOOK)
    return channels


def pending(
    *, alert_id: int, nurses: Iterable[Nurse], event: EscalationEvent, level: int, now: datetime
) -> list[dict[str, Any]]:
    """One pending notification per nurse and channel, due now (rows for :func:`enqueue`)."""
    return [
        {
            "alert_id": alert_id,
            "nurse_id": nurse.id,
            "channel": channel.value,
            "event": event.value,
            "level": level,
            "status": NotificationStatus.PENDING.value,
            "attempts": 0,
            "last_error": None,
            "created_at": now,
            "next_attempt_at": now,
            "sent_at": None,
        }
        for nurse in nurses
        for channel in channels_of(nurse)
    ]


def enqueue(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert notifications made by :func:`pending`, in order, in one statement (Core: the
    alert engine queues them for every alert it opens)."""
    if rows:
        session.execute(insert(NOTIFICATIONS), list(rows))


def claim_due(
    session: Session, *, channel: Channel, now: datetime, limit: int = 100
) -> list[Notification]:
    """Pending notifications of channel due by now, oldest first, locked for this worker."""
    statement = (
        select(Notification)
        .where(
            Notification.status == NotificationStatus.PENDING.value,
            Notification.channel == channel.value,
            Notification.next_attempt_at <= now,
        )
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(statement))


def mark_sent(session: Session, *, notification: Notification, now: datetime) -> None:
    """The channel delivered notification."""
    notification.status = NotificationStatus.SENT.value
    notification.attempts += 1
    notification.sent_at = now
    notification.last_error = None


def mark_failed(session: Session, *, notification: Notification, error: str, now: datetime) -> None:
    """The channel failed: retry later, or mark failed (WARNING + audit) when retries run out."""
    notification.attempts += 1
    notification.last_error = error[:2000]
    again = retry_at(notification.attempts, now)
    if again is not None:
        notification.next_attempt_at = again
        log.info(
            "notification %s (%s) failed, attempt %d, retry at %s: %s",
            notification.id, notification.channel, notification.attempts, again, error,
        )  # fmt: skip
        return
    notification.status = NotificationStatus.FAILED.value
    log.warning(
        "notification %s of alert %s to nurse %s over %s failed after %d attempts: %s",
        notification.id, notification.alert_id, notification.nurse_id, notification.channel,
        notification.attempts, error,
    )  # fmt: skip
    record(
        session,
        actor="system",
        action="notifications.failed",
        target=f"alert:{notification.alert_id}",
        notification_id=notification.id,
        nurse_id=notification.nurse_id,
        channel=notification.channel,
        attempts=notification.attempts,
        error=notification.last_error,
    )


def cancel_pending(session: Session, *, alert_ids: Sequence[int]) -> None:
    """Cancel the undelivered notifications of alerts that no longer need them."""
    if not alert_ids:
        return
    table = NOTIFICATIONS.c
    session.execute(
        update(NOTIFICATIONS)
        .where(
            table.alert_id.in_(sorted(alert_ids)),
            table.status == NotificationStatus.PENDING.value,
        )
        .values(status=NotificationStatus.CANCELLED.value)
    )
