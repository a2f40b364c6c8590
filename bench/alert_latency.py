"""Alert latency: a breaching reading published over MQTT → its alert on the nurse console.

Each probe is a hypertensive-crisis BP reading (200/110 mmHg) of a patient with no open alert,
so each opens a new alert; the figure is the time from the probe's ``publish()`` to the
``alert`` message for it arriving on the console WebSocket (``/api/v1/console/ws``, signed in as
the ward's on-call nurse). Meanwhile paced publisher processes send in-range readings from other
gateways (1,000/s by default) through the same broker and ingest worker.

Real processes throughout: Mosquitto with deploy/mosquitto/caredge.conf, ``caredge ingest``,
``caredge api`` (uvicorn), PostgreSQL (a fresh database on 127.0.0.1:5432, or SQLite) and
VictoriaMetrics (or the ``sql`` reading store). The limit, measured in the same run under the
same load: the QoS 1 round trip publisher → Mosquitto → bare paho subscriber, one per probe,
published just before it. Target: p99 ≤ 250 ms. Progress goes to stderr, figures to stdout.
Run: ``.venv/bin/python -m bench.alert_latency --help``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bench.cloud_stack import CloudStack, Database, StackError, postgres_available
from bench.cpu_usage import CpuWindow
from bench.paced_load import LoadError, PacedLoad
from bench.probes import BareSubscriber, ConsoleWatch, ProbeError, sign_in
from bench.stage_trace import STAGES, probe_marks, read_trace, stage_durations
from cloud.db import make_engine, make_sessionmaker
from cloud.deadletters.models import DeadLetter
from cloud.notify.testing import PASSWORD, SeededWard, seed_patient, seed_ward
from cloud.readings.models import ReadingKey
from cloud.settings import Settings
from protocol.envelope import BloodPressureReading, encode_reading
from protocol.topics import GatewayTopic
from tests.fixtures.postgres import ADMIN_URL

log = logging.getLogger("bench.alert_latency")

TARGET_P99_MS = 250.0
RTT_TOPIC = "bench/alert-latency/rtt"


@dataclass(frozen=True)
class Probe:
    """One breaching reading: whose it is and when it was published (both clocks)."""

    number: int
    patient_id: int
    published: float  # perf_counter
    published_wall: float  # time.time, to compare with the alert's opened_at
    rtt_sent: float  # perf_counter when its RTT message was published


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank: a value that was actually measured."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100), at least 1
    return ordered[int(rank) - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    """count, p50, p90, p99 and max of values (milliseconds)."""
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values, default=float("nan")),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; bad values end with a usage error, not a traceback."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.alert_latency",
        description=__doc__.split("\n\n")[0],
        epilog="Knobs not given keep caredge's defaults (cloud/settings.py); other CAREDGE_* "
        "variables of this environment reach the caredge processes too "
        "(e.g. CAREDGE_TSDB_DURABLE_WRITES=false).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--probes", type=int, default=200, help="breaching readings measured")
    parser.add_argument("--rate", type=float, default=1000.0, help="background readings/s")
    parser.add_argument("--gateways", type=int, default=20, help="background gateways")
    parser.add_argument("--publishers", type=int, default=2, help="background publisher processes")
    parser.add_argument(
        "--interval", type=float, default=0.25, help="mean seconds between probes (jittered ±50%%)"
    )
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of background load before probes"
    )
    parser.add_argument(
        "--timeout", type=float, default=15.0, help="seconds to wait for the last alerts"
    )
    parser.add_argument(
        "--database",
        choices=("auto", "postgres", "sqlite"),
        default="auto",
        help="auto: PostgreSQL if it answers, else SQLite",
    )
    parser.add_argument("--postgres-admin-url", default=ADMIN_URL, help="server to create a db on")
    parser.add_argument("--tsdb", choices=("victoria", "sql"), default="victoria")
    parser.add_argument("--console-poll-seconds", type=float, help="CAREDGE_CONSOLE_POLL_SECONDS")
    parser.add_argument("--ingest-batch-seconds", type=float, help="CAREDGE_INGEST_BATCH_SECONDS")
    parser.add_argument("--ingest-batch-size", type=int, help="CAREDGE_INGEST_BATCH_SIZE")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="run api and ingest under bench.stage_trace and print where the time goes",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the probe timing")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.probes < 1:
        parser.error("--probes must be at least 1")
    if args.rate < 0 or args.interval <= 0 or args.warmup < 0 or args.timeout <= 0:
        parser.error("--rate, --warmup must be ≥ 0; --interval, --timeout > 0")
    if args.rate > 0 and not 1 <= args.publishers <= args.gateways:
        parser.error("need 1 ≤ --publishers ≤ --gateways")
    for name in ("console_poll_seconds", "ingest_batch_seconds"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be > 0")
    if args.ingest_batch_size is not None and args.ingest_batch_size < 1:
        parser.error("--ingest-batch-size must be at least 1")
    return args


def knobs(args: argparse.Namespace) -> dict[str, str]:
    """The CAREDGE_* variables the options set (the rest stay at their defaults)."""
    # A few background gateways stand for a fleet's load, each far above a real one's rate.
    env = {"CAREDGE_INGEST_GATEWAY_RATE": "0"}
    for name in ("console_poll_seconds", "ingest_batch_seconds", "ingest_batch_size"):
        if getattr(args, name) is not None:
            env[f"CAREDGE_{name.upper()}"] = str(getattr(args, name))
    return env


def seed(
    sessions: sessionmaker[Session], probes: int, gateways: int
) -> tuple[SeededWard, list[SeededWard], list[str]]:
    """A ward with nurses on call, one patient per probe and one per background gateway, each
    with a BP and a glucose meter on a gateway of their own."""
    now = datetime.now(UTC)
    ward = seed_ward(sessions, now=now, name="Bench ward", gateway_id="probe-0000")
    probe_patients = [ward]
    for number in range(1, probes):
        probe_patients.append(
            seed_patient(
                sessions,
                ward,
                now=now,
                mrn=f"PROBE-{number:05d}",
                name=f"Probe {number}",
                birth_date=date(1950, 1, 1),
                gateway_id=f"probe-{number:04d}",
            )  # fmt: skip
        )
    background = [f"load-{number:04d}" for number in range(gateways)]
    for number, gateway_id in enumerate(background):
        seed_patient(
            sessions, ward, now=now, mrn=f"LOAD-{number:05d}", name=f"Load {number}",
            birth_date=date(1950, 1, 1), gateway_id=gateway_id,
        )  # fmt: skip
    return ward, probe_patients, background


def stored_readings(sessions: sessionmaker[Session], prefix: str) -> int:
    """Readings in the ledger from gateways whose id starts with prefix."""
    with sessions() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(ReadingKey)
                .where(ReadingKey.gateway_id.startswith(prefix))
            )
            or 0
        )


def dead_letters(sessions: sessionmaker[Session]) -> int:
    """Messages the ingest worker rejected."""
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(DeadLetter)) or 0)


def probe_reading(gateway_id: str, seq: int, *, breach: bool) -> bytes:
    """A BP payload: hypertensive crisis (critical) if breach, else in range."""
    reading = BloodPressureReading(
        gateway_id=gateway_id,
        device_id=f"bp-{gateway_id}",
        seq=seq,
        measured_at=datetime.now(UTC),
        systolic_mmhg=200 if breach else 128,
        diastolic_mmhg=110 if breach else 80,
        pulse_bpm=80,
    )
    return encode_reading(reading)


def publisher(port: int) -> mqtt.Client:
    """The probes' paho publisher (QoS 1), connected, its network loop running."""
    connected = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-probe", protocol=mqtt.MQTTv5)
    client.on_connect = lambda *_: connected.append(True)
    client.connect("127.0.0.1", port)
    client.loop_start()
    deadline = time.monotonic() + 10
    while not connected and time.monotonic() < deadline:
        time.sleep(0.01)
    if not connected:
        raise ProbeError("probe publisher could not connect")
    return client


def wait_stored(sessions: sessionmaker[Session], prefix: str, count: int, timeout: float) -> None:
    """Wait until count readings of gateways prefix* are in the ledger."""
    deadline = time.monotonic() + timeout
    while (stored := stored_readings(sessions, prefix)) < count:
        if time.monotonic() > deadline:
            raise ProbeError(f"ingest stored {stored} of {count} readings of {prefix}* in time")
        time.sleep(0.1)


def run_probes(
    client: mqtt.Client,
    patients: list[SeededWard],
    watch: ConsoleWatch,
    *,
    interval: float,
    rng: random.Random,
) -> list[Probe]:
    """Per patient, an RTT message then a breaching reading, at jittered intervals (so probes
    fall at random phases of the ingest batch window and of the API's poll)."""
    probes = []
    for number, patient in enumerate(patients):
        rtt_sent = time.perf_counter()
        client.publish(RTT_TOPIC, rtt_payload(number), qos=1)
        payload = probe_reading(patient.gateway_id, 2, breach=True)
        topic = str(GatewayTopic(patient.gateway_id, "reading"))
        published_wall = time.time()
        published = time.perf_counter()
        client.publish(topic, payload, qos=1)
        probes.append(Probe(number, patient.patient_id, published, published_wall, rtt_sent))
        if (number + 1) % 25 == 0 or number + 1 == len(patients):
            log.info(
                "probe %d/%d published; %d alerts seen on the console",
                number + 1, len(patients), len(watch.opened),
            )  # fmt: skip
        time.sleep(interval * rng.uniform(0.5, 1.5))
    return probes


def rtt_payload(number: int) -> bytes:
    """The payload of the RTT message sent with probe number."""
    return f"rtt-{number}".encode()


@dataclass
class Window:
    """Counters at the start and end of the probe phase, for the background rates."""

    seconds: float = 0.0
    acknowledged: int = 0
    stored: int = 0
    backlog_at_end: int = 0
    #: Cores used on average, by process group, by the machine and by everything else.
    cpu_cores: dict[str, float] = field(default_factory=dict)


def measure(
    stack: CloudStack, sessions: sessionmaker[Session], args: argparse.Namespace
) -> tuple[list[Probe], ConsoleWatch, BareSubscriber, Window]:
    """Seeded stack running: prime, load, probe; the raw observations."""
    ward, patients, background = seed(sessions, args.probes, args.gateways if args.rate else 0)
    log.info("seeded a ward, %d probe and %d background patients", len(patients), len(background))
    stack.start_caredge()
    token = sign_in(stack.api_url, ward.primary_username, PASSWORD)
    window = Window()
    with (
        ConsoleWatch(stack.api_url, token) as watch,
        BareSubscriber(stack.mqtt_port, RTT_TOPIC) as bare,
    ):
        client = publisher(stack.mqtt_port)
        try:
            # One in-range reading per probe gateway first: in production a patient's gateway
            # has been sending for months, so no probe pays for a cold cache.
            for patient in patients:
                topic = str(GatewayTopic(patient.gateway_id, "reading"))
                client.publish(topic, probe_reading(patient.gateway_id, 1, breach=False), qos=1)
            wait_stored(sessions, "probe-", len(patients), timeout=60)
            load = PacedLoad(stack.mqtt_port, background, args.rate, args.publishers)
            try:
                if args.rate:
                    load.start()
                log.info(
                    "background load %.0f readings/s; warming up %.0f s", args.rate, args.warmup
                )
                time.sleep(args.warmup)
                stack.check_alive()
                acked, stored = load.acknowledged(), stored_readings(sessions, "load-")
                cpu = CpuWindow({**stack.pids(), "load publishers": load.pids(),
                                 "bench probes": [os.getpid()]})  # fmt: skip
                cpu.start()
                started = time.perf_counter()
                probes = run_probes(
                    client, patients, watch, interval=args.interval, rng=random.Random(args.seed)
                )
                window.seconds = time.perf_counter() - started
                window.cpu_cores = cpu.stop()
                window.acknowledged = load.acknowledged() - acked
                stored_at_end = stored_readings(sessions, "load-")
                window.stored = stored_at_end - stored
                window.backlog_at_end = max(0, load.acknowledged() - stored_at_end)
                if not watch.wait_for({probe.patient_id for probe in probes}, args.timeout):
                    log.warning("%d probes have no alert on the console after %.0f s",
                                len(probes) - len(watch.opened), args.timeout)  # fmt: skip
                stack.check_alive()
            finally:
                load.stop()
        finally:
            client.disconnect()
            client.loop_stop()
    return probes, watch, bare, window


def figures_of(
    probes: list[Probe], watch: ConsoleWatch, bare: BareSubscriber, window: Window
) -> dict[str, Any]:
    """Latency summaries (ms), the limit, stages and background rates."""
    latency, to_row, row_to_console, paged, rtt = [], [], [], [], []
    for probe in probes:
        arrival = watch.opened.get(probe.patient_id)
        if arrival is not None:
            total = (arrival.at - probe.published) * 1000
            latency.append(total)
            opened = datetime.fromisoformat(arrival.opened_at).timestamp()
            to_row.append((opened - probe.published_wall) * 1000)
            row_to_console.append(total - to_row[-1])
        if probe.patient_id in watch.paged:
            paged.append((watch.paged[probe.patient_id] - probe.published) * 1000)
        received = bare.arrivals.get(rtt_payload(probe.number))
        if received is not None:
            rtt.append((received - probe.rtt_sent) * 1000)
    seconds = window.seconds or float("nan")
    return {
        "probes": len(probes),
        "alert_ms": summary(latency),
        "limit_rtt_ms": summary(rtt),
        "stage_publish_to_alert_row_ms": summary(to_row),
        "stage_alert_row_to_console_ms": summary(row_to_console),
        "page_ms": summary(paged),
        "background_acknowledged_per_s": window.acknowledged / seconds,
        "background_stored_per_s": window.stored / seconds,
        "background_backlog_at_end": window.backlog_at_end,
        "probe_seconds": window.seconds,
        "cpu_cores": window.cpu_cores,
    }


def traced_stages(probes: list[Probe], watch: ConsoleWatch, logs: Path) -> dict[str, Any]:
    """Per stage, a summary (ms) over the probes the trace covers."""
    ingest = list(read_trace(logs / "ingest.log"))
    api = list(read_trace(logs / "api.log"))
    log.info("trace: %d probe batches from ingest, %d console events", len(ingest), len(api))
    per_stage: dict[str, list[float]] = {name: [] for name, _, _ in STAGES}
    sizes = []
    for probe in probes:
        arrival = watch.opened.get(probe.patient_id)
        if arrival is None:
            continue
        gateway = f"probe-{probe.number:04d}"
        marks = probe_marks(
            str(GatewayTopic(gateway, "reading")), probe.patient_id, probe.published_wall,
            probe.published_wall + arrival.at - probe.published, ingest, api,
        )  # fmt: skip
        if marks is None:
            continue
        sizes.append(marks["batch_size"])
        for name, value in stage_durations(marks).items():
            per_stage[name].append(value)
    return {
        "batch_size_of_probe": summary(sizes),
        **{name: summary(values) for name, values in per_stage.items()},
    }


def effective_knobs(args: argparse.Namespace) -> dict[str, float]:
    """The knob values the caredge processes ran with (given or default)."""
    defaults = Settings.model_fields
    return {
        name: getattr(args, name) if getattr(args, name) is not None else defaults[name].default
        for name in ("console_poll_seconds", "ingest_batch_seconds", "ingest_batch_size")
    }


def report(figures: dict[str, Any]) -> None:
    """Print the figures (stdout)."""
    alert, limit = figures["alert_ms"], figures["limit_rtt_ms"]

    def row(label: str, values: dict[str, float]) -> str:
        return (f"{label:<44}{values['p50']:8.1f}{values['p90']:8.1f}{values['p99']:8.1f}"
                f"{values['max']:8.1f}{values['count']:7d}")  # fmt: skip

    knob_text = ", ".join(f"{name}={value}" for name, value in figures["knobs"].items())
    print(f"stack: {figures['database']} + {figures['tsdb']}, Mosquitto; {knob_text}")
    print(f"{'latency (ms)':<44}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}{'count':>7}")
    print(row("(b) publish → alert on console WebSocket", alert))
    print(row("(a) limit: QoS 1 round trip to bare paho sub", limit))
    print(
        row(
            "    stage: publish → alert row (batch start)", figures["stage_publish_to_alert_row_ms"]
        )
    )
    print(row("    stage: alert row → console", figures["stage_alert_row_to_console_ms"]))
    print(row("  nurse page (notification) on console", figures["page_ms"]))
    print(f"ratio (b)/(a)      p50 {alert['p50'] / limit['p50']:.1f}x   "
          f"p99 {alert['p99'] / limit['p99']:.1f}x")  # fmt: skip
    print(f"difference (b)-(a) p50 {alert['p50'] - limit['p50']:.1f} ms   "
          f"p99 {alert['p99'] - limit['p99']:.1f} ms")  # fmt: skip
    print(f"background: {figures['rate']:.0f}/s asked, "
          f"{figures['background_acknowledged_per_s']:.0f}/s acknowledged by the broker, "
          f"{figures['background_stored_per_s']:.0f}/s stored by ingest over "
          f"{figures['probe_seconds']:.0f} s; backlog at end "
          f"{figures['background_backlog_at_end']}")  # fmt: skip
    if "stages_ms" in figures:
        stages = figures["stages_ms"]
        size = stages["batch_size_of_probe"]
        print(f"where the time goes (trace of {size['count']} probes; readings in a probe's "
              f"batch: p50 {size['p50']:.0f}, max {size['max']:.0f})")  # fmt: skip
        for name, _, _ in STAGES:
            print(row(f"  {name}", stages[name]))
    cores = figures["cpu_cores"]
    if cores:
        print(f"CPU during probes, cores of {os.cpu_count()}: "
              + ", ".join(f"{name} {value:.2f}" for name, value in cores.items()))  # fmt: skip
    missing = figures["probes"] - alert["count"]
    verdict = "met" if missing == 0 and alert["p99"] <= TARGET_P99_MS else "NOT met"
    print(f"target p99 ≤ {TARGET_P99_MS:.0f} ms: {verdict}"
          + (f" ({missing} probes without an alert)" if missing else ""))  # fmt: skip


def run(args: argparse.Namespace, database: Database) -> dict[str, Any]:
    """Start the stack, measure, stop everything; the figures."""
    with (
        tempfile.TemporaryDirectory(prefix="caredge-alert-bench-") as tmp,
        CloudStack(
            Path(tmp),
            database=database,
            tsdb=args.tsdb,
            postgres_admin_url=args.postgres_admin_url,
            environment=knobs(args),
            traced=args.trace,
        ) as stack,
    ):
        engine = make_engine(stack.database_url)
        try:
            sessions = make_sessionmaker(engine)
            probes, watch, bare, window = measure(stack, sessions, args)
            rejected = dead_letters(sessions)
        finally:
            engine.dispose()
        stack.stop()  # flushes the logs the trace is read from
        figures = figures_of(probes, watch, bare, window)
        if args.trace:
            figures["stages_ms"] = traced_stages(probes, watch, Path(tmp))
    figures.update(database=database, tsdb=args.tsdb, rate=args.rate, dead_letters=rejected,
                   knobs=effective_knobs(args))  # fmt: skip
    return figures


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and print its figures; exit 1 if a probe got no alert."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    database: Database = "sqlite" if args.database == "sqlite" else "postgres"
    if args.database == "auto" and not postgres_available(args.postgres_admin_url):
        database = "sqlite"
        log.warning("PostgreSQL does not answer at %s: using SQLite", args.postgres_admin_url)
    signal.signal(signal.SIGTERM, _interrupt)  # clean up on SIGTERM as on Ctrl-C
    try:
        figures = run(args, database)
    except KeyboardInterrupt:
        log.warning("interrupted: every process the benchmark started has been stopped")
        raise SystemExit(130) from None
    except (StackError, ProbeError, LoadError) as exc:
        log.error("%s", exc)
        raise SystemExit(1) from None
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    if figures["alert_ms"]["count"] < figures["probes"]:
        raise SystemExit(1)
    return figures


if __name__ == "__main__":
    main()
