"""The alert API on SQLite: list order and filters, acknowledge/resolve with notes and audit,
an alert's readings, threshold overrides and monitoring schedules, and role checks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.alerts.engine import evaluate_readings
from cloud.api.testing import ApiHarness, make_harness
from cloud.audit.models import AuditEntry
from cloud.auth.models import Role
from cloud.db import transaction
from cloud.oncall.models import PatientWard, Ward
from cloud.patients.models import Patient
from cloud.tsdb.base import ReadingPoint
from protocol.envelope import BloodPressureReading, GlucoseReading

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiHarness]:
    harness = make_harness(f"sqlite:///{tmp_path / 'api.db'}")
    yield harness
    harness.close()


def _patient(api: ApiHarness, mrn: str, ward: str | None = None) -> int:
    with transaction(api.sessions) as session:
        patient = Patient(mrn=mrn, name=mrn, birth_date=date(1950, 1, 1))
        session.add(patient)
        session.flush()
        if ward is not None:
            row = session.scalars(select(Ward).where(Ward.name == ward)).first()
            if row is None:
                row = Ward(name=ward, timezone="Asia/Shanghai")
                session.add(row)
                session.flush()
            session.add(PatientWard(patient_id=patient.id, ward_id=row.id, updated_by="t"))
        return patient.id


_seq = iter(range(1, 10_000))


def _ingest(
    api: ApiHarness, patient_id: int, *readings: BloodPressureReading | GlucoseReading
) -> None:
    """What the ingest worker does: store the points, then evaluate in the ledger transaction."""
    api.store.write([ReadingPoint.from_reading(r, patient_id) for r in readings])
    with transaction(api.sessions) as session:
        evaluate_readings(session, readings=[(r, patient_id) for r in readings], now=T0)


def bp(minutes: int, systolic: float, diastolic: float, pulse: float = 70) -> BloodPressureReading:
    return BloodPressureReading(
        gateway_id="gw1",
        device_id="bp1",
        seq=next(_seq),
        measured_at=T0 + timedelta(minutes=minutes),
        systolic_mmhg=systolic,
        diastolic_mmhg=diastolic,
        pulse_bpm=pulse,
    )


def glucose(minutes: int, value: float) -> GlucoseReading:
    return GlucoseReading(
        gateway_id="gw1", device_id="glu1", seq=next(_seq),
        measured_at=T0 + timedelta(minutes=minutes), glucose_mmol_l=value,
    )  # fmt: skip


def _list(api: ApiHarness, **params: object) -> list[dict]:  # type: ignore[type-arg]
    response = api.client.get("/api/v1/alerts", params=params, headers=api.headers(Role.NURSE))
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_list_orders_by_severity_then_age_and_filters(api: ApiHarness) -> None:
    p1 = _patient(api, "P1", ward="Cardio")
    p2 = _patient(api, "P2", ward="Endo")
    _ingest(api, p1, bp(0, 165, 90))  # warning, oldest
    _ingest(api, p2, glucose(1, 2.5))  # critical
    _ingest(api, p1, bp(2, 200, 100))  # critical, newer
    items = _list(api)
    assert [(a["patient_id"], a["rule_id"]) for a in items] == [
        (p2, "glucose.level2_low"),
        (p1, "bp.crisis"),
        (p1, "bp.high"),
    ]
    assert [a["rule_id"] for a in _list(api, severity="warning")] == ["bp.high"]
    assert [a["patient_id"] for a in _list(api, patient_id=p2)] == [p2]
    endo = api.client.get("/api/v1/wards", headers=api.headers(Role.NURSE)).json()
    endo_id = next(w["id"] for w in endo if w["name"] == "Endo")
    assert [a["patient_id"] for a in _list(api, ward_id=endo_id)] == [p2]
    assert len(_list(api, state=["open", "acknowledged"])) == 3
    assert _list(api, state="resolved") == []


def test_acknowledge_then_resolve_with_notes_audited(api: ApiHarness) -> None:
    pid = _patient(api, "P1")
    _ingest(api, pid, bp(0, 200, 100))
    (alert,) = _list(api)
    nurse = api.headers(Role.NURSE, "ann")
    ack = api.client.post(
        f"/api/v1/alerts/{alert['id']}/acknowledge", json={"note": "calling"}, headers=nurse
    )
    assert ack.status_code == 200, ack.text
    assert (ack.json()["state"], ack.json()["acknowledged_by"], ack.json()["acknowledge_note"]) == (
        "acknowledged", "ann", "calling",
    )  # fmt: skip
    other = api.client.post(
        f"/api/v1/alerts/{alert['id']}/acknowledge", json={}, headers=api.headers(Role.NURSE, "bo")
    )
    assert other.status_code == 409 and "ann" in other.json()["detail"]
    done = api.client.post(
        f"/api/v1/alerts/{alert['id']}/resolve", json={"note": "BP rechecked 150/90"}, headers=nurse
    )
    assert done.status_code == 200
    assert (done.json()["state"], done.json()["resolved_by"], done.json()["auto_resolved"]) == (
        "resolved", "ann", False,
    )  # fmt: skip
    again = api.client.post(f"/api/v1/alerts/{alert['id']}/resolve", json={}, headers=nurse)
    assert again.status_code == 409
    with api.sessions() as session:
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.target == f"alert:{alert['id']}")
            .order_by(AuditEntry.id)
        ).all()
    assert [(e.actor, e.action) for e in entries] == [
        ("system", "alerts.opened"),
        ("system", "alerts.unrouted"),  # the patient has no ward: nobody to page, audited
        ("ann", "alerts.acknowledged"),
        ("ann", "alerts.resolved"),
    ]
    assert entries[2].detail["note"] == "calling"


def test_unknown_alert_is_404_and_kiosk_is_403(api: ApiHarness) -> None:
    assert api.client.get("/api/v1/alerts/999", headers=api.headers(Role.NURSE)).status_code == 404
    assert (
        api.client.post(
            "/api/v1/alerts/999/acknowledge", json={}, headers=api.headers(Role.NURSE)
        ).status_code
        == 404
    )
    assert api.client.get("/api/v1/alerts", headers=api.headers(Role.KIOSK)).status_code == 403
    assert api.client.get("/api/v1/alerts").status_code == 401


def test_alert_readings_come_with_stored_values(api: ApiHarness) -> None:
    pid = _patient(api, "P1")
    _ingest(api, pid, bp(0, 200, 100, pulse=88), bp(5, 130, 80), bp(10, 190, 95, pulse=91))
    (alert,) = _list(api)
    readings = api.client.get(
        f"/api/v1/alerts/{alert['id']}/readings", headers=api.headers(Role.NURSE)
    )
    assert readings.status_code == 200
    body = readings.json()
    assert [r["value"] for r in body] == [200, 190]
    assert body[0]["values"]["pulse_bpm"] == 88 and body[1]["values"]["diastolic_mmhg"] == 95
    one = api.client.get(f"/api/v1/alerts/{alert['id']}", headers=api.headers(Role.NURSE)).json()
    assert one["readings_count"] == 2


def test_threshold_overrides(api: ApiHarness) -> None:
    pid = _patient(api, "P1")
    url = f"/api/v1/patients/{pid}/alert-thresholds"
    default = api.client.get(url, headers=api.headers(Role.NURSE)).json()
    assert default["overrides"] == {} and default["effective"]["bp_high_systolic"] == 160
    put = api.client.put(
        url, json={"overrides": {"bp_high_systolic": 170}}, headers=api.headers(Role.NURSE, "dr")
    )
    assert put.status_code == 200, put.text
    assert put.json()["effective"]["bp_high_systolic"] == 170 and put.json()["updated_by"] == "dr"
    bad = api.client.put(
        url, json={"overrides": {"bp_high_systolic": 200}}, headers=api.headers(Role.NURSE)
    )
    assert bad.status_code == 422 and "bp_crisis_systolic" in bad.json()["detail"]
    unknown = api.client.put(url, json={"overrides": {"nope": 1}}, headers=api.headers(Role.NURSE))
    assert unknown.status_code == 422
    _ingest(api, pid, bp(0, 165, 85))
    assert _list(api) == []  # below the patient's own threshold
    assert (
        api.client.put(url, json={"overrides": {}}, headers=api.headers(Role.KIOSK)).status_code
        == 403
    )
    assert (
        api.client.get(
            "/api/v1/patients/999/alert-thresholds", headers=api.headers(Role.NURSE)
        ).status_code
        == 404
    )
    with api.sessions() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "alerts.thresholds")
        ).one()
    assert entry.detail == {"previous": {}, "overrides": {"bp_high_systolic": 170}}


def test_monitoring_schedules(api: ApiHarness) -> None:
    pid = _patient(api, "P1")
    url = f"/api/v1/patients/{pid}/monitoring-schedules"
    body = api.client.get(url, headers=api.headers(Role.NURSE)).json()
    assert {(s["kind"], s["max_gap_minutes"], s["is_default"]) for s in body} == {
        ("blood_pressure", 26 * 60, True),
        ("glucose", 12 * 60, True),
    }
    put = api.client.put(
        f"{url}/glucose", json={"readings_per_day": 2, "grace_minutes": 60, "enabled": True},
        headers=api.headers(Role.NURSE),
    )  # fmt: skip
    assert put.status_code == 200, put.text
    glucose_schedule = next(s for s in put.json() if s["kind"] == "glucose")
    assert (glucose_schedule["max_gap_minutes"], glucose_schedule["is_default"]) == (13 * 60, False)
    assert api.client.put(f"{url}/weight", json={"readings_per_day": 1, "grace_minutes": 0},
                          headers=api.headers(Role.NURSE)).status_code == 422  # fmt: skip
