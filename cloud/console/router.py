"""HTTP and WebSocket endpoints of the nurse console, and the static files it is made of.

WebSocket protocol (``/api/v1/console/ws``): the client's first message is
``{"type": "auth", "token": "<bearer token>"}`` (a token in the URL would end up in access
logs); the server answers ``hello`` and a ``snapshot`` of the visible active alerts, then
pushes ``alert`` (any change of a visible alert) and ``notification`` (a page for this
nurse) messages. Close codes: 4401 bad or expired token, 4403 not a nurse or admin.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker

from cloud.api.deps import ClinicalUser, SessionDep
from cloud.auth import service as auth_service
from cloud.auth.models import Role
from cloud.auth.security import TokenError, decode_access_token
from cloud.console import service
from cloud.db import utcnow
from cloud.notify.websocket import Connection, ConsoleHub

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
AUTH_TIMEOUT_S = 10.0
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403

router = APIRouter(tags=["console"])


@router.get("/console", include_in_schema=False)
def console_redirect() -> RedirectResponse:
    """The console lives at /console/."""
    return RedirectResponse("/console/")


@router.get("/console/", include_in_schema=False)
def console_page() -> FileResponse:
    """The console's single page (login, alert list, patient page)."""
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/api/v1/console/me")
def console_me(session: SessionDep, user: ClinicalUser) -> dict[str, Any]:
    """Who is signed in and which wards' alerts they see (None: all)."""
    viewer = service.viewer_of(session, user=user, now=utcnow())
    return {
        "username": viewer.username,
        "display_name": user.display_name,
        "role": viewer.role,
        "nurse_id": viewer.nurse_id,
        "ward_ids": sorted(viewer.ward_ids) if viewer.ward_ids is not None else None,
    }


@router.get("/api/v1/console/alerts")
def console_alerts(session: SessionDep, user: ClinicalUser) -> list[dict[str, Any]]:
    """Active alerts the caller may see, with patient names; most severe, then oldest first."""
    viewer = service.viewer_of(session, user=user, now=utcnow())
    return service.visible_alerts(session, viewer=viewer)


@router.get("/api/v1/console/patients/{patient_id}")
def console_patient(patient_id: int, session: SessionDep, user: ClinicalUser) -> dict[str, Any]:
    """A patient's ward, thresholds in effect and meters (last seen, battery); 404 if unknown."""
    return service.patient_summary(session, patient_id=patient_id, now=utcnow())


@router.websocket("/api/v1/console/ws")
async def console_socket(websocket: WebSocket) -> None:
    """Live alerts for one console; see the module docstring for the protocol."""
    await websocket.accept()
    try:
        first = await asyncio.wait_for(websocket.receive_text(), AUTH_TIMEOUT_S)
        token = str(json.loads(first).get("token", "")) if first else ""
    except (TimeoutError, ValueError, AttributeError):
        await websocket.close(CLOSE_UNAUTHORIZED, "send {type: auth, token} first")
        return
    except WebSocketDisconnect:
        return
    app = websocket.app
    try:
        claims = decode_access_token(token, secret=app.state.settings.secret_key.get_secret_value())
    except TokenError as exc:
        await websocket.close(CLOSE_UNAUTHORIZED, str(exc)[:120])
        return
    sessions: sessionmaker[Session] = app.state.sessionmaker
    found = await asyncio.to_thread(_viewer, sessions, claims.subject)
    if found is None:
        await websocket.close(CLOSE_UNAUTHORIZED, "unknown or inactive user")
        return
    viewer, display_name = found
    if viewer.role not in (Role.ADMIN, Role.NURSE):
        await websocket.close(CLOSE_FORBIDDEN, "the console is for nurses and admins")
        return
    hub: ConsoleHub = app.state.console_hub
    connection = Connection(viewer.username, viewer.role, viewer.nurse_id, viewer.ward_ids)
    hub.register(connection)  # before the snapshot: no change can fall between the two
    try:
        snapshot = await asyncio.to_thread(_snapshot, sessions, viewer)
        await websocket.send_json({
            "type": "hello", "username": viewer.username, "display_name": display_name,
            "role": viewer.role, "nurse_id": viewer.nurse_id,
            "ward_ids": sorted(viewer.ward_ids) if viewer.ward_ids is not None else None,
        })  # fmt: skip
        await websocket.send_json({"type": "snapshot", "alerts": snapshot})
        await _pump(websocket, connection, claims.expires_at)
    except WebSocketDisconnect:
        pass
    finally:
        hub.unregister(connection)


def _viewer(sessions: sessionmaker[Session], username: str) -> tuple[service.Viewer, str] | None:
    with sessions() as session:
        user = auth_service.get_by_username(session, username=username)
        if user is None or not user.active:
            return None
        return service.viewer_of(session, user=user, now=utcnow()), user.display_name


def _snapshot(sessions: sessionmaker[Session], viewer: service.Viewer) -> list[dict[str, Any]]:
    with sessions() as session:
        return service.visible_alerts(session, viewer=viewer)


async def _pump(websocket: WebSocket, connection: Connection, expires_at: datetime) -> None:
    """Send queued messages until the client leaves, the hub drops it or the token expires."""

    async def read() -> None:
        while True:
            text = await websocket.receive_text()
            with contextlib.suppress(ValueError, AttributeError):
                if json.loads(text).get("type") == "ping":
                    await websocket.send_json({"type": "pong"})

    reader = asyncio.create_task(read())
    try:
        while not reader.done():
            remaining = (expires_at - datetime.now(UTC)).total_seconds()
            if remaining <= 0:
                await websocket.close(CLOSE_UNAUTHORIZED, "token expired; sign in again")
                return
            getter = asyncio.create_task(connection.queue.get())
            done, _ = await asyncio.wait(
                {getter, reader}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            if getter not in done:
                getter.cancel()
                continue
            message = getter.result()
            if message is None:
                await websocket.close(1013, "too slow; reconnect")
                return
            await websocket.send_json(message)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
            await reader


def install_console(app: FastAPI) -> None:
    """Mount the console's pages, static files and endpoints on app."""
    app.state.console_hub = ConsoleHub()
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")
