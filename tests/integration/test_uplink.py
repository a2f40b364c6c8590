"""The uplink against a real Mosquitto: drains, survives broker restarts, refusals and SIGKILL."""

from __future__ import annotations

import getpass
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.outbox import Outbox
from edge.settings import GatewaySettings
from edge.uplink import Uplink
from protocol.envelope import decode_reading, encode_reading
from protocol.topics import GatewayTopic
from tests.fixtures.mosquitto import BROKER_CONF, Broker
from tests.fixtures.ports import free_port, wait_listening
from tests.support import readings, wait_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
GW = "gw1"
READING_TOPIC = str(GatewayTopic(GW, "reading"))
BEACON_TOPIC = str(GatewayTopic(GW, "beacon"))
STATUS_TOPIC = str(GatewayTopic(GW, "status"))


class Collector:
    """A paho subscriber with a persistent session, so it misses nothing across restarts."""

    def __init__(self, port: int, client_id: str = "test-collector") -> None:
        self.lock = threading.Lock()
        self.messages: list[mqtt.MQTTMessage] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *args: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=0.2, max_delay=1)
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", port, clean_start=False, properties=properties)
        self.client.loop_start()
        assert self.subscribed.wait(10), "collector did not subscribe"

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe([(f"caredge/v1/gw/{GW}/#", 1)])

    def _on_message(self, client: mqtt.Client, userdata: object, message: Any) -> None:
        with self.lock:
            self.messages.append(message)

    def payloads(self, topic: str = READING_TOPIC) -> list[bytes]:
        with self.lock:
            return [m.payload for m in self.messages if m.topic == topic]

    def reading_keys(self) -> list[tuple[str, str, int]]:
        return [decode_reading(p).key for p in self.payloads()]

    def statuses(self) -> list[dict[str, Any]]:
        return [json.loads(p) for p in self.payloads(STATUS_TOPIC)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained_status(port: int) -> dict[str, Any]:
    """The retained status of GW as a newly connected client sees it."""
    got: list[dict[str, Any]] = []
    done = threading.Event()

    def on_message(client: mqtt.Client, userdata: object, message: Any) -> None:
        if message.retain:
            got.append(json.loads(message.payload))
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_message = on_message
    client.on_connect = lambda c, *args: c.subscribe(STATUS_TOPIC, qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert done.wait(10), "no retained status"
        return got[0]
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def collector(mosquitto: Broker) -> Iterator[Collector]:
    subscriber = Collector(mosquitto.port)
    yield subscriber
    subscriber.close()


def settings_for(url: str, tmp_path: Path, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "gateway_id": GW,
        "mqtt_url": url,
        "outbox_path": tmp_path / "gateway" / "outbox.db",
        "heartbeat_seconds": 30,
        # These tests are about the broker's PUBACK; test_confirmations.py adds the cloud's.
        "delivery_confirmation": "broker",
    } | overrides
    return GatewaySettings(**values)


def enqueue(outbox: Outbox, count: int, start_seq: int = 1) -> set[tuple[str, str, int]]:
    """Put count readings (with their natural keys) and return their idempotency keys."""
    keys = set()
    for reading in readings(GW, count, start_seq=start_seq):
        outbox.put("reading", READING_TOPIC, encode_reading(reading), reading.key)
        keys.add(reading.key)
    return keys


class WindowWatchingUplink(Uplink):
    """An uplink that records how many entries await PUBACK after every refill."""

    peak_inflight = 0

    def _fill_window(self) -> None:
        super()._fill_window()
        self.peak_inflight = max(self.peak_inflight, len(self._inflight))


def test_entries_drain_in_order_within_the_window(
    mosquitto: Broker, collector: Collector, tmp_path: Path
) -> None:
    settings = settings_for(mosquitto.url, tmp_path, inflight_window=7)
    with Outbox(settings.outbox_file) as outbox:
        outbox.put("telemetry", BEACON_TOPIC, b'{"beacon":1}')
        keys = enqueue(outbox, 300)
        uplink = WindowWatchingUplink(settings, outbox, lambda: {"meters": {"bp-gw1": {}}})
        with uplink:
            assert uplink.wait_until_empty(30)
            wait_until(lambda: len(collector.payloads()) >= 300, timeout=10)
        assert outbox.depth() == {"reading": 0, "telemetry": 0}
    assert set(collector.reading_keys()) == keys
    # Readings before telemetry, FIFO within readings.
    assert [k[2] for k in collector.reading_keys()[:300]] == list(range(1, 301))
    wait_until(lambda: collector.payloads(BEACON_TOPIC) == [b'{"beacon":1}'], timeout=5)
    assert 0 < uplink.peak_inflight <= 7
    assert uplink.stats.published == uplink.stats.acked == 301
    online = collector.statuses()[0]
    assert online["online"] is True and online["gateway_id"] == GW and online["v"] == 1
    assert online["meters"] == {"bp-gw1": {}}
    assert set(online) >= {"outbox", "dropped_telemetry", "uplink", "at"}
    # A clean stop leaves a retained offline status.
    offline = retained_status(mosquitto.port)
    assert offline["online"] is False and offline["reason"] == "stopped"


def test_new_entries_leave_at_once_and_heartbeats_report_depth(
    mosquitto: Broker, collector: Collector, tmp_path: Path
) -> None:
    settings = settings_for(mosquitto.url, tmp_path, heartbeat_seconds=0.3)
    with Outbox(settings.outbox_file) as outbox, Uplink(settings, outbox) as uplink:
        wait_until(lambda: uplink.connected, timeout=10)
        time.sleep(0.2)
        started = time.monotonic()
        enqueue(outbox, 1)
        wait_until(lambda: len(collector.payloads()) == 1, timeout=5, every=0.005)
        # Woken by the put, not by the 1 s poll.
        assert time.monotonic() - started < 0.5
        wait_until(lambda: len(collector.statuses()) >= 4, timeout=5)
    heartbeat = collector.statuses()[-2]
    assert heartbeat["online"] is True
    assert heartbeat["outbox"] == {"reading": 0, "telemetry": 0}
    assert heartbeat["uplink"]["acked"] == 1


def test_everything_arrives_across_a_broker_restart(
    mosquitto: Broker, collector: Collector, tmp_path: Path
) -> None:
    settings = settings_for(mosquitto.url, tmp_path)
    with Outbox(settings.outbox_file) as outbox:
        keys = enqueue(outbox, 2000)
        produced: set[tuple[str, str, int]] = set()

        def producer() -> None:
            # Readings keep coming while the broker is down.
            for n in range(40):
                produced.update(enqueue(outbox, 25, start_seq=10_000 + n * 25))
                time.sleep(0.05)

        with Uplink(settings, outbox) as uplink:
            wait_until(lambda: len(collector.payloads()) >= 200, timeout=20, every=0.01)
            feeding = threading.Thread(target=producer)
            feeding.start()
            mosquitto.restart()
            feeding.join()
            assert uplink.wait_until_empty(60)
            assert uplink.stats.connects >= 2
        expected = keys | produced
        assert len(expected) == 3000
        wait_until(lambda: set(collector.reading_keys()) >= expected, timeout=30)
        assert outbox.depth() == {"reading": 0, "telemetry": 0}
        assert set(collector.reading_keys()) == expected


def test_entries_wait_for_a_broker_that_is_down_at_start(
    mosquitto: Broker, collector: Collector, tmp_path: Path
) -> None:
    settings = settings_for(mosquitto.url, tmp_path)
    mosquitto.stop()
    with Outbox(settings.outbox_file) as outbox, Uplink(settings, outbox) as uplink:
        keys = enqueue(outbox, 100)
        time.sleep(1.5)
        assert outbox.depth()["reading"] == 100 and not uplink.connected
        mosquitto.start()
        assert uplink.wait_until_empty(60)
    wait_until(lambda: set(collector.reading_keys()) == keys, timeout=30)


def test_mqtt_311_drains_keeps_its_session_and_leaves_a_will(
    mosquitto: Broker, collector: Collector, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """CAREDGE_MQTT_PROTOCOL=3.1.1 (brokers without MQTT 5, like the demo's amqtt)."""
    settings = settings_for(mosquitto.url, tmp_path, mqtt_protocol="3.1.1", inflight_window=9)
    caplog.set_level(logging.INFO, logger="edge.uplink")
    with Outbox(settings.outbox_file) as outbox:
        keys = enqueue(outbox, 300)
        with Uplink(settings, outbox) as uplink:
            assert uplink.wait_until_empty(30)
        with Uplink(settings, outbox) as again:  # the broker kept the session (clean_session=0)
            wait_until(lambda: again.connected, timeout=10)
            keys |= enqueue(outbox, 5, start_seq=1000)
            assert again.wait_until_empty(10)
    wait_until(lambda: set(collector.reading_keys()) == keys, timeout=10)
    assert uplink.stats.published == uplink.stats.acked == 300
    # Mosquitto logs the protocol level (p2 = 3.1.1) and the clean-session flag of each client.
    log = (mosquitto.workdir / "mosquitto.log").read_text()
    assert log.count(f"as {settings.mqtt_client_id} (p2, c0,") == 2
    connected = [r.getMessage() for r in caplog.records if "uplink connected" in r.getMessage()]
    assert connected == [
        "uplink connected (session present: False, 0 unacknowledged re-sent)",
        "uplink connected (session present: True, 0 unacknowledged re-sent)",
    ]
    assert retained_status(mosquitto.port)["reason"] == "stopped"


def test_mqtt_protocol_setting_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mqtt_protocol"):
        settings_for("mqtt://127.0.0.1:1", tmp_path, mqtt_protocol="4")


class AclBroker(Broker):
    """A Mosquitto whose anonymous clients are limited by an ACL file reloaded on SIGHUP."""

    def start(self) -> None:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            BROKER_CONF.read_text()
            + f"\nlistener {self.port} 127.0.0.1\nallow_anonymous true\n"
            + f"acl_file {self.workdir / 'acl'}\n"
            + f"persistence_location {self.workdir}/\nuser {getpass.getuser()}\n"
        )
        log = (self.workdir / "mosquitto.log").open("ab")
        self.process = subprocess.Popen(
            [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_listening(self.port)

    def allow(self, *rules: str) -> None:
        (self.workdir / "acl").write_text("".join(f"{rule}\n" for rule in rules))
        if self.process is not None:
            self.process.send_signal(signal.SIGHUP)


def test_a_refused_publish_is_kept_and_retried(tmp_path: Path) -> None:
    broker = AclBroker(port=free_port(), workdir=tmp_path)
    # The gateway may publish its status but not readings (a wrong ACL in production).
    broker.allow(f"topic readwrite {STATUS_TOPIC}", "topic read #")
    broker.start()
    subscriber = Collector(broker.port)
    settings = settings_for(broker.url, tmp_path)
    try:
        with Outbox(settings.outbox_file) as outbox, Uplink(settings, outbox) as uplink:
            keys = enqueue(outbox, 50)
            wait_until(lambda: uplink.stats.rejected >= 50, timeout=20)
            # 0x87 Not authorized is not a delivery: nothing left the outbox.
            assert outbox.depth()["reading"] == 50
            assert uplink.stats.acked == 0
            broker.allow("topic readwrite #")
            assert uplink.wait_until_empty(30)
            assert uplink.stats.resent >= 50
        wait_until(lambda: set(subscriber.reading_keys()) == keys, timeout=10)
    finally:
        subscriber.close()
        broker.stop()


def gateway_process(settings: GatewaySettings, *args: str) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "CAREDGE_GATEWAY_ID": settings.gateway_id,
        "CAREDGE_MQTT_URL": settings.mqtt_url,
        "CAREDGE_OUTBOX_PATH": str(settings.outbox_file),
        "CAREDGE_INFLIGHT_WINDOW": str(settings.inflight_window),
        "CAREDGE_HEARTBEAT_SECONDS": "1",
        "CAREDGE_DELIVERY_CONFIRMATION": settings.delivery_confirmation,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "edge.uplink", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_a_killed_gateway_loses_nothing_and_leaves_its_last_will(
    mosquitto: Broker, collector: Collector, tmp_path: Path
) -> None:
    settings = settings_for(mosquitto.url, tmp_path, inflight_window=5)
    with Outbox(settings.outbox_file) as outbox:
        keys = enqueue(outbox, 1000)
    first = gateway_process(settings)
    try:
        wait_until(lambda: len(collector.payloads()) >= 1, timeout=20, every=0.002)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    with Outbox(settings.outbox_file) as outbox:
        left = outbox.depth()["reading"]
    # Killed mid-stream: readings were on the wire, others still queued (PUBACKed ones may
    # still be there too if the kill beat the delete: they are sent again).
    assert left > 0, "the kill should land while readings are queued"
    will = retained_status(mosquitto.port)
    assert will == {"v": 1, "gateway_id": GW, "online": False, "reason": "connection lost"}

    second = gateway_process(settings)
    try:
        wait_until(lambda: set(collector.reading_keys()) >= keys, timeout=60)
        second.send_signal(signal.SIGTERM)
        assert second.wait(20) == 0
    finally:
        if second.poll() is None:
            second.kill()
    received = collector.reading_keys()
    assert set(received) == keys  # every one of the 1,000, nothing else
    assert len(received) >= 1000  # duplicates are allowed (the cloud dedupes), gaps are not
    with Outbox(settings.outbox_file) as outbox:
        assert outbox.depth() == {"reading": 0, "telemetry": 0}
    assert retained_status(mosquitto.port)["reason"] == "stopped"


def test_the_entry_point_has_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "edge.uplink", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0
    assert "--exit-when-empty" in done.stdout
