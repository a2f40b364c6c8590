"""Group snapshots: make committed batches durable in the time-series store, then acknowledge.

With a store that persists separately (VictoriaMetrics snapshots), the ingest worker commits a
batch's ledger rows and alerts as soon as its points are written, and hands the batch here.
One thread takes one snapshot for every batch waiting (``SnapshotPolicy`` decides when),
raises the writer's durable mark, and acknowledges the batches' messages in arrival order.
Why that loses nothing and stores nothing twice: docs/ingest.md.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from cloud.db import transaction
from cloud.errors import StoreUnavailableError
from cloud.ingest import repository
from cloud.ingest.pipeline import Inbound
from cloud.ingest.repository import TsdbBatch
from cloud.ingest.stats import IngestStats
from cloud.tsdb.base import ReadingPoint, ReadingStore, WriteReceipt
from protocol.confirmations import Confirmation

log = logging.getLogger(__name__)

#: The longest a committed batch waits for its snapshot (unless messages pile up first).
SNAPSHOT_INTERVAL_S = 0.25

_T = TypeVar("_T")


@dataclass(frozen=True)
class SnapshotPolicy:
    """When to snapshot: the oldest waiting batch waited ``interval_s``, or ``max_messages``
    wait for their acknowledgement (the broker's in-flight window must not run dry)."""

    interval_s: float
    max_messages: int

    def wait_s(self, *, oldest_age_s: float, messages: int) -> float:
        """Seconds to wait before the next snapshot; 0 means now."""
        if messages >= self.max_messages:
            return 0.0
        return max(0.0, self.interval_s - oldest_age_s)


@dataclass
class Committed:
    """A batch committed to the ledger, waiting to be acknowledged.

    ``batch`` is None when it wrote no points (duplicates, dead letters): it needs no snapshot,
    only the acknowledgements of the batches before it.
    """

    messages: list[Inbound]
    batch: TsdbBatch | None = None
    points: list[ReadingPoint] = field(default_factory=list)
    receipt: WriteReceipt = None
    #: Per gateway, what to confirm once the batch is durable (sent with the acknowledgement).
    confirmations: dict[str, Confirmation] = field(default_factory=dict)
    committed_at: float = field(default_factory=time.monotonic)


class GroupPersister:
    """The ``ingest-persist`` thread: snapshot groups of committed batches, mark, acknowledge."""

    def __init__(
        self,
        store: ReadingStore,
        *,
        session_factory: sessionmaker[Session],
        policy: SnapshotPolicy,
        acknowledge: Callable[[Committed], None],
        retrying: Callable[[Callable[[], bool]], bool | None],
        stats: IngestStats,
    ) -> None:
        self._store = store
        self._sessions = session_factory
        self._policy = policy
        self._acknowledge = acknowledge
        self._retrying = retrying
        self._stats = stats
        self._queue: queue.SimpleQueue[Committed | None] = queue.SimpleQueue()
        # After a group is given up (stopping), no later snapshot may vouch for its batches.
        self._gave_up = False
        self._thread = threading.Thread(target=self._run, name="ingest-persist", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def submit(self, committed: Committed) -> None:
        """Queue a committed batch; batches are acknowledged in the order submitted."""
        self._queue.put(committed)

    def finish(self, timeout: float) -> None:
        """Snapshot and acknowledge what is queued at once, then end the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        waiting: list[Committed] = []
        closing = False
        while True:
            while waiting and waiting[0].batch is None:
                self._acknowledge(waiting.pop(0))
            if not waiting and closing:
                return
            timeout = None
            if waiting:
                messages = sum(len(item.messages) for item in waiting)
                age = time.monotonic() - waiting[0].committed_at
                timeout = self._policy.wait_s(oldest_age_s=age, messages=messages)
                if timeout == 0 or closing:
                    self._persist(waiting)
                    waiting = []
                    continue
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                continue
            while True:
                if item is None:
                    closing = True
                else:
                    waiting.append(item)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break

    def _persist(self, group: list[Committed]) -> None:
        """Snapshot, mark and acknowledge group; nothing acknowledged if stopped first.

        A failed snapshot may have lost the group's points (the server restarted since they
        were written, or is down): they are written again before the next attempt.
        """
        if self._gave_up:
            return
        receipts = [item.receipt for item in group if item.batch is not None]
        rewrite = False

        def attempt() -> bool:
            nonlocal receipts, rewrite
            if rewrite:
                points = [point for item in group for point in item.points]
                log.warning("writing %d points again before the next snapshot", len(points))
                receipts = [self._store.write_unpersisted(points)]
            try:
                self._store.persist(receipts)
            except StoreUnavailableError:
                rewrite = True
                raise
            return True

        if not self._retrying(attempt):
            self._gave_up = True
            return
        self._stats.add(snapshots=1)
        last = max(item.batch for item in group if item.batch is not None)
        try:
            with transaction(self._sessions) as session:
                repository.mark_durable(session, last)
        except SQLAlchemyError as exc:  # a lagging mark only turns duplicates into rewrites
            log.warning("durable mark of batch %s not recorded: %s", last, exc)
        for item in group:
            self._acknowledge(item)
