"""The demo: embedded broker and publisher against real paho clients, then the whole system."""

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

from cloud.demo.broker import MQTT_PROTOCOL, EmbeddedBroker
from cloud.demo.publisher import DemoPublisher, PublisherError
from cloud.demo.run import ADMIN_USERNAME, DB_NAME, NURSE_USERNAME, DemoSystem, run_demo
from cloud.demo.scenario import CRISIS_BP, PATIENTS, MalformedPayload, Scenario
from cloud.settings import Settings
from protocol.envelope import encode_reading
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


def _check_system(system: DemoSystem) -> None:
    started = datetime.now(UTC)
    access = system.start()
    system.start_live()
    zhang = access.patient_ids[PATIENTS[0].mrn]
    with httpx.Client(base_url=access.api_url, timeout=10) as http:
        nurse = {"Authorization": f"Bearer {_token(http, NURSE_USERNAME, access.nurse_password)}"}

        def readings() -> list[dict[str, Any]]:
            response = http.get(f"/api/v1/patients/{zhang}/readings", headers=nurse)
            response.raise_for_status()
            return list(response.json())

        history = readings()
        assert any(
            (r["values"]["systolic_mmhg"], r["values"]["diastolic_mmhg"]) == CRISIS_BP
            for r in history
            if r["kind"] == "blood_pressure"
        )
        _wait(lambda: any(datetime.fromisoformat(r["measured_at"]) > started for r in readings()))

        admin = {"Authorization": f"Bearer {_token(http, ADMIN_USERNAME, access.admin_password)}"}
        letters = http.get("/api/v1/dead-letters", headers=admin)
        letters.raise_for_status()
        assert letters.json()["total"] > 0
        assert http.get(f"/api/v1/patients/{zhang}/readings").status_code == 401
    system.stop()
    summary = system.summary()
    assert summary.acknowledged == summary.published > 0
    assert summary.dead_lettered == summary.malformed_published > 0
    assert summary.stored == summary.acknowledged - summary.dead_lettered


def test_demo_system_serves_readings_through_the_api(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, api_port=free_port())
    with DemoSystem(settings, backfill_days=3, live_interval_s=0.3, malformed_every=10) as system:
        _check_system(system)
    assert (tmp_path / "demo" / DB_NAME).exists()


def test_demo_system_on_an_external_mosquitto(tmp_path: Path, mosquitto: MosquittoBroker) -> None:
    """CAREDGE_MQTT_URL set: no embedded broker; MQTT v5 and the shared subscription."""
    settings = Settings(var_dir=tmp_path, api_port=free_port(), mqtt_url=mosquitto.url)
    with DemoSystem(
        settings, backfill_days=2, live_interval_s=0.3, malformed_every=10, embedded_broker=False
    ) as system:
        _check_system(system)
        assert system.settings.ingest_topic == INGEST_SUBSCRIPTION


def test_run_demo_stops_after_duration_and_summarises(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CAREDGE_MQTT_URL", raising=False)
    settings = Settings(var_dir=tmp_path, api_port=free_port())
    started = time.monotonic()
    summary = run_demo(settings, duration=4, backfill_days=7, live_interval_s=0.5)
    assert time.monotonic() - started < 40
    out = capsys.readouterr().out
    assert "/docs" in out and "api/v1/auth/token" in out
    assert f"{summary.stored} readings stored" in out
    assert summary.acknowledged == summary.published
    assert summary.stored + summary.dead_lettered == summary.acknowledged
    assert summary.stored > 7 * 10  # a week of history plus live readings
