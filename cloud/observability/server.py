"""A small HTTP server for processes without an API: ``/metrics``, ``/healthz``, ``/readyz``.

Standard library only (``ThreadingHTTPServer`` on a daemon thread): the ingest worker and the
scheduler are not ASGI apps, and a probe must answer even while their own threads are busy.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from contextlib import ExitStack
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry

from cloud.errors import CloudError
from cloud.observability.health import Check, run_checks
from cloud.observability.registry import CONTENT_TYPE, exposition, scrape_allowed

log = logging.getLogger(__name__)


class MetricsPortError(CloudError):
    """The metrics and probes port cannot be listened on (taken, not allowed …)."""


class ObservabilityServer:
    """Serves a registry and readiness checks on host:port until :meth:`close`."""

    def __init__(
        self,
        registry: CollectorRegistry,
        checks: Mapping[str, Check],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = "",
    ) -> None:
        handler = _handler_class(registry, dict(checks), token)
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise MetricsPortError(
                f"cannot serve metrics on {host}:{port}: {exc.strerror}"
            ) from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="observability-http", daemon=True
        )

    @property
    def port(self) -> int:
        """The port listened on (the one chosen by the system when 0 was asked)."""
        return int(self._server.server_address[1])

    def start(self) -> ObservabilityServer:
        """Start serving in the background."""
        self._thread.start()
        host = self._server.server_address[0]
        log.info("metrics and probes on http://%s:%d/metrics, /healthz, /readyz", host, self.port)
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

    def __enter__(self) -> ObservabilityServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def serve_in_background(
    registry: CollectorRegistry,
    checks: Mapping[str, Check],
    *,
    host: str,
    port: int,
    token: str,
    stack: ExitStack,
) -> ObservabilityServer | None:
    """Start a server closed with stack; None when port is 0 (off) or cannot be listened on.

    A port that is taken is logged at ERROR and the process goes on without metrics: the
    readings it moves matter more than its figures (its health check then shows the problem).
    """
    if not port:
        return None
    try:
        server = ObservabilityServer(registry, checks, host=host, port=port, token=token)
    except MetricsPortError as exc:
        log.error("%s; running without metrics and probes", exc)
        return None
    return stack.enter_context(server)


def _handler_class(
    registry: CollectorRegistry, checks: dict[str, Check], token: str
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "caredge-observability"

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                if not scrape_allowed(token, self.headers.get("Authorization")):
                    self._json(HTTPStatus.UNAUTHORIZED, {"detail": "bearer token required"})
                    return
                self._send(HTTPStatus.OK, exposition(registry), CONTENT_TYPE)
            elif path == "/healthz":
                self._json(HTTPStatus.OK, {"status": "ok"})
            elif path == "/readyz":
                ready, results = run_checks(checks)
                if ready:
                    self._json(HTTPStatus.OK, {"status": "ready", "checks": results})
                else:
                    log.warning("not ready: %s", results)
                    self._json(HTTPStatus.SERVICE_UNAVAILABLE,
                               {"status": "not ready", "checks": results})  # fmt: skip
            else:
                self._json(HTTPStatus.NOT_FOUND, {"detail": "Not Found"})

        def _json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("%s " + format, self.address_string(), *args)

    return Handler
