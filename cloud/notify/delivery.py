"""Draining the notification queue of one channel (contract: ``cloud.oncall.notifications``).

One pass claims the channel's due rows in one short transaction, sends each, and marks it
sent or failed in the same transaction; a failure is retried with the queue's backoff and,
when retries run out, reported (WARNING and audit ``notifications.failed``), never dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts.models import Alert
from cloud.db import transaction
from cloud.notify.errors import DeliveryError
from cloud.notify.messages import alert_views, notification_message
from cloud.oncall.models import Notification, Nurse
from cloud.oncall.notifications import Channel, claim_due, mark_failed, mark_sent

log = logging.getLogger(__name__)


class Sender(Protocol):
    """A channel adapter: deliver one message or raise DeliveryError."""

    channel: Channel

    def send(self, notification: Notification, message: dict[str, Any]) -> None: ...


@dataclass
class DeliveryRun:
    """What one pass did: notification ids sent and failed (to be retried or given up)."""

    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def deliver_due(
    session_factory: sessionmaker[Session], sender: Sender, *, now: datetime, limit: int = 100
) -> DeliveryRun:
    """Send the channel's due notifications once; mark each sent or failed."""
    run = DeliveryRun()
    with transaction(session_factory) as session:
        due = claim_due(session, channel=sender.channel, now=now, limit=limit)
        if not due:
            return run
        alerts = _alerts_by_id(session, {row.alert_id for row in due})
        nurses = _nurses_by_id(session, {row.nurse_id for row in due})
        for row in due:
            message = notification_message(row, alerts[row.alert_id], nurses.get(row.nurse_id))
            try:
                sender.send(row, message)
            except DeliveryError as exc:
                mark_failed(session, notification=row, error=str(exc), now=now)
                run.failed.append(row.id)
            except Exception as exc:  # a bug in a channel must not stop the others' delivery
                log.exception("%s sender crashed on notification %s", sender.channel, row.id)
                mark_failed(session, notification=row, error=f"{type(exc).__name__}: {exc}",
                            now=now)  # fmt: skip
                run.failed.append(row.id)
            else:
                mark_sent(session, notification=row, now=now)
                run.sent.append(row.id)
    if run.sent:
        log.info("%s: delivered notifications %s", sender.channel, run.sent)
    return run


def _alerts_by_id(session: Session, ids: set[int]) -> dict[int, dict[str, Any]]:
    alerts = list(session.scalars(select(Alert).where(Alert.id.in_(sorted(ids)))))
    return {view["id"]: view for view in alert_views(session, alerts)}


def _nurses_by_id(session: Session, ids: set[int]) -> dict[int, Nurse]:
    return {n.id: n for n in session.scalars(select(Nurse).where(Nurse.id.in_(sorted(ids))))}
