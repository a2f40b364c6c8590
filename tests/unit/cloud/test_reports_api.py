"""Abnormal flags, and filing and reading reports over the staff API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.auth.models import Role
from cloud.reports.flags import flag_for, reference_text
from tests.unit.cloud.test_kiosk_api import World, make_world


@pytest.mark.parametrize(
    ("value", "low", "high", "flag"),
    [
        (7.8, 3.9, 6.1, "H"),
        (6.1, 3.9, 6.1, ""),
        (3.9, 3.9, 6.1, ""),
        (3.5, 3.9, 6.1, "L"),
        (9.0, None, 5.2, "H"),
        (0.1, 1.0, None, "L"),
        (5.0, None, None, ""),
        (None, 1.0, 2.0, ""),
    ],
)
def test_flags(value: float | None, low: float | None, high: float | None, flag: str) -> None:
    assert flag_for(value, low, high) == flag


def test_reference_text() -> None:
    assert [reference_text(*r) for r in ((3.9, 6.1), (None, 5.2), (1.0, None), (None, None))] == [
        "3.9–6.1",
        "<5.2",
        ">1",
        "",
    ]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = make_world(f"sqlite:///{tmp_path / 'reports.db'}")
    yield w
    w.api.close()


def _lab(**overrides: Any) -> dict[str, Any]:
    return {
        "patient_id": 3,
        "kind": "lab",
        "title_zh": "血常规",
        "title_en": "Complete blood count",
        "reported_at": "2026-03-10T09:00:00+08:00",
        "department_id": 4,
        "items": [
            {
                "code": "WBC",
                "name_zh": "白细胞计数",
                "name_en": "White blood cells",
                "value": 11.2,
                "unit": "10^9/L",
                "ref_low": 3.5,
                "ref_high": 9.5,
            },
            {
                "code": "HBSAG",
                "name_zh": "乙肝表面抗原",
                "name_en": "HBsAg",
                "value_text": "阳性 (+)",
                "ref_text": "阴性",
                "flag": "A",
            },
        ],
    } | overrides


def test_clinicians_file_lab_and_imaging_reports(world: World) -> None:
    nurse = world.staff(Role.NURSE)
    lab = world.client.post("/api/v1/reports", json=_lab(), headers=nurse)
    assert lab.status_code == 201, lab.text
    body = lab.json()
    assert [i["flag"] for i in body["items"]] == ["H", "A"]
    assert body["items"][0]["ref_text"] == "3.5–9.5"
    assert (body["abnormal_count"], body["printed_count"]) == (2, 0)
    assert body["department_name_en"] == "Laboratory"
    imaging = world.client.post(
        "/api/v1/reports",
        json={
            "patient_id": 3,
            "kind": "imaging",
            "title_zh": "腹部超声",
            "title_en": "Abdominal ultrasound",
            "reported_at": "2026-03-10T09:30:00+08:00",
            "modality": "US",
            "findings": "肝脏大小形态正常。",
            "impression": "未见明显异常。",
        },
        headers=world.staff(Role.ADMIN),
    )
    assert imaging.status_code == 201
    listed = world.client.get("/api/v1/reports?patient_id=3", headers=nurse).json()
    assert [r["title_en"] for r in listed] == ["Abdominal ultrasound", "Complete blood count"]
    only_lab = world.client.get("/api/v1/reports?patient_id=3&kind=lab", headers=nurse).json()
    assert len(only_lab) == 1
    assert world.client.get(f"/api/v1/reports/{body['id']}", headers=nurse).json() == body
    assert world.client.get("/api/v1/reports/999", headers=nurse).status_code == 404
    assert world.client.get("/api/v1/reports/999/print-jobs", headers=nurse).status_code == 404
    assert world.client.get(f"/api/v1/reports/{body['id']}/print-jobs", headers=nurse).json() == []
    assert len(world.audit("reports.create")) == 7  # five seeded, two here


def _item(**overrides: Any) -> dict[str, Any]:
    return {**_lab()["items"][0], **overrides}


@pytest.mark.parametrize(
    "overrides",
    [
        {"items": []},
        {"items": [_item(value=None)]},
        {"items": [_item(value_text="high")]},
        {"items": [_item(ref_low=10, ref_high=1)]},
        {"items": [_item(flag="H")]},
        {"items": [_item(value=None, value_text="x", flag="Z")]},
        {"findings": "lab reports have no findings"},
        {"kind": "imaging"},
        {"kind": "xray"},
        {"reported_at": "2026-03-10T09:00:00"},
    ],
)
def test_invalid_reports_are_422(world: World, overrides: dict[str, Any]) -> None:
    response = world.client.post(
        "/api/v1/reports", json=_lab(**overrides), headers=world.staff(Role.NURSE)
    )
    assert response.status_code == 422


def test_nan_values_are_refused(world: World) -> None:
    body = _lab(items=[_item(value="NaN")])
    response = world.client.post("/api/v1/reports", json=body, headers=world.staff(Role.NURSE))
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"patient_id": 999}, 404),
        ({"appointment_id": 1}, 404),
        ({"department_id": 99}, 404),
        ({"clinician_id": 99}, 404),
    ],
)
def test_reports_refer_to_existing_things(
    world: World, overrides: dict[str, Any], status: int
) -> None:
    response = world.client.post(
        "/api/v1/reports", json=_lab(**overrides), headers=world.staff(Role.NURSE)
    )
    assert response.status_code == status


@pytest.mark.parametrize("role", [Role.KIOSK, Role.GATEWAY])
def test_device_accounts_cannot_file_or_read_reports(world: World, role: Role) -> None:
    headers = world.staff(role)
    assert world.client.post("/api/v1/reports", json=_lab(), headers=headers).status_code == 403
    assert world.client.get("/api/v1/reports", headers=headers).status_code == 403
