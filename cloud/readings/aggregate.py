"""Time buckets over reading points: pure functions, no I/O.

Buckets are aligned to the Unix epoch in UTC (a 1 h bucket starts on the hour, a 1 d bucket
at 00:00 UTC), so the same interval always yields the same boundaries whatever the query
window, and adjacent queries line up.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cloud.tsdb.base import FIELDS, ReadingPoint

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_EVERY = timedelta(minutes=1)
MAX_EVERY = timedelta(days=400)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_EVERY_RE = re.compile(r"^([1-9][0-9]{0,8})([smhdw])$")


class IntervalError(ValueError):
    """A bucket interval that is malformed or outside [1m, 400d]."""


def parse_every(text: str) -> timedelta:
    """Parse an interval like ``15m``, ``1h``, ``1d`` (units s m h d w); at least one minute."""
    match = _EVERY_RE.match(text.strip())
    if not match:
        raise IntervalError(
            f"every must be a positive whole number and a unit s, m, h, d or w (e.g. 15m, 1h, "
            f"1d), got {text!r}"
        )
    interval = timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    if interval < MIN_EVERY:
        raise IntervalError(f"every must be at least 1m, got {text!r}")
    if interval > MAX_EVERY:
        raise IntervalError(f"every must be at most 400d, got {text!r}")
    return interval


def bucket_start(at: datetime, every: timedelta) -> datetime:
    """Start of the epoch-aligned bucket of width every that contains at (aware, UTC)."""
    if at.tzinfo is None:
        raise ValueError("bucket_start needs an aware datetime")
    # timedelta // timedelta is exact integer arithmetic on microseconds; floors negatives too.
    return EPOCH + ((at - EPOCH) // every) * every


@dataclass(frozen=True)
class FieldStats:
    """Minimum, arithmetic mean and maximum of one field within a bucket."""

    min: float
    mean: float
    max: float


@dataclass(frozen=True)
class Bucket:
    """Readings of one kind whose measured_at falls in [start, start + every)."""

    start: datetime
    kind: str
    count: int
    fields: dict[str, FieldStats]


def aggregate(points: Iterable[ReadingPoint], every: timedelta) -> list[Bucket]:
    """Non-empty buckets per (start, kind), ordered by start then kind.

    ``count`` is the number of readings; a field's stats cover the readings that have it
    (pulse may be absent), and a field no reading has is left out.
    """
    if every <= timedelta(0):
        raise ValueError("every must be positive")
    groups: dict[tuple[datetime, str], list[ReadingPoint]] = defaultdict(list)
    for point in points:
        groups[(bucket_start(point.measured_at, every), point.kind)].append(point)
    buckets = []
    for (start, kind), members in sorted(groups.items()):
        fields: dict[str, FieldStats] = {}
        names = FIELDS.get(kind) or tuple(sorted({n for p in members for n in p.values}))
        for name in names:
            values = [p.values[name] for p in members if name in p.values]
            if values:
                fields[name] = FieldStats(
                    min=min(values), mean=math.fsum(values) / len(values), max=max(values)
                )
        buckets.append(Bucket(start=start, kind=kind, count=len(members), fields=fields))
    return buckets
