"""The console's pages, read endpoints and WebSocket on SQLite (live updates through the
API's own polling loop)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from cloud.alerts.engine import evaluate_readings
from cloud.api.testing import ApiHarness, make_harness
from cloud.auth.models import Role
from cloud.db import transaction, utcnow
from cloud.notify.testing import PASSWORD, SeededWard, seed_history, seed_ward
from protocol.envelope import BloodPressureReading


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiHarness]:
    harness = make_harness(f"sqlite:///{tmp_path / 'api.db'}", console_poll_seconds=0.02)
    yield harness
    harness.close()


def open_crisis(api: ApiHarness, ward: SeededWard, seq: int = 1) -> int:
    now = utcnow()
    reading = BloodPressureReading(
        gateway_id=ward.gateway_id, device_id=ward.bp_device_id, seq=seq, measured_at=now,
        systolic_mmhg=192, diastolic_mmhg=118,
    )  # fmt: skip
    with transaction(api.sessions) as session:
        changes = evaluate_readings(session, readings=[(reading, ward.patient_id)], now=now)
    return changes[0].alert_id


def login(client: TestClient, username: str) -> str:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def two_wards(api: ApiHarness) -> tuple[SeededWard, SeededWard]:
    now = utcnow()
    first = seed_ward(api.sessions, now=now)
    second = seed_ward(api.sessions, now=now, name="Endocrinology", prefix="e-", gateway_id="gw2")
    return first, second


def test_console_page_and_static_files(api: ApiHarness) -> None:
    page = api.client.get("/console", follow_redirects=True)
    assert page.status_code == 200 and "<title>caredge</title>" in page.text
    for path in ("app.js", "chart.js", "i18n.js", "style.css"):
        assert api.client.get(f"/console/static/{path}").status_code == 200, path
    en = api.client.get("/console/static/i18n/en.json").json()
    zh = api.client.get("/console/static/i18n/zh.json").json()
    assert set(en) == set(zh) and zh["alert.acknowledge"] == "确认"


def test_nurse_sees_only_her_wards_admin_sees_all(api: ApiHarness) -> None:
    cardiology, endocrinology = two_wards(api)
    first = open_crisis(api, cardiology)
    second = open_crisis(api, endocrinology)
    ann = {"Authorization": f"Bearer {login(api.client, 'ann')}"}
    me = api.client.get("/api/v1/console/me", headers=ann).json()
    assert me["nurse_id"] == cardiology.primary_nurse_id
    assert me["ward_ids"] == [cardiology.ward_id]
    listed = api.client.get("/api/v1/console/alerts", headers=ann).json()
    assert [a["id"] for a in listed] == [first]
    assert listed[0]["patient_name"] == "王芳 Wang Fang" and listed[0]["state"] == "open"
    admin = api.client.get("/api/v1/console/alerts", headers=api.headers(Role.ADMIN)).json()
    assert {a["id"] for a in admin} == {first, second}
    kiosk = api.client.get("/api/v1/console/alerts", headers=api.headers(Role.KIOSK))
    assert kiosk.status_code == 403


def test_patient_summary_has_thresholds_and_meters(api: ApiHarness) -> None:
    ward = seed_ward(api.sessions, now=utcnow())
    headers = api.headers(Role.NURSE)
    api.client.put(f"/api/v1/patients/{ward.patient_id}/alert-thresholds",
                   json={"overrides": {"bp_high_systolic": 150}}, headers=headers)  # fmt: skip
    summary = api.client.get(f"/api/v1/console/patients/{ward.patient_id}", headers=headers)
    assert summary.status_code == 200, summary.text
    body = summary.json()
    assert body["ward"]["name"] == "Cardiology"
    assert body["thresholds"]["bp_high_systolic"] == 150
    assert body["thresholds"]["bp_crisis_systolic"] == 180
    meters = {m["device_id"]: m for m in body["meters"]}
    assert set(meters) == {ward.bp_device_id, ward.glucose_device_id}
    assert meters[ward.bp_device_id]["last_seen_at"] is not None
    assert meters[ward.bp_device_id]["battery_low"] is False
    missing = api.client.get("/api/v1/console/patients/9999", headers=headers)
    assert missing.status_code == 404


def test_aggregates_for_the_charts(api: ApiHarness) -> None:
    now = utcnow()
    ward = seed_ward(api.sessions, now=now)
    assert seed_history(api.store, ward, now=now) == 90 * 5
    buckets = api.client.get(
        f"/api/v1/patients/{ward.patient_id}/readings",
        params={"kind": "glucose", "every": "1d",
                "since": (now - timedelta(days=30)).isoformat(), "until": now.isoformat()},
        headers=api.headers(Role.NURSE),
    ).json()  # fmt: skip
    assert 29 <= len(buckets) <= 31 and buckets[0]["fields"]["glucose_mmol_l"]["mean"] > 0


def receive_until(ws: Any, wanted: str) -> dict[str, Any]:
    for _ in range(20):
        message: dict[str, Any] = ws.receive_json()
        if message["type"] == wanted:
            return message
    raise AssertionError(f"no {wanted} message")


def test_websocket_snapshot_then_live_changes(api: ApiHarness) -> None:
    cardiology, endocrinology = two_wards(api)
    before = open_crisis(api, cardiology)
    with TestClient(api.app) as client:
        token = login(client, "ann")
        with client.websocket_connect("/api/v1/console/ws") as ws:
            ws.send_json({"type": "auth", "token": token})
            hello = ws.receive_json()
            assert hello["type"] == "hello" and hello["nurse_id"] == cardiology.primary_nurse_id
            snapshot = ws.receive_json()
            assert [a["id"] for a in snapshot["alerts"]] == [before]
            open_crisis(api, endocrinology)  # another ward: not sent to ann
            glucose = BloodPressureReading(
                gateway_id=cardiology.gateway_id, device_id=cardiology.bp_device_id, seq=2,
                measured_at=utcnow(), systolic_mmhg=85, diastolic_mmhg=55,
            )  # fmt: skip
            with transaction(api.sessions) as session:
                [low] = evaluate_readings(
                    session, readings=[(glucose, cardiology.patient_id)], now=utcnow()
                )
            update = receive_until(ws, "alert")
            assert update["alert"]["id"] == low.alert_id
            assert update["alert"]["ward_id"] == cardiology.ward_id
            acked = client.post(
                f"/api/v1/alerts/{before}/acknowledge", json={"note": "on my way"},
                headers={"Authorization": f"Bearer {token}"},
            )  # fmt: skip
            assert acked.status_code == 200
            update = receive_until(ws, "alert")
            assert update["alert"]["id"] == before
            assert update["alert"]["state"] == "acknowledged"
            assert update["alert"]["acknowledge_note"] == "on my way"
            ws.send_json({"type": "ping"})
            assert receive_until(ws, "pong") == {"type": "pong"}


def test_websocket_pages_the_on_call_nurse(api: ApiHarness) -> None:
    ward = seed_ward(api.sessions, now=utcnow())
    with TestClient(api.app) as client:
        token = login(client, "ann")
        with client.websocket_connect("/api/v1/console/ws") as ws:
            ws.send_json({"type": "auth", "token": token})
            receive_until(ws, "snapshot")
            alert_id = open_crisis(api, ward)
            page = receive_until(ws, "notification")
            assert page["alert"]["id"] == alert_id
            assert (page["event"], page["level"]) == ("opened", 1)


@pytest.mark.parametrize(
    ("first_message", "code"),
    [({"type": "auth", "token": "not-a-jwt"}, 4401), ({"type": "hello"}, 4401)],
)
def test_websocket_refuses_bad_tokens(
    api: ApiHarness, first_message: dict[str, str], code: int
) -> None:
    with api.client.websocket_connect("/api/v1/console/ws") as ws:
        ws.send_json(first_message)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == code


def test_websocket_refuses_kiosk_and_gateway_roles(api: ApiHarness) -> None:
    token = api.token("kiosk-1", Role.KIOSK)
    with api.client.websocket_connect("/api/v1/console/ws") as ws:
        ws.send_json({"type": "auth", "token": token})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4403
