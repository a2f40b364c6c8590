"""Reading history: window rules, the patient check, the store query and its audit entry."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from cloud.audit.service import record
from cloud.patients.service import get_or_raise as get_patient_or_raise
from cloud.tsdb.base import ReadingPoint, ReadingStore

log = logging.getLogger(__name__)

DEFAULT_WINDOW = timedelta(days=7)
MAX_WINDOW = timedelta(days=400)


class HistoryQueryError(ValueError):
    """A history query the API refuses (bad time, empty or too long window)."""


def parse_time(text: str, name: str) -> datetime:
    """An ISO 8601 instant with a UTC offset (``Z`` or ``+hh:mm``); naive times are refused."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        hint = " (a '+' in a URL must be written %2B)" if " " in text else ""
        raise HistoryQueryError(
            f"{name} must be an ISO 8601 time with an offset, e.g. 2024-05-01T08:00:00+08:00 "
            f"or 2024-05-01T00:00:00Z; got {text!r}{hint}"
        ) from None
    if value.tzinfo is None:
        raise HistoryQueryError(
            f"{name} must include a UTC offset (e.g. 2024-05-01T08:00:00+08:00 or ...Z); "
            f"{text!r} is ambiguous"
        )
    return value


def resolve_window(
    *, since: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The [since, until) window: until defaults to now, since to until - 7 days; <= 400 days."""
    until = until if until is not None else now
    since = since if since is not None else until - DEFAULT_WINDOW
    if since >= until:
        raise HistoryQueryError(
            f"since ({since.isoformat()}) must be before until ({until.isoformat()})"
        )
    if until - since > MAX_WINDOW:
        raise HistoryQueryError(
            f"the window from since to until is {(until - since).days} days; at most "
            f"{MAX_WINDOW.days} days can be read at once"
        )
    return since, until


def history(
    session: Session,
    store: ReadingStore,
    *,
    patient_id: int,
    since: datetime,
    until: datetime,
    kind: str | None,
    actor: str,
    every: str | None = None,
) -> list[ReadingPoint]:
    """A patient's readings in [since, until), oldest first; the read is audited.

    NotFoundError for an unknown patient; StoreUnavailableError when the store is down.
    """
    get_patient_or_raise(session, patient_id=patient_id)
    points = store.query(patient_id=patient_id, since=since, until=until, kind=kind)
    record(
        session,
        actor=actor,
        action="readings.read",
        target=f"patient:{patient_id}",
        since=since.isoformat(),
        until=until.isoformat(),
        kind=kind,
        every=every,
        points=len(points),
    )
    log.debug("%s read %d readings of patient %s", actor, len(points), patient_id)
    return points
