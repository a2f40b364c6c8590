"""The whole home-to-cloud path with real processes: simulator → gateway → Mosquitto → ingest.

Three processes besides pytest: the simulated home (``python -m firmware_sim.cli`` with a
scenario written here), the gateway daemon (``python -m cloud.cli gateway``, configured only by
``CAREDGE_*`` variables) and a private Mosquitto; the ingest worker runs in this process on
SQLite with the sql reading store. Devices are registered in the cloud with the cloud's own
service functions under the ids the gateway derives (``bp|glu-<model>-<serial>``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from bleak import BleakScanner
from sqlalchemy import Engine, func, select

from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.devices.schemas import DeviceCreate, DeviceKind, GatewayCreate
from cloud.devices.service import bind, register_device, register_gateway
from cloud.ingest.worker import IngestWorker
from cloud.migrate import upgrade
from cloud.patients.schemas import PatientCreate
from cloud.patients.service import create as create_patient
from cloud.readings.models import ReadingKey
from cloud.settings import Settings
from cloud.tsdb.base import ReadingPoint
from cloud.tsdb.sql_store import SqlReadingStore
from edge.ble.backend import BleBackend
from edge.ble.bumble_backend import BleakClientBumble, BleakScannerBumble, close_hosts
from edge.gateway.coordinator import (
    SERVICE_OF_KIND,
    MeterKind,
    MeterSession,
    MeterStatus,
    SessionConfig,
    SessionResult,
)
from edge.gateway.daemon import GatewayDaemon, GatewayDaemonSettings
from edge.gateway.policy import ParseErrorTracker, device_id_for
from edge.outbox import Outbox
from firmware_sim.meters import encoding
from firmware_sim.meters.blood_pressure import BloodPressureMeter
from firmware_sim.meters.glucose import GlucoseMeter
from firmware_sim.radio import VirtualRadio
from protocol.envelope import BloodPressureReading, GlucoseReading, decode_reading
from tests.fixtures.mosquitto import Broker
from tests.fixtures.ports import free_port
from tests.support import wait_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
GATEWAY_ID = "gw-e2e"
PASSKEY = 246810
BP_ADDRESS = "C0:CA:ED:00:11:01"
GLUCOSE_ADDRESS = "C0:CA:ED:00:22:01"
BP_ID = "bp-omron-x7-sn-bp-0042"
GLUCOSE_ID = "glu-accu-9-sn-glu-0007"
SINCE = datetime(2020, 1, 1, tzinfo=UTC)
UNTIL = datetime(2100, 1, 1, tzinfo=UTC)
T_GLUCOSE = datetime(2026, 2, 1, 7, 0)


@dataclass
class Cloud:
    """The cloud side of the test: database, store, ingest worker, the patient's id."""

    engine: Engine
    store: SqlReadingStore
    worker: IngestWorker
    patient_id: int

    def points(self, kind: str) -> list[ReadingPoint]:
        return self.store.query(patient_id=self.patient_id, since=SINCE, until=UNTIL, kind=kind)

    def ledger_size(self) -> int:
        with make_sessionmaker(self.engine)() as session:
            return int(session.scalar(select(func.count()).select_from(ReadingKey)) or 0)


@pytest.fixture
def cloud(tmp_path: Path, mosquitto: Broker) -> Iterator[Cloud]:
    database_url = f"sqlite:///{tmp_path / 'cloud.db'}"
    upgrade(database_url)
    engine = make_engine(database_url)
    factory = make_sessionmaker(engine)
    with transaction(factory) as session:
        patient = create_patient(
            session,
            data=PatientCreate(mrn="E2E-1", name="Home Patient", birth_date=date(1948, 3, 9)),
            actor="test",
        )
        register_gateway(session, data=GatewayCreate(id=GATEWAY_ID, name="home"), actor="test")
        for device_id, kind, address, model, serial in (
            (BP_ID, DeviceKind.BLOOD_PRESSURE, BP_ADDRESS, "OMRON X7", "SN-BP-0042"),
            (GLUCOSE_ID, DeviceKind.GLUCOSE, GLUCOSE_ADDRESS, "Accu 9", "SN/GLU/0007"),
        ):
            register_device(
                session,
                gateway_id=GATEWAY_ID,
                data=DeviceCreate(
                    id=device_id, kind=kind, ble_address=address, model=model, serial=serial
                ),
                actor="test",
            )
            bind(
                session,
                device_id=device_id,
                patient_id=patient.id,
                valid_from=SINCE,
                actor="test",
            )
        patient_id = patient.id
    settings = Settings(
        database_url=database_url,
        mqtt_url=mosquitto.url,
        mqtt_client_id="ingest-e2e",
        ingest_batch_seconds=0.02,
    )
    store = SqlReadingStore(engine)
    worker = IngestWorker(settings, session_factory=factory, store=store)
    worker.start()
    assert worker.wait_connected()
    try:
        yield Cloud(engine, store, worker, patient_id)
    finally:
        worker.stop()
        engine.dispose()


class Home:
    """The simulator process and gateway processes of one test, with their logs."""

    def __init__(self, tmp_path: Path, broker: Broker) -> None:
        self.tmp_path = tmp_path
        self.broker = broker
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "TZ": "UTC"}
        self.sim: subprocess.Popen[str] | None = None
        self.gateway: subprocess.Popen[bytes] | None = None
        self.spec = ""
        self.runs = 0
        self.outbox = tmp_path / "gateway" / "outbox.db"

    def start_sim(self, scenario: dict[str, Any]) -> None:
        port = free_port()
        scenario = {"gateways": [{"name": GATEWAY_ID, "port": port}], **scenario}
        path = self.tmp_path / "scenario.yaml"
        path.write_text(yaml.safe_dump(scenario))
        self.sim = subprocess.Popen(
            [sys.executable, "-m", "firmware_sim.cli", "--scenario", str(path)],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=(self.tmp_path / "sim.log").open("w"),
            text=True,
        )
        assert self.sim.stdout is not None
        ready = self.sim.stdout.readline()
        assert ready.startswith("READY"), (self.tmp_path / "sim.log").read_text()
        self.spec = ready.split()[-1]

    def start_gateway(self, mqtt_url: str | None = None) -> None:
        self.runs += 1
        env = {
            **self.env,
            "CAREDGE_GATEWAY_ID": GATEWAY_ID,
            "CAREDGE_MQTT_URL": mqtt_url or self.broker.url,
            "CAREDGE_BLE": self.spec,
            "CAREDGE_BLE_PASSKEY": str(PASSKEY),
            "CAREDGE_VAR_DIR": str(self.tmp_path / "var"),
            "CAREDGE_OUTBOX_PATH": str(self.outbox),
            "CAREDGE_BLE_KEYSTORE": str(self.tmp_path / "gateway" / "bonds.json"),
            "CAREDGE_METER_TIMEZONE": "UTC",
            "CAREDGE_HEARTBEAT_SECONDS": "1",
            "CAREDGE_SESSION_INTERVAL_S": "0.5",
            "CAREDGE_BP_IDLE_S": "0.5",
            # Re-send unconfirmed readings after 3 s, not 30: a broker restart in
            # test_gateway_kill.py drops what was published before the worker resubscribed.
            "CAREDGE_CONFIRM_TIMEOUT_SECONDS": "3",
            "CAREDGE_LOG_LEVEL": "INFO",
        }
        log = (self.tmp_path / f"gateway-{self.runs}.log").open("wb")
        self.gateway = subprocess.Popen(
            [sys.executable, "-m", "cloud.cli", "gateway"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop_gateway(self, signum: int = signal.SIGTERM) -> int:
        assert self.gateway is not None
        self.gateway.send_signal(signum)
        code = self.gateway.wait(timeout=15)
        self.gateway = None
        return code

    def gateway_log(self, run: int | None = None) -> str:
        runs = range(1, self.runs + 1) if run is None else [run]
        return "\n".join(
            (self.tmp_path / f"gateway-{number}.log").read_text(errors="replace") for number in runs
        )

    def outbox_row(self, query: str, *args: Any) -> Any:
        """One value from the gateway's outbox file, read from this process (WAL allows it)."""
        if not self.outbox.exists():
            return None
        with sqlite3.connect(f"file:{self.outbox}?mode=ro", uri=True, timeout=5) as db:
            try:
                row = db.execute(query, args).fetchone()
            except sqlite3.OperationalError:  # schema not created yet
                return None
        return None if row is None else row[0]

    def cursor(self, device_id: str) -> int | None:
        return self.outbox_row("SELECT meter_seq FROM cursors WHERE device_id = ?", device_id)

    def close(self) -> None:
        for process in (self.gateway, self.sim):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def home(tmp_path: Path, mosquitto: Broker) -> Iterator[Home]:
    running = Home(tmp_path, mosquitto)
    try:
        yield running
    finally:
        running.close()


def test_device_ids_match_cloud_registration() -> None:
    assert device_id_for(BP_ADDRESS, kind="bp", model="OMRON X7", serial="SN-BP-0042") == BP_ID
    assert (
        device_id_for(GLUCOSE_ADDRESS, kind="glu", model="Accu 9", serial="SN/GLU/0007")
        == GLUCOSE_ID
    )


def test_bp_measurement_reaches_the_cloud_with_meter_values_and_time(
    home: Home, cloud: Cloud
) -> None:
    taken = [
        {"systolic": 142, "diastolic": 91, "mean_arterial": 108, "pulse": 77,
         "timestamp": "2026-03-01T07:45:00"},
        {"systolic": 118.5, "diastolic": 76, "mean_arterial": 90, "pulse": 64,
         "timestamp": "2026-03-01T19:02:30", "user_id": 1},
    ]  # fmt: skip
    home.start_sim(
        {
            "blood_pressure": [
                {
                    "name": "CE-BP-E2E",
                    "address": BP_ADDRESS,
                    "passkey": PASSKEY,
                    "model": "OMRON X7",
                    "serial": "SN-BP-0042",
                    "readings": taken,
                }
            ]
        }
    )
    home.start_gateway()
    try:
        wait_until(lambda: len(cloud.points("blood_pressure")) >= 2, timeout=15)
    except AssertionError:
        pytest.fail(f"readings never arrived; gateway log:\n{home.gateway_log()}")
    assert home.stop_gateway(signal.SIGTERM) == 0  # clean shutdown on SIGTERM

    points = cloud.points("blood_pressure")
    assert [(p.device_id, p.gateway_id, p.patient_id) for p in points] == [
        (BP_ID, GATEWAY_ID, cloud.patient_id)
    ] * 2
    assert [p.measured_at for p in points] == [
        datetime(2026, 3, 1, 7, 45, tzinfo=UTC),
        datetime(2026, 3, 1, 19, 2, 30, tzinfo=UTC),
    ]
    for point, sent in zip(points, taken, strict=True):
        assert point.values == pytest.approx(
            {
                "systolic_mmhg": sent["systolic"],
                "diastolic_mmhg": sent["diastolic"],
                "map_mmhg": sent["mean_arterial"],
                "pulse_bpm": sent["pulse"],
            },
            abs=1e-9,
        )
    log = home.gateway_log()
    assert "bonded, link encrypted" in log
    assert "Traceback" not in log


def _glucose_scenario(count: int) -> dict[str, Any]:
    records = [
        {
            "mmol_l": round(4.0 + index * 0.1, 1),
            "base_time": (T_GLUCOSE + timedelta(hours=index)).isoformat(),
        }
        for index in range(count)
    ]
    return {
        "glucose": [
            {
                "name": "CE-GLU-E2E",
                "address": GLUCOSE_ADDRESS,
                "passkey": PASSKEY,
                "model": "Accu 9",
                "serial": "SN/GLU/0007",
                "records": records,
                "record_interval_s": 0.04,  # ~2 s stream: time to kill the gateway midway
                "advertise_always": True,  # so the meter can resend after a full transfer
            }
        ]
    }


def test_glucose_memory_delivered_exactly_once_across_kill_and_resend(
    home: Home, cloud: Cloud
) -> None:
    count = 50
    expected = {
        (T_GLUCOSE.replace(tzinfo=UTC) + timedelta(hours=index), round(4.0 + index * 0.1, 1))
        for index in range(count)
    }
    home.start_sim(_glucose_scenario(count))

    # 1. The first gateway cannot reach the broker (readings stay in its outbox) and is
    #    SIGKILLed once some records, not all, are committed with the cursor.
    home.start_gateway(mqtt_url=f"mqtt://127.0.0.1:{free_port()}")
    wait_until(lambda: (home.cursor(GLUCOSE_ID) or -1) >= 9, timeout=15, every=0.02)
    assert home.stop_gateway(signal.SIGKILL) == -signal.SIGKILL
    cursor_at_kill = home.cursor(GLUCOSE_ID)
    assert cursor_at_kill is not None and cursor_at_kill < count - 1, "killed too late"
    waiting = home.outbox_row("SELECT value FROM counters WHERE name = 'depth.reading'")
    assert waiting == cursor_at_kill + 1

    # 2. A new gateway process sends what the outbox kept and asks the meter for the rest.
    home.start_gateway()
    try:
        wait_until(lambda: len(cloud.points("glucose")) >= count, timeout=15)
    except AssertionError:
        pytest.fail(f"{len(cloud.points('glucose'))} of {count}; log:\n{home.gateway_log()}")
    assert home.cursor(GLUCOSE_ID) == count - 1
    resume = (bytes([0x01, 0x03, 0x01]) + (cursor_at_kill + 1).to_bytes(2, "little")).hex()
    # The last records can reach the cloud before the gateway logs the end of the session.
    wait_until(lambda: "session done:" in home.gateway_log(2), timeout=10)
    log = home.gateway_log(2)
    assert f"{waiting} readings, 0 telemetry waiting" in log
    assert f"RACP {resume} (cursor {cursor_at_kill})" in log
    assert f"session done: {count - waiting} new reading(s), 0 already known" in log

    # 3. The meter resends its whole memory (here: the cursor is lost, so the gateway asks for
    #    all records): natural keys stop every one; no new seq, nothing stored twice.
    assert home.stop_gateway(signal.SIGTERM) == 0
    last_seq = home.outbox_row("SELECT last_seq FROM sequences WHERE device_id = ?", GLUCOSE_ID)
    with sqlite3.connect(home.outbox) as db:
        db.execute("DELETE FROM cursors WHERE device_id = ?", (GLUCOSE_ID,))
    home.start_gateway()
    wait_until(lambda: "session done" in home.gateway_log(3), timeout=15)
    log = home.gateway_log(3)
    assert "RACP 0101 (cursor None)" in log
    assert f"session done: 0 new reading(s), {count} already known" in log
    assert home.cursor(GLUCOSE_ID) == count - 1
    # Readings whose confirmation the second run did not wait for are re-sent and confirmed
    # (as duplicates) by this run.
    depth = "SELECT value FROM counters WHERE name = 'depth.reading'"
    wait_until(lambda: home.outbox_row(depth) == 0, timeout=20)
    assert home.stop_gateway(signal.SIGTERM) == 0
    assert (
        home.outbox_row("SELECT last_seq FROM sequences WHERE device_id = ?", GLUCOSE_ID)
        == last_seq
    )

    points = cloud.points("glucose")
    assert len(points) == count and cloud.ledger_size() == count
    assert {(p.measured_at, round(p.values["glucose_mmol_l"], 6)) for p in points} == expected
    assert {p.device_id for p in points} == {GLUCOSE_ID}
    assert "Traceback" not in home.gateway_log()


# --- one session in process: clock skew, control solution, contexts, a resending BP meter ------


def _session_run(
    tmp_path: Path,
    meter: BloodPressureMeter | GlucoseMeter,
    kind: MeterKind,
    *,
    sessions: int = 1,
) -> tuple[list[SessionResult], Outbox]:
    """Run ``sessions`` MeterSessions against ``meter`` on an in-process virtual radio."""
    outbox = Outbox(tmp_path / "session-outbox.db")
    service = SERVICE_OF_KIND[kind]

    async def body() -> list[SessionResult]:
        radio = VirtualRadio()
        await radio.add(meter)
        try:
            async with radio:
                backend = BleBackend(
                    BleakScannerBumble,
                    BleakClientBumble,
                    {
                        "bumble_controller": radio.gateway_controller("gw"),
                        "bumble_passkey": PASSKEY,
                    },
                )
                results = []
                for _ in range(sessions):
                    device = await BleakScanner.find_device_by_filter(
                        lambda _d, adv: service in adv.service_uuids,
                        timeout=5,
                        backend=BleakScannerBumble,
                        **backend.kwargs,
                    )
                    assert device is not None
                    session = MeterSession(
                        device,
                        kind,
                        config=SessionConfig(gateway_id=GATEWAY_ID, zone=UTC, bp_idle_s=0.3),
                        outbox=outbox,
                        backend=backend,
                        status=MeterStatus(address=device.address, kind=kind),
                        parse_errors=ParseErrorTracker(),
                    )
                    results.append(await session.run())
                return results
        finally:
            await close_hosts()

    return asyncio.run(asyncio.wait_for(body(), 20)), outbox


def test_session_corrects_skew_sets_clock_and_keeps_control_solution_out(
    tmp_path: Path,
) -> None:
    skew = timedelta(hours=3)
    meter = GlucoseMeter(
        name="CE-GLU-SKEW",
        passkey=PASSKEY,
        model="Accu 9",
        serial="SKEW-1",
        clock=datetime.now(UTC).replace(tzinfo=None) + skew,
    )
    base = datetime(2026, 4, 2, 10, 0)  # as the fast meter wrote it
    meter.add_record(
        0.0061,
        unit_mol_per_l=True,
        base_time=base,
        context=encoding.GlucoseContext(meal=encoding.Meal.POSTPRANDIAL),
    )
    meter.add_record(
        0.0055,
        unit_mol_per_l=True,
        base_time=base + timedelta(hours=1),
        sample_type=encoding.SampleType.CONTROL_SOLUTION,
        sample_location=encoding.SampleLocation.CONTROL_SOLUTION,
    )
    meter.add_record(0.0072, unit_mol_per_l=True, base_time=base + timedelta(hours=2))
    (result,), outbox = _session_run(tmp_path, meter, MeterKind.GLUCOSE)

    assert result.device_id == "glu-accu-9-skew-1"
    assert (result.enqueued, result.control_solution, result.clock_written) == (2, 1, True)
    assert abs(meter.now() - datetime.now(UTC).replace(tzinfo=None)) < timedelta(seconds=5)
    entries = outbox.peek(10)
    readings = [decode_reading(e.payload) for e in entries if e.kind == "reading"]
    assert [r.measured_at for r in readings] == [
        (base - skew).replace(tzinfo=UTC),
        (base + timedelta(hours=2) - skew).replace(tzinfo=UTC),
    ]
    assert all(isinstance(r, GlucoseReading) for r in readings)
    assert [getattr(r, "glucose_mmol_l", None) for r in readings] == pytest.approx([6.1, 7.2])
    first = readings[0]
    assert isinstance(first, GlucoseReading)
    assert first.context is not None and first.context.meal == "postprandial"
    assert first.meter_seq == 0
    events = [json.loads(e.payload) for e in entries if e.kind == "telemetry"]
    assert {e["event"] for e in events} == {"clock_skew", "control_solution"}
    control = next(e for e in events if e["event"] == "control_solution")
    assert control["meter_seq"] == 1 and control["glucose_mmol_l"] == pytest.approx(5.5)
    assert all(e["device_id"] == "glu-accu-9-skew-1" for e in events)
    assert outbox.get_cursor("glu-accu-9-skew-1") == 2
    outbox.close()


def test_bp_meter_resending_a_reading_does_not_enqueue_it_twice(tmp_path: Path) -> None:
    meter = BloodPressureMeter(name="CE-BP-RESEND", passkey=PASSKEY, model="BP-7", serial="R-1")
    reading = encoding.BPReading(
        systolic=150, diastolic=95, mean_arterial=113, timestamp=datetime(2026, 4, 2, 8, 0)
    )
    meter.add_reading(reading)
    meter.add_reading(reading)  # the meter sends its memory again
    (result,), outbox = _session_run(tmp_path, meter, MeterKind.BLOOD_PRESSURE)
    assert (result.enqueued, result.skipped_known) == (1, 1)
    (entry,) = outbox.peek(10)
    bp = decode_reading(entry.payload)
    assert isinstance(bp, BloodPressureReading)
    assert (bp.systolic_mmhg, bp.diastolic_mmhg, bp.map_mmhg) == (150, 95, 113)
    assert bp.measured_at == datetime(2026, 4, 2, 8, 0, tzinfo=UTC)
    outbox.close()


def test_daemon_serves_several_meters_and_reconnects_when_they_advertise_again(
    tmp_path: Path,
) -> None:
    bp = BloodPressureMeter(
        name="CE-BP-D",
        passkey=PASSKEY,
        model="BP-7",
        serial="D-1",
        disconnect_after_transfer_s=0.05,  # like real meters: hang up after the transfer
    )
    meter = GlucoseMeter(name="CE-GLU-D", passkey=PASSKEY, model="G-2", serial="D-2")
    earlier = datetime.now().replace(microsecond=0) - timedelta(minutes=10)
    bp.add_reading(
        encoding.BPReading(systolic=131, diastolic=84, mean_arterial=100, timestamp=earlier)
    )
    for _ in range(3):
        meter.add_record(0.0058, unit_mol_per_l=True)
    outbox = Outbox(tmp_path / "daemon-outbox.db")
    settings = GatewayDaemonSettings(
        gateway_id=GATEWAY_ID,
        var_dir=tmp_path,
        ble_passkey=PASSKEY,
        meter_timezone=None,
        session_interval_s=0.2,
        bp_idle_s=0.3,
    )

    def readings() -> int:
        return outbox.depth()["reading"]

    async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.05)

    async def body() -> dict[str, Any]:
        radio = VirtualRadio()
        await radio.add(bp)
        await radio.add(meter)
        try:
            async with radio:
                backend = BleBackend(
                    BleakScannerBumble,
                    BleakClientBumble,
                    {
                        "bumble_controller": radio.gateway_controller("gw"),
                        "bumble_passkey": PASSKEY,
                    },
                )
                daemon = GatewayDaemon(settings, outbox, backend=backend)
                stop = asyncio.Event()
                running = asyncio.create_task(daemon.run(stop))
                await until(lambda: readings() == 4)
                bp.add_reading(  # a new measurement: the meter advertises, the daemon returns
                    encoding.BPReading(
                        systolic=127,
                        diastolic=80,
                        mean_arterial=96,
                        timestamp=earlier + timedelta(minutes=9),
                    )
                )
                meter.add_record(0.0061, unit_mol_per_l=True)
                await until(lambda: readings() == 6)
                status = daemon.status()
                stop.set()
                await asyncio.wait_for(running, 10)
                return status
        finally:
            await close_hosts()

    status = asyncio.run(asyncio.wait_for(body(), 20))
    meters = status["meters"]
    assert set(meters) == {"bp-bp-7-d-1", "glu-g-2-d-2"}
    assert meters["bp-bp-7-d-1"]["sessions"] >= 2
    assert meters["bp-bp-7-d-1"]["readings_enqueued"] == 2
    assert meters["glu-g-2-d-2"]["readings_enqueued"] == 4
    assert all(m["battery"] == 95 and m["rssi"] is not None for m in meters.values())
    assert outbox.get_cursor("glu-g-2-d-2") == 3
    outbox.close()
