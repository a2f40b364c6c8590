"""The API's main flow on PostgreSQL: sign-in, patient, gateway, device, binding, history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import select

from cloud.api.testing import ApiHarness, make_harness
from cloud.audit.models import AuditEntry
from cloud.auth.models import Role
from cloud.db import transaction
from cloud.deadletters.service import add_dead_letter
from cloud.devices import service as devices
from cloud.devices.models import Gateway
from cloud.devices.mqtt_credentials import verify_mosquitto_hash
from cloud.tsdb.base import ReadingPoint

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def api(postgres_url: str) -> Iterator[ApiHarness]:
    harness = make_harness(postgres_url)
    yield harness
    harness.close()


def test_main_flow_on_postgres(api: ApiHarness) -> None:
    client = api.client
    api.add_user("root", Role.ADMIN, password="admin password")
    api.add_user("ann", Role.NURSE, password="nurse password")
    token = client.post(
        "/api/v1/auth/token", data={"username": "root", "password": "admin password"}
    ).json()["access_token"]
    admin = {"Authorization": f"Bearer {token}"}
    nurse_token = client.post(
        "/api/v1/auth/token", data={"username": "ann", "password": "nurse password"}
    ).json()["access_token"]
    nurse = {"Authorization": f"Bearer {nurse_token}"}

    patient = client.post(
        "/api/v1/patients",
        json={"mrn": "MRN-1", "name": "Lin Mei", "birth_date": "1948-03-02"},
        headers=admin,
    )
    assert patient.status_code == 201, patient.text
    patient_id = patient.json()["id"]
    other_id = client.post(
        "/api/v1/patients",
        json={"mrn": "MRN-2", "name": "Chen Wei", "birth_date": "1952-07-09"},
        headers=admin,
    ).json()["id"]
    duplicate = client.post(
        "/api/v1/patients",
        json={"mrn": "MRN-1", "name": "x", "birth_date": "1950-01-01"},
        headers=admin,
    )
    assert duplicate.status_code == 409

    gateway = client.post("/api/v1/gateways", json={"id": "gw-1"}, headers=admin).json()
    with api.sessions() as session:
        stored = session.get(Gateway, "gw-1")
        assert stored is not None
        assert verify_mosquitto_hash(gateway["mqtt_password"], stored.mqtt_password_hash)

    device = client.post(
        "/api/v1/gateways/gw-1/devices",
        json={"id": "bp-1", "kind": "blood_pressure", "ble_address": "aa:bb:cc:dd:ee:ff"},
        headers=admin,
    )
    assert device.status_code == 201, device.text
    for who, start in ((patient_id, T0), (other_id, T0 + timedelta(days=2))):
        bound = client.post(
            "/api/v1/devices/bp-1/bindings",
            json={"patient_id": who, "valid_from": start.isoformat()},
            headers=admin,
        )
        assert bound.status_code == 201, bound.text
    backdated = client.post(
        "/api/v1/devices/bp-1/bindings",
        json={"patient_id": patient_id, "valid_from": (T0 + timedelta(days=1)).isoformat()},
        headers=admin,
    )
    assert backdated.status_code == 409

    with transaction(api.sessions) as session:
        assert devices.gateway_devices(session, gateway_id="gw-1") == {"bp-1"}
        handover = T0 + timedelta(days=2)
        assert devices.patient_at(session, device_id="bp-1", at=T0) == patient_id
        assert devices.patient_at(session, device_id="bp-1", at=handover) == other_id
        assert (
            devices.patient_at(session, device_id="bp-1", at=handover - timedelta(microseconds=1))
            == patient_id
        )
        devices.touch_last_seen(session, gateway_id="gw-1", device_seen={"bp-1": handover})
        add_dead_letter(session, topic="t", payload=b"\x00", reason="bad", gateway_id="gw-1")

    points = [
        ReadingPoint(
            "gw-1",
            "bp-1",
            seq,
            "blood_pressure",
            T0 + timedelta(minutes=20 * seq),
            patient_id,
            {"systolic_mmhg": 120.0 + seq, "diastolic_mmhg": 80.0, "map_mmhg": 93.0},
        )
        for seq in range(6)
    ]
    api.store.write(points)
    api.store.write(points[:2])  # redelivery: idempotent
    window = f"since={quote(T0.isoformat())}&until={quote((T0 + timedelta(days=1)).isoformat())}"
    raw = client.get(f"/api/v1/patients/{patient_id}/readings?{window}", headers=nurse)
    assert raw.status_code == 200, raw.text
    assert [r["seq"] for r in raw.json()] == list(range(6))
    buckets = client.get(
        f"/api/v1/patients/{patient_id}/readings?{window}&every=1h", headers=nurse
    ).json()
    assert [b["count"] for b in buckets] == [3, 3]
    assert buckets[0]["fields"]["systolic_mmhg"] == {"min": 120.0, "mean": 121.0, "max": 122.0}

    kiosk = api.headers(Role.KIOSK)
    assert client.get(f"/api/v1/patients/{patient_id}/readings", headers=kiosk).status_code == 403
    letters = client.get("/api/v1/dead-letters", headers=admin).json()
    assert letters["items"][0]["payload_base64"] == "AA=="
    assert client.get("/readyz").status_code == 200

    with api.sessions() as session:
        actions = {(e.actor, e.action) for e in session.scalars(select(AuditEntry))}
    assert ("ann", "readings.read") in actions
    assert ("root", "devices.bind") in actions
    assert ("root", "patients.create") in actions
