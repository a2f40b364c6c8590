"""``caredge ingest`` / ``caredge api`` with stage timestamps, for ``alert_latency --trace``.

Runs the real command (``cloud.cli.app``) after wrapping a few methods so that each batch
holding a probe reading, and each console poll that found changed alerts, writes one line
``TRACE {json}`` with wall-clock times (``time.time()``, comparable across processes on one
machine) to stderr, i.e. the process log. Only probe topics are timed per message, so the
background load pays one ``str.startswith`` per reading. The wrapped methods are private
(``IngestWorker._process`` …): if they are renamed, the traced process exits at start with an
AttributeError in its log, and the benchmark reports that. Run:
``python -m bench.stage_trace {ingest|api}`` with the ``CAREDGE_*`` environment.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

PROBE_TOPIC_PREFIX = "caredge/v1/gw/probe-"
MARK = "TRACE "


def emit(event: str, **fields: Any) -> None:
    """One trace line on stderr."""
    sys.stderr.write(MARK + json.dumps({"event": event, **fields}) + "\n")
    sys.stderr.flush()


def read_trace(log: Path) -> Iterator[dict[str, Any]]:
    """The trace events in a process log, in order."""
    if not log.exists():
        return
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith(MARK):
            with contextlib.suppress(ValueError):  # a line cut by another thread's output
                yield json.loads(line.removeprefix(MARK))


def _patch_ingest() -> None:
    """Time collect → prepare → store thread → TSDB write, rules → commit of probe batches."""
    from cloud.ingest import worker as module
    from cloud.ingest.worker import IngestWorker
    from cloud.tsdb.influx_store import InfluxReadingStore
    from cloud.tsdb.sql_store import SqlReadingStore

    arrivals: dict[str, float] = {}
    batches: dict[int, dict[str, Any]] = {}
    current = threading.local()
    last_tsdb: list[float] = [0.0, 0.0]
    on_message, process = IngestWorker._on_message, IngestWorker._process
    prepare, handle, write = IngestWorker._prepare, IngestWorker._handle, IngestWorker._write
    evaluate = module.evaluate_readings

    def traced_on_message(self, client, userdata, message) -> None:  # type: ignore[no-untyped-def]
        if message.topic.startswith(PROBE_TOPIC_PREFIX):
            arrivals[message.topic] = time.time()
        on_message(self, client, userdata, message)

    def traced_process(self, batch) -> None:  # type: ignore[no-untyped-def]
        topics = [m.topic for m in batch if m.topic.startswith(PROBE_TOPIC_PREFIX)]
        if topics:
            batches[id(batch)] = {
                "size": len(batch),
                "collected": time.time(),
                "arrivals": {topic: arrivals.pop(topic, None) for topic in topics},
            }
        process(self, batch)

    def traced_prepare(self, batch):  # type: ignore[no-untyped-def]
        result = prepare(self, batch)
        info = batches.get(id(batch))
        if info is not None:
            info.setdefault("prepared", time.time())
        return result

    def traced_handle(self, batch, prepared=None) -> None:  # type: ignore[no-untyped-def]
        info = batches.pop(id(batch), None)
        if info is not None:
            info["store_start"] = time.time()
        current.info = info
        try:
            handle(self, batch, prepared)
        finally:
            current.info = None
        if info is not None:
            emit("ingest_batch", **info)

    def traced_write(self, result):  # type: ignore[no-untyped-def]
        info = getattr(current, "info", None)
        if info is not None:
            info["write_start"] = time.time()
        written = write(self, result)
        if info is not None:
            info["committed"] = time.time()
            info["tsdb_start"], info["tsdb_end"] = last_tsdb
        return written

    def traced_evaluate(session, **kwargs):  # type: ignore[no-untyped-def]
        info = getattr(current, "info", None)
        started = time.time()
        changes = evaluate(session, **kwargs)
        if info is not None:
            info["rules_start"], info["rules_end"] = started, time.time()
        return changes

    def timed(write_points: Callable[..., Any]) -> Callable[..., Any]:
        def traced_store_write(self, points):  # type: ignore[no-untyped-def]
            started = time.time()
            receipt = write_points(self, points)
            last_tsdb[:] = [started, time.time()]
            return receipt

        return traced_store_write

    IngestWorker._on_message = traced_on_message  # type: ignore[method-assign]
    IngestWorker._process = traced_process  # type: ignore[method-assign]
    IngestWorker._prepare = traced_prepare  # type: ignore[method-assign]
    IngestWorker._handle = traced_handle  # type: ignore[method-assign]
    IngestWorker._write = traced_write  # type: ignore[method-assign]
    module.evaluate_readings = traced_evaluate  # type: ignore[assignment]
    for store in (InfluxReadingStore, SqlReadingStore):
        store.write = timed(store.write)  # type: ignore[method-assign]
    # With VictoriaMetrics the worker writes unpersisted points; the snapshot comes later.
    InfluxReadingStore.write_unpersisted = timed(  # type: ignore[method-assign]
        InfluxReadingStore.write_unpersisted
    )


def _patch_api() -> None:
    """Time each console poll that found changed alerts, and its hand-over to the sockets."""
    from cloud.notify import websocket as module

    feed_tick, publish_alerts = module.feed_tick, module.ConsoleHub.publish_alerts

    def traced_feed_tick(*args, **kwargs):  # type: ignore[no-untyped-def]
        started = time.time()
        tick = feed_tick(*args, **kwargs)
        if tick.alerts:
            emit("console_tick", start=started, end=time.time(),
                 patients=[alert["patient_id"] for alert in tick.alerts])  # fmt: skip
        return tick

    def traced_publish_alerts(self, alerts):  # type: ignore[no-untyped-def]
        queued = publish_alerts(self, alerts)
        emit("console_publish", at=time.time(), patients=[alert["patient_id"] for alert in alerts])
        return queued

    module.feed_tick = traced_feed_tick  # type: ignore[assignment]
    module.ConsoleHub.publish_alerts = traced_publish_alerts  # type: ignore[method-assign]


#: Stages of one probe, in order: (name, start mark, end mark).
STAGES = (
    ("broker → ingest on_message", "published", "arrival"),
    ("batch window (collect)", "arrival", "collected"),
    ("prepare (decode, dedupe, owners)", "collected", "prepared"),
    ("wait for the store thread", "prepared", "store_start"),
    ("TSDB write", "tsdb_start", "tsdb_end"),
    ("rules (in the batch transaction)", "rules_start", "rules_end"),
    ("store: write start → commit", "write_start", "committed"),
    ("commit → console poll starts", "committed", "tick_start"),
    ("console poll (SQL)", "tick_start", "tick_end"),
    ("poll end → WebSocket arrival", "tick_end", "received"),
)


def probe_marks(
    topic: str,
    patient_id: int,
    published: float,
    received: float,
    ingest: list[dict[str, Any]],
    api: list[dict[str, Any]],
) -> dict[str, float] | None:
    """The wall-clock marks of one probe (published at, received at), None if untraced."""
    batch = next((e for e in ingest if (e["arrivals"].get(topic) or 0) >= published - 0.001), None)
    tick = next(
        (e for e in api if e["event"] == "console_tick" and patient_id in e["patients"]
         and e["end"] >= published),
        None,
    )  # fmt: skip
    if batch is None or tick is None or "committed" not in batch:
        return None
    marks = {key: value for key, value in batch.items() if isinstance(value, float)}
    marks.update(
        published=published, arrival=batch["arrivals"][topic], received=received,
        tick_start=tick["start"], tick_end=tick["end"], batch_size=batch["size"],
    )  # fmt: skip
    return marks


def stage_durations(marks: dict[str, float]) -> dict[str, float]:
    """Milliseconds spent in each stage of STAGES that both marks exist for."""
    return {
        name: (marks[end] - marks[start]) * 1000
        for name, start, end in STAGES
        if start in marks and end in marks
    }


def main() -> None:
    """Patch the named process's stages, then run it as ``caredge <name>`` would."""
    name = sys.argv[1] if len(sys.argv) == 2 else ""
    patches = {"ingest": _patch_ingest, "api": _patch_api}
    if name not in patches:
        raise SystemExit("usage: python -m bench.stage_trace {ingest|api}")
    patches[name]()
    from cloud.cli import app

    app(args=[name])


if __name__ == "__main__":
    main()
