"""The demo's seeding, banner and small helpers, on a throwaway SQLite database."""

from __future__ import annotations

import socket
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from cloud.auth.service import authenticate
from cloud.db import make_engine, make_sessionmaker
from cloud.demo.broker import _is_loopback, broker_config
from cloud.demo.kiosk import (
    KioskWindow,
    has_display,
    kiosk_argv,
    kiosk_environment,
    open_kiosk_hint,
    route_page_url,
)
from cloud.demo.run import (
    DemoAccess,
    DemoSummary,
    _free_or_other_port,
    _fresh_sqlite,
    banner,
    summary_text,
)
from cloud.demo.scenario import PATIENTS
from cloud.demo.seed import (
    ADMIN_USERNAME,
    BACKUP_NURSE_USERNAME,
    NURSE_USERNAME,
    WARDS,
    seed,
    seed_on_call,
)
from cloud.devices.models import Device, DeviceBinding, Gateway
from cloud.devices.service import patient_at
from cloud.hospital.demo_seed import DemoHospital
from cloud.migrate import upgrade
from cloud.oncall.models import PatientWard
from cloud.oncall.service import on_call
from cloud.patients.models import Patient

BOUND_FROM = datetime(2026, 11, 1, tzinfo=UTC)


def test_seed_registers_accounts_patients_meters_and_bindings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'seed.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    try:
        ids = seed(
            factory, admin_password="a-secret", nurse_password="n-secret", bound_from=BOUND_FROM
        )
        with factory() as session:
            assert set(ids) == {p.mrn for p in PATIENTS}
            assert authenticate(session, username=ADMIN_USERNAME, password="a-secret") is not None
            assert authenticate(session, username=NURSE_USERNAME, password="n-secret") is not None
            assert session.scalar(select(func.count()).select_from(Patient)) == len(PATIENTS)
            assert session.scalar(select(func.count()).select_from(Gateway)) == len(PATIENTS)
            meters = sum(len(p.meters) for p in PATIENTS)
            assert session.scalar(select(func.count()).select_from(Device)) == meters
            assert session.scalar(select(func.count()).select_from(DeviceBinding)) == meters
            for demo_patient in PATIENTS:
                assert session.get(Patient, ids[demo_patient.mrn]).name == demo_patient.name  # type: ignore[union-attr]
                for meter in demo_patient.meters:
                    owner = patient_at(
                        session, device_id=meter.device_id, at=BOUND_FROM + timedelta(days=3)
                    )
                    assert owner == ids[demo_patient.mrn]
                    assert (
                        patient_at(
                            session, device_id=meter.device_id, at=BOUND_FROM - timedelta(seconds=1)
                        )
                        is None
                    )
    finally:
        engine.dispose()


def test_seed_on_call_puts_the_demo_nurses_on_call_for_every_patient(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'oncall.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    now = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    try:
        ids = seed(factory, admin_password="a", nurse_password="n", bound_from=BOUND_FROM)
        rota = seed_on_call(factory, patient_ids=ids, backup_password="b", now=now)
        with factory() as session:
            assert authenticate(session, username=BACKUP_NURSE_USERNAME, password="b") is not None
            assert set(rota.ward_ids) == set(WARDS)
            wards = {row.patient_id: row.ward_id for row in session.scalars(select(PatientWard))}
            assert set(wards) == set(ids.values())  # every patient's alerts reach a ward
            for ward_id in rota.ward_ids.values():
                for at in (now, now + timedelta(days=6)):
                    assert [n.id for n in on_call(session, ward_id=ward_id, at=at, tier=1)] == [
                        rota.nurse_ids[NURSE_USERNAME]
                    ]
                    assert [n.id for n in on_call(session, ward_id=ward_id, at=at, tier=2)] == [
                        rota.nurse_ids[BACKUP_NURSE_USERNAME]
                    ]
                assert on_call(session, ward_id=ward_id, at=now + timedelta(days=8)) == []
    finally:
        engine.dispose()


HOSPITAL = DemoHospital(
    kiosk_name="lobby-1",
    kiosk_token="ckd_demo-token",
    patients=[("1000000001", "张小三", date(1948, 3, 2))],
    appointments=[(7, "1000000001", "2026-11-20 09:00", "CARD", "qr-text-for-7")],
)


def _access() -> DemoAccess:
    return DemoAccess(
        api_url="http://127.0.0.1:8000",
        mqtt_url="mqtt://127.0.0.1:1883",
        embedded_broker=True,
        database_url="sqlite:///var/demo/caredge-demo.db",
        admin_password="adm-pw",
        nurse_password="nurse-pw",
        backup_nurse_password="backup-pw",
        patient_ids={p.mrn: i + 1 for i, p in enumerate(PATIENTS)},
        hospital=HOSPITAL,
        print_dir=Path("var/demo/prints"),
    )


def test_banner_says_where_to_look() -> None:
    text = banner(_access(), display=True)
    assert "Nurse console   http://127.0.0.1:8000/console/" in text
    assert (
        f"{NURSE_USERNAME:<7} nurse-pw" in text and f"{BACKUP_NURSE_USERNAME:<7} backup-pw" in text
    )
    assert f"{ADMIN_USERNAME:<7} adm-pw" in text
    assert "http://127.0.0.1:8000/docs" in text
    assert "http://127.0.0.1:8000/api/v1/auth/token" in text
    assert "http://127.0.0.1:8000/api/v1/patients/1/readings" in text
    assert all(p.name in text for p in PATIENTS)
    # The hospital kiosk: token, a patient to try, a QR text, the route page, where prints go.
    assert "kiosk token     ckd_demo-token" in text
    assert "try patient     1000000001, born 19480302" in text and "qr-text-for-7" in text
    assert (
        "route page      http://127.0.0.1:8000/api/v1/wayfinding/route.html"
        "?from=kiosk-f1&to=cardiology&accessible=false" in text
    )
    assert "prints go to    var/demo/prints" in text
    assert "the kiosk window opens now" in text and "xvfb-run" not in text


def test_banner_without_a_display_says_how_to_open_the_kiosk() -> None:
    text = banner(_access(), display=False)
    assert "no display here" in text
    assert (
        "CAREDGE_KIOSK_TOKEN=ckd_demo-token CAREDGE_KIOSK_REPORT_PRINTER=file "
        "CAREDGE_KIOSK_TICKET_PRINTER=file CAREDGE_KIOSK_PRINT_DIR=var/demo/prints "
        'CAREDGE_KIOSK_WAYFINDING_FROM=kiosk-f1 xvfb-run -s "-screen 0 1280x800x24" '
        "caredge kiosk --windowed --api-url http://127.0.0.1:8000" in text
    )
    assert "on a screen:  CAREDGE_KIOSK_TOKEN=ckd_demo-token" in text


def test_kiosk_command_environment_and_display() -> None:
    assert kiosk_argv("http://h:1")[-4:] == ["kiosk", "--windowed", "--api-url", "http://h:1"]
    env = kiosk_environment("tok", Path("/p"))
    assert env["CAREDGE_KIOSK_TOKEN"] == "tok" and env["CAREDGE_KIOSK_PRINT_DIR"] == "/p"
    assert route_page_url("http://h:1", "radiology").endswith("to=radiology&accessible=false")
    assert has_display({"DISPLAY": ":3"}) and has_display({"WAYLAND_DISPLAY": "wayland-0"})
    assert not has_display({}) and not has_display({"DISPLAY": ""})
    hint = open_kiosk_hint("http://h:1", "a b", Path("/p"))
    assert "CAREDGE_KIOSK_TOKEN='a b'" in hint  # quoted for the shell


def test_kiosk_window_runs_the_child_with_the_token_and_stops_it(tmp_path: Path) -> None:
    child = "import os, time; print(os.environ['CAREDGE_KIOSK_TOKEN'], flush=True); time.sleep(60)"
    window = KioskWindow(
        [sys.executable, "-c", child], {"CAREDGE_KIOSK_TOKEN": "t0k"}, tmp_path / "k.log"
    )
    with window:
        assert window.running
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while "t0k" not in window.log_path.read_text() and datetime.now(UTC) < deadline:
            time.sleep(0.05)
        assert window.log_path.read_text().strip() == "t0k"
    assert not window.running
    assert window.stop() is None  # already stopped


def test_summary_text() -> None:
    text = summary_text(
        DemoSummary(
            meter_readings=9,
            gateway_acknowledged=9,
            malformed_published=1,
            stored=9,
            dead_lettered=1,
            alerts=3,
        )
    )
    assert text == (
        "caredge demo: 9 readings taken by the simulated meters, 9 delivered by the gateways "
        "(PUBACK), 1 malformed messages published on purpose; 9 readings stored, 1 dead letters, "
        "3 alerts raised."
    )


def test_fresh_sqlite_removes_the_previous_run(tmp_path: Path) -> None:
    path = tmp_path / "demo" / "x.db"
    path.parent.mkdir()
    for leftover in (path, tmp_path / "demo" / "x.db-wal", tmp_path / "demo" / "x.db-shm"):
        leftover.write_text("old")
    assert _fresh_sqlite(path) == path
    assert list(path.parent.iterdir()) == []


def test_api_port_falls_back_to_a_free_one_when_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        other = _free_or_other_port("127.0.0.1", port)
        assert other != port
    assert _free_or_other_port("127.0.0.1", other) == other


def test_embedded_broker_is_loopback_only() -> None:
    assert _is_loopback("127.0.0.1") and _is_loopback("::1") and _is_loopback("localhost")
    assert (
        not _is_loopback("0.0.0.0") and not _is_loopback("192.168.1.4") and not _is_loopback(None)
    )
    config = broker_config("127.0.0.1", 0)
    assert config["listeners"]["default"]["bind"] == "127.0.0.1:0"
    assert list(config["plugins"]) == ["cloud.demo.broker.LoopbackAuthPlugin"]
