"""The ``influx`` time-series adapter: influxdb-client writes, VictoriaMetrics export reads.

Writes go through the InfluxDB v2 write API (``/api/v2/write``) with influxdb-client's
SYNCHRONOUS write API and line-protocol strings (about 4x faster than ``Point`` objects, see
MEASURED.md), in millisecond precision. Any server that takes that API accepts the writes
(VictoriaMetrics, InfluxDB 2/3). Reads use VictoriaMetrics' ``/api/v1/export`` (JSON lines):
the tested and supported server is VictoriaMetrics.

Deployment requirements for VictoriaMetrics:

- ``-dedup.minScrapeInterval=1ms``: a rewritten key lands on the same series and millisecond,
  and deduplication keeps one sample there, so a redelivered reading is stored once.
  The query side also collapses points with the same (gateway_id, device_id, seq).
- ``-retentionPeriod`` long enough for the oldest reading a gateway may upload (e.g. ``100y``).
- ``-search.latencyOffset=0s`` is recommended (it does not affect ``/api/v1/export``).
- ``/internal/force_flush`` reachable without ``-forceFlushAuthKey`` (``flush_on_write``), and
  ``/snapshot/*`` without ``-snapshotAuthKey`` (``persist_on_write``).

Read-your-writes and durability: VictoriaMetrics acknowledges a write once the samples are in
memory; it makes them searchable within about a second and writes them to disk within about
five seconds (a graceful stop writes everything). With ``flush_on_write=True`` (the default)
every ``write`` ends with :meth:`flush` (``/internal/force_flush``, about 1 ms here), so the
points are visible to ``query`` when ``write`` returns. Measured on VictoriaMetrics 1.79:
force_flush does not put them on disk, so a hard crash (``kill -9``, power loss) of the server
within about five seconds of a write loses that write although it was acknowledged. With
``persist_on_write=True`` every ``write`` also creates a snapshot, which writes everything to
disk first (survives ``kill -9``; about 20-60 ms per write here, so keep batches large), and
deletes it in the background; or, cheaper, ``write_unpersisted`` many batches and ``persist``
them with one snapshot (the ingest worker does). A server without these endpoints (404, e.g.
InfluxDB, durable on acknowledgement) is remembered and not asked again.

A snapshot only covers what the server process taking it accepted: if VictoriaMetrics restarts
between a write and the snapshot, the write may be lost and the snapshot still succeeds. The
store detects that from the snapshot names, ``YYYYMMDDhhmmss-<hex counter>``: VictoriaMetrics
starts the counter at its start time in nanoseconds and adds one per snapshot (observed on
1.79), so two snapshots come from one process when the counter grew by less than
``_SAME_PROCESS_SNAPSHOTS``. Each unpersisted write returns the counter of the last snapshot
before it as its receipt; ``persist(receipts)`` raises ``UnpersistedWritesLostError`` when its
snapshot comes from another process than one of them (docs/ingest.md).

Precision: timestamps are stored in milliseconds (``measured_at`` truncated), so two readings of
one device within the same millisecond collide; acceptable, meters stamp to the second.
VictoriaMetrics stores values as decimals of about 12 significant digits: values with at most
12 significant digits (every SFLOAT reading, 5.55, 13.9 …) read back identical; longer ones
(0.1 + 0.2, an unrounded mg/dL conversion) read back rounded to 12 significant digits.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx
import urllib3
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.write_api import SYNCHRONOUS

from cloud.errors import StoreUnavailableError
from cloud.tsdb.base import (
    FIELDS,
    ReadingPoint,
    ReadingStore,
    UnpersistedWritesLostError,
    WriteReceipt,
)
from cloud.tsdb.line_protocol import (
    MEASUREMENT,
    SEQ_FIELD,
    encode_point,
    from_epoch_ms,
    to_epoch_ms,
)

logger = logging.getLogger(__name__)

#: Statuses worth retrying: the server is overloaded, restarting or behind a failing proxy.
_RETRY_STATUSES = (429, 500, 502, 503, 504)
_SERIES_PREFIX = f"{MEASUREMENT}_"
#: Snapshot counters of one process differ by the number of snapshots taken in between; a
#: restart moves the counter by the old process's uptime in nanoseconds (far more).
_SAME_PROCESS_SNAPSHOTS = 1_000_000
_DURABLE_WRITE_ATTEMPTS = 3


def _write_retry() -> urllib3.Retry:
    """Short bounded retries (under a second of back-off); the ingest worker retries after."""
    return urllib3.Retry(
        total=3,
        connect=3,
        read=1,
        status=2,
        backoff_factor=0.1,
        status_forcelist=_RETRY_STATUSES,
        # Rewriting the same lines is idempotent (deduplication), so POST may be retried.
        allowed_methods=frozenset({"POST"}),
        raise_on_status=False,
    )


class InfluxReadingStore(ReadingStore):
    """Readings in VictoriaMetrics (or another InfluxDB v2 write API server for writes).

    ``timeout`` is in seconds, per HTTP request. See the module docstring for the server flags
    this store needs, read-your-writes (``flush_on_write``), crash durability
    (``persist_on_write``) and precision.
    """

    writes_outside_sql = True

    def __init__(
        self,
        url: str,
        token: str = "",
        org: str = "caredge",
        bucket: str = "caredge",
        *,
        timeout: float = 10.0,
        flush_on_write: bool = True,
        persist_on_write: bool = False,
    ) -> None:
        self._url = url.rstrip("/")
        self._org = org
        self._bucket = bucket
        self._flush_on_write = flush_on_write
        self._persist_on_write = persist_on_write
        self._flush_supported = True
        self._snapshot_supported = True
        self._client = InfluxDBClient(
            url=self._url,
            token=token or None,
            org=org,
            timeout=int(timeout * 1000),
            retries=_write_retry(),
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self._url, timeout=timeout, headers=headers)
        self._housekeeping = ThreadPoolExecutor(1, thread_name_prefix="tsdb-housekeeping")
        self._counter_lock = threading.Lock()
        self._last_snapshot: int | None = None  # counter of the latest snapshot taken
        self._unparsable_logged = False

    @property
    def persists_separately(self) -> bool:
        """True with ``persist_on_write`` on a server that takes snapshots."""
        return self._persist_on_write and self._snapshot_supported

    def write(self, points: Sequence[ReadingPoint]) -> None:
        """Store points; durable (``persist_on_write``) and searchable (``flush_on_write``,
        default) on return."""
        if not points:
            return
        if not self.persists_separately:
            self._post(points)
            if self._flush_on_write:
                self.flush()
            return
        for attempt in range(1, _DURABLE_WRITE_ATTEMPTS + 1):
            receipt = self.write_unpersisted(points)
            try:
                self.persist([receipt])
                return
            except UnpersistedWritesLostError as exc:
                if attempt == _DURABLE_WRITE_ATTEMPTS:
                    raise
                logger.warning("writing %d points again: %s", len(points), exc)

    def write_unpersisted(self, points: Sequence[ReadingPoint]) -> WriteReceipt:
        """Store points, searchable on return; the receipt is the counter of the last
        snapshot before the write (``persist`` compares it with its own)."""
        if not self.persists_separately:
            self.write(points)
            return None
        with self._counter_lock:
            before = self._last_snapshot
        if before is None:  # nothing to compare a later snapshot with: take one first
            try:
                before = self._snapshot()
            except StoreUnavailableError:  # None: persist will not vouch for this write
                before = None
        if points:
            self._post(points)
            self.flush()
        return before

    def persist(self, receipts: Iterable[WriteReceipt] = ()) -> None:
        """Write every accepted sample to disk now (VictoriaMetrics snapshot create + delete).

        Raises ``UnpersistedWritesLostError`` when the snapshot was taken by another server
        process than one of the writes of receipts: that write may be lost.
        """
        if not self._snapshot_supported:
            return
        counter = self._snapshot()
        if counter is None:
            return
        befores = list(receipts)
        lost = [
            b
            for b in befores
            if not isinstance(b, int) or not 0 < counter - b < _SAME_PROCESS_SNAPSHOTS
        ]
        if lost:
            raise UnpersistedWritesLostError(
                f"{self._url} restarted after {len(lost)} of {len(befores)} writes: "
                "they may be lost"
            )

    def _post(self, points: Sequence[ReadingPoint]) -> None:
        """Send points through the write API (in the server's memory on return)."""
        body = "\n".join(encode_point(point) for point in points)
        try:
            self._write_api.write(
                bucket=self._bucket,
                org=self._org,
                record=body,
                write_precision=WritePrecision.MS,
            )
        except InfluxDBError as exc:
            status = getattr(exc, "status", None) or getattr(exc.response, "status", None)
            if status in (400, 422):
                # Retrying cannot help a batch the server refuses to parse.
                raise ValueError(f"time-series server rejected the points: {exc}") from exc
            raise StoreUnavailableError(f"time-series write failed: {exc}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise StoreUnavailableError(f"time-series server unreachable: {exc}") from exc

    def flush(self) -> None:
        """Make accepted samples durable and searchable now (VictoriaMetrics ``force_flush``)."""
        if not self._flush_supported:
            return
        response = self._request("GET", "/internal/force_flush")
        if response.status_code == 404:
            logger.info("%s has no /internal/force_flush; not flushing after writes", self._url)
            self._flush_supported = False
            return
        self._check(response, "flush")

    def _snapshot(self) -> int | None:
        """Create a snapshot (every accepted sample on disk) and return its counter; None when
        the server has no snapshots or names them otherwise (then restarts go unnoticed)."""
        response = self._request("GET", "/snapshot/create")
        if response.status_code == 404:
            logger.info("%s has no /snapshot/create; not persisting after writes", self._url)
            self._snapshot_supported = False
            return None
        self._check(response, "snapshot")
        answer = response.json()
        if answer.get("status") != "ok":
            raise StoreUnavailableError(f"time-series snapshot failed: {answer}")
        name = str(answer["snapshot"])
        # The samples are on disk now; deleting the snapshot is housekeeping, done off the
        # write path (it took about a quarter of persist's time under ingest load).
        self._housekeeping.submit(self._delete_snapshot, name)
        try:
            counter = int(name.rpartition("-")[2], 16)
        except ValueError:
            if not self._unparsable_logged:
                logger.warning("snapshot name %r has no counter: restarts go unnoticed", name)
                self._unparsable_logged = True
            return None
        with self._counter_lock:
            self._last_snapshot = counter
        return counter

    def _delete_snapshot(self, name: str) -> None:
        """Delete a snapshot taken to persist; a leftover one only costs disk space."""
        try:
            deleted = self._request("GET", "/snapshot/delete", params={"snapshot": name})
        except StoreUnavailableError as exc:
            logger.warning("could not delete snapshot %s: %s", name, exc)
            return
        if deleted.status_code != 200:
            logger.warning("could not delete snapshot %s: %s", name, deleted.text)

    def query(
        self,
        *,
        patient_id: int,
        since: datetime,
        until: datetime,
        kind: str | None = None,
    ) -> list[ReadingPoint]:
        """Points of one patient with since <= measured_at < until, oldest first."""
        # Stored times are whole milliseconds; VictoriaMetrics' ``end`` is inclusive.
        start_ms = _ceil_ms(since)
        end_ms = _ceil_ms(until) - 1
        if end_ms < start_ms:
            return []
        kinds = [kind] if kind is not None else list(FIELDS)
        names = sorted({SEQ_FIELD, *(name for k in kinds if k in FIELDS for name in FIELDS[k])})
        selector = [
            f'__name__=~"{_SERIES_PREFIX}({"|".join(names)})"',
            f"patient_id={json.dumps(str(patient_id))}",
        ]
        if kind is not None:
            selector.append(f"kind={json.dumps(kind)}")
        params = {
            "match[]": "{" + ",".join(selector) + "}",
            "start": _rfc3339_ms(start_ms),
            "end": _rfc3339_ms(end_ms),
        }
        response = self._request("GET", "/api/v1/export", params=params)
        self._check(response, "query")
        series = (json.loads(line) for line in response.text.splitlines() if line.strip())
        points = rebuild_points(series)
        return [p for p in points if since <= p.measured_at < until]

    def ping(self) -> None:
        """Raise StoreUnavailableError unless the server answers ``/health``."""
        self._check(self._request("GET", "/health"), "health check")

    def close(self) -> None:
        """Delete the snapshots still to delete, then close both HTTP clients."""
        self._housekeeping.shutdown(wait=True)
        self._write_api.close()
        self._client.close()
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise StoreUnavailableError(f"time-series server unreachable: {exc}") from exc

    @staticmethod
    def _check(response: httpx.Response, what: str) -> None:
        try:
            response.raise_for_status()
        except httpx.HTTPStatusError as exc:
            raise StoreUnavailableError(
                f"time-series {what} failed: HTTP {response.status_code} {response.text[:200]}"
            ) from exc


def _ceil_ms(moment: datetime) -> int:
    """The first whole millisecond at or after moment."""
    return to_epoch_ms(moment) + (1 if moment.microsecond % 1000 else 0)


def _rfc3339_ms(epoch_ms: int) -> str:
    return from_epoch_ms(epoch_ms).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def rebuild_points(series: Iterable[dict[str, object]]) -> list[ReadingPoint]:
    """Readings from VictoriaMetrics export series, oldest first, one per idempotency key.

    Samples are grouped by (gateway_id, device_id, kind, patient_id, timestamp); each group is
    one reading whose ``seq`` comes from the ``reading_seq`` series. A group without ``seq``
    is dropped with a warning.
    """
    groups: dict[tuple[str, str, str, str, int], dict[str, float]] = {}
    for item in series:
        metric = item["metric"]
        assert isinstance(metric, dict)
        name = str(metric.get("__name__", ""))
        if not name.startswith(_SERIES_PREFIX):
            continue
        field_name = name.removeprefix(_SERIES_PREFIX)
        kind = str(metric.get("kind", ""))
        if field_name != SEQ_FIELD and field_name not in FIELDS.get(kind, ()):
            continue
        base = (
            str(metric.get("gateway_id", "")),
            str(metric.get("device_id", "")),
            kind,
            str(metric.get("patient_id", "")),
        )
        values = item["values"]
        timestamps = item["timestamps"]
        assert isinstance(values, list) and isinstance(timestamps, list)
        for timestamp, value in zip(timestamps, values, strict=True):
            groups.setdefault((*base, int(timestamp)), {})[field_name] = value
    points: list[ReadingPoint] = []
    for (gateway_id, device_id, kind, patient, timestamp), fields in groups.items():
        seq = fields.pop(SEQ_FIELD, None)
        if seq is None:
            logger.warning(
                "dropped stored sample without seq: %s/%s %s at %d ms",
                gateway_id,
                device_id,
                kind,
                timestamp,
            )
            continue
        points.append(
            ReadingPoint(
                gateway_id=gateway_id,
                device_id=device_id,
                seq=int(seq),
                kind=kind,
                measured_at=from_epoch_ms(timestamp),
                patient_id=int(patient) if patient else None,
                values={name: float(fields[name]) for name in FIELDS[kind] if name in fields},
            )
        )
    points.sort(key=lambda p: (p.measured_at, p.device_id, p.seq))
    unique: dict[tuple[str, str, int], ReadingPoint] = {}
    for point in points:
        unique.setdefault(point.key, point)
    return list(unique.values())
