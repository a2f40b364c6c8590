"""SQL model of an API user (a person or a device account) and its role."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db import Base, UtcDateTime, utcnow


class Role(StrEnum):
    """API roles; least privilege: a kiosk or gateway account reads no patient history."""

    ADMIN = "admin"
    NURSE = "nurse"
    KIOSK = "kiosk"
    GATEWAY = "gateway"


class User(Base):
    """An account that can obtain bearer tokens."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    gateway_id: Mapped[str | None] = mapped_column(ForeignKey("gateways.id"), default=None)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
