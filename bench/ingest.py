"""Ingest throughput against the broker's own limit, measured in the same run.

(a) limit: a bare paho subscriber that only counts messages;
(b) caredge: the ingest worker validating, deduplicating against the SQL ledger, running the
    alert rules and writing to VictoriaMetrics through influxdb-client, acknowledging once a
    snapshot made a group of batches durable: one fresh process, set up as ``caredge ingest``
    sets itself up (its default settings but the per-gateway rate limit, which is off for a
    preloaded backlog; its collector settings); the clock stops when every message is
    acknowledged;
(c) the same with ``--processes`` worker processes (default 2) sharing ``$share/ingest``, the
    architecture's scaling path, on fresh readings of the same gateways (the next sequence
    numbers), so nothing is a duplicate of phase (b).

Both consume the same payloads, at QoS 1, from the same Mosquitto (caredge's configuration),
preloaded into a persistent session by mosquitto_pub (a C client, so the publisher is not what
is measured), then drained as fast as the consumer can. Run: ``make bench`` or
``.venv/bin/python bench/ingest.py --help``.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloud.db import make_engine, make_sessionmaker  # noqa: E402
from cloud.ingest.gc_policy import tune_for_streaming  # noqa: E402
from cloud.ingest.mqtt_client import persistent_session_properties  # noqa: E402
from cloud.ingest.worker import IngestWorker  # noqa: E402
from cloud.migrate import upgrade  # noqa: E402
from cloud.settings import Settings  # noqa: E402
from cloud.tsdb.factory import make_store  # noqa: E402
from protocol.envelope import BloodPressureReading, GlucoseReading  # noqa: E402
from protocol.topics import INGEST_SUBSCRIPTION  # noqa: E402
from tests.fixtures.mosquitto import Broker  # noqa: E402
from tests.fixtures.ports import free_port  # noqa: E402
from tests.fixtures.victoria import Victoria  # noqa: E402
from tests.support import T0, reading_messages, seed_home  # noqa: E402

log = logging.getLogger("bench.ingest")
LINES_PER_FILE = 2000  # mosquitto_pub -l at QoS 1 stalls on long files (shared/MEASURED.md)


def realistic_readings(
    gateway: str, count: int, *, breach_every: int = 50, first_seq: int = 1
) -> list[BloodPressureReading | GlucoseReading]:
    """Readings as a monitored population sends them: mostly in range, one in breach_every
    outside (so the alert rules do their real work, opening and attaching alerts)."""
    rng = random.Random(gateway if first_seq == 1 else f"{gateway}/{first_seq}")
    made: list[BloodPressureReading | GlucoseReading] = []
    for seq in range(first_seq, first_seq + count):
        at = T0 + timedelta(minutes=seq)
        breach = seq % breach_every == 0
        if seq % 2:
            made.append(
                BloodPressureReading(
                    gateway_id=gateway,
                    device_id=f"bp-{gateway}",
                    seq=seq,
                    measured_at=at,
                    systolic_mmhg=rng.randint(165, 190) if breach else rng.randint(105, 150),
                    diastolic_mmhg=rng.randint(65, 95),
                    pulse_bpm=rng.randint(55, 95),
                )
            )
        else:
            made.append(
                GlucoseReading(
                    gateway_id=gateway,
                    device_id=f"glu-{gateway}",
                    seq=seq,
                    measured_at=at,
                    glucose_mmol_l=2.8 if breach else round(rng.uniform(4.2, 9.5), 1),
                )
            )
    return made


def write_payload_files(
    workdir: Path, gateways: int, per_gateway: int, first_seq: int = 1
) -> list[tuple[str, Path]]:
    """One file of payload lines per gateway topic and chunk."""
    files: list[tuple[str, Path]] = []
    for index in range(gateways):
        gateway = f"gw-{index:04d}"
        messages = reading_messages(realistic_readings(gateway, per_gateway, first_seq=first_seq))
        topic = messages[0][0]
        for chunk, start in enumerate(range(0, len(messages), LINES_PER_FILE)):
            path = workdir / f"{gateway}-{first_seq}-{chunk}.jsonl"
            path.write_bytes(b"\n".join(p for _, p in messages[start : start + LINES_PER_FILE]))
            files.append((topic, path))
    return files


def preload(port: int, files: list[tuple[str, Path]], parallel: int = 4) -> float:
    """Publish every file with mosquitto_pub at QoS 1; return messages/s of the preload."""
    pub = shutil.which("mosquitto_pub")
    if pub is None:
        raise SystemExit("mosquitto_pub not found: apt-get install mosquitto-clients")

    def one(item: tuple[int, tuple[str, Path]]) -> None:
        number, (topic, path) = item
        with path.open("rb") as stdin:
            subprocess.run(
                [
                    pub,
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-q",
                    "1",
                    "-t",
                    topic,
                    "-l",
                    "-i",
                    f"bench-pub-{number}",
                ],
                stdin=stdin,
                check=True,
                timeout=600,
            )

    started = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, enumerate(files)))
    lines = sum(path.read_bytes().count(b"\n") + 1 for _, path in files)
    return lines / (time.perf_counter() - started)


def bare_subscriber(port: int, total: int, preload_files: list[tuple[str, Path]]) -> float:
    """Messages/s of a paho subscriber that only counts (the limit)."""
    received = 0
    done = threading.Event()
    connected = threading.Event()

    def on_message(client, userdata, message) -> None:  # type: ignore[no-untyped-def]
        nonlocal received
        received += 1
        if received >= total:
            done.set()

    def on_connect(client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        client.subscribe(INGEST_SUBSCRIPTION, qos=1)
        connected.set()

    def client() -> mqtt.Client:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare", protocol=mqtt.MQTTv5)
        c.on_message = on_message
        c.on_connect = on_connect
        c.connect(
            "127.0.0.1", port, clean_start=False, properties=persistent_session_properties(1000)
        )
        return c

    first = client()  # create the persistent session and its subscription
    first.loop_start()
    connected.wait(10)
    first.disconnect()
    first.loop_stop()
    log.info("preloading %d messages for the bare subscriber", total)
    rate = preload(port, preload_files)
    log.info("preload at %.0f msg/s", rate)
    connected.clear()
    second = client()
    started = time.perf_counter()
    second.loop_start()
    if not done.wait(600):
        raise SystemExit(f"bare subscriber got {received} of {total}")
    elapsed = time.perf_counter() - started
    # Leave the share group and end the session: an offline member of a shared subscription
    # keeps receiving its share of messages in its queue, which would starve phase (b).
    ending = Properties(PacketTypes.DISCONNECT)
    ending.SessionExpiryInterval = 0
    second.disconnect(properties=ending)
    second.loop_stop()
    return total / elapsed


def end_session(port: int, client_id: str) -> None:
    """End a persistent session: an offline member of a shared subscription keeps receiving
    its share of messages in its queue, which would starve the next phase."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    connected = threading.Event()
    client.on_connect = lambda *args: connected.set()
    client.connect("127.0.0.1", port, clean_start=False)
    client.loop_start()
    connected.wait(10)
    ending = Properties(PacketTypes.DISCONNECT)
    ending.SessionExpiryInterval = 0
    client.disconnect(properties=ending)
    client.loop_stop()


def _member(settings: Settings, stored: Any, finals: Any, ready: Any, go: Any, done: Any) -> None:
    """One ingest process: join the share, wait for the preload, then consume, set up as
    ``caredge ingest`` sets itself up (its collector settings included); report its counters."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    engine = make_engine(settings.database_url)
    store = make_store(settings, engine)
    worker = IngestWorker(settings, session_factory=make_sessionmaker(engine), store=store)
    worker.start()  # create the persistent session and its subscription
    worker.wait_connected()
    worker.stop()
    ready.release()
    go.wait()
    worker = IngestWorker(settings, session_factory=make_sessionmaker(engine), store=store)
    tune_for_streaming()
    worker.start()
    while not done.wait(0.02):
        stored.value = worker.stats.snapshot()["acknowledged"]
    worker.stop()
    finals.put(worker.stats.snapshot())
    store.close()
    engine.dispose()


def ingest_processes(
    settings: Settings, processes: int, total: int, preload_files: list[tuple[str, Path]], port: int
) -> tuple[float, dict[str, int]]:
    """Readings/s stored by ``processes`` ingest processes sharing ``$share/ingest``, and their
    counters summed."""
    spawn = multiprocessing.get_context("spawn")
    ready, go, done = spawn.Semaphore(0), spawn.Event(), spawn.Event()
    counters = [spawn.Value("q", 0) for _ in range(processes)]
    finals = spawn.Queue()
    members = [
        spawn.Process(
            target=_member,
            args=(
                settings.model_copy(update={"mqtt_client_id": f"bench-ingest-{number}"}),
                counters[number],
                finals,
                ready,
                go,
                done,
            ),
        )
        for number in range(processes)
    ]
    for member in members:
        member.start()
    try:
        for _ in members:
            if not ready.acquire(timeout=60):
                raise SystemExit("an ingest process did not join the shared subscription")
        log.info("preloading %d messages for %d ingest processes", total, processes)
        preload(port, preload_files)
        started = time.perf_counter()
        go.set()
        last = -1
        while (stored := sum(counter.value for counter in counters)) < total:
            if time.perf_counter() - started > 900:
                raise SystemExit(f"{processes} ingest processes stored {stored} of {total}")
            if not all(member.is_alive() for member in members):
                raise SystemExit("an ingest process died")
            if stored // 20000 != last // 20000:
                log.info("ingest: %d of %d acknowledged", stored, total)
            last = stored
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        done.set()
        summed: dict[str, int] = {}
        for _ in members:
            for name, value in finals.get(timeout=60).items():
                summed[name] = summed.get(name, 0) + value
    finally:
        done.set()
        for member in members:
            member.join(30)
    for number in range(processes):
        end_session(port, f"bench-ingest-{number}")
    return total / elapsed, summed


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run both phases and print rates and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readings", type=int, default=100_000, help="messages per phase")
    parser.add_argument("--gateways", type=int, default=20, help="gateway topics to spread over")
    parser.add_argument(
        "--processes", type=int, default=2, help="ingest processes of phase (c); 1 skips it"
    )
    parser.add_argument("--database-url", default="", help="SQL ledger (default: SQLite in tmp)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("cloud.ingest.worker").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    per_gateway = max(1, args.readings // args.gateways)
    total = per_gateway * args.gateways

    with tempfile.TemporaryDirectory(prefix="caredge-bench-") as tmp:
        workdir = Path(tmp)
        files = write_payload_files(workdir, args.gateways, per_gateway)
        broker = Broker(port=free_port(), workdir=workdir)
        (workdir / "vm").mkdir()
        victoria = Victoria(port=free_port(), data_dir=workdir / "vm")
        broker.start()
        victoria.start()
        try:
            limit = bare_subscriber(broker.port, total, files)
            log.info("limit: bare paho subscriber %.0f msg/s", limit)
            database_url = args.database_url or f"sqlite:///{workdir / 'ledger.db'}"
            upgrade(database_url)
            factory = make_sessionmaker(make_engine(database_url))
            for index in range(args.gateways):
                seed_home(factory, f"gw-{index:04d}", f"P{index:05d}")
            settings = Settings(
                database_url=database_url,
                mqtt_url=broker.url,
                mqtt_client_id="bench-ingest",
                tsdb_url=victoria.url,
                ingest_gateway_rate=0,  # a preloaded backlog drained at full speed, no flood
            )
            rate, stats = ingest_processes(settings, 1, total, files, broker.port)
            shared_rate = None
            if args.processes > 1:
                fresh = write_payload_files(workdir, args.gateways, per_gateway, per_gateway + 1)
                shared_rate, _ = ingest_processes(
                    settings, args.processes, total, fresh, broker.port
                )
        finally:
            victoria.stop()
            broker.stop()

    figures: dict[str, float] = {
        "readings": total,
        "limit_bare_subscriber_msg_s": round(limit),
        "ingest_readings_s": round(rate),
        "ratio": round(rate / limit, 3),
        "duplicates": stats["duplicates"],
        "dead_letters": stats["dead_letters"],
        "batches": stats["batches"],
        "snapshots": stats["snapshots"],
    }
    print(f"readings per phase                     {total}")
    print(f"(a) limit, one bare paho subscriber    {limit:10.0f} msg/s")
    print(f"(b) caredge ingest, one process        {rate:10.0f} readings/s")
    print(f"    batches, snapshots                 {stats['batches']:>6} {stats['snapshots']:>6}")
    print(f"    ratio (b)/(a)                      {rate / limit:10.2f}")
    if shared_rate is not None:
        figures["processes"] = args.processes
        figures["shared_ingest_readings_s"] = round(shared_rate)
        figures["shared_ratio"] = round(shared_rate / limit, 3)
        print(f"(c) caredge ingest, {args.processes} processes on")
        print(f"    $share/ingest (the scaling path)   {shared_rate:10.0f} readings/s")
        print(f"    ratio (c)/(a)                      {shared_rate / limit:10.2f}")
    best = max(rate, shared_rate or 0.0)
    print(
        f"target ratio ≥ 0.50                    {'met' if best / limit >= 0.5 else 'NOT met'}"
        f" (best of (b), (c))"
    )
    print(f"target ≥ 5,000 readings/s, one process {'met' if rate >= 5000 else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
