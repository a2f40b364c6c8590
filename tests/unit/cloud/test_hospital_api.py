"""Departments, clinicians, appointments, desk check-in and QR codes over the staff API;
the demo seed and its command."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from cloud.auth.models import Role
from cloud.hospital.days import day_end, local_day, ticket_label
from cloud.kiosk.qr_tokens import derive_key, verify_qr_token
from tests.unit.cloud.test_kiosk_api import NOW, World, make_world

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = make_world(f"sqlite:///{tmp_path / 'hospital.db'}")
    yield w
    w.api.close()


def test_days_and_ticket_labels() -> None:
    assert local_day(datetime(2026, 3, 9, 16, 0, tzinfo=UTC), SHANGHAI) == date(2026, 3, 10)
    assert local_day(datetime(2026, 3, 9, 15, 59, tzinfo=UTC), SHANGHAI) == date(2026, 3, 9)
    assert day_end(date(2026, 3, 10), SHANGHAI) == datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
    assert [ticket_label("C", n) for n in (7, 123, 1234)] == ["C007", "C123", "C1234"]


def test_departments_admin_creates_clinicians_read(world: World) -> None:
    admin, nurse = world.staff(Role.ADMIN), world.staff(Role.NURSE)
    body = {
        "code": "OPH",
        "name_zh": "眼科",
        "name_en": "Ophthalmology",
        "location_zh": "门诊楼 4 层",
        "location_en": "Outpatient Building, 4F",
        "queue_prefix": "O",
    }
    created = world.client.post("/api/v1/departments", json=body, headers=admin)
    assert created.status_code == 201 and created.json()["active"] is True
    assert world.client.post("/api/v1/departments", json=body, headers=admin).status_code == 409
    assert world.client.post("/api/v1/departments", json=body, headers=nurse).status_code == 403
    bad = world.client.post(
        "/api/v1/departments", json={**body, "code": "X1", "queue_prefix": "o1"}, headers=admin
    )
    assert bad.status_code == 422
    codes = [d["code"] for d in world.client.get("/api/v1/departments", headers=nurse).json()]
    assert codes == ["CARD", "ENDO", "GIM", "LAB", "OPH", "RAD"]
    assert world.client.get("/api/v1/departments", headers=world.kiosk()).status_code == 401
    assert world.client.get("/api/v1/departments").status_code == 401


def test_clinicians_by_department(world: World) -> None:
    admin, nurse = world.staff(Role.ADMIN), world.staff(Role.NURSE)
    card = world.client.get("/api/v1/departments", headers=nurse).json()[0]["id"]
    made = world.client.post(
        "/api/v1/clinicians",
        json={"department_id": card, "name_zh": "周伟", "name_en": "Zhou Wei"},
        headers=admin,
    )
    assert made.status_code == 201
    names = world.client.get(f"/api/v1/clinicians?department_id={card}", headers=nurse).json()
    assert [c["name_en"] for c in names] == ["Li Jianguo", "Sarah Miller", "Zhou Wei"]
    assert len(world.client.get("/api/v1/clinicians", headers=nurse).json()) == 6
    missing = world.client.post(
        "/api/v1/clinicians",
        json={"department_id": 999, "name_zh": "x", "name_en": "x"},
        headers=admin,
    )
    assert missing.status_code == 404
    forbidden = world.client.post(
        "/api/v1/clinicians",
        json={"department_id": card, "name_zh": "x", "name_en": "x"},
        headers=nurse,
    )
    assert forbidden.status_code == 403


def _book(world: World, **overrides: object) -> object:
    body = {
        "patient_id": 3,
        "department_id": 1,
        "clinician_id": 1,
        "starts_at": "2026-03-10T23:30:00+08:00",
        "ends_at": "2026-03-10T23:45:00+08:00",
    } | overrides
    return world.client.post("/api/v1/appointments", json=body, headers=world.staff(Role.NURSE))


def test_booking_sets_the_visit_day_in_the_hospital_zone(world: World) -> None:
    response = _book(world, starts_at="2026-03-10T16:30:00Z", ends_at="2026-03-10T17:00:00Z")
    assert response.status_code == 201  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["visit_date"] == "2026-03-11"  # 00:30 in Shanghai
    assert (body["status"], body["queue_number"], body["ticket"]) == ("booked", None, None)


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"patient_id": 999}, 404),
        ({"department_id": 999}, 404),
        ({"clinician_id": 999}, 404),
        ({"clinician_id": 3}, 409),  # works in Endocrinology
        ({"ends_at": "2026-03-10T23:00:00+08:00"}, 422),
        ({"starts_at": "2026-03-10T23:30:00"}, 422),  # no offset
    ],
)
def test_bad_bookings(world: World, overrides: dict[str, object], status: int) -> None:
    assert _book(world, **overrides).status_code == status  # type: ignore[attr-defined]


def test_listing_filters_by_day_department_and_patient(world: World) -> None:
    nurse = world.staff(Role.NURSE)
    today = world.client.get("/api/v1/appointments?day=2026-03-10", headers=nurse).json()
    assert today["total"] == 6
    starts = [a["starts_at"] for a in today["items"]]
    assert starts == sorted(starts)
    cardiology = world.client.get(
        "/api/v1/appointments?day=2026-03-10&department_id=1", headers=nurse
    ).json()
    assert cardiology["total"] == 2
    zhang = world.client.get("/api/v1/appointments?patient_id=1", headers=nurse).json()
    assert zhang["total"] == 2
    page = world.client.get("/api/v1/appointments?limit=3&offset=6", headers=nurse).json()
    assert (page["total"], len(page["items"])) == (8, 2)
    assert world.client.get("/api/v1/appointments/999", headers=nurse).status_code == 404
    one = world.client.get("/api/v1/appointments/1", headers=nurse).json()
    assert one["patient_id"] == 1


def test_desk_check_in_shares_the_kiosk_queue_and_is_idempotent(world: World) -> None:
    nurse = world.staff(Role.NURSE)
    desk = world.client.post("/api/v1/appointments/1/check-in", headers=nurse).json()
    assert (desk["ticket"], desk["repeated"], desk["appointment"]["checked_in_by"]) == (
        "C001",
        False,
        "nurse-user",
    )
    again = world.client.post("/api/v1/appointments/1/check-in", headers=nurse).json()
    assert (again["ticket"], again["repeated"]) == ("C001", True)
    kiosk = world.client.post(
        "/api/v1/kiosk/appointments/5/check-in", headers=world.session("1000000004")
    ).json()
    assert kiosk["ticket"] == "C002"
    assert world.client.get("/api/v1/appointments/5", headers=nurse).json()["ticket"] == "C002"
    assert world.client.post("/api/v1/appointments/1/check-in").status_code == 401
    assert (
        world.client.post("/api/v1/appointments/1/check-in", headers=world.kiosk()).status_code
        == 401
    )


def test_cancel_is_idempotent_and_refused_after_check_in(world: World) -> None:
    nurse = world.staff(Role.NURSE)
    for _ in range(2):
        response = world.client.post("/api/v1/appointments/4/cancel", headers=nurse)
        assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert len(world.audit("appointments.cancel")) == 1
    world.client.post("/api/v1/appointments/1/check-in", headers=nurse)
    refused = world.client.post("/api/v1/appointments/1/cancel", headers=nurse)
    assert refused.status_code == 409
    assert world.client.post("/api/v1/appointments/99/cancel", headers=nurse).status_code == 404


def test_qr_token_is_valid_until_the_visit_day_ends(world: World) -> None:
    response = world.client.get("/api/v1/appointments/3/qr-token", headers=world.staff(Role.NURSE))
    assert response.status_code == 200
    body = response.json()
    assert datetime.fromisoformat(body["expires_at"]) == datetime(2026, 3, 10, 16, tzinfo=UTC)
    key = derive_key(world.api.settings.secret_key.get_secret_value())
    assert verify_qr_token(body["token"], key=key, now=NOW).appointment_id == 3
    scanned = world.client.post(
        "/api/v1/kiosk/identify/qr", json={"code": body["token"]}, headers=world.kiosk()
    )
    assert scanned.json()["patient"]["name_masked"] == "王*"
    assert (
        world.client.get("/api/v1/appointments/3/qr-token", headers=world.kiosk()).status_code
        == 401
    )


def test_seed_refuses_to_run_twice(world: World) -> None:
    from cloud.db import transaction
    from cloud.errors import ConflictError
    from cloud.hospital.demo_seed import seed_demo

    with pytest.raises(ConflictError), transaction(world.api.sessions) as session:
        seed_demo(session, now=NOW, zone=SHANGHAI, secret="x")


def test_seed_command_writes_a_usable_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from cloud.cli import app
    from cloud.settings import get_settings

    monkeypatch.setenv("CAREDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'seed.db'}")
    get_settings.cache_clear()
    try:
        out = tmp_path / "demo.json"
        result = CliRunner().invoke(app, ["seed", "--demo", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert "张小三" in result.output and "ckd_" in result.output
        document = json.loads(out.read_text())
        assert document["kiosk"]["device_token"].startswith("ckd_")
        assert len(document["appointments"]) == 8
        assert out.stat().st_mode & 0o077 == 0
        twice = CliRunner().invoke(app, ["seed", "--demo"])
        assert twice.exit_code == 1 and "already seeded" in twice.output
        assert CliRunner().invoke(app, ["seed"]).exit_code == 2
    finally:
        get_settings.cache_clear()


def test_demo_hospital_has_both_languages(world: World) -> None:
    departments = world.client.get("/api/v1/kiosk/departments", headers=world.kiosk()).json()
    assert all(d["name_zh"] and d["name_en"] for d in departments)
    assert timedelta(0) < NOW - datetime(2026, 3, 9, 16, tzinfo=UTC)
