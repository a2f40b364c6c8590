"""Liveness and readiness probes, and the Prometheus scrape endpoint."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse

from cloud.observability.api_metrics import ApiMetrics
from cloud.observability.health import database_check, run_checks, store_check
from cloud.observability.registry import CONTENT_TYPE, exposition, scrape_allowed

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive (no dependency is checked)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a dependency is unavailable"}})
def readyz(request: Request) -> JSONResponse:
    """Ready when the SQL database answers SELECT 1 and the reading store answers a ping."""
    ready, checks = run_checks(
        {
            "database": database_check(request.app.state.engine),
            "store": store_check(request.app.state.store),
        }
    )
    if not ready:
        log.warning("not ready: %s", checks)
        failing = {name: state for name, state in checks.items() if state != "ok"}
        detail = "not ready: " + "; ".join(f"{name} {state}" for name, state in failing.items())
        return JSONResponse(
            {"detail": detail, "checks": checks},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return JSONResponse({"status": "ready", "checks": checks})


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text format; a bearer token is required when CAREDGE_METRICS_TOKEN is set."""
    if not scrape_allowed(request.app.state.metrics_token, request.headers.get("Authorization")):
        return JSONResponse(
            {"detail": "bearer token required"},
            status_code=status.HTTP_401_UNAUTHORIZED,
            headers={"WWW-Authenticate": "Bearer"},
        )
    api_metrics: ApiMetrics = request.app.state.metrics
    return Response(exposition(api_metrics.registry), media_type=CONTENT_TYPE)
