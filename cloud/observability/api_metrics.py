"""The API's metrics: HTTP requests by route template, and alert figures read from SQL.

:class:`RequestMiddleware` is plain ASGI (not ``BaseHTTPMiddleware``, which would buffer
responses and break the request-id context for streaming and WebSocket routes). It gives every
HTTP request an id (the caller's ``X-Request-ID`` when it is a sane token, else a new one),
binds it for the logs, returns it in the response, counts and times the request by method,
route template and status, and logs one access line (DEBUG for probes and scrapes).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud.alerts.rules import Severity
from cloud.observability.alert_queries import ACTIVE_STATES, alert_figures
from cloud.observability.logs import bind
from cloud.observability.registry import new_registry
from cloud.oncall.notifications import Channel, NotificationStatus

access_log = logging.getLogger("cloud.access")
log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
#: Paths whose access lines are DEBUG: they are hit every few seconds by machines.
QUIET_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})
UNMATCHED = "<unmatched>"
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def request_id_from(value: str | None) -> str:
    """The caller's request id if it is a safe token (≤ 64 of ``A-Za-z0-9._:-``), else a new one."""
    if value and _SAFE_REQUEST_ID.match(value):
        return value
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/api/v1/patients/{patient_id}``), bounded labels."""
    route = scope.get("route")
    path = getattr(route, "path", None) if route is not None else None
    return path if isinstance(path, str) and path else UNMATCHED


class AlertsCollector(Collector):
    """Alert and notification figures, one short read transaction per scrape."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "caredge_alert_metrics_up", "1 if the alert figures could be read from SQL"
        )
        try:
            with self._sessions() as session:
                figures = alert_figures(session)
        except Exception:  # a scrape must not fail because the database is away
            log.warning("alert figures unavailable for /metrics", exc_info=True)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        active = GaugeMetricFamily(
            "caredge_alerts_active",
            "Alerts open or acknowledged now, by state and severity",
            labels=["state", "severity"],
        )
        for state in ACTIVE_STATES:
            for severity in Severity:
                active.add_metric([state, severity.value], figures.active.get((state, severity), 0))
        yield active
        yield CounterMetricFamily(
            "caredge_alerts_opened", "Alerts ever opened", value=figures.opened_total
        )
        yield CounterMetricFamily(
            "caredge_alerts_acknowledged",
            "Alerts ever acknowledged by a nurse",
            value=figures.acknowledged_total,
        )
        yield CounterMetricFamily(
            "caredge_alert_escalations",
            "Escalation steps (next level or repeat) that notified a nurse",
            value=figures.escalations_total,
        )
        notifications = GaugeMetricFamily(
            "caredge_notifications",
            "Notifications by channel and status (failed: retries exhausted)",
            labels=["channel", "status"],
        )
        for channel in Channel:
            for status in NotificationStatus:
                count = figures.notifications.get((channel.value, status.value), 0)
                notifications.add_metric([channel.value, status.value], count)
        yield notifications


class ApiMetrics:
    """The registry of one API process."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.registry: CollectorRegistry = new_registry()
        self.requests = Counter(
            "caredge_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "caredge_http_request_seconds",
            "HTTP request duration by method and route template",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(AlertsCollector(sessions))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count and time one finished request."""
        self.requests.labels(method, route, str(status)).inc()
        self.request_seconds.labels(method, route).observe(seconds)


class RequestMiddleware:
    """Request id, access log and HTTP metrics for every HTTP request (ASGI)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw = headers.get(REQUEST_ID_HEADER.encode())
        request_id = request_id_from(raw.decode("latin-1") if raw else None)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (REQUEST_ID_HEADER.encode(), request_id.encode()),
                ]
            await send(message)

        with bind(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                seconds = time.perf_counter() - started
                route = route_template(scope)
                self.metrics.observe(scope["method"], route, status, seconds)
                access_log.log(
                    logging.DEBUG if scope["path"] in QUIET_PATHS else logging.INFO,
                    "%s %s %d %.1f ms",
                    scope["method"],
                    scope["path"],
                    status,
                    seconds * 1000,
                    extra=_access_fields(scope, route, status, seconds),
                )


def _access_fields(scope: Scope, route: str, status: int, seconds: float) -> dict[str, Any]:
    client = scope.get("client")
    return {
        "method": scope["method"],
        "path": scope["path"],
        "route": route,
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "client": client[0] if client else None,
    }
