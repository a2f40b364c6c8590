"""When the ingest worker takes its group snapshot (pure policy)."""

from __future__ import annotations

import pytest

from cloud.ingest.persister import SnapshotPolicy

POLICY = SnapshotPolicy(interval_s=0.25, max_messages=2000)


@pytest.mark.parametrize(
    ("oldest_age_s", "messages", "wait_s"),
    [
        (0.0, 1, 0.25),  # a lone reading waits for company, at most the interval
        (0.1, 1500, 0.15),
        (0.25, 1, 0.0),  # the oldest waited long enough
        (0.4, 1, 0.0),
        (0.0, 2000, 0.0),  # the broker's in-flight window must not run dry
    ],
)
def test_snapshot_when_the_oldest_waited_the_interval_or_messages_pile_up(
    oldest_age_s: float, messages: int, wait_s: float
) -> None:
    assert POLICY.wait_s(oldest_age_s=oldest_age_s, messages=messages) == pytest.approx(wait_s)
