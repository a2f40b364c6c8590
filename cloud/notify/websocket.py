"""Live console updates: a hub of authenticated WebSocket connections fed from SQL.

Two things reach an open console:

- **alert changes** (opened, new reading attached, acknowledged by anyone, resolved,
  auto-resolved), found by :class:`AlertChangeFeed` from ``alerts.updated_at`` and sent to
  every connection that may see the alert (nurse: alerts of their wards; admin: all);
- **pages**: the ``websocket`` rows of the notification queue (opened / escalated /
  repeated, for one nurse), claimed by the same tick and pushed to that nurse's connections.
  A nurse with no console open is a delivery failure: the row is retried with the queue's
  backoff and reported when retries run out.

A tick runs when :class:`~cloud.notify.feed_wakeup.FeedWakeup` says so: at once when the
PostgreSQL listener (:mod:`cloud.notify.pg_listen`) hears that an alert or a page committed,
else on a fallback timer (``console_listen_poll_seconds`` while listening,
``console_poll_seconds`` otherwise, e.g. on SQLite). SQL stays the source of truth rather than
an in-process event bus: the writers are other processes (ingest workers, the scheduler, other
API replicas), every replica sees every change, and a lost notification costs one fallback
interval, never a message. A tick is two indexed queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts.models import Alert
from cloud.db import transaction, utcnow
from cloud.notify.delivery import deliver_due
from cloud.notify.errors import DeliveryError
from cloud.notify.feed_wakeup import FeedWakeup, run_ticks
from cloud.notify.messages import alert_views
from cloud.oncall.models import Notification
from cloud.oncall.notifications import Channel

log = logging.getLogger(__name__)

#: A change committed up to this long after its ``updated_at`` is still found (a slow batch
#: commit); the feed remembers what it sent within the window, so nothing is sent twice.
FEED_LOOKBACK = timedelta(seconds=30)
#: Messages waiting for a slow client before the hub drops it (it reconnects to a snapshot).
CONNECTION_QUEUE = 1000


@dataclass(eq=False)
class Connection:
    """One open console: who it is and what it may see (ward_ids None: every alert)."""

    username: str
    role: str
    nurse_id: int | None
    ward_ids: frozenset[int] | None
    queue: asyncio.Queue[dict[str, Any] | None] = field(
        default_factory=lambda: asyncio.Queue(CONNECTION_QUEUE)
    )
    #: Alerts this nurse was paged about, visible whatever their ward.
    paged_alert_ids: set[int] = field(default_factory=set)

    def sees(self, alert: dict[str, Any]) -> bool:
        """True if this connection may see alert (a JSON view with ``ward_id``)."""
        if self.ward_ids is None or alert["id"] in self.paged_alert_ids:
            return True
        return alert.get("ward_id") in self.ward_ids

    def offer(self, message: dict[str, Any]) -> bool:
        """Queue message for the writer; False if the client is too slow (drop it)."""
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            return False
        return True


class ConsoleHub:
    """The open console connections of this API process (used from its event loop only)."""

    def __init__(self) -> None:
        self._connections: set[Connection] = set()

    def register(self, connection: Connection) -> None:
        self._connections.add(connection)
        log.info("console connected: %s (%d open)", connection.username, len(self._connections))

    def unregister(self, connection: Connection) -> None:
        self._connections.discard(connection)
        log.info("console closed: %s (%d open)", connection.username, len(self._connections))

    def connected_nurse_ids(self) -> frozenset[int]:
        """Nurses with at least one open console."""
        return frozenset(c.nurse_id for c in self._connections if c.nurse_id is not None)

    def publish_alerts(self, alerts: list[dict[str, Any]]) -> int:
        """Send each changed alert to the connections that may see it; messages queued."""
        queued = 0
        for connection in list(self._connections):
            for alert in alerts:
                if connection.sees(alert):
                    queued += self._offer(connection, {"type": "alert", "alert": alert})
        return queued

    def publish_page(self, nurse_id: int, message: dict[str, Any]) -> int:
        """Send a notification to every console of nurse_id; the number of consoles reached."""
        reached = 0
        for connection in list(self._connections):
            if connection.nurse_id == nurse_id:
                connection.paged_alert_ids.add(int(message["alert"]["id"]))
                reached += self._offer(connection, message)
        return reached

    def _offer(self, connection: Connection, message: dict[str, Any]) -> int:
        if connection.offer(message):
            return 1
        log.warning("console of %s is too slow (%d queued); closing it",
                    connection.username, CONNECTION_QUEUE)  # fmt: skip
        self.unregister(connection)
        with contextlib.suppress(asyncio.QueueEmpty):
            connection.queue.get_nowait()
        connection.queue.put_nowait(None)  # the writer closes the socket
        return 0


class AlertChangeFeed:
    """Alerts whose row changed since the last poll, by ``updated_at`` with a lookback."""

    def __init__(self, lookback: timedelta = FEED_LOOKBACK) -> None:
        self._lookback = lookback
        self._watermark: datetime | None = None
        self._sent: dict[int, tuple[Any, ...]] = {}

    def poll(self, session: Session, *, now: datetime) -> list[Alert]:
        """Changed alerts; the first poll only starts the watermark (a console starts from a
        snapshot). The watermark never passes now (a scheduler run with a future clock)."""
        if self._watermark is None:
            self._watermark = now
        since = self._watermark - self._lookback
        rows = list(
            session.scalars(
                select(Alert).where(Alert.updated_at > since).order_by(Alert.updated_at)
            )
        )
        changed = []
        for alert in rows:
            signature = _signature(alert)
            if self._sent.get(alert.id) != signature:
                self._sent[alert.id] = signature
                changed.append(alert)
        if rows:
            self._watermark = min(max(self._watermark, rows[-1].updated_at), now)
        cutoff = self._watermark - self._lookback
        self._sent = {key: sig for key, sig in self._sent.items() if sig[0] > cutoff}
        return changed


def _signature(alert: Alert) -> tuple[Any, ...]:
    return (alert.updated_at, alert.state, alert.readings_count, alert.acknowledged_by,
            alert.resolved_at, alert.last_value)  # fmt: skip


class _HubSender:
    """Delivery of ``websocket`` notifications: collected here, pushed after the commit."""

    channel = Channel.WEBSOCKET

    def __init__(self, connected: frozenset[int]) -> None:
        self._connected = connected
        self.outbox: list[tuple[int, dict[str, Any]]] = []

    def send(self, notification: Notification, message: dict[str, Any]) -> None:
        if notification.nurse_id not in self._connected:
            raise DeliveryError("websocket", f"nurse {notification.nurse_id} has no console open")
        self.outbox.append((notification.nurse_id, message))


@dataclass
class FeedTick:
    """What one tick found: alert views to broadcast and pages to push."""

    alerts: list[dict[str, Any]]
    pages: list[tuple[int, dict[str, Any]]]


def feed_tick(
    session_factory: sessionmaker[Session],
    feed: AlertChangeFeed,
    *,
    connected: frozenset[int],
    now: datetime,
) -> FeedTick:
    """One poll: changed alerts, and the due websocket notifications (claimed and marked)."""
    with transaction(session_factory) as session:
        views = alert_views(session, feed.poll(session, now=now))
    sender = _HubSender(connected)
    deliver_due(session_factory, sender, now=now)
    return FeedTick(views, sender.outbox)


async def run_feed(
    hub: ConsoleHub,
    session_factory: sessionmaker[Session],
    *,
    wakeup: FeedWakeup,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Tick and push until cancelled, when woken or on the fallback timer (``FeedWakeup``);
    SQL runs in a worker thread, never on the event loop."""
    feed = AlertChangeFeed()

    async def tick() -> None:
        try:
            found = await asyncio.to_thread(
                feed_tick, session_factory, feed, connected=hub.connected_nurse_ids(), now=clock()
            )
            if found.alerts:
                hub.publish_alerts(found.alerts)
            for nurse_id, message in found.pages:
                hub.publish_page(nurse_id, message)
        except Exception:
            log.exception("console feed tick failed; retrying")

    await run_ticks(tick, wakeup)
