"""Bill arithmetic, pay links, and the staff bill API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cloud.auth.models import Role
from cloud.billing.amounts import check_line, format_amount, pay_link, totals
from tests.unit.cloud.test_kiosk_api import World, make_world


@dataclass
class Line:
    quantity: int
    unit_price_cents: int
    insurance_cents: int = 0


def test_totals_and_amounts_in_fen() -> None:
    result = totals([Line(2, 2350, 1880), Line(1, 5000, 3000)])
    assert (result.total_cents, result.insurance_cents, result.self_pay_cents) == (9700, 4880, 4820)
    assert [format_amount(c) for c in (0, 5, 12345, -250)] == ["0.00", "0.05", "123.45", "-2.50"]


@pytest.mark.parametrize("line", [Line(0, 100), Line(1, -1), Line(1, 100, 101), Line(1, 1, -1)])
def test_bad_lines(line: Line) -> None:
    with pytest.raises(ValueError):
        check_line(line)


def test_pay_link_keeps_the_providers_query_and_escapes() -> None:
    assert pay_link(
        "https://pay.example.cn/p", bill_number="B-1", amount_cents=9260, currency="CNY"
    ) == ("https://pay.example.cn/p?bill=B-1&amount=92.60&currency=CNY")
    assert pay_link(
        "https://pay.example.cn/p?m=7#x", bill_number="B 1&2", amount_cents=1, currency="CNY"
    ) == ("https://pay.example.cn/p?m=7&bill=B+1%262&amount=0.01&currency=CNY#x")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = make_world(f"sqlite:///{tmp_path / 'billing.db'}", payment_url="https://pay.example.cn/p")
    yield w
    w.api.close()


def _bill(**overrides: Any) -> dict[str, Any]:
    return {
        "number": "B-TEST-1",
        "patient_id": 3,
        "lines": [
            {
                "category": "drug",
                "description_zh": "阿司匹林肠溶片",
                "description_en": "Aspirin EC",
                "quantity": 3,
                "unit_price_cents": 1550,
                "insurance_cents": 3000,
            }
        ],
    } | overrides


def test_admin_issues_nurse_reads_admin_settles(world: World) -> None:
    admin, nurse = world.staff(Role.ADMIN), world.staff(Role.NURSE)
    created = world.client.post("/api/v1/bills", json=_bill(), headers=admin)
    assert created.status_code == 201, created.text
    bill = created.json()
    assert (bill["total_cents"], bill["insurance_cents"], bill["self_pay_cents"]) == (
        4650,
        3000,
        1650,
    )
    assert bill["lines"][0]["amount_cents"] == 4650
    assert bill["pay_url"] == "https://pay.example.cn/p?bill=B-TEST-1&amount=16.50&currency=CNY"
    assert world.client.post("/api/v1/bills", json=_bill(), headers=admin).status_code == 409
    assert (
        world.client.post("/api/v1/bills", json=_bill(number="N2"), headers=nurse).status_code
        == 403
    )
    read = world.client.get(f"/api/v1/bills/{bill['id']}", headers=nurse)
    assert read.json() == bill
    unpaid = world.client.get("/api/v1/bills?status=unpaid&patient_id=3", headers=nurse).json()
    assert [b["number"] for b in unpaid] == ["B-TEST-1"]
    assert world.client.post(f"/api/v1/bills/{bill['id']}/paid", headers=nurse).status_code == 403
    paid = world.client.post(f"/api/v1/bills/{bill['id']}/paid", headers=admin).json()
    assert (paid["status"], paid["pay_url"], paid["paid_by"]) == ("paid", None, "admin-user")
    assert world.client.post(f"/api/v1/bills/{bill['id']}/paid", headers=admin).status_code == 409
    assert [e.actor for e in world.audit("bills.paid")] == ["seed", "admin-user"]
    assert world.client.get("/api/v1/bills/999", headers=nurse).status_code == 404
    assert len(world.client.get("/api/v1/bills", headers=nurse).json()) == 4


def test_no_pay_link_without_a_provider(tmp_path: Path) -> None:
    world = make_world(f"sqlite:///{tmp_path / 'b.db'}")
    try:
        bills = world.client.get("/api/v1/kiosk/bills", headers=world.session("1000000001"))
        assert bills.json()[0]["pay_url"] is None
    finally:
        world.api.close()


@pytest.mark.parametrize(
    "overrides",
    [
        {"lines": []},
        {"number": "has space"},
        {"currency": "rmb"},
        {"lines": [{**_bill()["lines"][0], "insurance_cents": 999999}]},
        {"lines": [{**_bill()["lines"][0], "quantity": 0}]},
        {"issued_at": "2026-03-10T10:00:00"},
    ],
)
def test_invalid_bills_are_422(world: World, overrides: dict[str, Any]) -> None:
    response = world.client.post(
        "/api/v1/bills", json=_bill(**overrides), headers=world.staff(Role.ADMIN)
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("overrides", "status"), [({"patient_id": 999}, 404), ({"appointment_id": 1}, 404)]
)
def test_bills_refer_to_existing_patient_and_their_own_appointment(
    world: World, overrides: dict[str, Any], status: int
) -> None:
    response = world.client.post(
        "/api/v1/bills", json=_bill(**overrides), headers=world.staff(Role.ADMIN)
    )
    assert response.status_code == status
