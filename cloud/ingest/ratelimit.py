"""Per-gateway token buckets: one gateway's flood must not starve the others (pure, no I/O).

Every gateway has its own bucket of ``burst`` tokens, refilled at ``rate`` tokens per second; a
message takes one token or is refused. So a gateway at or under its rate is never refused, a
flood gets ``burst + rate × t`` messages through in ``t`` seconds, and no gateway can use
another's tokens. The caller passes the time (``time.monotonic()`` in the ingest worker).

Memory stays bounded by the gateways active lately: a bucket that has refilled is no different
from a new one, so full buckets are forgotten on a sweep every ``SWEEP_INTERVAL_S``. Refused
messages are counted per gateway and handed out by :meth:`GatewayRateLimiter.drop_reports` at
most once per ``report_interval`` per gateway, for a log line that cannot itself flood.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

REPORT_INTERVAL_S = 10.0
SWEEP_INTERVAL_S = 60.0
#: Slack for float rounding: ``rate × elapsed`` of a gateway exactly at its rate may come out a
#: hair under one token, which must not refuse it.
_EPSILON = 1e-9


class DropReport(NamedTuple):
    """Messages of one gateway refused since its previous report."""

    gateway_id: str
    dropped: int


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    dropped: int = 0  # refused since the last report
    reported: float = float("-inf")


class GatewayRateLimiter:
    """Token buckets per gateway id; not thread-safe (the ingest collector thread owns it)."""

    def __init__(
        self, rate: float, burst: int, *, report_interval: float = REPORT_INTERVAL_S
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._report_interval = report_interval
        self._buckets: dict[str, _Bucket] = {}
        self._unreported: set[str] = set()
        self._next_sweep = float("-inf")

    def __len__(self) -> int:
        """Gateways tracked now (the others have full buckets)."""
        return len(self._buckets)

    def allow(self, gateway_id: str, now: float) -> bool:
        """Take a token of gateway_id's bucket at time now (seconds); False if it has none."""
        if now >= self._next_sweep:
            self._sweep(now)
        bucket = self._buckets.get(gateway_id)
        if bucket is None:
            self._buckets[gateway_id] = _Bucket(self.burst - 1.0, now)
            return True
        if now > bucket.updated:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1.0 - _EPSILON:
            bucket.tokens -= 1.0
            return True
        bucket.dropped += 1
        self._unreported.add(gateway_id)
        return False

    def drop_reports(self, now: float) -> list[DropReport]:
        """Refusals not reported yet, for each gateway not reported in the last interval."""
        if not self._unreported:
            return []
        reports = []
        for gateway_id in list(self._unreported):
            bucket = self._buckets[gateway_id]
            if now - bucket.reported >= self._report_interval:
                reports.append(DropReport(gateway_id, bucket.dropped))
                bucket.dropped = 0
                bucket.reported = now
                self._unreported.discard(gateway_id)
        return reports

    def _sweep(self, now: float) -> None:
        """Forget buckets that are full by now and owe no report."""
        self._next_sweep = now + SWEEP_INTERVAL_S
        self._buckets = {
            gateway_id: bucket
            for gateway_id, bucket in self._buckets.items()
            if bucket.dropped
            or now - bucket.reported < self._report_interval
            or bucket.tokens + (now - bucket.updated) * self.rate < self.burst
        }
