"""Gateway uplink throughput and memory against the broker's own limit, measured in the same run.

(a) caredge: 10,000 readings are put in the durable outbox (one fsync'd transaction each) before
    the gateway connects; then ``python -m edge.uplink --exit-when-empty`` runs in a child process
    and drains it: time from the uplink's start until every entry is PUBACKed and deleted, and the
    child's peak RSS (VmHWM).
(b) limit: ``mosquitto_pub`` (a C client, one connection at a time like the gateway, with the same
    in-flight window) publishes the same payloads at QoS 1 to the same Mosquitto.

The broker runs caredge's configuration (deploy/mosquitto/caredge.conf) on a free port, with the
ingest worker's shared subscription present as a persistent session, so the broker queues every
reading as it would in production; after (a) that queue is read back to prove all 10,000 arrived.
Targets: drain ≤ 5 s, peak RSS ≤ 80 MB. Run: ``.venv/bin/python bench/gateway.py --help``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge.outbox import Outbox  # noqa: E402
from protocol.envelope import decode_reading, encode_reading  # noqa: E402
from protocol.topics import INGEST_SUBSCRIPTION, GatewayTopic  # noqa: E402
from tests.fixtures.mosquitto import Broker  # noqa: E402
from tests.fixtures.ports import free_port  # noqa: E402
from tests.support import readings  # noqa: E402

log = logging.getLogger("bench.gateway")
TARGET_SECONDS = 5.0
TARGET_RSS_MB = 80.0
# mosquitto_pub -l at QoS 1 stalled on a 200,000-line file (shared/MEASURED.md); 10,000 lines
# went through in every trial here, while 2,000-line files spent most of the time starting
# and stopping processes (10k msg/s against 30-55k msg/s for one 10,000-line stream).
LINES_PER_FILE = 10_000
INGEST_CLIENT_ID = "bench-ingest"


@dataclass
class Run:
    """Figures of one run."""

    enqueue_per_s: float
    drain_s: float
    wall_s: float
    rss_mb: float
    limit_per_s: float
    delivered_unique: int


def ingest_session(port: int, expected: int | None) -> int:
    """Open (expected=None) or drain the ingest worker's persistent session; return unique keys."""
    keys: set[tuple[str, str, int]] = set()
    subscribed = threading.Event()
    done = threading.Event()

    def on_connect(client: mqtt.Client, *args: object) -> None:
        client.subscribe(INGEST_SUBSCRIPTION, qos=1)

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        keys.add(decode_reading(message.payload).key)
        if expected is not None and len(keys) >= expected:
            done.set()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=INGEST_CLIENT_ID, protocol=mqtt.MQTTv5
    )
    client.on_connect = on_connect
    client.on_subscribe = lambda *args: subscribed.set()
    client.on_message = on_message
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", port, clean_start=False, properties=properties)
    client.loop_start()
    try:
        subscribed.wait(10)
        if expected is not None:
            done.wait(120)
        return len(keys)
    finally:
        client.disconnect()
        client.loop_stop()


def enqueue(path: Path, gateway_id: str, count: int) -> tuple[float, list[bytes]]:
    """Put count readings, each durable on return; return puts/s and the payloads."""
    topic = str(GatewayTopic(gateway_id, "reading"))
    payloads = [encode_reading(r) for r in readings(gateway_id, count)]
    with Outbox(path) as outbox:
        started = time.perf_counter()
        for seq, payload in enumerate(payloads, start=1):
            outbox.put("reading", topic, payload, (gateway_id, seq))
        elapsed = time.perf_counter() - started
        assert outbox.depth()["reading"] == count
    return count / elapsed, payloads


def drain(port: int, gateway_id: str, path: Path, window: int) -> tuple[dict[str, object], float]:
    """Run the gateway uplink in a child until the outbox is empty; return its summary."""
    env = os.environ | {
        "CAREDGE_GATEWAY_ID": gateway_id,
        "CAREDGE_MQTT_URL": f"mqtt://127.0.0.1:{port}",
        "CAREDGE_OUTBOX_PATH": str(path),
        "CAREDGE_INFLIGHT_WINDOW": str(window),
        "CAREDGE_LOG_LEVEL": "WARNING",
        # The bench measures the drain to the broker; no ingest worker runs to confirm.
        "CAREDGE_DELIVERY_CONFIRMATION": "broker",
    }
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "edge.uplink", "--exit-when-empty", "--timeout", "300"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"gateway failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


def raw_limit(port: int, topic: str, payloads: list[bytes], workdir: Path, window: int) -> float:
    """Messages/s of mosquitto_pub sending the same payloads at QoS 1, one connection at a time.

    Its in-flight limit (``-M``, default 20) is set to the gateway's window, so both sides
    may have as many messages awaiting PUBACK.
    """
    pub = shutil.which("mosquitto_pub")
    if pub is None:
        raise SystemExit("mosquitto_pub not found: apt-get install mosquitto-clients")
    files = []
    for chunk, start in enumerate(range(0, len(payloads), LINES_PER_FILE)):
        path = workdir / f"payloads-{chunk}.jsonl"
        path.write_bytes(b"\n".join(payloads[start : start + LINES_PER_FILE]) + b"\n")
        files.append(path)
    started = time.perf_counter()
    for number, path in enumerate(files):
        with path.open("rb") as stdin:
            subprocess.run(
                [pub, "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", topic, "-l"]
                + ["-M", str(window), "-i", f"bench-pub-{number}"],
                stdin=stdin,
                check=True,
                timeout=300,
            )
    return len(payloads) / (time.perf_counter() - started)


def one_run(number: int, count: int, window: int, workdir: Path) -> Run:
    """Fresh broker and outbox; enqueue, drain through the gateway, verify, then the raw limit."""
    rundir = workdir / f"run-{number}"
    rundir.mkdir()
    broker = Broker(port=free_port(), workdir=rundir)
    broker.start()
    gateway_id = f"bench-gw-{number}"
    try:
        ingest_session(broker.port, None)
        outbox_path = rundir / "gateway" / "outbox.db"
        enqueue_rate, payloads = enqueue(outbox_path, gateway_id, count)
        summary, wall = drain(broker.port, gateway_id, outbox_path, window)
        with Outbox(outbox_path) as outbox:
            left = sum(outbox.depth().values())
        if left:
            raise SystemExit(f"outbox not empty after the drain: {left} left")
        delivered = ingest_session(broker.port, count)
        topic = str(GatewayTopic(gateway_id, "reading"))
        limit = raw_limit(broker.port, topic, payloads, rundir, window)
    finally:
        broker.stop()
    run = Run(
        enqueue_per_s=enqueue_rate,
        drain_s=float(summary["drain_seconds"]),  # type: ignore[arg-type]
        wall_s=wall,
        rss_mb=int(summary["max_rss_kb"]) / 1024,  # type: ignore[call-overload]
        limit_per_s=limit,
        delivered_unique=delivered,
    )
    log.info("run %d: %s, gateway counters %s", number, run, summary)
    return run


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Time the gateway draining N queued readings to Mosquitto (all PUBACKed), "
        "its peak RSS, and mosquitto_pub's rate for the same payloads in the same run."
    )
    parser.add_argument("--count", type=int, default=10_000, help="readings queued (10000)")
    parser.add_argument("--window", type=int, default=100, help="gateway in-flight window (100)")
    parser.add_argument("--runs", type=int, default=3, help="runs; medians are reported (3)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each run")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s"
    )
    with tempfile.TemporaryDirectory(prefix="caredge-bench-gw-") as tmp:
        runs = [one_run(n, args.count, args.window, Path(tmp)) for n in range(args.runs)]

    def median(values: list[float]) -> float:
        return statistics.median(values)

    drain_s = median([r.drain_s for r in runs])
    wall_s = median([r.wall_s for r in runs])
    rss_mb = max(r.rss_mb for r in runs)
    limit = median([r.limit_per_s for r in runs])
    enqueue_rate = median([r.enqueue_per_s for r in runs])
    gateway_rate = args.count / drain_s
    delivered = min(r.delivered_unique for r in runs)
    time_ok = drain_s <= TARGET_SECONDS
    rss_ok = rss_mb <= TARGET_RSS_MB
    all_there = delivered == args.count

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    print(
        f"gateway uplink: {args.count:,} queued readings, window {args.window}, "
        f"Mosquitto with deploy/mosquitto/caredge.conf; median of {args.runs} runs"
    )
    print(f"  enqueue, one durable put each      {enqueue_rate:10,.0f} puts/s")
    print(
        f"  drain to empty (all PUBACKed)      {drain_s:10.2f} s    target <= {TARGET_SECONDS:g} s"
        f"   {verdict(time_ok)}   (process start to exit {wall_s:.2f} s)"
    )
    print(
        f"  gateway peak RSS (max of runs)     {rss_mb:10.1f} MB   target <= {TARGET_RSS_MB:g} MB"
        f"  {verdict(rss_ok)}"
    )
    print(f"  gateway rate                       {gateway_rate:10,.0f} msg/s")
    print(
        f"  limit: mosquitto_pub QoS 1 -M {args.window:<5d}{limit:10,.0f} msg/s"
        "  (same payloads, same run)"
    )
    print(f"  ratio gateway / limit              {gateway_rate / limit:10.2f}")
    print(
        f"  delivered to the ingest queue      {delivered:10,d} unique of {args.count:,}"
        f"   {verdict(all_there)}"
    )
    return 0 if time_ok and rss_ok and all_there else 1


if __name__ == "__main__":
    sys.exit(main())
