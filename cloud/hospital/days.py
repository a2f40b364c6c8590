"""Hospital calendar days and queue ticket labels (pure)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    """The hospital's calendar day at an aware instant."""
    return moment.astimezone(zone).date()


def day_end(day: date, zone: ZoneInfo) -> datetime:
    """The instant the hospital's day ends (next local midnight), aware."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


def ticket_label(prefix: str, number: int) -> str:
    """What the queue ticket and the waiting-room screen show: C007, C123, C1234."""
    return f"{prefix}{number:03d}"
