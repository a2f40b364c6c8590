"""HTTP endpoint of dead letters (admin)."""

from __future__ import annotations

import base64

from fastapi import APIRouter

from cloud.api.deps import AdminUser, SessionDep
from cloud.api.pagination import Page, PageDep
from cloud.deadletters import service
from cloud.deadletters.models import DeadLetter
from cloud.deadletters.schemas import DeadLetterRead

router = APIRouter(prefix="/api/v1/dead-letters", tags=["dead letters"])


def _read(letter: DeadLetter) -> DeadLetterRead:
    return DeadLetterRead(
        id=letter.id,
        received_at=letter.received_at,
        topic=letter.topic,
        gateway_id=letter.gateway_id,
        reason=letter.reason,
        size=len(letter.payload),
        payload_text=letter.payload.decode("utf-8", errors="replace"),
        payload_base64=base64.b64encode(letter.payload).decode("ascii"),
    )


@router.get("", response_model=Page[DeadLetterRead])
def list_dead_letters(session: SessionDep, user: AdminUser, page: PageDep) -> Page[DeadLetterRead]:
    """Rejected MQTT messages, newest first (admin)."""
    items, total = service.list_dead_letters(session, limit=page.limit, offset=page.offset)
    return Page(
        items=[_read(letter) for letter in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )
