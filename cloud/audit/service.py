"""Recording audit entries (in the caller's transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from cloud.audit.models import AuditEntry

AUDIT_LOG = cast(Table, AuditEntry.__table__)


def record(session: Session, *, actor: str, action: str, target: str, **detail: Any) -> None:
    """Add an audit entry to the session; it commits with the action it describes."""
    session.add(AuditEntry(actor=actor, action=action, target=target, detail=detail))


def entry(*, actor: str, action: str, target: str, **detail: Any) -> dict[str, Any]:
    """An audit entry for :func:`record_many` (its time is set when it is inserted)."""
    return {"actor": actor, "action": action, "target": target, "detail": detail}


def record_many(session: Session, entries: Sequence[dict[str, Any]]) -> None:
    """Insert entries made by :func:`entry` at once, in order, in one statement.

    Core, not ORM objects: the engine audits every transition of a busy ingest stream, and an
    object per entry was most of that cost. Entries added with :func:`record` and not yet
    flushed are written after these, so a caller that mixes both flushes first.
    """
    if entries:
        session.execute(insert(AUDIT_LOG), list(entries))
