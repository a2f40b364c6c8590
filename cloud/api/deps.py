"""Request dependencies as typed aliases: session, store, settings, the caller and its role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer
from sqlalchemy.orm import Session, sessionmaker

from cloud.auth import service as auth_service
from cloud.auth.models import Role, User
from cloud.auth.security import TokenError, decode_access_token
from cloud.db import utcnow
from cloud.kiosk import service as kiosk_service
from cloud.kiosk.models import Kiosk, PatientSession
from cloud.settings import Settings
from cloud.tsdb.base import ReadingStore

TOKEN_URL = "/api/v1/auth/token"
_bearer = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


def get_store(request: Request) -> ReadingStore:
    """The app's time-series reading store."""
    store: ReadingStore = request.app.state.store
    return store


def get_session(request: Request) -> Iterator[Session]:
    """One session per request: commit when the endpoint succeeds, roll back on any error."""
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[ReadingStore, Depends(get_store)]
# scope="function": commit before the response is sent, so a failed commit is an error response.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def unauthorized(detail: str) -> HTTPException:
    """A 401 carrying the RFC 6750 challenge."""
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


def get_current_user(
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(_bearer)],
) -> User:
    """The active user named by a valid bearer token; 401 saying why otherwise."""
    if not token:
        raise unauthorized("not authenticated: missing bearer token")
    try:
        claims = decode_access_token(token, secret=settings.secret_key.get_secret_value())
    except TokenError as exc:
        raise unauthorized(str(exc)) from exc
    user = auth_service.get_by_username(session, username=claims.subject)
    if user is None:
        raise unauthorized(f"unknown user {claims.subject!r}")
    if not user.active:
        raise unauthorized(f"user {claims.subject!r} is inactive")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_roles(*roles: Role) -> Callable[[User], User]:
    """A dependency that lets through only callers with one of roles (403 otherwise)."""
    allowed = tuple(Role(role) for role in roles)
    names = " or ".join(role.value for role in allowed)

    def check_role(user: CurrentUser) -> User:
        # The role comes from the database, not the token: a demotion takes effect at once.
        if user.role not in allowed:
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"requires role {names}; your role is {user.role}",
            )
        return user

    return check_role


AdminUser = Annotated[User, Depends(require_roles(Role.ADMIN))]
ClinicalUser = Annotated[User, Depends(require_roles(Role.ADMIN, Role.NURSE))]


def get_now(request: Request) -> datetime:
    """The current UTC time; tests set ``app.state.clock`` to travel in time."""
    clock: Callable[[], datetime] | None = getattr(request.app.state, "clock", None)
    return clock() if clock is not None else utcnow()


NowDep = Annotated[datetime, Depends(get_now)]

_kiosk_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="KioskDeviceToken",
    description="The kiosk's device token (ckd_…), issued once when an admin registers it.",
)
_session_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="PatientSessionToken",
    description="A patient session token (cps_…) from /api/v1/kiosk/identify/*.",
)


def get_kiosk(
    session: SessionDep,
    now: NowDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_kiosk_bearer)],
) -> Kiosk:
    """The active kiosk whose device token is presented; 401 otherwise."""
    if credentials is None:
        raise unauthorized("not authenticated: missing kiosk device token")
    kiosk = kiosk_service.authenticate_kiosk(session, token=credentials.credentials, now=now)
    if kiosk is None:
        raise unauthorized("invalid or revoked kiosk device token")
    return kiosk


def get_patient_session(
    session: SessionDep,
    now: NowDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_session_bearer)],
) -> PatientSession:
    """The live patient session whose token is presented (at an active kiosk); 401 otherwise."""
    if credentials is None:
        raise unauthorized("not authenticated: missing patient session token")
    try:
        return kiosk_service.resolve_session(session, token=credentials.credentials, now=now)
    except kiosk_service.SessionInvalidError as exc:
        raise unauthorized(str(exc)) from exc


CurrentKiosk = Annotated[Kiosk, Depends(get_kiosk)]
KioskPatientSession = Annotated[PatientSession, Depends(get_patient_session)]
