"""Shift times from a ward's wall clock, pure: handovers stay at local times across DST."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class ShiftWindow:
    """One shift in UTC, [starts_at, ends_at)."""

    starts_at: datetime
    ends_at: datetime


def daily_windows(
    *, timezone: str, first_day: date, days: int, start: time, end: time
) -> list[ShiftWindow]:
    """A shift from start to end local time on each of days days (end <= start: overnight).

    A night shift across the spring-forward change is an hour shorter, across the autumn change
    an hour longer: the handover stays at the ward's wall-clock time. A local time that does not
    exist (inside the spring gap) is read as the time after the gap (``fold=0``).
    """
    zone = ZoneInfo(timezone)
    windows = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        end_day = day if end > start else day + timedelta(days=1)
        local_start = datetime.combine(day, start, tzinfo=zone)
        local_end = datetime.combine(end_day, end, tzinfo=zone)
        windows.append(ShiftWindow(local_start.astimezone(UTC), local_end.astimezone(UTC)))
    return windows
