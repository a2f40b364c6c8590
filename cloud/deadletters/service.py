"""Dead letters: keeping rejected messages with the reason, and listing them."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.db import utcnow
from cloud.deadletters.models import DeadLetter

log = logging.getLogger(__name__)
TOPIC_MAX = DeadLetter.topic.type.length or 255
#: A dead letter keeps at most this start of its payload, so a flood of oversize messages cannot
#: bloat the table (the ingest worker's oversize reason gives the real size).
PAYLOAD_MAX = 4096


def add_dead_letter(
    session: Session,
    *,
    topic: str,
    payload: bytes,
    reason: str,
    gateway_id: str | None,
    received_at: datetime | None = None,
) -> None:
    """Keep a rejected message (in the caller's transaction); hostile long topics and
    payloads are cut."""
    session.add(
        DeadLetter(
            topic=topic[:TOPIC_MAX],
            payload=bytes(payload[:PAYLOAD_MAX]),
            reason=reason,
            gateway_id=gateway_id,
            received_at=received_at or utcnow(),
        )
    )
    log.warning("dead letter from %s on %s: %s", gateway_id or "?", topic, reason)


def list_dead_letters(session: Session, *, limit: int, offset: int) -> tuple[list[DeadLetter], int]:
    """One page of dead letters, newest first, and how many there are in all."""
    total = session.scalar(select(func.count()).select_from(DeadLetter)) or 0
    items = session.scalars(
        select(DeadLetter)
        .order_by(DeadLetter.received_at.desc(), DeadLetter.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(items), total
