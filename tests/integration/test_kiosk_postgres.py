"""Kiosk check-in on PostgreSQL: concurrent check-ins at several kiosks never share a queue
number, a doubly-submitted check-in gets one number, and the API flow runs end to end."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from cloud.db import transaction
from cloud.hospital import service
from cloud.hospital.models import Appointment, AppointmentStatus, QueueCounter
from cloud.hospital.schemas import AppointmentCreate
from cloud.patients.models import Patient
from tests.unit.cloud.test_kiosk_api import NOW, World, make_world

pytestmark = pytest.mark.integration

RACERS = 12


@pytest.fixture
def world(postgres_url: str) -> Iterator[World]:
    w = make_world(postgres_url)
    yield w
    w.api.close()


def _race(count: int, body: Callable[[int], Any]) -> tuple[list[Any], list[BaseException]]:
    """Run body(i) in count threads released together by a barrier."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(10)
            results[index] = body(index)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results, errors


def _book_many(world: World, count: int) -> list[int]:
    zone = world.api.settings.hospital_zone
    ids = []
    with transaction(world.api.sessions) as session:
        for n in range(count):
            patient = Patient(mrn=f"30000000{n:02}", name=f"测试{n}", birth_date=NOW.date())
            session.add(patient)
            session.flush()
            ids.append(
                service.create_appointment(
                    session,
                    data=AppointmentCreate(
                        patient_id=patient.id,
                        department_id=1,
                        starts_at=NOW + timedelta(minutes=n),
                        ends_at=NOW + timedelta(minutes=n + 15),
                    ),
                    zone=zone,
                    actor="test",
                ).id
            )
    return ids


def test_concurrent_check_ins_get_distinct_consecutive_numbers(world: World) -> None:
    appointment_ids = _book_many(world, RACERS)
    zone = world.api.settings.hospital_zone

    def check_in(index: int) -> int:
        with transaction(world.api.sessions) as session:
            result = service.check_in(
                session,
                appointment_id=appointment_ids[index],
                now=NOW,
                zone=zone,
                actor=f"kiosk:{index}",
            )
            # Hold the transaction open a moment so the racers truly overlap.
            session.execute(select(1).where(Appointment.id == appointment_ids[index]))
            return result.appointment.queue_number or 0

    numbers, errors = _race(RACERS, check_in)
    assert errors == []
    assert sorted(numbers) == list(range(1, RACERS + 1))
    with world.api.sessions() as session:
        stored = session.scalars(
            select(Appointment.queue_number).where(Appointment.id.in_(appointment_ids))
        ).all()
        counter = session.scalars(select(QueueCounter.last_number)).one()
    assert sorted(stored) == list(range(1, RACERS + 1))
    assert counter == RACERS


def test_the_same_appointment_checked_in_twice_at_once_gets_one_number(world: World) -> None:
    (appointment_id,) = _book_many(world, 1)
    zone = world.api.settings.hospital_zone

    def check_in(index: int) -> tuple[int, bool]:
        with transaction(world.api.sessions) as session:
            result = service.check_in(
                session, appointment_id=appointment_id, now=NOW, zone=zone, actor="kiosk"
            )
            return result.appointment.queue_number or 0, result.repeated

    outcomes, errors = _race(4, check_in)
    assert errors == []
    assert {number for number, _ in outcomes} == {1}
    assert sorted(repeated for _, repeated in outcomes) == [False, True, True, True]
    with world.api.sessions() as session:
        appointment = session.get(Appointment, appointment_id)
        assert appointment is not None and appointment.status == AppointmentStatus.CHECKED_IN
        assert session.scalars(select(QueueCounter.last_number)).one() == 1


def test_two_kiosks_check_in_over_the_api(world: World) -> None:
    admin = world.api.headers("admin")
    second = world.client.post("/api/v1/kiosks", json={"name": "lobby-2"}, headers=admin).json()
    kiosk_two = {"Authorization": f"Bearer {second['device_token']}"}
    zhang = world.session("1000000001")
    wang_en = world.client.post(
        "/api/v1/kiosk/identify/patient-number",
        json={"patient_number": "1000000004", "birth_date": "1971-01-09"},
        headers=kiosk_two,
    ).json()["session_token"]

    def check_in(index: int) -> str:
        headers = zhang if index == 0 else {"Authorization": f"Bearer {wang_en}"}
        appointment = 1 if index == 0 else 5
        response = world.client.post(
            f"/api/v1/kiosk/appointments/{appointment}/check-in", headers=headers
        )
        assert response.status_code == 200, response.text
        return str(response.json()["ticket"])

    tickets, errors = _race(2, check_in)
    assert errors == []
    assert sorted(tickets) == ["C001", "C002"]
    report = world.client.get("/api/v1/kiosk/reports", headers=zhang).json()[0]
    job = world.client.post(f"/api/v1/kiosk/reports/{report['id']}/print-jobs", headers=zhang)
    confirm = world.client.post(
        f"/api/v1/kiosk/print-jobs/{job.json()['id']}/result",
        json={"outcome": "printed"},
        headers=world.kiosk(),
    )
    assert confirm.json()["status"] == "printed"
