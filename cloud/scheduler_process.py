"""The scheduler process: alert timers every second, MQTT and webhook delivery every 0.2 s.

Escalation delays are minutes, so a one-second tick is plenty for the timers; delivery runs
more often so a page leaves within a fraction of a second of being queued. The WebSocket
channel is delivered by the API process, which holds the console connections.

Metrics and probes on ``CAREDGE_SCHEDULER_METRICS_PORT`` (docs/observability.md): ready while
the database answers and the loop went round in the last ``READY_LOOP_AGE_S`` seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack

from cloud.db import make_engine, make_sessionmaker, utcnow
from cloud.notify.delivery import Sender, deliver_due
from cloud.notify.mqtt_channel import MqttSender
from cloud.notify.webhook import WebhookSender
from cloud.observability.health import database_check, heartbeat_check
from cloud.observability.scheduler_metrics import SchedulerMetrics
from cloud.observability.server import serve_in_background
from cloud.observability.settings import ObservabilitySettings
from cloud.oncall.scheduler import run_scheduler_once
from cloud.settings import Settings

log = logging.getLogger(__name__)

SCHEDULER_INTERVAL_S = 1.0
DELIVERY_INTERVAL_S = 0.2
#: A loop that has not gone round for this long is stuck: the process is not ready.
READY_LOOP_AGE_S = 30.0


def run_scheduler(
    settings: Settings,
    should_stop: Callable[[], bool],
    *,
    scheduler_interval_s: float = SCHEDULER_INTERVAL_S,
    delivery_interval_s: float = DELIVERY_INTERVAL_S,
    observability: ObservabilitySettings | None = None,
) -> None:
    """Run escalation/stale checks and MQTT + webhook delivery until should_stop() is true."""
    observability = observability or ObservabilitySettings()
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    metrics = SchedulerMetrics()
    last_loop = [time.monotonic()]
    with ExitStack() as stack:
        checks = {
            "database": database_check(engine),
            "loop": heartbeat_check(
                lambda: time.monotonic() - last_loop[0], READY_LOOP_AGE_S, "scheduler loop"
            ),
        }
        serve_in_background(
            metrics.registry,
            checks,
            host=observability.metrics_host,
            port=observability.scheduler_metrics_port,
            token=observability.metrics_token.get_secret_value(),
            stack=stack,
        )
        senders: list[Sender] = [
            stack.enter_context(
                MqttSender(
                    settings.mqtt,
                    client_id=settings.notify_mqtt_client_id,
                    protocol=settings.mqtt_protocol,
                    ca_file=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
                )
            )
        ]
        webhook = WebhookSender(
            settings.webhook_url,
            secret=settings.webhook_secret.get_secret_value(),
            timeout_s=settings.webhook_timeout_seconds,
        )
        stack.callback(webhook.close)
        senders.append(webhook)
        stack.callback(engine.dispose)
        log.info("scheduler running: timers every %.1f s, delivery every %.1f s",
                 scheduler_interval_s, delivery_interval_s)  # fmt: skip
        next_timers = 0.0
        while not should_stop():
            started = time.monotonic()
            last_loop[0] = started
            metrics.last_loop.set_to_current_time()
            if started >= next_timers:
                run = run_scheduler_once(sessions, utcnow())
                metrics.timer_pass_seconds.observe(time.monotonic() - started)
                metrics.escalations.inc(len(run.escalations))
                metrics.stale_alerts.inc(len(run.stale))
                if run.escalations or run.stale:
                    log.info("scheduler: %d escalations, %d stale-data alerts",
                             len(run.escalations), len(run.stale))  # fmt: skip
                next_timers = started + scheduler_interval_s
            for sender in senders:
                try:
                    delivered = deliver_due(sessions, sender, now=utcnow())
                except Exception:
                    metrics.delivery_errors.labels(channel=sender.channel.value).inc()
                    log.exception("%s delivery pass failed; retrying", sender.channel)
                else:
                    metrics.notifications_sent.labels(channel=sender.channel.value).inc(
                        len(delivered.sent)
                    )
                    metrics.notifications_failed.labels(channel=sender.channel.value).inc(
                        len(delivered.failed)
                    )
            time.sleep(max(delivery_interval_s - (time.monotonic() - started), 0.01))
    log.info("scheduler stopped")
