"""Alerts on PostgreSQL: the engine, escalation with SKIP LOCKED, the last-value upsert, the
one-active-alert constraint under a race between two workers, and the API's main flow."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from cloud.alerts.engine import evaluate_readings
from cloud.alerts.models import Alert, AlertReading, PatientLastReading
from cloud.api.testing import ApiHarness, make_harness
from cloud.auth.models import Role
from cloud.db import transaction
from cloud.oncall import notifications
from cloud.oncall.scheduler import run_scheduler_once
from tests.unit.cloud.test_alert_engine import T0, World, at, make_world

pytestmark = pytest.mark.integration


@pytest.fixture
def world(postgres_url: str) -> Iterator[World]:
    w = make_world(postgres_url)
    yield w
    w.engine.dispose()


def test_engine_escalation_and_queue_on_postgres(world: World) -> None:
    pid = world.patient("P1", kinds=("blood_pressure", "glucose"))
    world.evaluate([(world.glucose("P1", at(1), 9.0), pid)], at(1))
    world.evaluate(
        [(world.bp("P1", at(2), 190, 100), pid), (world.glucose("P1", at(2), 2.6), pid)], at(2)
    )
    assert sorted(a.rule_id for a in world.alerts()) == [
        "bp.crisis",
        "glucose.falling_fast",
        "glucose.level2_low",
    ]
    with world.sessions() as session:
        last = session.get(PatientLastReading, (pid, "glucose"))
        assert last is not None and last.value == 2.6 and last.measured_at == at(2)
    run = run_scheduler_once(world.sessions, at(2) + timedelta(minutes=5))
    assert {r.level for r in run.escalations} == {2}
    assert len(run.escalations) == 2  # the two critical alerts; the warning waits 15 min
    with transaction(world.sessions) as session:
        rows = notifications.claim_due(
            session, channel=notifications.Channel.WEBSOCKET, now=at(3), limit=100
        )
        assert {r.nurse_id for r in rows} == {world.nurses["ann"], world.nurses["bo"]}
        for row in rows:
            notifications.mark_sent(session, notification=row, now=at(3))


def test_two_workers_racing_open_one_alert(world: World) -> None:
    pid = world.patient("P1", kinds=("blood_pressure",))
    readings = [world.bp("P1", at(1) + timedelta(seconds=i), 200, 100) for i in range(2)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            with transaction(world.sessions) as session:
                session.execute(select(func.now()))
                barrier.wait(5)
                evaluate_readings(session, readings=[(readings[index], pid)], now=at(1))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    (alert,) = world.alerts()
    assert alert.readings_count == 2
    with world.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AlertReading)) == 2


@pytest.fixture
def api(postgres_url: str) -> Iterator[ApiHarness]:
    harness = make_harness(postgres_url)
    yield harness
    harness.close()


def test_alert_api_on_postgres(api: ApiHarness) -> None:
    admin = api.headers(Role.ADMIN)
    ward = api.client.post(
        "/api/v1/wards", json={"name": "Cardio", "timezone": "Asia/Shanghai"}, headers=admin
    ).json()
    patient = api.client.post(
        "/api/v1/patients",
        json={"mrn": "P1", "name": "Lin Mei", "birth_date": "1948-03-02"},
        headers=admin,
    ).json()
    api.client.put(
        f"/api/v1/patients/{patient['id']}/ward", json={"ward_id": ward["id"]}, headers=admin
    )
    from protocol.envelope import GlucoseReading

    reading = GlucoseReading(
        gateway_id="gw1", device_id="glu1", seq=1, measured_at=T0, glucose_mmol_l=2.7
    )
    with transaction(api.sessions) as session:
        evaluate_readings(session, readings=[(reading, patient["id"])], now=T0)
    nurse = api.headers(Role.NURSE, "ann")
    listing = api.client.get(
        "/api/v1/alerts", params={"ward_id": ward["id"], "state": "open"}, headers=nurse
    ).json()
    (alert,) = listing["items"]
    assert alert["severity"] == "critical"
    ack = api.client.post(
        f"/api/v1/alerts/{alert['id']}/acknowledge", json={"note": "ok"}, headers=nurse
    )
    assert ack.status_code == 200 and ack.json()["acknowledged_by"] == "ann"
    put = api.client.put(
        f"/api/v1/patients/{patient['id']}/alert-thresholds",
        json={"overrides": {"glucose_level1_low": 4.4}},
        headers=nurse,
    )
    assert put.status_code == 200 and put.json()["effective"]["glucose_level1_low"] == 4.4
    with api.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 1
