"""Shift windows from local wall-clock times, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from cloud.oncall.rota import daily_windows


def test_day_shifts_in_shanghai() -> None:
    (first, second) = daily_windows(
        timezone="Asia/Shanghai", first_day=date(2026, 3, 2), days=2, start=time(7), end=time(19)
    )
    assert first.starts_at == datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    assert first.ends_at == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    assert second.starts_at - first.starts_at == timedelta(days=1)


def test_night_shift_across_spring_forward_is_an_hour_shorter() -> None:
    # Europe/Berlin moves from CET to CEST at 02:00 on 29 March 2026.
    before, across, after = daily_windows(
        timezone="Europe/Berlin", first_day=date(2026, 3, 27), days=3, start=time(19), end=time(7)
    )
    assert before.ends_at - before.starts_at == timedelta(hours=12)
    assert across.starts_at == datetime(2026, 3, 28, 18, 0, tzinfo=UTC)  # 19:00 CET
    assert across.ends_at == datetime(2026, 3, 29, 5, 0, tzinfo=UTC)  # 07:00 CEST
    assert across.ends_at - across.starts_at == timedelta(hours=11)
    assert after.ends_at - after.starts_at == timedelta(hours=12)
    assert across.ends_at == after.starts_at - timedelta(hours=12)  # handover at 07:00 local


def test_night_shift_across_fall_back_is_an_hour_longer() -> None:
    (window,) = daily_windows(
        timezone="Europe/Berlin", first_day=date(2026, 10, 24), days=1, start=time(19), end=time(7)
    )
    assert window.ends_at - window.starts_at == timedelta(hours=13)
