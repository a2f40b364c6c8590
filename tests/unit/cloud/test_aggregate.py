"""Epoch-aligned time buckets over reading points (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from cloud.readings.aggregate import (
    Bucket,
    FieldStats,
    IntervalError,
    aggregate,
    bucket_start,
    parse_every,
)
from cloud.tsdb.base import ReadingPoint


def _bp(at: datetime, systolic: float, pulse: float | None = None, seq: int = 0) -> ReadingPoint:
    values = {"systolic_mmhg": systolic, "diastolic_mmhg": systolic - 40, "map_mmhg": systolic - 25}
    if pulse is not None:
        values["pulse_bpm"] = pulse
    return ReadingPoint("gw", "bp", seq, "blood_pressure", at, 1, values)


def _glucose(at: datetime, mmol: float, seq: int = 0) -> ReadingPoint:
    return ReadingPoint("gw", "glu", seq, "glucose", at, 1, {"glucose_mmol_l": mmol})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1m", timedelta(minutes=1)),
        ("15m", timedelta(minutes=15)),
        ("90s", timedelta(seconds=90)),
        ("1h", timedelta(hours=1)),
        ("1d", timedelta(days=1)),
        ("2w", timedelta(days=14)),
        ("400d", timedelta(days=400)),
    ],
)
def test_parse_every(text: str, expected: timedelta) -> None:
    assert parse_every(text) == expected


@pytest.mark.parametrize(
    "text", ["", "m", "1", "0m", "-5m", "1.5h", "59s", "30s", "1y", "1 h", "01h", "401d", "1H"]
)
def test_parse_every_rejects(text: str) -> None:
    with pytest.raises(IntervalError):
        parse_every(text)


def test_bucket_start_is_aligned_to_the_unix_epoch_in_utc() -> None:
    at = datetime(2025, 3, 1, 10, 47, 31, 250000, tzinfo=UTC)
    assert bucket_start(at, timedelta(minutes=15)) == datetime(2025, 3, 1, 10, 45, tzinfo=UTC)
    assert bucket_start(at, timedelta(hours=1)) == datetime(2025, 3, 1, 10, tzinfo=UTC)
    assert bucket_start(at, timedelta(days=1)) == datetime(2025, 3, 1, tzinfo=UTC)
    # 1970-01-01 was a Thursday: weekly buckets start on Thursdays.
    assert bucket_start(at, timedelta(weeks=1)) == datetime(2025, 2, 27, tzinfo=UTC)
    # the boundary belongs to the bucket it starts
    edge = datetime(2025, 3, 1, 11, tzinfo=UTC)
    assert bucket_start(edge, timedelta(hours=1)) == edge


def test_bucket_start_of_offset_and_pre_epoch_times() -> None:
    taipei = datetime(2025, 3, 1, 7, 30, tzinfo=timezone(timedelta(hours=8)))  # 23:30 UTC
    assert bucket_start(taipei, timedelta(days=1)) == datetime(2025, 2, 28, tzinfo=UTC)
    before = datetime(1969, 12, 31, 23, 59, tzinfo=UTC)
    assert bucket_start(before, timedelta(hours=1)) == datetime(1969, 12, 31, 23, tzinfo=UTC)
    with pytest.raises(ValueError):
        bucket_start(datetime(2025, 3, 1), timedelta(hours=1))


def test_aggregate_min_mean_max_per_bucket_and_kind() -> None:
    t = datetime(2025, 3, 1, 10, tzinfo=UTC)
    points = [
        _bp(t + timedelta(minutes=5), 120, pulse=60, seq=1),
        _glucose(t + timedelta(minutes=10), 5.5, seq=1),
        _bp(t + timedelta(minutes=50), 140, seq=2),
        _bp(t + timedelta(minutes=59, seconds=59), 130, pulse=80, seq=3),
        _bp(t + timedelta(hours=1), 150, seq=4),
    ]
    buckets = aggregate(points, timedelta(hours=1))
    assert [(b.start, b.kind, b.count) for b in buckets] == [
        (t, "blood_pressure", 3),
        (t, "glucose", 1),
        (t + timedelta(hours=1), "blood_pressure", 1),
    ]
    first = buckets[0]
    assert first.fields["systolic_mmhg"] == FieldStats(min=120, mean=130, max=140)
    # pulse is averaged over the two readings that have it
    assert first.fields["pulse_bpm"] == FieldStats(min=60, mean=70, max=80)
    assert buckets[1].fields == {"glucose_mmol_l": FieldStats(5.5, 5.5, 5.5)}
    assert "pulse_bpm" not in buckets[2].fields


def test_aggregate_is_order_independent_and_empty_for_no_points() -> None:
    t = datetime(2025, 3, 1, tzinfo=UTC)
    points = [_glucose(t + timedelta(minutes=m), float(m), seq=m) for m in range(0, 120, 7)]
    every = timedelta(minutes=30)
    assert aggregate(points, every) == aggregate(list(reversed(points)), every)
    assert aggregate([], every) == []
    assert all(isinstance(b, Bucket) for b in aggregate(points, every))
    assert sum(b.count for b in aggregate(points, every)) == len(points)


def test_mean_is_exact_for_many_values() -> None:
    t = datetime(2025, 3, 1, tzinfo=UTC)
    points = [_glucose(t, 0.1, seq=n) for n in range(10)]
    assert aggregate(points, timedelta(days=1))[0].fields["glucose_mmol_l"].mean == 0.1
