"""The on-call API on SQLite: wards, nurses, shifts with local times, policies, lookups."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.api.testing import ApiHarness, make_harness
from cloud.auth.models import Role, User
from cloud.db import transaction
from cloud.patients.models import Patient


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiHarness]:
    harness = make_harness(f"sqlite:///{tmp_path / 'api.db'}")
    yield harness
    harness.close()


def _user_id(api: ApiHarness, username: str, role: Role = Role.NURSE) -> int:
    api.add_user(username, role, display_name=username.title())
    with api.sessions() as session:
        return session.scalars(select(User.id).where(User.username == username)).one()


def test_ward_nurse_shift_and_on_call(api: ApiHarness) -> None:
    admin = api.headers(Role.ADMIN)
    ward = api.client.post(
        "/api/v1/wards", json={"name": "Cardiology", "timezone": "Asia/Shanghai"}, headers=admin
    )
    assert ward.status_code == 201, ward.text
    ward_id = ward.json()["id"]
    assert (
        api.client.post(
            "/api/v1/wards", json={"name": "X", "timezone": "Nowhere/City"}, headers=admin
        ).status_code
        == 422
    )
    assert (
        api.client.post(
            "/api/v1/wards", json={"name": "Cardiology", "timezone": "UTC"}, headers=admin
        ).status_code
        == 409
    )
    nurse = api.client.post(
        "/api/v1/nurses",
        json={
            "user_id": _user_id(api, "ann"),
            "ward_id": ward_id,
            "phone": "+8613800000001",
            "mqtt_enabled": True,
        },
        headers=admin,
    )
    assert nurse.status_code == 201, nurse.text
    assert nurse.json()["mqtt_topic"] == f"caredge/v1/nurse/{nurse.json()['id']}/alerts"
    assert nurse.json()["display_name"] == "Ann"
    kiosk_user = _user_id(api, "kiosk1", Role.KIOSK)
    assert (
        api.client.post("/api/v1/nurses", json={"user_id": kiosk_user}, headers=admin).status_code
        == 409
    )
    # 07:00 to 19:00 in Shanghai is 23:00 to 11:00 UTC.
    shift = api.client.post(
        "/api/v1/shifts",
        json={"ward_id": ward_id, "nurse_id": nurse.json()["id"], "tier": 1,
              "starts_at": "2026-03-02T07:00:00+08:00", "ends_at": "2026-03-02T19:00:00+08:00"},
        headers=admin,
    )  # fmt: skip
    assert shift.status_code == 201, shift.text
    assert shift.json()["starts_at"].startswith("2026-03-01T23:00:00")
    assert shift.json()["starts_local"] == "2026-03-02T07:00:00+08:00"
    on_call = api.client.get(
        f"/api/v1/wards/{ward_id}/on-call",
        params={"at": "2026-03-02T10:00:00Z"},
        headers=api.headers(Role.NURSE),
    )
    assert on_call.status_code == 200, on_call.text
    assert [(o["nurse"]["username"], o["tier"]) for o in on_call.json()] == [("ann", 1)]
    after = api.client.get(
        f"/api/v1/wards/{ward_id}/on-call",
        params={"at": "2026-03-02T11:00:00Z"},
        headers=api.headers(Role.NURSE),
    )
    assert after.json() == []  # the handover instant belongs to the next shift
    bad = api.client.post(
        "/api/v1/shifts",
        json={"ward_id": ward_id, "nurse_id": nurse.json()["id"],
              "starts_at": "2026-03-02T19:00:00+08:00", "ends_at": "2026-03-02T07:00:00+08:00"},
        headers=admin,
    )  # fmt: skip
    assert bad.status_code == 422
    assert (
        api.client.post(
            "/api/v1/wards", json={"name": "Y", "timezone": "UTC"}, headers=api.headers(Role.NURSE)
        ).status_code
        == 403
    )
    assert api.client.delete(f"/api/v1/wards/{ward_id}", headers=admin).status_code == 409


def test_escalation_policies_and_ward_assignment(api: ApiHarness) -> None:
    admin = api.headers(Role.ADMIN)
    policy = {
        "name": "fast",
        "levels": [{"tier": 1, "delay_minutes": 0, "critical_delay_minutes": 0},
                   {"tier": 2, "delay_minutes": 10, "critical_delay_minutes": 2}],
        "repeat_minutes": 10, "critical_repeat_minutes": 2, "is_default": True,
    }  # fmt: skip
    created = api.client.post("/api/v1/escalation-policies", json=policy, headers=admin)
    assert created.status_code == 201, created.text
    policy_id = created.json()["id"]
    assert (
        api.client.post(
            "/api/v1/escalation-policies", json={**policy, "levels": []}, headers=admin
        ).status_code
        == 422
    )
    half_minute = [{"tier": 1, "delay_minutes": 0, "critical_delay_minutes": 0},
                   {"tier": 2, "delay_minutes": 0.5, "critical_delay_minutes": 0.25}]  # fmt: skip
    replaced = api.client.put(
        f"/api/v1/escalation-policies/{policy_id}",
        json={**policy, "repeat_minutes": 30, "levels": half_minute},
        headers=admin,
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["repeat_minutes"] == 30
    assert replaced.json()["levels"][1]["critical_delay_minutes"] == 0.25
    bad = [{**half_minute[1], "delay_minutes": -1}]
    assert (
        api.client.put(
            f"/api/v1/escalation-policies/{policy_id}", json={**policy, "levels": bad},
            headers=admin,
        ).status_code
        == 422
    )  # fmt: skip
    ward = api.client.post(
        "/api/v1/wards",
        json={"name": "Endo", "timezone": "Europe/Berlin", "escalation_policy_id": policy_id},
        headers=admin,
    ).json()
    assert (
        api.client.delete(f"/api/v1/escalation-policies/{policy_id}", headers=admin).status_code
        == 409
    )
    patched = api.client.patch(
        f"/api/v1/wards/{ward['id']}", json={"escalation_policy_id": None}, headers=admin
    )
    assert patched.json()["escalation_policy_id"] is None
    assert (
        api.client.delete(f"/api/v1/escalation-policies/{policy_id}", headers=admin).status_code
        == 204
    )
    with transaction(api.sessions) as session:
        patient = Patient(mrn="P1", name="P1", birth_date=date(1950, 1, 1))
        session.add(patient)
        session.flush()
        pid = patient.id
    assigned = api.client.put(
        f"/api/v1/patients/{pid}/ward", json={"ward_id": ward["id"]}, headers=admin
    )
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["ward_id"] == ward["id"]
    assert (
        api.client.put(
            "/api/v1/patients/999/ward", json={"ward_id": ward["id"]}, headers=admin
        ).status_code
        == 404
    )


def test_rota_follows_the_ward_clock(api: ApiHarness) -> None:
    admin = api.headers(Role.ADMIN)
    ward = api.client.post(
        "/api/v1/wards", json={"name": "Berlin", "timezone": "Europe/Berlin"}, headers=admin
    ).json()
    nurse = api.client.post(
        "/api/v1/nurses",
        json={"user_id": _user_id(api, "ann"), "ward_id": ward["id"]},
        headers=admin,
    ).json()
    rota = api.client.post(
        "/api/v1/shifts/rota",
        json={"ward_id": ward["id"], "nurse_id": nurse["id"], "first_day": "2026-03-28",
              "days": 2, "start": "19:00", "end": "07:00"},
        headers=admin,
    )  # fmt: skip
    assert rota.status_code == 201, rota.text
    assert [(s["starts_local"], s["ends_local"]) for s in rota.json()] == [
        ("2026-03-28T19:00:00+01:00", "2026-03-29T07:00:00+02:00"),
        ("2026-03-29T19:00:00+02:00", "2026-03-30T07:00:00+02:00"),
    ]
    listed = api.client.get(
        "/api/v1/shifts", params={"ward_id": ward["id"]}, headers=api.headers(Role.NURSE)
    )
    assert len(listed.json()) == 2
