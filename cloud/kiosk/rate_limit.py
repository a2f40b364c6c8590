"""When repeated identification failures lock a kiosk or a patient number (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta


def locked_for(
    failures: Iterable[datetime], *, now: datetime, window: timedelta, limit: int
) -> timedelta | None:
    """How long until another attempt is allowed, or None if it is allowed now.

    Locked while ``limit`` or more failures fall inside the sliding window; the lock lifts
    when the ``limit``-th most recent failure leaves it.
    """
    recent = sorted((at for at in failures if now - window < at <= now), reverse=True)
    if len(recent) < limit:
        return None
    return recent[limit - 1] + window - now
