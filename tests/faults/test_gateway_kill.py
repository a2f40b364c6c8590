"""The home gateway SIGKILLed in the middle of a glucose meter's RACP transfer.

Real processes only: the simulated home (``firmware_sim.cli``: a glucose meter with 300 stored
records that streams them at 50 per second), ``caredge gateway`` on it through the bumble
backend, a private Mosquitto and ``caredge ingest`` on SQLite. The gateway is SIGKILLed once
its outbox cursor shows the transfer a third done, and started again: it must send what its
outbox kept and ask the meter only for the records after the cursor. At the end every record
is in the ledger and the reading store exactly once, with the meter's values and times.

Variant: the broker is down throughout the first run and the kill, so the readings wait in the
outbox; the restarted gateway finishes the transfer offline and delivers all when the broker is
back. The ingest worker uses the default shared subscription: the gateway keeps each reading
until the worker confirms it, so the broker's restarts lose nothing (test_broker_restart.py).
"""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.devices.schemas import DeviceCreate, DeviceKind, GatewayCreate
from cloud.devices.service import bind, register_device, register_gateway
from cloud.migrate import upgrade
from cloud.patients.schemas import PatientCreate
from cloud.patients.service import create as create_patient
from cloud.readings.models import ReadingKey
from cloud.tsdb.sql_store import SqlReadingStore
from tests.faults.harness import CloudProcesses, Tally
from tests.fixtures.mosquitto import Broker
from tests.integration.test_gateway_e2e import (
    GATEWAY_ID,
    GLUCOSE_ADDRESS,
    GLUCOSE_ID,
    PASSKEY,
    T_GLUCOSE,
    Home,
)
from tests.support import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.slow]

RECORDS = 300
KILL_AT_CURSOR = 100  # a third of the memory committed to the outbox
SINCE = datetime(2020, 1, 1, tzinfo=UTC)
UNTIL = datetime(2100, 1, 1, tzinfo=UTC)


def meter_value(index: int) -> float:
    return round(4.0 + (index % 90) * 0.1, 1)


EXPECTED = {
    (T_GLUCOSE.replace(tzinfo=UTC) + timedelta(hours=index), meter_value(index))
    for index in range(RECORDS)
}


def scenario() -> dict[str, Any]:
    records = [
        {"mmol_l": meter_value(i), "base_time": (T_GLUCOSE + timedelta(hours=i)).isoformat()}
        for i in range(RECORDS)
    ]
    meter = {
        "name": "CE-GLU-KILL",
        "address": GLUCOSE_ADDRESS,
        "passkey": PASSKEY,
        "model": "Accu 9",
        "serial": "SN/GLU/0007",
        "records": records,
        "record_interval_s": 0.02,  # 300 records in ~6 s: time to kill the gateway midway
        "advertise_always": True,  # the meter offers itself again after the gateway died
    }
    return {"glucose": [meter]}


class Cloud:
    """``caredge ingest`` on SQLite, and the test's own view of its ledger and store."""

    def __init__(self, workdir: Path, broker: Broker) -> None:
        self.database_url = f"sqlite:///{workdir / 'cloud.db'}"
        upgrade(self.database_url)
        self.engine = make_engine(self.database_url)
        self.factory = make_sessionmaker(self.engine)
        self.store = SqlReadingStore(self.engine)
        with transaction(self.factory) as session:
            patient = create_patient(
                session,
                data=PatientCreate(mrn="KILL-1", name="Home Patient", birth_date=date(1948, 3, 9)),
                actor="test",
            )
            register_gateway(session, data=GatewayCreate(id=GATEWAY_ID, name="home"), actor="t")
            register_device(
                session,
                gateway_id=GATEWAY_ID,
                data=DeviceCreate(id=GLUCOSE_ID, kind=DeviceKind.GLUCOSE,
                                  ble_address=GLUCOSE_ADDRESS, model="Accu 9",
                                  serial="SN/GLU/0007"),
                actor="test",
            )  # fmt: skip
            bind(session, device_id=GLUCOSE_ID, patient_id=patient.id, valid_from=SINCE,
                 actor="test")  # fmt: skip
            self.patient_id = patient.id
        self.processes = CloudProcesses(workdir, self.database_url, broker.url)

    def ledger(self) -> list[tuple[str, str, int]]:
        with self.factory() as session:
            rows = session.execute(
                select(ReadingKey.gateway_id, ReadingKey.device_id, ReadingKey.seq)
            )
            return [(g, d, s) for g, d, s in rows]

    def close(self) -> None:
        self.processes.stop_all()
        self.store.close()
        self.engine.dispose()


@pytest.fixture
def cloud(tmp_path: Path, mosquitto: Broker) -> Iterator[Cloud]:
    made = Cloud(tmp_path, mosquitto)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def home(tmp_path: Path, mosquitto: Broker) -> Iterator[Home]:
    running = Home(tmp_path, mosquitto)
    try:
        yield running
    finally:
        running.close()


def kill_mid_transfer(home: Home) -> tuple[int, int]:
    """SIGKILL the gateway once KILL_AT_CURSOR records are committed; (cursor, outbox depth)."""
    wait_until(lambda: (home.cursor(GLUCOSE_ID) or -1) >= KILL_AT_CURSOR, timeout=30, every=0.02)
    assert home.stop_gateway(signal.SIGKILL) == -signal.SIGKILL
    cursor = home.cursor(GLUCOSE_ID)
    assert cursor is not None and cursor < RECORDS - 1, "killed after the transfer ended"
    assert "RACP done" not in home.gateway_log(1), "the RACP transfer was not in progress"
    depth = home.outbox_row("SELECT value FROM counters WHERE name = 'depth.reading'")
    return cursor, int(depth or 0)


def delivered_exactly_once(
    label: str, home: Home, cloud: Cloud, *, cursor: int, queued: int
) -> None:
    """Wait for the whole memory in the ledger, then compare; print the FAULTS line."""
    try:
        wait_until(lambda: len(cloud.ledger()) >= RECORDS, timeout=30, every=0.2)
    except AssertionError:
        pytest.fail(f"{len(cloud.ledger())} of {RECORDS} stored; log:\n{home.gateway_log()}")
    # The restarted gateway resumed after the cursor: it did not ask for the whole memory again.
    resume = (bytes([0x01, 0x03, 0x01]) + (cursor + 1).to_bytes(2, "little")).hex()
    assert f"RACP {resume} (cursor {cursor})" in home.gateway_log(2)
    wait_until(lambda: "RACP done" in home.gateway_log(2), timeout=15)
    points = cloud.store.query(patient_id=cloud.patient_id, since=SINCE, until=UNTIL)
    stored = Counter(point.key for point in points)
    ledger = cloud.ledger()
    result = Tally(
        scenario=label,
        sent=RECORDS,
        stored=len(stored),
        lost=RECORDS - len(set(stored) & set(ledger)),
        duplicated=sum(n - 1 for n in stored.values()) + len(ledger) - len(set(ledger)),
        alerts_expected=0,
        alerts_delivered=0,
        extra={"cursor_at_kill": cursor, "outbox_at_kill": queued},
    )
    print(result.line())
    assert (result.lost, result.duplicated, len(ledger)) == (0, 0, RECORDS)
    assert {(p.measured_at, round(p.values["glucose_mmol_l"], 6)) for p in points} == EXPECTED
    assert {p.device_id for p in points} == {GLUCOSE_ID}
    # Confirmations follow the ledger; those the killed gateway missed come after a re-send.
    depth = "SELECT value FROM counters WHERE name = 'depth.reading'"
    wait_until(lambda: home.outbox_row(depth) == 0, timeout=20, every=0.2)
    assert "Traceback" not in home.gateway_log() + cloud.processes.log("ingest")


def test_gateway_sigkilled_mid_racp_transfer(home: Home, cloud: Cloud) -> None:
    cloud.processes.start("ingest")
    home.start_sim(scenario())
    home.start_gateway()
    cursor, queued = kill_mid_transfer(home)
    home.start_gateway()
    delivered_exactly_once("gateway SIGKILL mid RACP", home, cloud, cursor=cursor, queued=queued)


def test_gateway_sigkilled_with_readings_queued_while_broker_down(
    home: Home, cloud: Cloud, mosquitto: Broker
) -> None:
    cloud.processes.start("ingest")
    mosquitto.stop()
    home.start_sim(scenario())
    home.start_gateway()
    cursor, depth = kill_mid_transfer(home)
    assert depth == cursor + 1  # everything read so far waits in the outbox, nothing was sent
    home.start_gateway()  # broker still down: the transfer resumes and completes offline
    wait_until(lambda: home.cursor(GLUCOSE_ID) == RECORDS - 1, timeout=30, every=0.1)
    assert cloud.ledger() == []
    mosquitto.start()
    label = "gateway SIGKILL, outbox queued, broker down"
    delivered_exactly_once(label, home, cloud, cursor=cursor, queued=depth)
