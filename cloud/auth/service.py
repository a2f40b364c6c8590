"""Users: creation and password authentication (the caller's transaction commits)."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.auth.models import Role, User
from cloud.auth.security import dummy_hash, hash_password, verify_password
from cloud.devices.models import Gateway
from cloud.errors import ConflictError, NotFoundError

log = logging.getLogger(__name__)


def get_by_username(session: Session, *, username: str) -> User | None:
    """The user called username, or None."""
    return session.scalars(select(User).where(User.username == username)).one_or_none()


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role | str,
    display_name: str = "",
    gateway_id: str | None = None,
) -> User:
    """Add a user with a hashed password; ConflictError if the username is taken."""
    role = Role(role)
    if not username or not password:
        raise ValueError("username and password must not be empty")
    if get_by_username(session, username=username) is not None:
        raise ConflictError(f"user {username!r} already exists")
    if gateway_id is not None and session.get(Gateway, gateway_id) is None:
        raise NotFoundError("gateway", gateway_id)
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role.value,
        display_name=display_name,
        gateway_id=gateway_id,
        active=True,
    )
    session.add(user)
    session.flush()
    log.info("created user %s with role %s", username, role.value)
    return user


def authenticate(session: Session, *, username: str, password: str) -> User | None:
    """The active user whose password matches, else None (same cost whether or not it exists)."""
    user = get_by_username(session, username=username)
    if user is None:
        verify_password(password, dummy_hash())
        return None
    if not verify_password(password, user.password_hash) or not user.active:
        return None
    return user
