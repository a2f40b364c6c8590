"""Scale-out: two `caredge ingest` processes on one shared subscription, with PostgreSQL.

The broker splits ``$share/ingest/caredge/v1/gw/+/reading`` between the two sessions; both must
get a fair share, and together they must store every reading exactly once.
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cloud.db import make_engine, make_sessionmaker
from cloud.migrate import upgrade
from cloud.readings.models import ReadingKey
from tests.fixtures.mosquitto import Broker
from tests.support import publish, reading_messages, readings, seed_home, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GATEWAYS = ("gw1", "gw2", "gw3", "gw4")
PER_GATEWAY = 1000


def start_worker(
    name: str, database_url: str, broker: Broker, log: Path
) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "CAREDGE_DATABASE_URL": database_url,
        "CAREDGE_MQTT_URL": broker.url,
        "CAREDGE_MQTT_CLIENT_ID": name,
        "CAREDGE_TSDB_URL": "sql",
        "CAREDGE_INGEST_BATCH_SECONDS": "0.02",
        "CAREDGE_LOG_LEVEL": "INFO",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "cloud.cli", "ingest"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def final_stats(log: Path) -> dict[str, int]:
    """The counters a worker logs when it stops ("ingest worker stopped: {...}")."""
    for line in reversed(log.read_text().splitlines()):
        if "ingest worker stopped: " in line:
            return ast.literal_eval(line.split("ingest worker stopped: ", 1)[1])
    raise AssertionError(f"{log.name} has no final counters:\n{log.read_text()[-2000:]}")


def test_two_worker_processes_split_the_load_without_duplicates_or_loss(
    postgres_url: str, mosquitto: Broker, tmp_path: Path
) -> None:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    sessions = make_sessionmaker(engine)
    for number, gateway_id in enumerate(GATEWAYS):
        seed_home(sessions, gateway_id, f"P{number:04d}")
    logs = {name: tmp_path / f"{name}.log" for name in ("ingest-a", "ingest-b")}
    workers = {name: start_worker(name, postgres_url, mosquitto, log) for name, log in logs.items()}
    try:
        for log in logs.values():
            wait_until(lambda log=log: "subscribed to $share/ingest/" in log.read_text(), 30)
        sent = [r for gateway_id in GATEWAYS for r in readings(gateway_id, PER_GATEWAY)]
        # Several publishers, as many gateways would be.
        for gateway_id in GATEWAYS:
            batch = reading_messages(r for r in sent if r.gateway_id == gateway_id)
            assert publish(mosquitto.port, batch, client_id=f"pub-{gateway_id}") == PER_GATEWAY

        def stored() -> int:
            with sessions() as session:
                return session.scalar(select(func.count()).select_from(ReadingKey)) or 0

        wait_until(lambda: stored() >= len(sent), timeout=45)
    finally:
        for process in workers.values():
            process.send_signal(signal.SIGTERM)
        for process in workers.values():
            process.wait(timeout=30)
    stats = {name: final_stats(log) for name, log in logs.items()}
    total = len(sent)
    # No loss, nothing twice: every key once in the ledger, and no worker saw a redelivery.
    with sessions() as session:
        keys = set(session.execute(select(ReadingKey.gateway_id, ReadingKey.device_id,
                                          ReadingKey.seq)))  # fmt: skip
        assert session.scalar(select(func.count()).select_from(ReadingKey)) == total
    assert keys == {r.key for r in sent}
    assert sum(s["stored"] for s in stats.values()) == total
    assert sum(s["received"] for s in stats.values()) == total
    assert all(s["duplicates"] == 0 and s["dead_letters"] == 0 for s in stats.values()), stats
    # A fair split: Mosquitto round-robins a share group, so each gets close to half.
    for name, counters in stats.items():
        assert counters["stored"] >= total * 0.35, f"{name} got {counters['stored']} of {total}"
    print(f"split: { ({n: s['stored'] for n, s in stats.items()}) } of {total}")
    engine.dispose()
