"""/metrics values move as expected, on real servers (Mosquitto, PostgreSQL).

A ``caredge ingest`` process (JSON logs, metrics port) takes N readings, one duplicate and one
malformed message; its /metrics shows +N stored, +1 duplicate, +1 dead letter, +2 alerts opened.
The API's /metrics, reading the same database, shows the alerts open, then one acknowledged. The
scheduler's /metrics shows a page delivered over MQTT and a failed webhook page. The gateway's
retained status shows its outbox backlog and the meters' last-seen times.

The assertions marked ``BATCH HOOK`` need the worker to call ``IngestMetrics.observe_batch``
(the lines given in the observability report for cloud/ingest/worker.py); everything else
needs nothing beyond this module's code.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client.parser import text_string_to_metric_families

from cloud.alerts.models import Alert
from cloud.api.testing import make_harness
from cloud.auth.models import Role
from cloud.db import make_engine, make_sessionmaker, transaction, utcnow
from cloud.migrate import upgrade
from cloud.observability.settings import ObservabilitySettings
from cloud.oncall.models import Notification, Nurse
from cloud.patients.models import Patient
from cloud.scheduler_process import run_scheduler
from cloud.settings import Settings
from edge.gateway.coordinator import MeterKind, MeterStatus
from edge.outbox import Outbox
from edge.settings import GatewaySettings
from edge.uplink import Uplink
from protocol.envelope import BloodPressureReading, encode_reading
from protocol.topics import GatewayTopic
from tests.fixtures.mosquitto import Broker
from tests.fixtures.ports import free_port
from tests.support import T0, publish, reading_messages, readings, seed_home, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str, headers: dict[str, str] | None = None) -> Samples:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


@pytest.fixture
def ingest_process(
    postgres_url: str, mosquitto: Broker, tmp_path: Path
) -> Iterator[tuple[str, Path]]:
    """A ``caredge ingest`` subprocess with JSON logs: (its metrics base URL, its log file)."""
    upgrade(postgres_url)
    port = free_port()
    log = tmp_path / "ingest.log"
    env = os.environ | {
        "CAREDGE_DATABASE_URL": postgres_url,
        "CAREDGE_MQTT_URL": mosquitto.url,
        "CAREDGE_MQTT_CLIENT_ID": "ingest-metrics",
        "CAREDGE_TSDB_URL": "sql",
        "CAREDGE_INGEST_BATCH_SECONDS": "0.02",
        "CAREDGE_INGEST_METRICS_PORT": str(port),
        "CAREDGE_LOG_FORMAT": "json",
        "CAREDGE_LOG_LEVEL": "INFO",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "cloud.cli", "ingest"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: status_of(f"{base}/readyz") == 200 or process.poll() is not None, 30)
        assert process.poll() is None, log.read_text()[-3000:]
        yield base, log
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_ingest_and_api_metrics_move(
    postgres_url: str, mosquitto: Broker, ingest_process: tuple[str, Path]
) -> None:
    base, log = ingest_process
    sessions = make_sessionmaker(make_engine(postgres_url))
    seed_home(sessions, "gw1")
    assert status_of(f"{base}/healthz") == 200
    before = scrape(f"{base}/metrics")
    assert metric(before, "caredge_ingest_mqtt_connected") == 1

    crisis = BloodPressureReading(
        gateway_id="gw1", device_id="bp-gw1", seq=99, measured_at=T0 + timedelta(minutes=99),
        systolic_mmhg=200, diastolic_mmhg=110, pulse_bpm=80,
    )  # fmt: skip
    sent = [*readings("gw1", 5), crisis]
    messages = reading_messages(sent)
    messages.append(messages[0])  # a duplicate
    messages.append(("caredge/v1/gw/gw1/reading", b"{not json"))  # a malformed message
    assert publish(mosquitto.port, messages) == len(messages)

    def moved() -> Samples:
        return scrape(f"{base}/metrics")

    def delta(now: Samples, name: str, **labels: str) -> float:
        return metric(now, name, **labels) - metric(before, name, **labels)

    wait_until(lambda: delta(moved(), "caredge_ingest_messages_received_total") >= 8, 30)
    wait_until(lambda: delta(moved(), "caredge_ingest_batches_total") >= 1, 10)
    wait_until(
        lambda: (
            delta(moved(), "caredge_ingest_readings_stored_total")
            + delta(moved(), "caredge_ingest_duplicates_total")
            + delta(moved(), "caredge_ingest_dead_letters_total")
            >= 8
        ),
        30,
    )
    after = moved()
    assert delta(after, "caredge_ingest_readings_stored_total") == len(sent)
    assert delta(after, "caredge_ingest_duplicates_total") == 1
    assert delta(after, "caredge_ingest_dead_letters_total") == 1
    # The crisis reading and the level-1 hypoglycaemia of readings() (3.2 mmol/L) open alerts.
    assert delta(after, "caredge_ingest_alerts_opened_total") == 2
    assert delta(after, "caredge_ingest_tsdb_write_seconds_count") >= 1
    # BATCH HOOK: these move only once the worker calls IngestMetrics.observe_batch.
    assert delta(after, "caredge_ingest_dead_letters_by_reason_total", reason="not_json") == 1
    assert delta(after, "caredge_ingest_batch_write_seconds_count") >= 1
    assert delta(after, "caredge_ingest_lag_seconds_count") >= 1
    assert metric(after, "caredge_ingest_lag_seconds_sum") > 0

    # JSON logs: every line of the process is one JSON object.
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert any(e["message"].startswith("subscribed to $share/ingest/") for e in entries)
    assert any("dead letter" in e["message"] and e["level"] == "WARNING" for e in entries)

    # The API reads the same database: the alert are open, then one is acknowledged.
    api = make_harness(postgres_url)
    try:
        figures = scrape_api(api)
        assert metric(figures, "caredge_alerts_active", state="open", severity="critical") == 1
        assert metric(figures, "caredge_alerts_active", state="open", severity="warning") == 1
        assert metric(figures, "caredge_alerts_opened_total") == 2
        assert metric(figures, "caredge_alerts_acknowledged_total") == 0
        with sessions() as session:
            alert_id = session.query(Alert.id).filter(Alert.severity == "critical").one()[0]
        acknowledged = api.client.post(
            f"/api/v1/alerts/{alert_id}/acknowledge",
            json={"note": "called the patient"},
            headers=api.headers(Role.NURSE),
        )
        assert acknowledged.status_code == 200, acknowledged.text
        figures = scrape_api(api)
        assert metric(figures, "caredge_alerts_active", state="open", severity="critical") == 0
        assert (
            metric(figures, "caredge_alerts_active", state="acknowledged", severity="critical") == 1
        )
        assert metric(figures, "caredge_alerts_acknowledged_total") == 1
        assert metric(figures, "caredge_alerts_active", state="open", severity="warning") == 1
        route = "/api/v1/alerts/{alert_id}/acknowledge"
        assert (
            metric(figures, "caredge_http_requests_total", method="POST", route=route, status="200")
            == 1
        )
    finally:
        api.close()


def scrape_api(api) -> Samples:  # type: ignore[no-untyped-def]
    response = api.client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_scheduler_metrics_move(postgres_url: str, mosquitto: Broker) -> None:
    upgrade(postgres_url)
    sessions = make_sessionmaker(make_engine(postgres_url))
    harness = make_harness(postgres_url)
    harness.add_user("nina", Role.NURSE)
    harness.close()
    now = utcnow()
    with transaction(sessions) as session:
        patient = Patient(mrn="S1", name="S1", birth_date=date(1950, 1, 1))
        session.add(patient)
        session.flush()
        alert = Alert(
            patient_id=patient.id, rule_id="bp_crisis", active_rule_id="bp_crisis",
            severity="critical", category="bp", state="open", message_en="x", message_zh="x",
        )  # fmt: skip
        nurse = Nurse(user_id=1, phone="+8613800000000", mqtt_enabled=True)
        session.add_all([alert, nurse])
        session.flush()
        for channel in ("mqtt", "webhook"):
            session.add(
                Notification(alert_id=alert.id, nurse_id=nurse.id, channel=channel,
                             event="opened", level=1, created_at=now, next_attempt_at=now)
            )  # fmt: skip
    port = free_port()
    settings = Settings(database_url=postgres_url, mqtt_url=mosquitto.url)
    observability = ObservabilitySettings(scheduler_metrics_port=port)
    stop = threading.Event()
    thread = threading.Thread(
        target=run_scheduler,
        args=(settings, stop.is_set),
        kwargs={"observability": observability, "delivery_interval_s": 0.05},
        daemon=True,
    )
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: status_of(f"{base}/readyz") == 200, 20)

        def sent_and_failed() -> tuple[float, float]:
            samples = scrape(f"{base}/metrics")
            return (
                metric(samples, "caredge_scheduler_notifications_sent_total", channel="mqtt"),
                metric(samples, "caredge_scheduler_notifications_failed_total", channel="webhook"),
            )

        wait_until(lambda: sent_and_failed()[0] == 1 and sent_and_failed()[1] >= 1, 20)
        samples = scrape(f"{base}/metrics")
        assert metric(samples, "caredge_scheduler_timer_pass_seconds_count") >= 1
        assert metric(samples, "caredge_scheduler_last_loop_timestamp_seconds") > 0
        assert metric(samples, "caredge_scheduler_notifications_sent_total", channel="webhook") == 0
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive()
    assert status_of(f"{base}/healthz") == 0  # the probe server stopped with the scheduler


def test_gateway_status_reports_outbox_depth_age_and_meter_last_seen(
    mosquitto: Broker, tmp_path: Path
) -> None:
    """The first retained status goes out before the window fills: it shows the backlog."""
    settings = GatewaySettings(
        gateway_id="gw1",
        mqtt_url=mosquitto.url,
        outbox_path=tmp_path / "outbox.db",
        heartbeat_seconds=30,
        delivery_confirmation="broker",  # no ingest worker here to confirm
    )
    seen_at = time.time() - 42
    meter = MeterStatus(address="C0:CA:ED:00:01:01", kind=MeterKind.BLOOD_PRESSURE,
                        device_id="bp-gw1", last_seen=seen_at, battery=95)  # fmt: skip
    statuses: list[dict[str, object]] = []
    listener = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="status")
    listener.on_message = lambda _c, _u, message: statuses.append(json.loads(message.payload))
    listener.connect("127.0.0.1", mosquitto.port)
    listener.subscribe(str(GatewayTopic("gw1", "status")), qos=1)
    listener.loop_start()
    try:
        with Outbox(settings.outbox_file) as outbox:
            for reading in readings("gw1", 3):
                outbox.put("reading", str(GatewayTopic("gw1", "reading")), encode_reading(reading))
            time.sleep(0.3)  # the entries have waited a measurable time
            with Uplink(settings, outbox, lambda: {"meters": {"bp-gw1": meter.snapshot()}}) as up:
                assert up.wait_until_empty(15)
                wait_until(lambda: any(s.get("online") for s in statuses), 10)
    finally:
        listener.loop_stop()
        listener.disconnect()
    first = next(s for s in statuses if s.get("online"))
    assert first["outbox"] == {"reading": 3, "telemetry": 0}
    assert isinstance(first["outbox_oldest_age_s"], float) and first["outbox_oldest_age_s"] >= 0.3
    assert first["inflight"] == 0
    last_seen = first["meters"]["bp-gw1"]["last_seen"]  # type: ignore[index]
    assert datetime.fromisoformat(last_seen).timestamp() == pytest.approx(seen_at, abs=1e-3)
    assert statuses[-1]["online"] is False  # the clean stop's retained status
