"""Per-gateway token buckets (cloud/ingest/ratelimit.py): honest gateways are never limited, a
flooder gets burst + rate × t, and no gateway's flood costs another one a message."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest
from pydantic import ValidationError

from cloud.ingest.pipeline import MAX_PAYLOAD_BYTES
from cloud.ingest.ratelimit import SWEEP_INTERVAL_S, DropReport, GatewayRateLimiter
from cloud.ingest.stats import IngestStats
from cloud.observability.ingest_metrics import IngestMetrics
from cloud.settings import Settings

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, database=None)

rates = st.floats(min_value=0.5, max_value=500.0)
bursts = st.integers(min_value=1, max_value=50)
gaps = st.lists(st.floats(min_value=0.0, max_value=3.0), min_size=1, max_size=120)


def times(steps: list[float], start: float = 1000.0) -> list[float]:
    return list(itertools.accumulate(steps, initial=start))[1:]


def conforms(arrivals: list[float], rate: float, burst: int) -> bool:
    """True if no window [t_i, t_j] holds more than burst + rate × (t_j − t_i) messages."""
    return all(
        j - i + 1 <= burst + rate * (arrivals[j] - arrivals[i]) + 1e-6
        for i in range(len(arrivals))
        for j in range(i, len(arrivals))
    )


@PROPERTY
@given(rate=rates, burst=bursts, steps=gaps)
def test_a_gateway_within_its_rate_and_burst_is_never_limited(
    rate: float, burst: int, steps: list[float]
) -> None:
    arrivals = times(steps)
    if not conforms(arrivals, rate, burst):
        # Stretch the gaps to at least 1/rate: then it conforms whatever the burst.
        arrivals = times([max(step, 1 / rate) for step in steps])
    limiter = GatewayRateLimiter(rate, burst)
    assert all(limiter.allow("gw-1", now) for now in arrivals)


@PROPERTY
@given(rate=rates, burst=bursts, steps=gaps)
def test_a_flooder_gets_at_most_burst_plus_rate_times_elapsed(
    rate: float, burst: int, steps: list[float]
) -> None:
    arrivals = times(steps)
    limiter = GatewayRateLimiter(rate, burst)
    allowed = sum(limiter.allow("gw-flood", now) for now in arrivals)
    assert allowed <= burst + rate * (arrivals[-1] - arrivals[0]) + 1e-6


@pytest.mark.parametrize(("rate", "burst"), [(50.0, 2000), (5.0, 10), (1.0, 1)])
def test_a_dense_flood_gets_burst_plus_rate_times_elapsed(rate: float, burst: int) -> None:
    limiter = GatewayRateLimiter(rate, burst)
    seconds, per_second = 20, 1000
    allowed = sum(limiter.allow("gw-flood", n / per_second) for n in range(seconds * per_second))
    expected = burst + rate * (seconds - 1 / per_second)
    assert expected - 1 <= allowed <= expected
    assert [report.dropped for report in limiter.drop_reports(seconds)] == [
        seconds * per_second - allowed
    ]


@PROPERTY
@given(
    rate=rates,
    burst=bursts,
    events=st.lists(
        st.tuples(st.sampled_from(["gw-a", "gw-b", "gw-c"]), st.floats(0.0, 2.0)),
        min_size=1,
        max_size=150,
    ),
)
def test_a_gateways_decisions_do_not_depend_on_the_others(
    rate: float, burst: int, events: list[tuple[str, float]]
) -> None:
    shared = GatewayRateLimiter(rate, burst)
    alone = {gateway: GatewayRateLimiter(rate, burst) for gateway in ("gw-a", "gw-b", "gw-c")}
    now = 0.0
    for gateway, step in events:
        now += step
        assert shared.allow(gateway, now) == alone[gateway].allow(gateway, now)


def test_a_flood_leaves_an_honest_gateway_untouched() -> None:
    limiter = GatewayRateLimiter(50.0, 100)
    honest = []
    for tick in range(10_000):  # 10 s: the flooder sends 1,000/s, the honest one 2/s
        now = tick / 1000
        limiter.allow("gw-flood", now)
        if tick % 500 == 0:
            honest.append(limiter.allow("gw-honest", now))
    assert all(honest) and len(honest) == 20


def test_time_going_backwards_neither_refills_nor_refuses_more() -> None:
    limiter = GatewayRateLimiter(1.0, 2)
    assert limiter.allow("gw-1", 10.0) and limiter.allow("gw-1", 10.0)
    assert not limiter.allow("gw-1", 9.0)
    assert limiter.allow("gw-1", 11.0)  # one second after 10.0: one token


def test_drops_are_reported_at_most_once_per_interval() -> None:
    limiter = GatewayRateLimiter(1.0, 1, report_interval=10.0)
    assert limiter.drop_reports(0.0) == []
    limiter.allow("gw-1", 0.0)
    for _ in range(5):
        limiter.allow("gw-1", 0.1)
    assert limiter.drop_reports(0.1) == [DropReport("gw-1", 5)]
    for _ in range(3):
        limiter.allow("gw-1", 0.2)
    assert limiter.drop_reports(5.0) == []  # reported 4.9 s ago
    assert limiter.drop_reports(10.1) == [DropReport("gw-1", 3)]
    assert limiter.drop_reports(30.0) == []  # nothing new


def test_idle_full_buckets_are_forgotten() -> None:
    limiter = GatewayRateLimiter(10.0, 20)
    for number in range(5000):
        limiter.allow(f"gw-{number}", 0.0)
    for _ in range(30):
        limiter.allow("gw-flood", 0.0)  # empties its bucket and owes a report
    assert len(limiter) == 5001
    later = SWEEP_INTERVAL_S + 1
    limiter.allow("gw-new", later)  # the sweep runs on the first call after the interval
    assert len(limiter) == 2  # gw-flood still owes its report, gw-new just spent a token
    assert limiter.drop_reports(later) == [DropReport("gw-flood", 10)]
    limiter.allow("gw-other", 2 * later)
    assert len(limiter) == 1


def test_refuses_a_meaningless_configuration() -> None:
    with pytest.raises(ValueError):
        GatewayRateLimiter(0.0, 10)
    with pytest.raises(ValueError):
        GatewayRateLimiter(1.0, 0)


def test_settings_defaults_and_bounds() -> None:
    settings = Settings()
    assert (settings.ingest_gateway_rate, settings.ingest_gateway_burst) == (50.0, 2000)
    assert settings.ingest_max_payload_bytes == MAX_PAYLOAD_BYTES == 4096
    assert Settings(ingest_gateway_rate=0).ingest_gateway_rate == 0  # off
    for bad in ({"ingest_gateway_rate": -1}, {"ingest_gateway_burst": 0}):
        with pytest.raises(ValidationError, match="CAREDGE_INGEST_GATEWAY_RATE"):
            Settings(**bad)
    with pytest.raises(ValidationError, match="CAREDGE_INGEST_MAX_PAYLOAD_BYTES"):
        Settings(ingest_max_payload_bytes=0)


def test_rate_limited_messages_are_a_counter_without_a_gateway_label() -> None:
    stats = IngestStats()
    stats.add(rate_limited=3)
    text = generate_latest(IngestMetrics(stats).registry).decode()
    assert "\ncaredge_ingest_rate_limited_total 3.0\n" in text
