"""Counters of the ingest worker (read by tests, logs and, later, /metrics)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields


@dataclass
class IngestStats:
    """Monotonic counters; ``add`` is thread-safe."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rewritten: int = 0
    dead_letters: int = 0
    batches: int = 0
    snapshots: int = 0
    acknowledged: int = 0
    confirmations_sent: int = 0
    store_retries: int = 0
    stale_acks_skipped: int = 0
    rate_limited: int = 0
    alerts_opened: int = 0
    alert_changes: int = 0
    alert_errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        """Increase the named counters."""
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def snapshot(self) -> dict[str, int]:
        """A consistent copy of all counters."""
        with self._lock:
            return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "_lock"}
