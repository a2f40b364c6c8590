"""Prometheus metrics of one ingest worker process (names and meanings: docs/observability.md).

Three sources, none of which slows the message path:

* the worker's :class:`~cloud.ingest.stats.IngestStats`, read at scrape time by
  :class:`StatsCollector` (received, stored, duplicates, dead letters, batches, retries, alerts);
* :meth:`IngestMetrics.observe_batch`, which the worker calls once per stored batch with
  its dead-letter reasons and write time, and :meth:`IngestMetrics.observe_ack` with the lag
  when the batch is acknowledged (after the snapshot that covers it);
* :class:`TimedStore`, wrapped around the reading store, which times every TSDB write.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cloud.ingest.stats import IngestStats
from cloud.observability.reasons import REASON_CLASSES, reason_class
from cloud.observability.registry import new_registry
from cloud.tsdb.base import ReadingPoint, ReadingStore, WriteReceipt

#: Batch write and lag buckets (seconds): a batch is normally durable in 5-100 ms; a store
#: outage holds batches for seconds to minutes while the worker retries.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

#: IngestStats field -> (metric name without the ``_total`` suffix, help).
STATS_METRICS: dict[str, tuple[str, str]] = {
    "received": ("caredge_ingest_messages_received", "MQTT messages taken into a batch"),
    "stored": ("caredge_ingest_readings_stored", "Readings stored (TSDB and SQL ledger)"),
    "duplicates": ("caredge_ingest_duplicates", "Redelivered or repeated readings dropped"),
    "rewritten": (
        "caredge_ingest_points_rewritten",
        "Redelivered readings whose points were not yet covered by a snapshot, written again",
    ),
    "dead_letters": ("caredge_ingest_dead_letters", "Messages rejected into dead letters"),
    "batches": ("caredge_ingest_batches", "Batches stored (committed to the ledger)"),
    "snapshots": ("caredge_ingest_tsdb_snapshots", "TSDB snapshots that made batches durable"),
    "acknowledged": ("caredge_ingest_messages_acknowledged", "MQTT messages acknowledged"),
    "store_retries": ("caredge_ingest_store_retries", "Batch writes retried (store unavailable)"),
    "stale_acks_skipped": (
        "caredge_ingest_stale_acks_skipped",
        "Acknowledgements skipped for messages of a dropped connection (redelivered)",
    ),
    "rate_limited": (
        "caredge_ingest_rate_limited",
        "Messages over their gateway's rate, acknowledged and dropped unconfirmed (sent again)",
    ),
    "alerts_opened": ("caredge_ingest_alerts_opened", "Alerts opened by the ingest rules"),
    "alert_changes": ("caredge_ingest_alert_changes", "Alert transitions made by the ingest rules"),
    "alert_errors": ("caredge_ingest_alert_errors", "Batches whose alert rules failed"),
}


class StatsCollector(Collector):
    """Exports an IngestStats snapshot as counters (fields added later get a generic name)."""

    def __init__(self, stats: IngestStats, connected: Callable[[], bool] | None = None) -> None:
        self._stats = stats
        self._connected = connected

    def collect(self) -> Iterator[Metric]:
        for field, value in self._stats.snapshot().items():
            name, help_text = STATS_METRICS.get(
                field, (f"caredge_ingest_{field}", f"IngestStats.{field}")
            )
            yield CounterMetricFamily(name, help_text, value=value)
        if self._connected is not None:
            yield GaugeMetricFamily(
                "caredge_ingest_mqtt_connected",
                "1 while connected to the broker and subscribed",
                value=1.0 if self._connected() else 0.0,
            )


class IngestMetrics:
    """The registry of one ingest process and the recorder the worker calls per batch."""

    def __init__(self, stats: IngestStats, *, connected: Callable[[], bool] | None = None) -> None:
        self.registry: CollectorRegistry = new_registry()
        self.registry.register(StatsCollector(stats, connected))
        self.batch_write_seconds = Histogram(
            "caredge_ingest_batch_write_seconds",
            "Time to make one batch durable: TSDB write, SQL ledger, dead letters and alert "
            "rules, committed",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.lag_seconds = Histogram(
            "caredge_ingest_lag_seconds",
            "Per batch, from the worker receiving its oldest message to acknowledging it (PUBACK)",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.dead_letters_by_reason = Counter(
            "caredge_ingest_dead_letters_by_reason",
            "Dead letters by reason class",
            ["reason"],
            registry=self.registry,
        )
        for name in REASON_CLASSES:
            self.dead_letters_by_reason.labels(reason=name)  # exported at 0 from the start
        self.tsdb_write_seconds = Histogram(
            "caredge_ingest_tsdb_write_seconds",
            "Time of one time-series store write (a batch's points)",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tsdb_write_errors = Counter(
            "caredge_ingest_tsdb_write_errors",
            "Time-series store writes that raised (the batch is retried)",
            registry=self.registry,
        )

    def observe_batch(
        self,
        *,
        dead_letter_reasons: Iterable[str],
        write_seconds: float,
        lag_seconds: float | None = None,
    ) -> None:
        """Record one stored batch (called by the worker's store thread); lag_seconds when the
        batch is acknowledged at the same time (else :meth:`observe_ack` records it later)."""
        self.batch_write_seconds.observe(write_seconds)
        if lag_seconds is not None:
            self.observe_ack(lag_seconds)
        for reason in dead_letter_reasons:
            self.dead_letters_by_reason.labels(reason=reason_class(reason)).inc()

    def observe_ack(self, lag_seconds: float) -> None:
        """Record one acknowledged batch: from receiving its oldest message to the PUBACK."""
        self.lag_seconds.observe(max(lag_seconds, 0.0))

    def timed(self, store: ReadingStore) -> TimedStore:
        """store, with its writes timed into this registry."""
        return TimedStore(store, self)


class TimedStore(ReadingStore):
    """A reading store that times its writes; everything else goes to the wrapped store."""

    def __init__(self, inner: ReadingStore, metrics: IngestMetrics) -> None:
        self.inner = inner
        self._metrics = metrics
        # The worker overlaps the write with its SQL transaction only if the inner store may.
        self.writes_outside_sql = inner.writes_outside_sql  # type: ignore[misc]

    def write(self, points: Sequence[ReadingPoint]) -> None:
        started = time.perf_counter()
        try:
            self.inner.write(points)
        except Exception:
            self._metrics.tsdb_write_errors.inc()
            raise
        self._metrics.tsdb_write_seconds.observe(time.perf_counter() - started)

    @property
    def persists_separately(self) -> bool:
        return self.inner.persists_separately

    def write_unpersisted(self, points: Sequence[ReadingPoint]) -> WriteReceipt:
        started = time.perf_counter()
        try:
            receipt = self.inner.write_unpersisted(points)
        except Exception:
            self._metrics.tsdb_write_errors.inc()
            raise
        self._metrics.tsdb_write_seconds.observe(time.perf_counter() - started)
        return receipt

    def persist(self, receipts: Iterable[WriteReceipt] = ()) -> None:
        self.inner.persist(receipts)

    def query(
        self, *, patient_id: int, since: datetime, until: datetime, kind: str | None = None
    ) -> list[ReadingPoint]:
        return self.inner.query(patient_id=patient_id, since=since, until=until, kind=kind)

    def ping(self) -> None:
        self.inner.ping()

    def close(self) -> None:
        self.inner.close()
