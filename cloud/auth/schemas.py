"""API shapes of users and tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from cloud.auth.models import Role


class TokenResponse(BaseModel):
    """An OAuth2 bearer token and what it allows."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    role: Role


class UserRead(BaseModel):
    """A user as the API shows it (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    role: Role
    display_name: str
    gateway_id: str | None
    active: bool
    created_at: datetime
