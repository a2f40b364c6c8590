"""API shape of a dead letter."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class DeadLetterRead(BaseModel):
    """A rejected message: why, where from, and its payload as text and as base64."""

    id: int
    received_at: datetime
    topic: str
    gateway_id: str | None
    reason: str
    size: int
    payload_text: str
    payload_base64: str
