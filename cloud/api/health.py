"""Liveness and readiness probes."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text

from cloud.tsdb.base import ReadingStore

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive (no dependency is checked)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a dependency is unavailable"}})
def readyz(request: Request) -> JSONResponse:
    """Ready when the SQL database answers SELECT 1 and the reading store answers a ping."""
    engine: Engine = request.app.state.engine
    store: ReadingStore = request.app.state.store
    checks: dict[str, str] = {}
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready
        checks["database"] = f"unavailable: {exc}"
    try:
        store.ping()
        checks["store"] = "ok"
    except Exception as exc:  # any failure means not ready
        checks["store"] = f"unavailable: {exc}"
    failing = {name: state for name, state in checks.items() if state != "ok"}
    if failing:
        log.warning("not ready: %s", failing)
        detail = "not ready: " + "; ".join(f"{name} {state}" for name, state in failing.items())
        return JSONResponse(
            {"detail": detail, "checks": checks},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return JSONResponse({"status": "ready", "checks": checks})
