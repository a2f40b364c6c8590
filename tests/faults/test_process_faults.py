"""Cloud processes and servers failing under a stream of readings: the ingest worker SIGKILLed
while VictoriaMetrics is down, PostgreSQL restarted, the API and scheduler restarted while an
escalation timer is pending. Each ends with sent against stored and the alerts' pages."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from cloud.oncall.models import Notification
from tests.faults.conftest import FULL, Cloud
from tests.faults.harness import (
    CRITICAL_DELAY_MIN,
    RetryingPublisher,
    WebhookReceiver,
    ledger_count,
    run_publishers,
    seed_world,
    settle,
    stream_readings,
)
from tests.faults.private_postgres import PrivatePostgres
from tests.fixtures.mosquitto import Broker
from tests.fixtures.victoria import Victoria
from tests.support import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.slow]

VICTORIA_DOWN_S = 60 if FULL else 20
POSTGRES_DOWN_S = 30 if FULL else 5


def _start_stream(
    cloud: Cloud, mosquitto: Broker, gateways: list[str], per_gateway: int, rate: float
) -> tuple[dict, list[RetryingPublisher], object]:
    now = datetime.now(UTC)
    world = seed_world(cloud.factory, gateways, since=now)
    sent = {
        g: stream_readings(g, per_gateway, end=now, crisis_at=[per_gateway // 2 + 1])
        for g in gateways
    }
    cloud.processes.start("ingest")
    cloud.processes.start("scheduler")
    publishers = [RetryingPublisher(mosquitto.port, sent[g], rate=rate) for g in gateways]
    for publisher in publishers:
        publisher.start()
    return sent, publishers, world


def test_victoria_outage_with_ingest_sigkill(
    make_cloud: Callable[[str], Cloud],
    postgres_url: str,
    mosquitto: Broker,
    victoria: Victoria,
    webhook: WebhookReceiver,
) -> None:
    gateways = [f"gw-vm-{n}" for n in range(3)]
    per_gateway = int((VICTORIA_DOWN_S + 20) * 10)
    cloud = make_cloud(postgres_url)
    sent, publishers, world = _start_stream(cloud, mosquitto, gateways, per_gateway, rate=10)
    wait_until(lambda: ledger_count(cloud.factory) > 60, timeout=30)
    victoria.stop()
    time.sleep(VICTORIA_DOWN_S / 2)
    cloud.processes.kill("ingest")  # batches waiting for the store die with it
    cloud.processes.start("ingest")
    time.sleep(VICTORIA_DOWN_S / 2)
    victoria.start()
    wait_until(lambda: ledger_count(cloud.factory) > per_gateway, timeout=60)
    cloud.processes.kill("ingest")  # and once more with the store up, mid-stream
    cloud.processes.start("ingest")
    run_publishers(publishers)
    figures = settle(
        "victoria-down+ingest-sigkill",
        cloud.factory,
        cloud.store,
        world,
        sent,
        webhook=webhook,
        expected_alerts=len(gateways),
        flush=victoria.flush,
    )
    figures.extra["victoria_down_s"] = VICTORIA_DOWN_S
    print(figures.line())
    assert (figures.lost, figures.duplicated) == (0, 0)
    assert figures.stored == figures.sent
    assert figures.alerts_delivered == figures.alerts_expected
    assert "retry in" in cloud.processes.log("ingest"), "the outage went unnoticed"


def test_postgres_restart(
    make_cloud: Callable[[str], Cloud],
    private_postgres: PrivatePostgres,
    mosquitto: Broker,
    victoria: Victoria,
    webhook: WebhookReceiver,
) -> None:
    gateways = [f"gw-pg-{n}" for n in range(3)]
    cloud = make_cloud(private_postgres.url)
    sent, publishers, world = _start_stream(cloud, mosquitto, gateways, 300, rate=20)
    wait_until(lambda: ledger_count(cloud.factory) > 100, timeout=30)
    cloud.engine.dispose()
    private_postgres.stop("immediate")  # a crash: no shutdown checkpoint, WAL replay on start
    time.sleep(POSTGRES_DOWN_S)
    private_postgres.start()
    run_publishers(publishers)
    figures = settle(
        "postgres-restart",
        cloud.factory,
        cloud.store,
        world,
        sent,
        webhook=webhook,
        expected_alerts=len(gateways),
        flush=victoria.flush,
    )
    figures.extra["postgres_down_s"] = POSTGRES_DOWN_S
    print(figures.line())
    assert (figures.lost, figures.duplicated) == (0, 0)
    assert figures.stored == figures.sent
    assert figures.alerts_delivered == figures.alerts_expected
    for name in ("ingest", "scheduler"):
        assert cloud.processes.processes[name].poll() is None, f"{name} died with the database"


def test_api_and_scheduler_restart_with_escalation_pending(
    make_cloud: Callable[[str], Cloud],
    postgres_url: str,
    mosquitto: Broker,
    victoria: Victoria,
    webhook: WebhookReceiver,
) -> None:
    gateways = ["gw-esc-0", "gw-esc-1"]
    cloud = make_cloud(postgres_url)
    cloud.processes.start("api")
    sent, publishers, world = _start_stream(cloud, mosquitto, gateways, 40, rate=20)
    run_publishers(publishers)
    wait_until(lambda: len(webhook.received) >= len(gateways), timeout=30)  # level-1 pages
    cloud.processes.kill("api")
    cloud.processes.kill("scheduler")
    time.sleep(3)
    cloud.processes.start("api")
    cloud.processes.start("scheduler")
    delay = timedelta(minutes=CRITICAL_DELAY_MIN)
    wait_until(lambda: len(webhook.received) >= 2 * len(gateways), timeout=delay.seconds + 30)
    figures = settle(
        "api+scheduler-restart",
        cloud.factory,
        cloud.store,
        world,
        sent,
        webhook=webhook,
        expected_alerts=len(gateways),
        flush=victoria.flush,
    )
    with cloud.factory() as session:
        pages = session.execute(
            select(
                Notification.alert_id,
                Notification.level,
                Notification.created_at,
                Notification.sent_at,
            ).where(Notification.channel == "webhook")
        ).all()
    opened = {alert: created for alert, level, created, _ in pages if level == 1}
    lateness = [
        (created - opened[alert] - delay).total_seconds()
        for alert, level, created, _ in pages
        if level == 2
    ]
    figures.extra["escalation_late_s_max"] = round(max(lateness), 2)
    print(figures.line())
    assert (figures.lost, figures.duplicated) == (0, 0)
    assert figures.alerts_delivered == figures.escalated == len(gateways)
    assert all(-0.5 <= late <= 2.5 for late in lateness), lateness  # scheduler ticks every 1 s
    assert sorted(level for _, level, _, sent_at in pages if sent_at) == [1, 1, 2, 2]
