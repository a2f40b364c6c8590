"""Per-process Prometheus registries and their text exposition."""

from __future__ import annotations

import hmac

from prometheus_client import (
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

#: The classic text format (0.0.4): every Prometheus version and VictoriaMetrics reads it.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

__all__ = ["CONTENT_TYPE", "exposition", "new_registry", "scrape_allowed"]


def new_registry() -> CollectorRegistry:
    """A fresh registry with the process (CPU, memory, fds) and Python platform collectors.

    Built per process object rather than at import time, so tests can build several. The
    ``*_created`` series are turned off (process-wide): Prometheus does not use them.
    """
    disable_created_metrics()
    registry = CollectorRegistry()  # no auto_describe: collectors read SQL at scrape only
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format (version 0.0.4)."""
    return generate_latest(registry)


def scrape_allowed(token: str, authorization: str | None) -> bool:
    """True when no token is configured or the header is ``Bearer <token>``."""
    if not token:
        return True
    expected = f"Bearer {token}".encode()
    return hmac.compare_digest(expected, (authorization or "").encode())
