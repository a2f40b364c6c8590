"""The FastAPI application factory and the server entry point."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from cloud.alerts.router import router as alerts_router
from cloud.api import health
from cloud.api.errors import install_error_handlers
from cloud.auth.router import router as auth_router
from cloud.billing.router import router as billing_router
from cloud.console.router import install_console
from cloud.db import make_engine, make_sessionmaker
from cloud.deadletters.router import router as deadletters_router
from cloud.devices.router import router as devices_router
from cloud.hospital.router import router as hospital_router
from cloud.kiosk.patient_router import router as kiosk_patient_router
from cloud.kiosk.router import router as kiosk_router
from cloud.notify.feed_wakeup import FeedWakeup
from cloud.notify.pg_listen import listen_conninfo, listen_for_changes
from cloud.notify.websocket import run_feed
from cloud.observability.api_metrics import ApiMetrics, RequestMiddleware
from cloud.observability.settings import ObservabilitySettings
from cloud.oncall.router import router as oncall_router
from cloud.patients.router import router as patients_router
from cloud.readings.router import router as readings_router
from cloud.reports.router import router as reports_router
from cloud.settings import Settings
from cloud.tsdb.base import ReadingStore
from cloud.wayfinding.router import router as wayfinding_router

log = logging.getLogger(__name__)


def create_app(
    settings: Settings, *, engine: Engine | None = None, store: ReadingStore | None = None
) -> FastAPI:
    """Build the API; engine and store are made from settings unless given (and then owned)."""
    owns_engine = engine is None
    if engine is None:
        engine = make_engine(settings.database_url)
    owns_store = store is None
    if store is None:
        from cloud.tsdb.factory import make_store

        store = make_store(settings, engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Console live updates: alert changes and websocket pages read from SQL, at once when
        # PostgreSQL notifies a commit, else on a fallback timer.
        wakeup = FeedWakeup(
            poll_s=settings.console_poll_seconds,
            listening_poll_s=settings.console_listen_poll_seconds,
        )
        app.state.console_wakeup = wakeup
        tasks = [
            asyncio.create_task(
                run_feed(app.state.console_hub, app.state.sessionmaker, wakeup=wakeup)
            )
        ]
        if settings.console_listen and app.state.engine.dialect.name == "postgresql":
            conninfo = listen_conninfo(app.state.engine.url)
            tasks.append(asyncio.create_task(listen_for_changes(conninfo, wakeup)))
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if owns_store:
            app.state.store.close()
        if owns_engine:
            app.state.engine.dispose()

    app = FastAPI(
        title="caredge API",
        version="1",
        docs_url="/docs",
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.store = store
    app.state.metrics = ApiMetrics(app.state.sessionmaker)
    app.state.metrics_token = ObservabilitySettings().metrics_token.get_secret_value()
    app.add_middleware(RequestMiddleware, metrics=app.state.metrics)
    install_error_handlers(app)
    for router in (
        health.router,
        auth_router,
        patients_router,
        readings_router,
        devices_router,
        deadletters_router,
        alerts_router,
        oncall_router,
        hospital_router,
        billing_router,
        reports_router,
        kiosk_router,
        kiosk_patient_router,
        wayfinding_router,
    ):
        app.include_router(router)
    install_console(app)
    return app


def serve(settings: Settings) -> None:
    """Run the API under uvicorn on settings.api_host:api_port until interrupted."""
    import uvicorn

    app = create_app(settings)
    log.info("caredge API on http://%s:%s", settings.api_host, settings.api_port)
    # Logging is the entry point's (text or JSON, cloud.observability.logs); the access lines
    # come from RequestMiddleware, with the request id.
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        log_config=None,
        access_log=False,
        proxy_headers=True,
    )
