"""A patient's reading history over the API: raw, in buckets, window rules, audit, outages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, select

from cloud.api.testing import ApiHarness, make_harness
from cloud.audit.models import AuditEntry
from cloud.auth.models import Role
from cloud.errors import StoreUnavailableError
from cloud.tsdb.base import ReadingPoint
from cloud.tsdb.sql_store import SqlReadingStore


class SwitchableStore(SqlReadingStore):
    """The SQL store, unless ``down`` is set: then it fails like an unreachable TSDB."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.down = False

    def query(self, **kwargs):  # type: ignore[no-untyped-def, override]
        if self.down:
            raise StoreUnavailableError("connection refused")
        return super().query(**kwargs)

    def ping(self) -> None:
        if self.down:
            raise StoreUnavailableError("connection refused")
        super().ping()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiHarness]:
    from cloud.db import make_engine

    url = f"sqlite:///{tmp_path / 'api.db'}"
    harness = make_harness(url, store=SwitchableStore(make_engine(url)))
    yield harness
    harness.close()


@pytest.fixture
def patient(api: ApiHarness) -> int:
    response = api.client.post(
        "/api/v1/patients",
        json={"mrn": "MRN-1", "name": "Lin Mei", "birth_date": "1948-03-02"},
        headers=api.headers(Role.ADMIN),
    )
    return int(response.json()["id"])


NOW = datetime.now(UTC).replace(microsecond=0)


def _bp(patient: int, at: datetime, seq: int, systolic: float) -> ReadingPoint:
    values = {
        "systolic_mmhg": systolic,
        "diastolic_mmhg": 80.0,
        "map_mmhg": 95.0,
        "pulse_bpm": 70.0,
    }
    return ReadingPoint("gw-1", "bp-1", seq, "blood_pressure", at, patient, values)


def _glucose(patient: int, at: datetime, seq: int, mmol: float) -> ReadingPoint:
    return ReadingPoint("gw-1", "glu-1", seq, "glucose", at, patient, {"glucose_mmol_l": mmol})


def _get(api: ApiHarness, patient: int, query: str = "", role: Role = Role.NURSE):  # type: ignore[no-untyped-def]
    return api.client.get(f"/api/v1/patients/{patient}/readings?{query}", headers=api.headers(role))


def _q(value: datetime) -> str:
    return quote(value.isoformat())


def test_raw_readings_of_the_last_seven_days_by_default(api: ApiHarness, patient: int) -> None:
    api.store.write(
        [
            _bp(patient, NOW - timedelta(days=8), 1, 150),  # outside the default window
            _bp(patient, NOW - timedelta(days=2), 2, 130),
            _glucose(patient, NOW - timedelta(days=1), 1, 6.1),
            _bp(patient + 1, NOW - timedelta(days=1), 3, 200),  # someone else's
        ]
    )
    response = _get(api, patient)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(r["kind"], r["seq"]) for r in body] == [("blood_pressure", 2), ("glucose", 1)]
    assert body[0] == {
        "gateway_id": "gw-1",
        "device_id": "bp-1",
        "seq": 2,
        "kind": "blood_pressure",
        "measured_at": (NOW - timedelta(days=2)).isoformat().replace("+00:00", "Z"),
        "values": {"systolic_mmhg": 130, "diastolic_mmhg": 80, "map_mmhg": 95, "pulse_bpm": 70},
    }
    assert body[1]["values"] == {"glucose_mmol_l": 6.1}


def test_kind_since_and_until_filter_half_open(api: ApiHarness, patient: int) -> None:
    t = datetime(2025, 3, 1, tzinfo=UTC)
    api.store.write([_bp(patient, t + timedelta(hours=h), h, 120 + h) for h in range(6)])
    api.store.write([_glucose(patient, t + timedelta(hours=1), 99, 5.0)])
    query = (
        f"kind=blood_pressure&since={_q(t + timedelta(hours=1))}&until={_q(t + timedelta(hours=4))}"
    )
    body = _get(api, patient, query).json()
    assert [r["seq"] for r in body] == [1, 2, 3]
    # the same instant written with another offset and with Z
    zulu = _get(api, patient, "since=2025-03-01T01:00:00Z&until=2025-03-01T12:00:00%2B08:00")
    assert [r["seq"] for r in zulu.json()] == [1, 99, 2, 3]


def test_aggregated_buckets(api: ApiHarness, patient: int) -> None:
    t = datetime(2025, 3, 1, 10, tzinfo=UTC)
    api.store.write(
        [
            _bp(patient, t + timedelta(minutes=5), 1, 120),
            _bp(patient, t + timedelta(minutes=40), 2, 140),
            _bp(patient, t + timedelta(minutes=70), 3, 160),
            _glucose(patient, t + timedelta(minutes=10), 1, 5.0),
        ]
    )
    query = f"since={_q(t - timedelta(days=1))}&until={_q(t + timedelta(days=1))}&every=1h"
    response = _get(api, patient, query)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(b["start"], b["kind"], b["count"]) for b in body] == [
        ("2025-03-01T10:00:00Z", "blood_pressure", 2),
        ("2025-03-01T10:00:00Z", "glucose", 1),
        ("2025-03-01T11:00:00Z", "blood_pressure", 1),
    ]
    assert body[0]["fields"]["systolic_mmhg"] == {"min": 120, "mean": 130, "max": 140}
    assert body[1]["fields"] == {"glucose_mmol_l": {"min": 5.0, "mean": 5.0, "max": 5.0}}
    daily = _get(api, patient, query.replace("every=1h", "every=1d&kind=glucose")).json()
    assert [(b["start"], b["count"]) for b in daily] == [("2025-03-01T00:00:00Z", 1)]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("since=2025-03-01T00:00:00", "UTC offset"),
        ("until=2025-03-01T00:00:00", "UTC offset"),
        ("since=yesterday", "ISO 8601"),
        ("since=2025-03-01T00:00:00+08:00", "%2B"),  # an unencoded + arrives as a space
        ("since=2024-01-01T00:00:00Z&until=2025-03-01T00:00:00Z", "at most 400 days"),
        ("since=2025-03-02T00:00:00Z&until=2025-03-01T00:00:00Z", "before until"),
        ("since=2025-03-01T00:00:00Z&until=2025-03-01T00:00:00Z", "before until"),
        ("every=30s", "at least 1m"),
        ("every=1hour", "e.g. 15m"),
        ("every=0m", "e.g. 15m"),
    ],
)
def test_bad_query_parameters_are_422_with_a_clear_detail(
    api: ApiHarness, patient: int, query: str, fragment: str
) -> None:
    response = _get(api, patient, query)
    assert response.status_code == 422
    assert fragment in response.json()["detail"]


def test_unknown_kind_is_422(api: ApiHarness, patient: int) -> None:
    assert _get(api, patient, "kind=temperature").status_code == 422


def test_exactly_400_days_is_allowed(api: ApiHarness, patient: int) -> None:
    until = datetime(2025, 3, 1, tzinfo=UTC)
    query = f"since={_q(until - timedelta(days=400))}&until={_q(until)}"
    assert _get(api, patient, query).status_code == 200


def test_unknown_patient_is_404(api: ApiHarness) -> None:
    response = _get(api, 4242)
    assert response.status_code == 404
    assert response.json() == {"detail": "patient 4242 not found"}


def test_store_outage_is_503_with_readable_detail(api: ApiHarness, patient: int) -> None:
    api.store.down = True  # type: ignore[attr-defined]
    response = _get(api, patient)
    assert response.status_code == 503
    assert "reading store unavailable" in response.json()["detail"]
    assert "Retry-After" in response.headers


def test_each_read_is_audited(api: ApiHarness, patient: int) -> None:
    _get(api, patient, "kind=glucose&every=1d")
    _get(api, patient, role=Role.ADMIN)
    with api.sessions() as session:
        entries = [e for e in session.scalars(select(AuditEntry)) if e.action == "readings.read"]
    assert [(e.actor, e.target) for e in entries] == [
        ("nurse-user", f"patient:{patient}"),
        ("admin-user", f"patient:{patient}"),
    ]
    assert entries[0].detail["kind"] == "glucose"
    assert entries[0].detail["every"] == "1d"


def test_failed_reads_leave_no_audit_entry(api: ApiHarness, patient: int) -> None:
    api.store.down = True  # type: ignore[attr-defined]
    _get(api, patient)
    with api.sessions() as session:
        actions = [e.action for e in session.scalars(select(AuditEntry))]
    assert "readings.read" not in actions
