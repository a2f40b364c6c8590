"""The MQTT channel against a real Mosquitto, the webhook channel against a local HTTP server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud.api.testing import ApiHarness, make_harness
from cloud.notify.delivery import deliver_due
from cloud.notify.mqtt_channel import MqttSender
from cloud.notify.signing import ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from cloud.notify.testing import seed_ward
from cloud.notify.webhook import WebhookSender
from cloud.oncall.escalation import RETRY_DELAYS
from cloud.oncall.notifications import Channel
from protocol.broker_url import MqttEndpoint
from tests.fixtures.mosquitto import Broker
from tests.unit.cloud.test_notify_delivery import NOW, open_crisis, rows

pytestmark = pytest.mark.integration

SECRET = "whsec-integration"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiHarness]:
    harness = make_harness(f"sqlite:///{tmp_path / 'api.db'}")
    yield harness
    harness.close()


def test_mqtt_delivery_qos1_to_the_nurse_topic(api: ApiHarness, mosquitto: Broker) -> None:
    ward = seed_ward(api.sessions, now=NOW, mqtt_enabled=True)
    alert_id = open_crisis(api, ward)
    received: list[mqtt.MQTTMessage] = []
    subscribed = threading.Event()
    device = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id="nurse-device",
        protocol=mqtt.MQTTv5,
    )  # fmt: skip
    device.on_subscribe = lambda *args: subscribed.set()
    device.on_message = lambda client, userdata, message: received.append(message)
    device.connect("127.0.0.1", mosquitto.port)
    device.subscribe(f"caredge/v1/nurse/{ward.primary_nurse_id}/alerts", qos=1)
    device.loop_start()
    try:
        assert subscribed.wait(5)
        with MqttSender(MqttEndpoint.parse(mosquitto.url), client_id="notify-test") as sender:
            run = deliver_due(api.sessions, sender, now=NOW)
        assert len(run.sent) == 1
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        device.loop_stop()
        device.disconnect()
    [message] = received
    assert message.qos == 1
    body = json.loads(message.payload)
    assert body["notification_id"] == run.sent[0]
    assert body["alert"]["id"] == alert_id and body["event"] == "opened"
    [row] = rows(api, Channel.MQTT)
    assert row.status == "sent"


def test_mqtt_broker_down_is_a_retried_failure(api: ApiHarness, mosquitto: Broker) -> None:
    ward = seed_ward(api.sessions, now=NOW, mqtt_enabled=True)
    open_crisis(api, ward)
    mosquitto.stop()
    endpoint = MqttEndpoint.parse(mosquitto.url)
    # It keeps connecting in the background; for now it is not connected.
    with MqttSender(endpoint, client_id="notify-test", connect_wait_s=0.5) as sender:
        run = deliver_due(api.sessions, sender, now=NOW)
    assert run.failed and not run.sent
    [row] = rows(api, Channel.MQTT)
    assert row.status == "pending" and row.attempts == 1
    assert row.last_error == "mqtt: not connected to the broker"


class Pager:
    """A local paging system: answers the queued status codes, records what it got."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[tuple[dict[str, str], bytes]] = []
        pager = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                pager.requests.append((dict(self.headers.items()), body))
                status = pager.statuses.pop(0) if pager.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"pager overloaded")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/page"

    def __enter__(self) -> Pager:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_webhook_500_then_retry_then_success_signed(api: ApiHarness) -> None:
    ward = seed_ward(api.sessions, now=NOW, phone="+8613800000001")
    alert_id = open_crisis(api, ward)
    with Pager([500]) as pager:
        sender = WebhookSender(pager.url, secret=SECRET, timeout_s=2)
        try:
            first = deliver_due(api.sessions, sender, now=NOW)
            [row] = rows(api, Channel.WEBHOOK)
            assert first.failed == [row.id]
            assert (row.status, row.attempts) == ("pending", 1)
            assert row.last_error is not None and "HTTP 500" in row.last_error
            assert deliver_due(api.sessions, sender, now=NOW).failed == []  # backing off
            second = deliver_due(api.sessions, sender, now=NOW + RETRY_DELAYS[0])
        finally:
            sender.close()
    assert second.sent == [row.id]
    [row] = rows(api, Channel.WEBHOOK)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    assert len(pager.requests) == 2
    headers, body = pager.requests[1]
    assert headers[ID_HEADER] == str(row.id)
    assert verify(body, timestamp=headers[TIMESTAMP_HEADER], signature=headers[SIGNATURE_HEADER],
                  secret=SECRET, now=time.time())  # fmt: skip
    assert not verify(body, timestamp=headers[TIMESTAMP_HEADER],
                      signature=headers[SIGNATURE_HEADER], secret="wrong",
                      now=time.time())  # fmt: skip
    message = json.loads(body)
    assert message["alert"]["id"] == alert_id and message["phone"] == "+8613800000001"


def test_webhook_unreachable_and_unconfigured_are_failures(api: ApiHarness) -> None:
    ward = seed_ward(api.sessions, now=NOW, phone="+8613800000001")
    open_crisis(api, ward)
    sender = WebhookSender("http://127.0.0.1:9/page", secret=SECRET, timeout_s=1)
    assert deliver_due(api.sessions, sender, now=NOW).failed
    [row] = rows(api, Channel.WEBHOOK)
    assert row.last_error is not None and row.last_error.startswith("webhook: ConnectError")
    unconfigured = WebhookSender("", secret="")
    assert deliver_due(api.sessions, unconfigured, now=NOW + RETRY_DELAYS[0]).failed
    [row] = rows(api, Channel.WEBHOOK)
    assert row.attempts == 2 and "CAREDGE_WEBHOOK_URL" in (row.last_error or "")
