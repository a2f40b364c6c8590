"""Metrics and probes: dead-letter classes, the ingest recorder, the probe server, the API's
/metrics (HTTP counts, alert figures from SQL, scrape token)."""

from __future__ import annotations

import logging
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from cloud.alerts.engine import evaluate_readings
from cloud.api.testing import ApiHarness, make_harness
from cloud.auth.models import Role
from cloud.db import transaction
from cloud.errors import StoreUnavailableError
from cloud.ingest.pipeline import Inbound, decode_batch, triage
from cloud.ingest.stats import IngestStats
from cloud.observability.health import NotReadyError, flag_check, heartbeat_check, run_checks
from cloud.observability.ingest_metrics import IngestMetrics
from cloud.observability.reasons import REASON_CLASSES, reason_class
from cloud.observability.registry import exposition, scrape_allowed
from cloud.observability.server import ObservabilityServer, serve_in_background
from cloud.observability.settings import ObservabilitySettings
from cloud.oncall.models import Notification, Nurse
from cloud.patients.models import Patient
from cloud.tsdb.base import ReadingPoint
from cloud.tsdb.sql_store import SqlReadingStore
from protocol.envelope import BloodPressureReading, encode_reading

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of a Prometheus text exposition."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text)[(name, tuple(sorted(labels.items())))]


def bp(seq: int, systolic: float = 120, *, gateway: str = "gw1") -> BloodPressureReading:
    return BloodPressureReading(
        gateway_id=gateway, device_id="bp1", seq=seq, measured_at=T0 + timedelta(minutes=seq),
        systolic_mmhg=systolic, diastolic_mmhg=80, pulse_bpm=70,
    )  # fmt: skip


# -- dead-letter classes -------------------------------------------------------------------


def test_every_real_rejection_falls_into_its_class() -> None:
    """Reasons made by the real pipeline, so a reworded reason that changes class fails here."""
    topic = "caredge/v1/gw/gw1/reading"
    cases = {
        "topic": Inbound("not/a/caredge/topic", encode_reading(bp(1))),
        "too_large": Inbound(topic, b"{" + b" " * 70_000 + b"}"),
        "not_json": Inbound(topic, b"{nope"),
        "version": Inbound(topic, b'{"v": 9, "kind": "glucose"}'),
        "kind": Inbound(topic, b'{"v": 1, "kind": "weight"}'),
        "invalid": Inbound(topic, encode_reading(bp(2)).replace(b'"seq":2', b'"seq":-2')),
        "gateway_mismatch": Inbound(topic, encode_reading(bp(3, gateway="gw2"))),
        "unregistered_device": Inbound(topic, encode_reading(bp(4))),
    }
    bad_channel = Inbound("caredge/v1/gw/gw1/status", encode_reading(bp(5)))
    decoded = decode_batch([*cases.values(), bad_channel])
    result = triage(decoded, devices_by_gateway={}, stored_keys=set(), bindings={})
    by_topic_and_payload = {(r.message.topic, r.message.payload): r.reason for r in result.rejected}
    assert len(by_topic_and_payload) == len(cases) + 1
    for expected, message in cases.items():
        reason = by_topic_and_payload[(message.topic, message.payload)]
        assert reason_class(reason) == expected, reason
    assert reason_class(by_topic_and_payload[(bad_channel.topic, bad_channel.payload)]) == "topic"
    assert reason_class("could not be stored: OperationalError('x')") == "store_failure"
    assert set(cases) | {"store_failure"} == set(REASON_CLASSES)


# -- the ingest recorder -------------------------------------------------------------------


def test_ingest_metrics_export_the_stats_and_each_batch(tmp_path: Path) -> None:
    stats = IngestStats()
    connected = [False]
    metrics = IngestMetrics(stats, connected=lambda: connected[0])
    before = exposition(metrics.registry).decode()
    assert value(before, "caredge_ingest_readings_stored_total") == 0
    assert value(before, "caredge_ingest_mqtt_connected") == 0
    assert value(before, "caredge_ingest_dead_letters_by_reason_total", reason="not_json") == 0

    stats.add(received=7, stored=5, duplicates=1, dead_letters=1, batches=2, alerts_opened=1)
    connected[0] = True
    metrics.observe_batch(dead_letter_reasons=["not JSON: x"], write_seconds=0.02, lag_seconds=0.03)
    metrics.observe_batch(dead_letter_reasons=[], write_seconds=0.2, lag_seconds=-1.0)
    after = exposition(metrics.registry).decode()
    assert value(after, "caredge_ingest_messages_received_total") == 7
    assert value(after, "caredge_ingest_readings_stored_total") == 5
    assert value(after, "caredge_ingest_duplicates_total") == 1
    assert value(after, "caredge_ingest_dead_letters_total") == 1
    assert value(after, "caredge_ingest_alerts_opened_total") == 1
    assert value(after, "caredge_ingest_mqtt_connected") == 1
    assert value(after, "caredge_ingest_dead_letters_by_reason_total", reason="not_json") == 1
    assert value(after, "caredge_ingest_batch_write_seconds_count") == 2
    assert value(after, "caredge_ingest_batch_write_seconds_sum") == pytest.approx(0.22)
    assert value(after, "caredge_ingest_batch_write_seconds_bucket", le="0.025") == 1
    # A clock step never makes a negative lag.
    assert value(after, "caredge_ingest_lag_seconds_sum") == pytest.approx(0.03)
    assert value(after, "process_resident_memory_bytes") > 0


def test_two_recorders_do_not_share_a_registry() -> None:
    first, second = IngestMetrics(IngestStats()), IngestMetrics(IngestStats())
    first.observe_batch(dead_letter_reasons=[], write_seconds=1, lag_seconds=1)
    assert value(exposition(second.registry).decode(), "caredge_ingest_lag_seconds_count") == 0


class FlakyStore(SqlReadingStore):
    fail = True

    def write(self, points: object) -> None:  # type: ignore[override]
        if self.fail:
            raise StoreUnavailableError("down")
        super().write(points)  # type: ignore[arg-type]


def test_timed_store_times_writes_counts_failures_and_delegates(tmp_path: Path) -> None:
    harness = make_harness(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        metrics = IngestMetrics(IngestStats())
        inner = FlakyStore(harness.engine)
        store = metrics.timed(inner)
        assert store.writes_outside_sql is inner.writes_outside_sql
        point = ReadingPoint.from_reading(bp(1), None)
        with pytest.raises(StoreUnavailableError):
            store.write([point])
        inner.fail = False
        store.write([point])
        store.ping()
        text = exposition(metrics.registry).decode()
        assert value(text, "caredge_ingest_tsdb_write_errors_total") == 1
        assert value(text, "caredge_ingest_tsdb_write_seconds_count") == 1
    finally:
        harness.close()


# -- checks and the probe server -----------------------------------------------------------


def test_run_checks_reports_each_failure_without_raising() -> None:
    def broken() -> None:
        raise OSError("connection refused")

    ready, results = run_checks(
        {
            "db": broken,
            "mqtt": flag_check(lambda: False, "subscribed"),
            "loop": heartbeat_check(lambda: 2.0, 30, "loop"),
        }
    )
    assert not ready
    assert results == {
        "db": "unavailable: connection refused",
        "mqtt": "unavailable: not subscribed",
        "loop": "ok",
    }
    with pytest.raises(NotReadyError, match="last ran 45s ago"):
        heartbeat_check(lambda: 45.0, 30, "loop")()


def get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_probe_server_serves_metrics_health_and_readiness() -> None:
    metrics = IngestMetrics(IngestStats())
    ready = [False]
    server = ObservabilityServer(
        metrics.registry, {"mqtt": flag_check(lambda: ready[0], "subscribed")}, token="s3cret"
    )
    with server:
        base = f"http://127.0.0.1:{server.port}"
        assert get(f"{base}/healthz") == (200, '{"status": "ok"}')
        status, body = get(f"{base}/readyz")
        assert status == 503 and "not subscribed" in body
        ready[0] = True
        assert get(f"{base}/readyz")[0] == 200
        assert get(f"{base}/metrics")[0] == 401
        assert get(f"{base}/metrics", token="wrong")[0] == 401
        status, body = get(f"{base}/metrics", token="s3cret")
        assert status == 200 and "caredge_ingest_readings_stored_total 0.0" in body
        assert get(f"{base}/nothing")[0] == 404
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1)


def test_a_taken_port_leaves_the_process_running_without_metrics(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = IngestMetrics(IngestStats())
    with socket.socket() as taken, ExitStack() as stack:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        kwargs = {"host": "127.0.0.1", "port": port, "token": "", "stack": stack}
        assert serve_in_background(metrics.registry, {}, **kwargs) is None  # type: ignore[arg-type]
        assert f"cannot serve metrics on 127.0.0.1:{port}" in caplog.text
        assert serve_in_background(metrics.registry, {}, **kwargs | {"port": 0}) is None  # type: ignore[arg-type]


def test_scrape_token_comparison() -> None:
    assert scrape_allowed("", None)
    assert scrape_allowed("t", "Bearer t")
    assert not scrape_allowed("t", None)
    assert not scrape_allowed("t", "Bearer tt")
    assert not scrape_allowed("t", "t")


# -- the API's /metrics --------------------------------------------------------------------


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiHarness]:
    harness = make_harness(f"sqlite:///{tmp_path / 'api.db'}")
    yield harness
    harness.close()


def scrape(api: ApiHarness) -> str:
    response = api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def test_http_requests_are_counted_by_route_template_and_status(api: ApiHarness) -> None:
    admin = api.headers(Role.ADMIN)
    for patient_id in (1, 2, 3):
        assert api.client.get(f"/api/v1/patients/{patient_id}", headers=admin).status_code == 404
    api.client.get("/no/such/path")
    text = scrape(api)
    route = "/api/v1/patients/{patient_id}"
    assert value(text, "caredge_http_requests_total", method="GET", route=route, status="404") == 3
    assert (
        value(text, "caredge_http_requests_total", method="GET", route="<unmatched>", status="404")
        == 1
    )
    assert value(text, "caredge_http_request_seconds_count", method="GET", route=route) == 3
    assert not any("/api/v1/patients/1" in name for name in text.splitlines())


def test_alert_figures_move_with_the_database(api: ApiHarness) -> None:
    with transaction(api.sessions) as session:
        patient = Patient(mrn="M1", name="M1", birth_date=date(1950, 1, 1))
        session.add(patient)
        session.flush()
        patient_id = patient.id
    text = scrape(api)
    assert value(text, "caredge_alert_metrics_up") == 1
    assert value(text, "caredge_alerts_active", state="open", severity="critical") == 0
    assert value(text, "caredge_alerts_opened_total") == 0

    with transaction(api.sessions) as session:
        changes = evaluate_readings(session, readings=[(bp(1, systolic=200), patient_id)], now=T0)
    (alert_id,) = {change.alert_id for change in changes}
    text = scrape(api)
    assert value(text, "caredge_alerts_active", state="open", severity="critical") == 1
    assert value(text, "caredge_alerts_opened_total") == 1
    assert value(text, "caredge_alerts_acknowledged_total") == 0

    response = api.client.post(
        f"/api/v1/alerts/{alert_id}/acknowledge", json={}, headers=api.headers(Role.NURSE)
    )
    assert response.status_code == 200, response.text
    text = scrape(api)
    assert value(text, "caredge_alerts_active", state="open", severity="critical") == 0
    assert value(text, "caredge_alerts_active", state="acknowledged", severity="critical") == 1
    assert value(text, "caredge_alerts_acknowledged_total") == 1

    api.add_user("nina", Role.NURSE)
    with transaction(api.sessions) as session:
        nurse = Nurse(user_id=1, phone="+8613800000000")
        session.add(nurse)
        session.flush()
        at = T0 + timedelta(minutes=10)
        rows = [
            # One escalation step to level 2 over two channels, one repeat, one failed page.
            ("escalated", 2, "websocket", "sent", at),
            ("escalated", 2, "webhook", "failed", at),
            ("repeated", 2, "webhook", "pending", at + timedelta(minutes=15)),
            ("opened", 1, "websocket", "sent", T0),
        ]
        for event, level, channel, status, created in rows:
            session.add(
                Notification(alert_id=alert_id, nurse_id=nurse.id, channel=channel, event=event,
                             level=level, status=status, created_at=created)
            )  # fmt: skip
    text = scrape(api)
    assert value(text, "caredge_alert_escalations_total") == 2
    assert value(text, "caredge_notifications", channel="webhook", status="failed") == 1
    assert value(text, "caredge_notifications", channel="webhook", status="pending") == 1
    assert value(text, "caredge_notifications", channel="websocket", status="sent") == 2
    assert value(text, "caredge_notifications", channel="mqtt", status="failed") == 0


def test_metrics_need_the_token_when_one_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAREDGE_METRICS_TOKEN", "scrape-me")
    harness = make_harness(f"sqlite:///{tmp_path / 'api.db'}")
    try:
        refused = harness.client.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        allowed = harness.client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert allowed.status_code == 200
        assert harness.client.get("/healthz").status_code == 200
        assert harness.client.get("/readyz").status_code == 200
    finally:
        harness.close()


def test_a_database_outage_does_not_fail_the_scrape(
    api: ApiHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    api.app.state.sessionmaker.configure(bind=create_engine("sqlite:////nonexistent-dir/x.db"))
    text = scrape(api)
    assert value(text, "caredge_alert_metrics_up") == 0
    assert ("caredge_alerts_opened_total", ()) not in samples(text)
    assert "alert figures unavailable" in caplog.text


def test_compose_health_checks_probe_the_configured_ports() -> None:
    compose = yaml.safe_load(
        (Path(__file__).resolve().parents[3] / "docker-compose.yml").read_text()
    )
    defaults = ObservabilitySettings.model_fields
    for service, field in (
        ("ingest-1", "ingest_metrics_port"),
        ("ingest-2", "ingest_metrics_port"),
        ("scheduler", "scheduler_metrics_port"),
    ):
        probe = " ".join(compose["services"][service]["healthcheck"]["test"])
        assert f"127.0.0.1:{defaults[field].default}/readyz" in probe, service
    assert compose["x-caredge"]["environment"]["CAREDGE_METRICS_HOST"] == "0.0.0.0"
