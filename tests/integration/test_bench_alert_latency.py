"""bench/alert_latency.py end to end with tiny numbers: every probe measured, nothing left over."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.postgres import ADMIN_URL

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
BENCH = [sys.executable, "-m", "bench.alert_latency"]
TINY = ["--probes", "10", "--rate", "100", "--gateways", "4", "--warmup", "1", "--interval", "0.1"]


def listening(port: int) -> bool:
    """True if something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize(
    ("database", "tsdb", "options"),
    [("postgres", "victoria", []), ("sqlite", "sql", ["--trace"])],
    ids=["pg-vm", "sqlite-sql-traced"],
)
def test_reports_every_probe_with_finite_latencies(
    tmp_path: Path, database: str, tsdb: str, options: list[str]
) -> None:
    figures_file = tmp_path / "figures.json"
    result = subprocess.run(
        [
            *BENCH,
            *TINY,
            *options,
            "--database",
            database,
            "--tsdb",
            tsdb,
            "--json",
            str(figures_file),
        ],  # fmt: skip
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    figures = json.loads(figures_file.read_text())
    assert (figures["database"], figures["tsdb"], figures["probes"]) == (database, tsdb, 10)
    for name in ("alert_ms", "limit_rtt_ms"):
        assert figures[name]["count"] == 10, name
        for key in ("p50", "p90", "p99", "max"):
            assert math.isfinite(figures[name][key]) and figures[name][key] > 0, (name, key)
        assert figures[name]["p50"] <= figures[name]["p99"] <= figures[name]["max"]
    # The console path runs through the ingest worker and a SQL poll; it cannot beat the broker.
    assert figures["alert_ms"]["p50"] > figures["limit_rtt_ms"]["p50"]
    assert 80 <= figures["background_acknowledged_per_s"] <= 120
    assert figures["dead_letters"] == 0
    assert "publish → alert on console WebSocket" in result.stdout
    assert re.search(r"target p99 ≤ 250 ms: (met|NOT met)", result.stdout)
    if "--trace" in options:  # every stage of every probe found in the processes' logs
        stages = figures["stages_ms"]
        assert {name: stage["count"] for name, stage in stages.items()} == dict.fromkeys(stages, 10)
        assert "where the time goes (trace of 10 probes" in result.stdout


def test_ctrl_c_stops_every_process_and_drops_the_database(tmp_path: Path) -> None:
    bench = subprocess.Popen(
        [*BENCH, "--probes", "200", "--rate", "100", "--gateways", "4", "--database", "postgres"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    seen = ""
    try:
        deadline = time.monotonic() + 60
        while "probe 25/200 published" not in seen:
            assert time.monotonic() < deadline and bench.poll() is None, seen[-4000:]
            seen += bench.stderr.readline()  # type: ignore[union-attr]
        os.killpg(bench.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        _, rest = bench.communicate(timeout=60)
        seen += rest
    finally:
        if bench.poll() is None:
            os.killpg(bench.pid, signal.SIGKILL)
            bench.wait()
    assert bench.returncode == 130, seen[-4000:]
    assert "every process the benchmark started has been stopped" in seen
    ports = [int(p) for p in re.findall(r"(?:port |127\.0\.0\.1:)(\d+)", seen)]
    assert len(ports) >= 3, seen  # mosquitto, victoria-metrics, api
    assert not [port for port in ports if listening(port)]
    database = re.search(r"database (caredge_bench_\w+) migrated", seen)
    assert database, seen
    with psycopg.connect(ADMIN_URL) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (database.group(1),)
        ).fetchone()
    assert found == (0,)
    assert group_gone(bench.pid, timeout=10), "a process of the benchmark's group is left"


def group_gone(pgid: int, timeout: float) -> bool:
    """True once no process of group pgid exists (an exited child may linger briefly as a
    zombie until init reaps it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False
