"""Prometheus metrics of the scheduler process (alert timers and notification delivery)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from cloud.observability.registry import new_registry
from cloud.oncall.notifications import Channel

TICK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class SchedulerMetrics:
    """Counters of this process's passes, and the time of its last loop (for readiness)."""

    def __init__(self) -> None:
        self.registry: CollectorRegistry = new_registry()
        self.escalations = Counter(
            "caredge_scheduler_escalations",
            "Escalation steps taken (next level or repeat)",
            registry=self.registry,
        )
        self.stale_alerts = Counter(
            "caredge_scheduler_stale_alerts",
            "Stale-data alerts opened",
            registry=self.registry,
        )
        self.notifications_sent = Counter(
            "caredge_scheduler_notifications_sent",
            "Notifications delivered, by channel",
            ["channel"],
            registry=self.registry,
        )
        self.notifications_failed = Counter(
            "caredge_scheduler_notifications_failed",
            "Notification attempts that failed (retried until the queue gives up), by channel",
            ["channel"],
            registry=self.registry,
        )
        self.delivery_errors = Counter(
            "caredge_scheduler_delivery_pass_errors",
            "Delivery passes that raised, by channel",
            ["channel"],
            registry=self.registry,
        )
        for channel in (Channel.MQTT, Channel.WEBHOOK):
            for counter in (self.notifications_sent, self.notifications_failed,
                            self.delivery_errors):  # fmt: skip
                counter.labels(channel=channel.value)  # exported at 0 from the start
        self.timer_pass_seconds = Histogram(
            "caredge_scheduler_timer_pass_seconds",
            "Duration of one escalation and stale-data pass",
            buckets=TICK_BUCKETS,
            registry=self.registry,
        )
        self.last_loop = Gauge(
            "caredge_scheduler_last_loop_timestamp_seconds",
            "Unix time the scheduler loop last went round",
            registry=self.registry,
        )
