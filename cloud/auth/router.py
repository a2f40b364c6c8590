"""HTTP endpoints of authentication: token issue and the caller's identity."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from cloud.api.deps import CurrentUser, SessionDep, SettingsDep, unauthorized
from cloud.auth import service
from cloud.auth.models import Role
from cloud.auth.schemas import TokenResponse, UserRead
from cloud.auth.security import create_access_token

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/token", response_model=TokenResponse)
def issue_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> TokenResponse:
    """Exchange username and password (OAuth2 password form) for a bearer token."""
    user = service.authenticate(session, username=form.username, password=form.password)
    if user is None:
        log.warning("failed sign-in for %r", form.username)
        raise unauthorized("incorrect username or password")
    lifetime = timedelta(minutes=settings.access_token_minutes)
    token = create_access_token(
        subject=user.username,
        role=user.role,
        secret=settings.secret_key.get_secret_value(),
        lifetime=lifetime,
    )
    return TokenResponse(
        access_token=token, expires_in=int(lifetime.total_seconds()), role=Role(user.role)
    )


@router.get("/me", response_model=UserRead)
def read_me(user: CurrentUser) -> UserRead:
    """The account the bearer token belongs to."""
    return UserRead.model_validate(user)
