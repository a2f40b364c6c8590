"""Delivery bookkeeping on SQLite: sent, retried with backoff, failed and audited; the
console's alert feed and hub visibility."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cloud.alerts.engine import evaluate_readings
from cloud.alerts.service import acknowledge
from cloud.api.testing import ApiHarness, make_harness
from cloud.audit.models import AuditEntry
from cloud.db import transaction
from cloud.notify.delivery import deliver_due
from cloud.notify.errors import DeliveryError
from cloud.notify.testing import SeededWard, seed_ward
from cloud.notify.websocket import AlertChangeFeed, Connection, ConsoleHub, feed_tick
from cloud.oncall.escalation import RETRY_DELAYS
from cloud.oncall.models import Notification
from cloud.oncall.notifications import Channel
from protocol.envelope import BloodPressureReading

NOW = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiHarness]:
    harness = make_harness(f"sqlite:///{tmp_path / 'api.db'}")
    yield harness
    harness.close()


def crisis(ward: SeededWard, seq: int = 1, at: datetime = NOW) -> BloodPressureReading:
    return BloodPressureReading(
        gateway_id=ward.gateway_id, device_id=ward.bp_device_id, seq=seq, measured_at=at,
        systolic_mmhg=196, diastolic_mmhg=124,
    )  # fmt: skip


def open_crisis(api: ApiHarness, ward: SeededWard, now: datetime = NOW) -> int:
    with transaction(api.sessions) as session:
        changes = evaluate_readings(session, readings=[(crisis(ward), ward.patient_id)], now=now)
    return changes[0].alert_id


class FakeSender:
    def __init__(self, channel: Channel, failures: int = 0) -> None:
        self.channel = channel
        self.failures = failures
        self.sent: list[dict[str, Any]] = []

    def send(self, notification: Notification, message: dict[str, Any]) -> None:
        if self.failures:
            self.failures -= 1
            raise DeliveryError(self.channel.value, "HTTP 503 from pager")
        self.sent.append(message)


def rows(api: ApiHarness, channel: Channel) -> list[Notification]:
    with api.sessions() as session:
        return list(
            session.scalars(select(Notification).where(Notification.channel == channel.value))
        )


def test_sent_message_carries_alert_patient_and_notification(api: ApiHarness) -> None:
    ward = seed_ward(api.sessions, now=NOW, mqtt_enabled=True, phone="+8613800000001")
    alert_id = open_crisis(api, ward)
    sender = FakeSender(Channel.MQTT)
    run = deliver_due(api.sessions, sender, now=NOW)
    [row] = rows(api, Channel.MQTT)
    assert run.sent == [row.id] and run.failed == []
    assert row.status == "sent" and row.attempts == 1 and row.sent_at == NOW
    [message] = sender.sent
    assert message["notification_id"] == row.id and message["event"] == "opened"
    assert message["nurse_id"] == ward.primary_nurse_id and message["level"] == 1
    assert message["alert"]["id"] == alert_id and message["alert"]["severity"] == "critical"
    assert message["alert"]["patient_name"] == "王芳 Wang Fang"
    assert message["alert"]["ward_id"] == ward.ward_id
    assert deliver_due(api.sessions, sender, now=NOW).sent == []  # nothing twice


def test_failure_is_retried_with_backoff_then_failed_and_audited(api: ApiHarness) -> None:
    ward = seed_ward(api.sessions, now=NOW, phone="+8613800000001")
    open_crisis(api, ward)
    sender = FakeSender(Channel.WEBHOOK, failures=100)
    now = NOW
    for attempt, delay in enumerate(RETRY_DELAYS, start=1):
        assert deliver_due(api.sessions, sender, now=now).failed
        [row] = rows(api, Channel.WEBHOOK)
        assert (row.status, row.attempts) == ("pending", attempt)
        assert row.next_attempt_at == now + delay
        assert row.last_error == "webhook: HTTP 503 from pager"
        # not due before its backoff has passed
        assert (
            deliver_due(api.sessions, sender, now=now + delay - timedelta(seconds=1)).failed == []
        )
        now += delay
    assert deliver_due(api.sessions, sender, now=now).failed
    [row] = rows(api, Channel.WEBHOOK)
    assert (row.status, row.attempts) == ("failed", len(RETRY_DELAYS) + 1)
    with api.sessions() as session:
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "notifications.failed")
        ).one()
    assert audit.target == f"alert:{row.alert_id}"


def test_failure_then_success(api: ApiHarness) -> None:
    ward = seed_ward(api.sessions, now=NOW, phone="+8613800000001")
    open_crisis(api, ward)
    sender = FakeSender(Channel.WEBHOOK, failures=1)
    assert deliver_due(api.sessions, sender, now=NOW).failed
    assert deliver_due(api.sessions, sender, now=NOW + RETRY_DELAYS[0]).sent
    [row] = rows(api, Channel.WEBHOOK)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)


def test_a_crashing_sender_is_a_failure_not_a_loss(api: ApiHarness) -> None:
    ward = seed_ward(api.sessions, now=NOW, mqtt_enabled=True)
    open_crisis(api, ward)

    class Broken(FakeSender):
        def send(self, notification: Notification, message: dict[str, Any]) -> None:
            raise KeyError("bug")

    assert deliver_due(api.sessions, Broken(Channel.MQTT), now=NOW).failed
    [row] = rows(api, Channel.MQTT)
    assert row.status == "pending" and row.attempts == 1 and "KeyError" in (row.last_error or "")


def test_feed_reports_each_change_once_and_websocket_pages(api: ApiHarness) -> None:
    ward = seed_ward(api.sessions, now=NOW)
    feed = AlertChangeFeed()
    tick = feed_tick(api.sessions, feed, connected=frozenset(), now=NOW)
    assert tick.alerts == [] and tick.pages == []
    alert_id = open_crisis(api, ward, now=NOW + timedelta(seconds=1))
    tick = feed_tick(
        api.sessions, feed, connected=frozenset({ward.primary_nurse_id}),
        now=NOW + timedelta(seconds=1),
    )  # fmt: skip
    assert [a["id"] for a in tick.alerts] == [alert_id]
    assert [(nurse, m["event"]) for nurse, m in tick.pages] == [(ward.primary_nurse_id, "opened")]
    again = feed_tick(api.sessions, feed, connected=frozenset(), now=NOW + timedelta(seconds=2))
    assert again.alerts == [] and again.pages == []
    with transaction(api.sessions) as session:
        acknowledge(session, alert_id=alert_id, actor="ann", note="calling",
                    now=NOW + timedelta(seconds=3))  # fmt: skip
    tick = feed_tick(api.sessions, feed, connected=frozenset(), now=NOW + timedelta(seconds=3))
    assert [(a["id"], a["state"], a["acknowledged_by"]) for a in tick.alerts] == [
        (alert_id, "acknowledged", "ann")
    ]


def test_a_change_committed_late_is_still_found(api: ApiHarness) -> None:
    ward = seed_ward(api.sessions, now=NOW)
    feed = AlertChangeFeed()
    feed_tick(api.sessions, feed, connected=frozenset(), now=NOW + timedelta(seconds=5))
    # A batch evaluated at NOW whose commit lands after the feed passed NOW.
    alert_id = open_crisis(api, ward, now=NOW)
    tick = feed_tick(api.sessions, feed, connected=frozenset(), now=NOW + timedelta(seconds=6))
    assert [a["id"] for a in tick.alerts] == [alert_id]


def test_page_to_a_nurse_without_console_is_retried(api: ApiHarness) -> None:
    ward = seed_ward(api.sessions, now=NOW)
    open_crisis(api, ward)
    tick = feed_tick(api.sessions, AlertChangeFeed(), connected=frozenset(), now=NOW)
    assert tick.pages == []
    [row] = rows(api, Channel.WEBSOCKET)
    assert row.status == "pending" and row.attempts == 1
    assert row.last_error == f"websocket: nurse {ward.primary_nurse_id} has no console open"


def test_hub_sends_alerts_only_to_consoles_that_may_see_them() -> None:
    async def scenario() -> None:
        hub = ConsoleHub()
        ward_a = Connection("ann", "nurse", 1, frozenset({10}))
        ward_b = Connection("cat", "nurse", 2, frozenset({20}))
        admin = Connection("root", "admin", None, None)
        for connection in (ward_a, ward_b, admin):
            hub.register(connection)
        alert = {"id": 5, "ward_id": 10, "state": "open"}
        assert hub.publish_alerts([alert]) == 2
        assert ward_a.queue.qsize() == 1 and ward_b.queue.qsize() == 0
        assert admin.queue.qsize() == 1
        # A nurse paged about an alert outside her wards sees it from then on.
        page = {"type": "notification", "alert": {"id": 6, "ward_id": None}}
        assert hub.publish_page(2, page) == 1
        assert hub.publish_alerts([{"id": 6, "ward_id": None}]) == 2
        assert hub.connected_nurse_ids() == {1, 2}
        hub.unregister(ward_b)
        assert hub.connected_nurse_ids() == {1}

    asyncio.run(scenario())
