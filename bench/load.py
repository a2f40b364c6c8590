"""Load: N simulated gateways, each its own MQTT connection sending one reading per second.

Against real Mosquitto (caredge.conf), ``caredge ingest`` (PostgreSQL ledger) and VictoriaMetrics
(bench/cloud_stack.py). Publishers run in ``--processes`` processes, each driving its share of
the connections from one paho event loop (external-loop API: one selector, no thread per
connection). Each reading's ``measured_at`` is its publish time, so the end-to-end lag is the
ledger's ``received_at - measured_at``.

Prints readings/s sustained (stored per second over the steady part of the run), lag p50/p99
per third of the run (lag that grows from one third to the next means the system does not keep
up), CPU (% of one core) and peak RSS of every process from /proc, and lost = acknowledged but
not stored. ``--find-max`` doubles the gateway count from ``--gateways`` while the lag stays
flat, then bisects once between the last good and the first bad count.

    python bench/load.py --gateways 1000 --duration 300
    python bench/load.py --find-max --gateways 500 --duration 60
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import selectors
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cloud_stack import CloudStack  # noqa: E402
from cloud.db import make_engine, make_sessionmaker, transaction  # noqa: E402
from cloud.devices.models import Device, DeviceBinding, Gateway  # noqa: E402
from cloud.patients.models import Patient  # noqa: E402
from cloud.readings.models import ReadingKey  # noqa: E402
from protocol.envelope import BloodPressureReading, encode_reading  # noqa: E402
from protocol.topics import GatewayTopic  # noqa: E402

PG_ADMIN = os.environ.get("CAREDGE_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def gateway_name(index: int) -> str:
    return f"load-{index:05d}"


# --- publishers (child processes) -----------------------------------------------------------


def publish_share(port: int, first: int, count: int, duration: float, acked: mp.Value) -> None:
    """Connect count gateways and send one reading per gateway per second for duration s."""
    selector = selectors.DefaultSelector()
    clients: list[mqtt.Client] = []
    done = [0]

    def on_publish(*_args: object) -> None:
        done[0] += 1

    for index in range(first, first + count):
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=gateway_name(index))
        client.on_publish = on_publish
        client.max_inflight_messages_set(20)
        client.connect("127.0.0.1", port, keepalive=60)
        selector.register(client.socket(), selectors.EVENT_READ, client)
        clients.append(client)
    for client in clients:  # CONNACKs
        client.loop_read()
    start = time.monotonic()
    seq = [0] * count
    tick = 0
    while time.monotonic() - start < duration:
        tick_start = start + tick
        for slot, client in enumerate(clients):
            # Spread each second's publications over the second, like independent homes.
            at = tick_start + slot / count
            while (now := time.monotonic()) < at:
                for key, _ in selector.select(timeout=at - now):
                    key.data.loop_read()
            seq[slot] += 1
            name = gateway_name(first + slot)
            reading = BloodPressureReading(
                gateway_id=name, device_id=f"bp-{name}", seq=seq[slot],
                measured_at=datetime.now(UTC), systolic_mmhg=120 + seq[slot] % 15,
                diastolic_mmhg=78, pulse_bpm=66,
            )  # fmt: skip
            client.publish(str(GatewayTopic(name, "reading")), encode_reading(reading), qos=1)
            if client.want_write():
                client.loop_write()
        for client in clients:
            client.loop_misc()
        tick += 1
    deadline = time.monotonic() + 30
    while done[0] < sum(seq) and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.2):
            key.data.loop_read()
        for client in clients:
            if client.want_write():
                client.loop_write()
    with acked.get_lock():
        acked.value += done[0]
    for client in clients:
        client.disconnect()


# --- measuring ----------------------------------------------------------------------------


def proc_sample(pid: int) -> tuple[float, int] | None:
    """(CPU seconds, RSS bytes) of pid, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    rss = next((int(line.split()[1]) * 1024 for line in status.splitlines()
                if line.startswith("VmRSS:")), 0)  # fmt: skip
    return (int(stat[11]) + int(stat[12])) / CLK_TCK, rss


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


@dataclass
class Result:
    gateways: int
    duration: float
    acked: int
    stored: int
    lost: int
    rate: float
    lag_thirds: list[tuple[float, float]]
    resources: dict[str, tuple[float, float]]

    @property
    def sustained(self) -> bool:
        """Lag flat: the last third's p99 within 2x (+1 s) of the first third's, nothing lost."""
        first, last = self.lag_thirds[0][1], self.lag_thirds[-1][1]
        return self.lost == 0 and last <= 2 * first + 1.0

    def report(self) -> str:
        lines = [
            f"gateways {self.gateways}, {self.duration:.0f} s: acked {self.acked}, stored "
            f"{self.stored}, lost {self.lost}; {self.rate:,.0f} readings/s sustained "
            f"(offered {self.gateways}/s)",
            "  lag p50/p99 by third of the run: "
            + ", ".join(f"{p50:.3f}/{p99:.3f} s" for p50, p99 in self.lag_thirds),
            f"  lag flat (sustained): {self.sustained}",
        ]
        for name, (cpu, rss) in sorted(self.resources.items()):
            lines.append(f"  {name:12} CPU {cpu:6.1f} % of a core   peak RSS {rss / 2**20:7.1f} MB")
        return "\n".join(lines)


def seed(database_url: str, gateways: int) -> None:
    """One patient, gateway and bound BP meter per simulated home, in one transaction."""
    engine = make_engine(database_url)
    with transaction(make_sessionmaker(engine)) as session:
        patients = [Patient(mrn=f"L{i:06d}", name=f"Load {i}", birth_date=date(1950, 1, 1))
                    for i in range(gateways)]  # fmt: skip
        session.add_all(patients)
        session.add_all(Gateway(id=gateway_name(i), name=gateway_name(i), mqtt_password_hash="-")
                        for i in range(gateways))  # fmt: skip
        session.flush()
        session.add_all(
            Device(
                id=f"bp-{gateway_name(i)}",
                gateway_id=gateway_name(i),
                kind="blood_pressure",
                ble_address=f"C0:CA:ED:{i >> 16:02X}:{(i >> 8) & 255:02X}:{i & 255:02X}",
            )
            for i in range(gateways)
        )
        session.flush()
        since = datetime.now(UTC) - timedelta(hours=1)
        session.add_all(
            DeviceBinding(device_id=f"bp-{gateway_name(i)}", patient_id=p.id, valid_from=since)
            for i, p in enumerate(patients)
        )
    engine.dispose()


def run_once(gateways: int, duration: float, processes: int, workdir: Path) -> Result:
    stack = CloudStack(workdir, postgres_admin_url=PG_ADMIN, progress=lambda _m: None,
                       environment={"CAREDGE_INGEST_BATCH_SECONDS": "0.05"})  # fmt: skip
    with stack:
        seed(stack.database_url, gateways)
        stack.start_caredge()
        engine = make_engine(stack.database_url)
        sessions = make_sessionmaker(engine)
        acked = mp.Value("q", 0)
        share = -(-gateways // processes)
        children = [
            mp.Process(target=publish_share,
                       args=(stack.mqtt_port, first, min(share, gateways - first), duration, acked))
            for first in range(0, gateways, share)
        ]  # fmt: skip
        for child in children:
            child.start()
        pids = stack.pids() | {f"publisher-{n}": [c.pid] for n, c in enumerate(children)}
        pids.pop("api", None)
        first = {pid: proc_sample(pid) for ps in pids.values() for pid in ps}
        last = dict(first)  # the last sample of each pid while it ran
        peak: dict[str, float] = {}
        started = time.monotonic()
        while any(child.is_alive() for child in children):
            time.sleep(2)
            for name, ps in pids.items():
                samples = {pid: proc_sample(pid) for pid in ps}
                last.update({pid: sample for pid, sample in samples.items() if sample})
                rss = sum(sample[1] for sample in samples.values() if sample)
                peak[name] = max(peak.get(name, 0), rss)
        elapsed = time.monotonic() - started
        resources = {}
        for name, ps in pids.items():
            cpu = sum(
                last[pid][0] - first[pid][0]  # type: ignore[index]
                for pid in ps
                if first.get(pid) and last.get(pid)
            )
            resources[name] = (100 * cpu / elapsed, peak.get(name, 0))
        for child in children:
            child.join()

        def stored() -> int:
            with sessions() as session:
                return int(session.scalar(select(func.count()).select_from(ReadingKey)) or 0)

        deadline = time.monotonic() + 120
        while stored() < acked.value and time.monotonic() < deadline:
            time.sleep(1)
        with sessions() as session:
            rows = session.execute(select(ReadingKey.measured_at, ReadingKey.received_at)).all()
        engine.dispose()
    rows.sort()
    lags = [(received - measured).total_seconds() for measured, received in rows]
    thirds = [lags[i * len(lags) // 3 : (i + 1) * len(lags) // 3] for i in range(3)]
    t0, t1 = rows[0][0], rows[-1][0]
    steady = [r for r in rows if r[0] >= t0 + (t1 - t0) / 3]
    span = (steady[-1][1] - steady[0][1]).total_seconds() if len(steady) > 1 else 1
    return Result(
        gateways=gateways, duration=duration, acked=acked.value, stored=len(rows),
        lost=acked.value - len(rows), rate=len(steady) / max(span, 1e-9),
        lag_thirds=[(statistics.median(t), percentile(t, 0.99)) for t in thirds if t],
        resources=resources,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gateways", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load")
    parser.add_argument("--processes", type=int, default=4, help="publisher processes")
    parser.add_argument("--find-max", action="store_true")
    args = parser.parse_args(argv)
    if args.gateways < 1 or args.duration < 10 or args.processes < 1:
        parser.error("--gateways ≥ 1, --duration ≥ 10, --processes ≥ 1")
    with tempfile.TemporaryDirectory(prefix="caredge-load-") as folder:

        def measure(count: int) -> Result:
            result = run_once(count, args.duration, args.processes, Path(folder) / str(count))
            print(result.report(), flush=True)
            return result

        if not args.find_max:
            return 0 if measure(args.gateways).sustained else 1
        good, bad, count = 0, 0, args.gateways
        while True:
            if measure(count).sustained:
                good, count = count, count * 2
            else:
                bad = count
                break
        if good:
            middle = (good + bad) // 2
            if measure(middle).sustained:
                good = middle
        print(f"largest gateway count sustained (1 reading/s each, lag flat): {good} "
              f"(first failing: {bad})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
