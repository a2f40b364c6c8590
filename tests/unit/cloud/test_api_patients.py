"""Patient registration, lookup and listing over the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.api.testing import ApiHarness, make_harness
from cloud.audit.models import AuditEntry
from cloud.auth.models import Role


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiHarness]:
    harness = make_harness(f"sqlite:///{tmp_path / 'api.db'}")
    yield harness
    harness.close()


def _create(api: ApiHarness, mrn: str, name: str = "Lin Mei"):  # type: ignore[no-untyped-def]
    return api.client.post(
        "/api/v1/patients",
        json={"mrn": mrn, "name": name, "birth_date": "1948-03-02"},
        headers=api.headers(Role.ADMIN),
    )


def test_admin_creates_and_nurse_reads_a_patient(api: ApiHarness) -> None:
    created = _create(api, "MRN-001")
    assert created.status_code == 201
    body = created.json()
    assert body["mrn"] == "MRN-001"
    assert body["birth_date"] == "1948-03-02"
    read = api.client.get(f"/api/v1/patients/{body['id']}", headers=api.headers(Role.NURSE))
    assert read.status_code == 200
    assert read.json() == body


def test_creation_is_audited(api: ApiHarness) -> None:
    patient_id = _create(api, "MRN-001").json()["id"]
    with api.sessions() as session:
        entry = session.scalars(select(AuditEntry)).one()
    assert (entry.actor, entry.action, entry.target) == (
        "admin-user",
        "patients.create",
        f"patient:{patient_id}",
    )


def test_duplicate_mrn_is_409_and_nothing_is_written(api: ApiHarness) -> None:
    assert _create(api, "MRN-001").status_code == 201
    duplicate = _create(api, "MRN-001", name="Someone Else")
    assert duplicate.status_code == 409
    assert "MRN-001" in duplicate.json()["detail"]
    listing = api.client.get("/api/v1/patients", headers=api.headers(Role.ADMIN)).json()
    assert listing["total"] == 1
    with api.sessions() as session:
        assert len(session.scalars(select(AuditEntry)).all()) == 1


def test_unknown_patient_is_404_json(api: ApiHarness) -> None:
    response = api.client.get("/api/v1/patients/999", headers=api.headers(Role.NURSE))
    assert response.status_code == 404
    assert response.json() == {"detail": "patient 999 not found"}


@pytest.mark.parametrize(
    "body",
    [
        {"mrn": "", "name": "x", "birth_date": "1950-01-01"},
        {"mrn": "1", "name": "x", "birth_date": "not a date"},
        {"mrn": "1", "name": "x"},
        {"mrn": "1", "name": "x", "birth_date": "1950-01-01", "admin": True},
    ],
)
def test_invalid_patient_body_is_422(api: ApiHarness, body: dict[str, object]) -> None:
    response = api.client.post("/api/v1/patients", json=body, headers=api.headers(Role.ADMIN))
    assert response.status_code == 422
    assert "detail" in response.json()


def test_listing_is_paginated_by_limit_and_offset(api: ApiHarness) -> None:
    ids = [_create(api, f"MRN-{n:03}").json()["id"] for n in range(5)]
    headers = api.headers(Role.NURSE)
    page = api.client.get("/api/v1/patients?limit=2&offset=1", headers=headers).json()
    assert page["total"] == 5
    assert (page["limit"], page["offset"]) == (2, 1)
    assert [p["id"] for p in page["items"]] == ids[1:3]
    last = api.client.get("/api/v1/patients?limit=2&offset=4", headers=headers).json()
    assert [p["id"] for p in last["items"]] == ids[4:]


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "offset=-1", "limit=abc"])
def test_bad_pagination_is_422(api: ApiHarness, query: str) -> None:
    response = api.client.get(f"/api/v1/patients?{query}", headers=api.headers(Role.ADMIN))
    assert response.status_code == 422
