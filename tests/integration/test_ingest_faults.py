"""Exactly-once under faults: VictoriaMetrics down for 30 s and the worker SIGKILLed mid-stream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cloud.db import make_engine, make_sessionmaker
from cloud.deadletters.models import DeadLetter
from cloud.migrate import upgrade
from cloud.readings.models import ReadingKey
from cloud.settings import Settings
from cloud.tsdb.base import ReadingPoint
from cloud.tsdb.factory import make_store
from tests.fixtures.mosquitto import Broker
from tests.support import T0, publish, reading_messages, readings, seed_home, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GATEWAYS = ("gw-a", "gw-b", "gw-c")
PER_GATEWAY = 600


def _start_ingest(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cloud.cli", "ingest"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def test_exactly_once_through_tsdb_outage_and_sigkill(
    postgres_url: str, mosquitto: Broker, victoria, tmp_path: Path
) -> None:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    factory = make_sessionmaker(engine)
    patients = {gateway: seed_home(factory, gateway, f"P-{gateway}") for gateway in GATEWAYS}
    sent = {gateway: readings(gateway, PER_GATEWAY) for gateway in GATEWAYS}
    env = {
        **os.environ,
        "CAREDGE_DATABASE_URL": postgres_url,
        "CAREDGE_MQTT_URL": mosquitto.url,
        "CAREDGE_TSDB_URL": victoria.url,
        "CAREDGE_MQTT_CLIENT_ID": "ingest-faults",
        "CAREDGE_INGEST_BATCH_SECONDS": "0.02",
    }
    log = tmp_path / "ingest.log"
    worker = _start_ingest(env, log)
    # Until the first subscription exists, the broker has no session to queue readings for.
    wait_until(lambda: "subscribed to" in log.read_text(), timeout=20)

    def ledger_count() -> int:
        with factory() as session:
            return int(session.scalar(select(func.count()).select_from(ReadingKey)) or 0)

    acknowledged: Counter[str] = Counter()

    def stream(gateway: str) -> None:
        messages = reading_messages(sent[gateway])
        for start in range(0, len(messages), 20):  # about 40 s of traffic per gateway
            chunk = messages[start : start + 20]
            acknowledged[gateway] += publish(mosquitto.port, chunk, client_id=f"pub-{gateway}")
            time.sleep(1.2)

    publishers = [threading.Thread(target=stream, args=(g,)) for g in GATEWAYS]
    try:
        for thread in publishers:
            thread.start()
        wait_until(lambda: ledger_count() > 100, timeout=30)
        victoria.stop()
        time.sleep(10)
        worker.send_signal(signal.SIGKILL)  # killed while batches wait for the store
        worker.wait()
        worker = _start_ingest(env, log)
        time.sleep(20)
        victoria.start()  # down for 30 s in all
        wait_until(lambda: ledger_count() > len(GATEWAYS) * PER_GATEWAY * 0.7, timeout=60)
        worker.send_signal(signal.SIGKILL)  # killed mid-stream with the store up
        worker.wait()
        worker = _start_ingest(env, log)
        for thread in publishers:
            thread.join()
        assert sum(acknowledged.values()) == len(GATEWAYS) * PER_GATEWAY, acknowledged
        try:
            wait_until(lambda: ledger_count() >= len(GATEWAYS) * PER_GATEWAY, timeout=90)
        except AssertionError:
            with factory() as session:
                keys = set(session.execute(select(ReadingKey.device_id, ReadingKey.seq)))
                letters = session.scalars(select(DeadLetter.reason)).all()
            missing = sorted(
                (r.device_id, r.seq)
                for g in GATEWAYS
                for r in sent[g]
                if (r.device_id, r.seq) not in keys
            )
            raise AssertionError(
                f"missing {len(missing)}: {missing[:20]}; dead letters {letters[:5]}"
            ) from None
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=20)
    assert ledger_count() == len(GATEWAYS) * PER_GATEWAY
    assert "retry in" in log.read_text(), "the outage was not noticed by the worker"

    victoria.flush()
    store = make_store(Settings(tsdb_url=victoria.url, database_url=postgres_url), engine)
    for gateway, patient_id in patients.items():
        stored = store.query(patient_id=patient_id, since=T0, until=T0 + timedelta(days=7))
        keys = Counter(point.key for point in stored)
        assert max(keys.values()) == 1, "a reading was stored twice"
        expected = {r.key: ReadingPoint.from_reading(r, patient_id) for r in sent[gateway]}
        assert {p.key: p for p in stored} == expected
