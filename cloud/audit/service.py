"""Recording audit entries (in the caller's transaction)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cloud.audit.models import AuditEntry


def record(session: Session, *, actor: str, action: str, target: str, **detail: Any) -> None:
    """Add an audit entry to the session; it commits with the action it describes."""
    session.add(AuditEntry(actor=actor, action=action, target=target, detail=detail))
