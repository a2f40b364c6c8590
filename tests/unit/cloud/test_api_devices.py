"""Gateways, devices and bindings over the API, and the ingest-facing service functions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.api.testing import ApiHarness, make_harness
from cloud.audit.models import AuditEntry
from cloud.auth.models import Role
from cloud.db import transaction
from cloud.devices import service
from cloud.devices.models import Device, Gateway
from cloud.devices.mqtt_credentials import verify_mosquitto_hash

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiHarness]:
    harness = make_harness(f"sqlite:///{tmp_path / 'api.db'}")
    yield harness
    harness.close()


@pytest.fixture
def admin(api: ApiHarness) -> dict[str, str]:
    return api.headers(Role.ADMIN)


def _patient(api: ApiHarness, mrn: str) -> int:
    response = api.client.post(
        "/api/v1/patients",
        json={"mrn": mrn, "name": mrn, "birth_date": "1950-01-01"},
        headers=api.headers(Role.ADMIN),
    )
    return int(response.json()["id"])


def _gateway(api: ApiHarness, gateway_id: str = "gw-1") -> dict[str, str]:
    response = api.client.post(
        "/api/v1/gateways", json={"id": gateway_id}, headers=api.headers(Role.ADMIN)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _device(api: ApiHarness, device_id: str = "bp-1", gateway_id: str = "gw-1", **extra: str):  # type: ignore[no-untyped-def]
    body = {"id": device_id, "kind": "blood_pressure", "ble_address": "aa:bb:cc:dd:ee:01"} | extra
    return api.client.post(
        f"/api/v1/gateways/{gateway_id}/devices", json=body, headers=api.headers(Role.ADMIN)
    )


def _bind(api: ApiHarness, patient_id: int, valid_from: datetime | None, device: str = "bp-1"):  # type: ignore[no-untyped-def]
    body: dict[str, object] = {"patient_id": patient_id}
    if valid_from is not None:
        body["valid_from"] = valid_from.isoformat()
    return api.client.post(
        f"/api/v1/devices/{device}/bindings", json=body, headers=api.headers(Role.ADMIN)
    )


# --- gateways ---------------------------------------------------------------------------


def test_gateway_credentials_are_returned_once_and_stored_as_mosquitto_hash(
    api: ApiHarness, admin: dict[str, str]
) -> None:
    created = _gateway(api, "gw-home.42")
    assert created["mqtt_username"] == "gw-home.42"
    password = created["mqtt_password"]
    assert len(password) >= 32
    listing = api.client.get("/api/v1/gateways", headers=admin).json()
    assert listing["total"] == 1
    assert "mqtt_password" not in listing["items"][0]
    assert "mqtt_password_hash" not in listing["items"][0]
    with api.sessions() as session:
        stored = session.get(Gateway, "gw-home.42")
        assert stored is not None
        assert stored.mqtt_password_hash.startswith("$7$")
        assert password not in stored.mqtt_password_hash
        assert verify_mosquitto_hash(password, stored.mqtt_password_hash)


def test_two_gateways_get_different_passwords(api: ApiHarness) -> None:
    assert _gateway(api, "gw-1")["mqtt_password"] != _gateway(api, "gw-2")["mqtt_password"]


def test_duplicate_gateway_is_409_and_keeps_the_first_password(api: ApiHarness) -> None:
    first = _gateway(api, "gw-1")
    again = api.client.post("/api/v1/gateways", json={"id": "gw-1"}, headers=api.headers("admin"))
    assert again.status_code == 409
    with api.sessions() as session:
        gateway = session.get(Gateway, "gw-1")
        assert gateway is not None
        assert verify_mosquitto_hash(first["mqtt_password"], gateway.mqtt_password_hash)


@pytest.mark.parametrize("gateway_id", ["", "gw/1", "gw+", "#", "a" * 65, "gw 1"])
def test_gateway_id_must_be_a_topic_safe_identifier(
    api: ApiHarness, admin: dict[str, str], gateway_id: str
) -> None:
    response = api.client.post("/api/v1/gateways", json={"id": gateway_id}, headers=admin)
    assert response.status_code == 422


# --- devices ----------------------------------------------------------------------------


def test_device_registration_normalises_address_and_lists_by_gateway(
    api: ApiHarness, admin: dict[str, str]
) -> None:
    _gateway(api, "gw-1")
    _gateway(api, "gw-2")
    created = _device(api, "bp-1", model="UA-651BLE", serial="S1")
    assert created.status_code == 201, created.text
    assert created.json()["ble_address"] == "AA:BB:CC:DD:EE:01"
    assert created.json()["kind"] == "blood_pressure"
    assert _device(api, "glu-1", "gw-2", kind="glucose").status_code == 201
    listed = api.client.get("/api/v1/devices?gateway_id=gw-1", headers=admin).json()
    assert [d["id"] for d in listed["items"]] == ["bp-1"]
    everything = api.client.get("/api/v1/devices", headers=api.headers(Role.NURSE)).json()
    assert everything["total"] == 2
    unknown = api.client.get("/api/v1/devices?gateway_id=nope", headers=admin)
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    "extra",
    [
        {"ble_address": "AA:BB:CC:DD:EE"},
        {"ble_address": "AA-BB-CC-DD-EE-FF"},
        {"ble_address": "GG:BB:CC:DD:EE:FF"},
        {"kind": "thermometer"},
        {"id": "bad/id"},
    ],
)
def test_invalid_device_is_422(api: ApiHarness, extra: dict[str, str]) -> None:
    _gateway(api)
    assert _device(api, **extra).status_code == 422


def test_device_conflicts_and_unknown_gateway(api: ApiHarness) -> None:
    assert _device(api, gateway_id="missing").status_code == 404
    _gateway(api)
    assert _device(api, "bp-1").status_code == 201
    assert _device(api, "bp-1", ble_address="AA:BB:CC:DD:EE:02").status_code == 409
    same_address = _device(api, "bp-2")
    assert same_address.status_code == 409
    assert "bp-1" in same_address.json()["detail"]


def test_gateway_devices_lists_only_that_gateway(api: ApiHarness) -> None:
    _gateway(api, "gw-1")
    _gateway(api, "gw-2")
    _device(api, "bp-1", "gw-1")
    _device(api, "glu-1", "gw-1", kind="glucose", ble_address="AA:BB:CC:DD:EE:02")
    _device(api, "bp-9", "gw-2")
    with api.sessions() as session:
        assert service.gateway_devices(session, gateway_id="gw-1") == {"bp-1", "glu-1"}
        assert service.gateway_devices(session, gateway_id="unknown") == set()


def test_touch_last_seen_only_moves_forward(api: ApiHarness) -> None:
    _gateway(api, "gw-1")
    _gateway(api, "gw-2")
    _device(api, "bp-1", "gw-1")
    _device(api, "bp-2", "gw-2")
    with transaction(api.sessions) as session:
        service.touch_last_seen(session, gateway_id="gw-1", device_seen={"bp-1": T0})
    with transaction(api.sessions) as session:
        service.touch_last_seen(
            session,
            gateway_id="gw-1",
            device_seen={"bp-1": T0 - timedelta(hours=1), "bp-2": T0 + timedelta(hours=5)},
        )
    with api.sessions() as session:
        assert session.get(Device, "bp-1").last_seen_at == T0  # type: ignore[union-attr]
        # bp-2 belongs to gw-2: gw-1 cannot touch it (but its time still counts for gw-1).
        assert session.get(Device, "bp-2").last_seen_at is None  # type: ignore[union-attr]
        assert session.get(Gateway, "gw-1").last_seen_at == T0 + timedelta(hours=5)  # type: ignore[union-attr]
        assert session.get(Gateway, "gw-2").last_seen_at is None  # type: ignore[union-attr]


def test_touch_last_seen_many_gateways_at_once(api: ApiHarness) -> None:
    _gateway(api, "gw-1")
    _gateway(api, "gw-2")
    _device(api, "bp-1", "gw-1")
    _device(api, "glu-1", "gw-1", kind="glucose", ble_address="AA:BB:CC:DD:EE:02")
    _device(api, "bp-2", "gw-2")
    with transaction(api.sessions) as session:
        service.touch_last_seen_many(
            session, {"gw-1": {"bp-1": T0}, "gw-2": {"bp-2": T0 + timedelta(minutes=1)}}
        )
    with transaction(api.sessions) as session:
        service.touch_last_seen_many(
            session,
            {
                "gw-1": {"bp-1": T0 - timedelta(hours=1), "glu-1": T0 + timedelta(hours=2)},
                "gw-2": {"bp-2": T0},
            },
        )
    with api.sessions() as session:
        seen = {
            name: session.get(model, name).last_seen_at  # type: ignore[union-attr]
            for model, name in (
                (Device, "bp-1"),
                (Device, "glu-1"),
                (Device, "bp-2"),
                (Gateway, "gw-1"),
                (Gateway, "gw-2"),
            )
        }
    assert seen == {
        "bp-1": T0,
        "glu-1": T0 + timedelta(hours=2),
        "bp-2": T0 + timedelta(minutes=1),
        "gw-1": T0 + timedelta(hours=2),
        "gw-2": T0 + timedelta(minutes=1),
    }


# --- bindings ---------------------------------------------------------------------------


def test_binding_defaults_to_now_and_rebinding_closes_the_open_one(
    api: ApiHarness, admin: dict[str, str]
) -> None:
    _gateway(api)
    _device(api)
    first, second = _patient(api, "A"), _patient(api, "B")
    before = datetime.now(UTC)
    opened = _bind(api, first, None)
    assert opened.status_code == 201, opened.text
    started = datetime.fromisoformat(opened.json()["valid_from"])
    assert before - timedelta(seconds=1) <= started <= datetime.now(UTC)
    handover = started + timedelta(hours=1)
    assert _bind(api, second, handover).status_code == 201
    bindings = api.client.get("/api/v1/devices/bp-1/bindings", headers=admin).json()
    assert [(b["patient_id"], b["valid_until"]) for b in bindings] == [
        (first, handover.isoformat().replace("+00:00", "Z")),
        (second, None),
    ]


def test_patient_at_boundaries(api: ApiHarness) -> None:
    _gateway(api)
    _device(api)
    first, second = _patient(api, "A"), _patient(api, "B")
    handover = T0 + timedelta(days=3)
    assert _bind(api, first, T0).status_code == 201
    assert _bind(api, second, handover).status_code == 201
    micro = timedelta(microseconds=1)
    with api.sessions() as session:

        def owner(at: datetime) -> int | None:
            return service.patient_at(session, device_id="bp-1", at=at)

        assert owner(T0 - micro) is None
        assert owner(T0) == first
        assert owner(handover - micro) == first
        assert owner(handover) == second
        assert owner(handover + timedelta(days=1000)) == second
        assert owner(handover.astimezone(timezone(timedelta(hours=8)))) == second
        assert service.patient_at(session, device_id="other", at=handover) is None
        with pytest.raises(ValueError):
            owner(datetime(2025, 3, 1))


def test_backdated_and_overlapping_bindings_are_409(api: ApiHarness) -> None:
    _gateway(api)
    _device(api)
    a, b, c = _patient(api, "A"), _patient(api, "B"), _patient(api, "C")
    assert _bind(api, a, T0).status_code == 201
    assert _bind(api, b, T0 + timedelta(days=10)).status_code == 201
    # at or before the open binding's start
    at_start = _bind(api, c, T0 + timedelta(days=10))
    assert at_start.status_code == 409
    assert "must start after" in at_start.json()["detail"]
    # inside the closed binding of A (backdating)
    backdated = _bind(api, c, T0 + timedelta(days=5))
    assert backdated.status_code == 409
    assert "overlap" in backdated.json()["detail"]
    # the same patient again
    assert _bind(api, b, T0 + timedelta(days=11)).status_code == 409
    with api.sessions() as session:
        assert service.patient_at(session, device_id="bp-1", at=T0 + timedelta(days=20)) == b


def test_binding_unknowns_are_404_and_naive_time_is_422(api: ApiHarness) -> None:
    _gateway(api)
    _device(api)
    patient = _patient(api, "A")
    assert _bind(api, patient, T0, device="nope").status_code == 404
    assert _bind(api, 999, T0).status_code == 404
    naive = api.client.post(
        "/api/v1/devices/bp-1/bindings",
        json={"patient_id": patient, "valid_from": "2025-03-01T08:00:00"},
        headers=api.headers(Role.ADMIN),
    )
    assert naive.status_code == 422


def test_registrations_and_bindings_are_audited(api: ApiHarness) -> None:
    _gateway(api)
    _device(api)
    patient = _patient(api, "A")
    _bind(api, patient, T0)
    with api.sessions() as session:
        actions = [(e.action, e.target) for e in session.scalars(select(AuditEntry))]
    assert ("gateways.create", "gateway:gw-1") in actions
    assert ("devices.create", "device:bp-1") in actions
    assert ("devices.bind", "device:bp-1") in actions
