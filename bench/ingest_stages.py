"""CPU per reading of each stage of the ingest worker's own work, without MQTT or servers.

Runs what ``IngestWorker._prepare`` and ``_write`` do for each batch, in one thread and in
order, on the ingest bench's realistic readings (``--batch`` readings per batch, the streams of
``--interleave`` gateways at a time interleaved, as the ingest bench's four publishers deliver
them) against a SQLite ledger, and reports the thread CPU time (``time.thread_time``) of each
stage per reading, with the cyclic garbage collector's time and the time in sqlite3's
``cursor.execute`` (SQLite runs statements without the GIL) apart: the stages are what one
worker spends holding the GIL, a figure that other load on the machine moves far less than a
rate. The time-series write is replaced by encoding its line-protocol body (what
``InfluxReadingStore`` sends); paho's work is not here.
Run: ``.venv/bin/python bench/ingest_stages.py``.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import realistic_readings  # noqa: E402
from cloud.alerts.engine import evaluate_readings  # noqa: E402
from cloud.db import make_engine, make_sessionmaker, transaction, utcnow  # noqa: E402
from cloud.devices import service as devices_service  # noqa: E402
from cloud.ingest import repository  # noqa: E402
from cloud.ingest.gc_policy import tune_for_streaming  # noqa: E402
from cloud.ingest.last_seen import LastSeenThrottle  # noqa: E402
from cloud.ingest.pipeline import Inbound, decode_batch, triage  # noqa: E402
from cloud.migrate import upgrade  # noqa: E402
from cloud.tsdb.base import ReadingPoint  # noqa: E402
from cloud.tsdb.line_protocol import encode_point  # noqa: E402
from tests.support import reading_messages, seed_home  # noqa: E402

STAGES = (
    "decode",
    "ledger/devices/bindings read",
    "triage",
    "points",
    "line protocol",
    "last seen",
    "ledger + dead letters",
    "alert rules",
    "commit",
)
GC = "garbage collection"
SQLITE = "in sqlite3 cursor.execute"


class Apart:
    """Thread CPU time spent between start() and stop() calls, counted apart from the stages:
    the cyclic garbage collector runs inside whichever stage allocates when a threshold is
    reached, and SQLite executes statements without the GIL."""

    def __init__(self) -> None:
        self.spent = 0.0
        self._started = 0.0

    def start(self, *_: object) -> None:
        self._started = time.thread_time()

    def stop(self, *_: object) -> None:
        self.spent += time.thread_time() - self._started

    def gc_callback(self, phase: str, info: dict[str, int]) -> None:
        (self.start if phase == "start" else self.stop)()


def batches(gateways: int, per_gateway: int, size: int, interleave: int) -> list[list[Inbound]]:
    """Messages of ``interleave`` gateways at a time interleaved (the ingest bench preloads
    with four publishers, one gateway's stream each), cut into batches."""
    streams = [
        reading_messages(realistic_readings(f"gw-{index:04d}", per_gateway))
        for index in range(gateways)
    ]
    ordered = [
        item
        for first in range(0, gateways, interleave)
        for row in zip(*streams[first : first + interleave], strict=True)
        for item in row
    ]
    messages = [Inbound(topic, payload, mid) for mid, (topic, payload) in enumerate(ordered, 1)]
    return [messages[start : start + size] for start in range(0, len(messages), size)]


def run(database_url: str, work: list[list[Inbound]]) -> dict[str, float]:
    """Seconds of thread CPU time per stage over all batches, in garbage collection and in
    SQLite's statement execution."""
    engine = make_engine(database_url)
    factory = make_sessionmaker(engine)
    spent: dict[str, float] = defaultdict(float)
    throttle = LastSeenThrottle()
    devices: dict[str, set[str]] = {}
    collector, sqlite = Apart(), Apart()

    def clock() -> float:
        return time.thread_time() - collector.spent - sqlite.spent

    event.listen(engine, "before_cursor_execute", sqlite.start)
    event.listen(engine, "after_cursor_execute", sqlite.stop)
    gc.collect()
    gc.callbacks.append(collector.gc_callback)
    try:
        _run_batches(factory, work, spent, clock, throttle, devices)
    finally:
        gc.callbacks.remove(collector.gc_callback)
    spent[GC], spent[SQLITE] = collector.spent, sqlite.spent
    return spent


def _run_batches(
    factory: sessionmaker[Session],
    work: list[list[Inbound]],
    spent: dict[str, float],
    clock: Callable[[], float],
    throttle: LastSeenThrottle,
    devices: dict[str, set[str]],
) -> None:
    for batch in work:
        t0 = clock()
        decoded = decode_batch(batch)
        t1 = clock()
        with transaction(factory) as session:
            stale = decoded.gateway_ids - devices.keys()
            if stale:
                devices.update(devices_service.devices_by_gateway(session, gateway_ids=stale))
            stored = repository.stored_keys(session, {r.key for _, r in decoded.readings})
            bindings = devices_service.bindings_of(
                session, device_ids={r.device_id for _, r in decoded.readings}
            )
        t2 = clock()
        result = triage(
            decoded,
            devices_by_gateway=devices,
            stored_keys=stored.durable,
            bindings=bindings,
            undurable=stored.undurable,
        )
        t3 = clock()
        points = [
            ReadingPoint.from_reading(reading, owner)
            for reading, owner in (*result.accepted, *result.rewrites)
        ]
        t4 = clock()
        body = "\n".join(encode_point(point) for point in points)
        t5 = clock()
        now = utcnow()
        last_seen = throttle.due((reading for reading, _ in result.accepted), now)
        t6 = clock()
        session = factory()
        try:
            repository.record_batch(
                session,
                accepted=result.accepted,
                rejected=result.rejected,
                received_at=now,
                last_seen=last_seen,
                tsdb_batch=repository.TsdbBatch(1, 1),
                rewritten=[reading.key for reading, _ in result.rewrites],
            )
            t7 = clock()
            with session.begin_nested():
                evaluate_readings(session, readings=result.accepted, now=now)
            t8 = clock()
            session.commit()
        finally:
            session.close()
        t9 = clock()
        throttle.written(last_seen)
        assert body and len(result.accepted) == len(batch), "bench readings must all be stored"
        for stage, (start, end) in zip(
            STAGES,
            ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5), (t5, t6), (t6, t7), (t7, t8),
             (t8, t9)),
            strict=True,
        ):  # fmt: skip
            spent[stage] += end - start


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Print µs of thread CPU per reading and stage (median of --repeat fresh ledgers)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readings", type=int, default=40_000)
    parser.add_argument("--gateways", type=int, default=20)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument(
        "--interleave", type=int, default=4, help="gateways whose streams arrive interleaved"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs; the median is reported")
    parser.add_argument(
        "--gc",
        choices=("streaming", "default"),
        default="streaming",
        help="collector settings: caredge ingest's (cloud/ingest/gc_policy.py) or Python's",
    )
    args = parser.parse_args(argv)
    # Formatted as in the ingest bench, but not shown (the rules log every unrouted alert).
    logging.basicConfig(level=logging.INFO, stream=open(os.devnull, "w"))  # noqa: SIM115
    per_gateway = max(1, args.readings // args.gateways)
    total = per_gateway * args.gateways
    work = batches(args.gateways, per_gateway, args.batch, args.interleave)
    if args.gc == "streaming":
        tune_for_streaming()
    runs: list[dict[str, float]] = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="caredge-stages-") as tmp:
            url = f"sqlite:///{tmp}/ledger.db"
            upgrade(url)
            factory = make_sessionmaker(make_engine(url))
            for index in range(args.gateways):
                seed_home(factory, f"gw-{index:04d}", f"P{index:05d}")
            runs.append(run(url, work))
    # The run with the median total, whole, so that its stages add up.
    median = sorted(runs, key=lambda spent: sum(spent.values()))[len(runs) // 2]
    figures = {stage: median[stage] / total * 1e6 for stage in (*STAGES, GC, SQLITE)}
    print(
        f"{total} readings, batches of {args.batch}, {args.gc} collector settings,"
        " µs of thread CPU per reading (median run)"
    )
    for stage in figures:
        print(f"  {stage:32s} {figures[stage]:6.1f}")
    print(f"  {'total':32s} {sum(figures.values()):6.1f}")
    return figures


if __name__ == "__main__":
    main()
