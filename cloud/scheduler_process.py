"""The scheduler process: alert timers every second, MQTT and webhook delivery every 0.2 s.

Escalation delays are minutes, so a one-second tick is plenty for the timers; delivery runs
more often so a page leaves within a fraction of a second of being queued. The WebSocket
channel is delivered by the API process, which holds the console connections.
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
from cloud.oncall.scheduler import run_scheduler_once
from cloud.settings import Settings

log = logging.getLogger(__name__)

SCHEDULER_INTERVAL_S = 1.0
DELIVERY_INTERVAL_S = 0.2


def run_scheduler(
    settings: Settings,
    should_stop: Callable[[], bool],
    *,
    scheduler_interval_s: float = SCHEDULER_INTERVAL_S,
    delivery_interval_s: float = DELIVERY_INTERVAL_S,
) -> None:
    """Run escalation/stale checks and MQTT + webhook delivery until should_stop() is true."""
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    with ExitStack() as stack:
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
            if started >= next_timers:
                run = run_scheduler_once(sessions, utcnow())
                if run.escalations or run.stale:
                    log.info("scheduler: %d escalations, %d stale-data alerts",
                             len(run.escalations), len(run.stale))  # fmt: skip
                next_timers = started + scheduler_interval_s
            for sender in senders:
                try:
                    deliver_due(sessions, sender, now=utcnow())
                except Exception:
                    log.exception("%s delivery pass failed; retrying", sender.channel)
            time.sleep(max(delivery_interval_s - (time.monotonic() - started), 0.01))
    log.info("scheduler stopped")
