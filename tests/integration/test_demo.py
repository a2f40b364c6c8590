"""The demo: embedded broker and publisher against real paho clients, then the whole system:
simulated meters read by real gateways, ingest, alerts, console."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud.db import make_engine
from cloud.demo.broker import MQTT_PROTOCOL, EmbeddedBroker
from cloud.demo.publisher import DemoPublisher, PublisherError
from cloud.demo.run import DB_NAME, DemoSystem, run_demo
from cloud.demo.scenario import CRISIS_BP, PATIENTS, MalformedPayload, Scenario
from cloud.demo.seed import ADMIN_USERNAME, BACKUP_NURSE_USERNAME, NURSE_USERNAME
from cloud.settings import Settings
from cloud.tsdb.sql_store import SqlReadingStore
from protocol.envelope import BloodPressureReading, GlucoseReading, encode_reading
from protocol.topics import INGEST_SUBSCRIPTION, READING_WILDCARD
from tests.fixtures.mosquitto import Broker as MosquittoBroker
from tests.fixtures.ports import free_port

pytestmark = pytest.mark.integration

END = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as running:
        yield running


class Subscriber:
    """A plain paho MQTT 3.1.1 subscriber that records every payload it receives."""

    def __init__(self, broker: EmbeddedBroker, topic: str, client_id: str = "test-sub") -> None:
        self.payloads: list[bytes] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
        )
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "no SUBACK"

    def _on_message(self, client, userdata, message) -> None:  # type: ignore[no-untyped-def]
        with self._lock:
            self.payloads.append(message.payload)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.payloads) >= count:
                    return list(self.payloads)
            time.sleep(0.05)
        with self._lock:
            return list(self.payloads)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _payload(item: object) -> bytes:
    if isinstance(item, MalformedPayload):
        return item.payload
    return encode_reading(item)  # type: ignore[arg-type]


def test_every_acknowledged_message_arrives(broker: EmbeddedBroker) -> None:
    items = Scenario(malformed_every=10).history(start=END - timedelta(days=7), end=END)
    subscriber = Subscriber(broker, READING_WILDCARD)
    try:
        with DemoPublisher(broker.url, items, window=16, protocol=MQTT_PROTOCOL) as publisher:
            stats = publisher.run(drain_timeout=20)
        received = subscriber.wait_for(stats.acknowledged)
    finally:
        subscriber.close()

    assert stats.sent == len(items)
    assert stats.acknowledged == stats.sent
    assert stats.malformed_sent == sum(isinstance(i, MalformedPayload) for i in items) > 0
    assert sorted(received) == sorted(_payload(i) for i in items)


def test_paced_publisher_respects_rate_and_stop(broker: EmbeddedBroker) -> None:
    clock_at = [END]

    def clock() -> datetime:
        clock_at[0] += timedelta(seconds=1)
        return clock_at[0]

    stop = threading.Event()
    timer = threading.Timer(1.5, stop.set)
    timer.start()
    started = time.monotonic()
    with DemoPublisher(
        broker.url, Scenario().live(clock), rate_per_s=4, protocol=MQTT_PROTOCOL
    ) as publisher:
        stats = publisher.run(stop)
    elapsed = time.monotonic() - started
    timer.cancel()

    assert elapsed < 5
    assert 4 <= stats.sent <= 8  # 4/s for 1.5 s, the first one at once
    assert stats.acknowledged == stats.sent


def test_embedded_broker_refuses_mqtt5(broker: EmbeddedBroker) -> None:
    publisher = DemoPublisher(broker.url, [], protocol="5")
    with pytest.raises(PublisherError, match="[Uu]nsupported protocol version"):
        publisher.connect(timeout=5)


def test_embedded_broker_ignores_shared_subscriptions(broker: EmbeddedBroker) -> None:
    """Documented in cloud/demo/broker.py: the worker must use the plain filter with amqtt."""
    items = Scenario().history(start=END - timedelta(days=1), end=END)
    plain = Subscriber(broker, READING_WILDCARD, client_id="plain")
    shared = Subscriber(broker, INGEST_SUBSCRIPTION, client_id="shared")
    try:
        with DemoPublisher(broker.url, items, protocol=MQTT_PROTOCOL) as publisher:
            publisher.run()
        assert len(plain.wait_for(len(items))) == len(items)
        assert shared.wait_for(1, timeout=1.0) == []
    finally:
        plain.close()
        shared.close()


def test_broker_rejects_non_loopback_bind() -> None:
    with pytest.raises(ValueError, match="loopback"):
        EmbeddedBroker(host="0.0.0.0")


# -- the whole demo -----------------------------------------------------------------------


def _token(http: httpx.Client, username: str, password: str) -> str:
    response = http.post("/api/v1/auth/token", data={"username": username, "password": password})
    response.raise_for_status()
    return str(response.json()["access_token"])


def _wait(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def _key(device_id: str, measured_at: datetime, values: dict[str, float]) -> tuple[Any, ...]:
    return (device_id, measured_at, tuple(sorted((k, round(v, 6)) for k, v in values.items())))


def _meter_key(reading: BloodPressureReading | GlucoseReading) -> tuple[Any, ...]:
    if isinstance(reading, GlucoseReading):
        values = {"glucose_mmol_l": reading.glucose_mmol_l}
    else:
        values = {"systolic_mmhg": reading.systolic_mmhg, "diastolic_mmhg": reading.diastolic_mmhg}
        values |= {"map_mmhg": reading.map_mmhg} if reading.map_mmhg is not None else {}
        values |= {"pulse_bpm": reading.pulse_bpm} if reading.pulse_bpm is not None else {}
    return _key(reading.device_id, reading.measured_at, values)


def _check_system(system: DemoSystem) -> None:
    started = datetime.now(UTC).replace(microsecond=0)
    access = system.start()
    system.start_live()
    zhang = access.patient_ids[PATIENTS[0].mrn]
    window = {"since": (started - timedelta(days=30)).isoformat(),
              "until": (started + timedelta(hours=1)).isoformat()}  # fmt: skip
    with httpx.Client(base_url=access.api_url, timeout=10) as http:
        nurse = {"Authorization": f"Bearer {_token(http, NURSE_USERNAME, access.nurse_password)}"}

        def readings(patient_id: int) -> list[dict[str, Any]]:
            response = http.get(
                f"/api/v1/patients/{patient_id}/readings", headers=nurse, params=window
            )
            response.raise_for_status()
            return list(response.json())

        # The meters' memories went through the gateways; then live readings follow.
        assert any(
            (r["values"]["systolic_mmhg"], r["values"]["diastolic_mmhg"]) == CRISIS_BP
            for r in readings(zhang)
            if r["kind"] == "blood_pressure"
        )
        assert system.wait_live(15), "no live reading came through a gateway"
        _wait(lambda: len(system.meter_readings()) >= len(PATIENTS) + 4)

        # The console answers and shows the on-call nurse the scenario's alerts.
        assert http.get("/console/").status_code == 200
        assert "<html" in http.get("/console/").text.lower()

        def console_alerts() -> list[dict[str, Any]]:
            response = http.get("/api/v1/console/alerts", headers=nurse)
            response.raise_for_status()
            return list(response.json())

        _wait(lambda: any(a["severity"] == "critical" for a in console_alerts()))
        backup = _token(http, BACKUP_NURSE_USERNAME, access.backup_nurse_password)
        assert http.get(
            "/api/v1/console/me", headers={"Authorization": f"Bearer {backup}"}
        ).is_success

        admin = {"Authorization": f"Bearer {_token(http, ADMIN_USERNAME, access.admin_password)}"}
        letters = http.get("/api/v1/dead-letters", headers=admin)
        letters.raise_for_status()
        assert letters.json()["total"] > 0
        assert http.get(f"/api/v1/patients/{zhang}/readings").status_code == 401

        # The demo hospital is seeded: the kiosk token works, a patient identifies, and the
        # wayfinding route page the banner shows answers.
        kiosk = {"Authorization": f"Bearer {access.hospital.kiosk_token}"}
        assert http.get("/api/v1/kiosk/me", headers=kiosk).json()["name"] == "lobby-1"
        number, _name, birth = access.hospital.patients[0]
        identified = http.post(
            "/api/v1/kiosk/identify/patient-number",
            headers=kiosk,
            json={"patient_number": number, "birth_date": birth.isoformat()},
        )
        assert identified.status_code == 200, identified.text
        session = {"Authorization": f"Bearer {identified.json()['session_token']}"}
        visits = http.get("/api/v1/kiosk/appointments", headers=session).json()
        assert {v["department"]["name_en"] for v in visits} >= {"Cardiology"}
        page = http.get(access.route_url)
        assert page.status_code == 200 and "<svg" in page.text
        system.stop()

    # Every reading a simulated meter took is stored, with the meter's values and time, under
    # the meter's device id and its home's gateway; nothing else is.
    taken = system.meter_readings()
    engine = make_engine(access.database_url)
    try:
        store = SqlReadingStore(engine)
        stored = [
            (p.gateway_id, _key(p.device_id, p.measured_at, p.values))
            for patient_id in access.patient_ids.values()
            for p in store.query(
                patient_id=patient_id,
                since=started - timedelta(days=30),
                until=started + timedelta(hours=1),
            )
        ]
    finally:
        engine.dispose()
    assert sorted(stored) == sorted((r.gateway_id, _meter_key(r)) for r in taken)
    summary = system.summary()
    assert summary.meter_readings == len(taken) == summary.stored > 0
    assert summary.gateway_acknowledged == summary.meter_readings
    assert summary.dead_lettered == summary.malformed_published > 0
    assert summary.alerts >= 3  # crisis, hypoglycaemia, loose cuff (and more)


def test_demo_plays_meters_through_real_gateways(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, api_port=free_port())
    with DemoSystem(settings, backfill_days=2, live_interval_s=0.3, malformed_every=10) as system:
        _check_system(system)
    assert (tmp_path / "demo" / DB_NAME).exists()
    assert {p.name for p in (tmp_path / "demo" / "homes").iterdir()} == {
        f"gateway-{p.gateway_id}" for p in PATIENTS
    }


def test_demo_system_on_an_external_mosquitto(tmp_path: Path, mosquitto: MosquittoBroker) -> None:
    """CAREDGE_MQTT_URL set: no embedded broker; MQTT v5 gateways and the shared subscription."""
    settings = Settings(var_dir=tmp_path, api_port=free_port(), mqtt_url=mosquitto.url)
    with DemoSystem(
        settings, backfill_days=1, live_interval_s=0.3, malformed_every=10, embedded_broker=False
    ) as system:
        _check_system(system)
        assert system.settings.ingest_topic == INGEST_SUBSCRIPTION
        assert system.settings.mqtt_protocol == "5"


def test_run_demo_stops_after_duration_and_summarises(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CAREDGE_MQTT_URL", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    settings = Settings(var_dir=tmp_path, api_port=free_port())
    started = time.monotonic()
    summary = run_demo(settings, duration=3, backfill_days=3, live_interval_s=0.5)
    assert time.monotonic() - started < 30
    out = capsys.readouterr().out
    assert f"http://127.0.0.1:{settings.api_port}/console/" in out
    assert "/docs" in out and f"{NURSE_USERNAME} " in out and f"{BACKUP_NURSE_USERNAME} " in out
    assert "first live reading: meter → gateway → broker → ingest, stored" in out
    assert "kiosk token     ckd_" in out and "try patient     1000000001, born 19480302" in out
    route = f"http://127.0.0.1:{settings.api_port}/api/v1/wayfinding/route.html?from=kiosk-f1"
    assert f"route page      {route}" in out
    assert "no display here" in out and 'xvfb-run -s "-screen 0 1280x800x24" caredge kiosk' in out
    assert f"{summary.stored} readings stored" in out and f"{summary.alerts} alerts raised" in out
    assert summary.gateway_acknowledged == summary.meter_readings == summary.stored > 3 * 10
    assert summary.alerts >= 3
