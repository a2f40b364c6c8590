"""Nurse devices over MQTT: QoS 1 to ``caredge/v1/nurse/{nurse_id}/alerts`` (paho-mqtt 2.x).

A notification counts as sent when the broker's PUBACK arrives; the broker then keeps it for
the nurse's persistent session. No PUBACK within the timeout, or no connection, is a
DeliveryError and the queue retries it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import paho.mqtt.client as mqtt

from cloud.ingest.mqtt_client import make_client
from cloud.notify.errors import DeliveryError
from cloud.notify.messages import encode
from cloud.oncall.models import Notification
from cloud.oncall.notifications import Channel
from protocol.broker_url import MqttEndpoint
from protocol.topics import NurseTopic

log = logging.getLogger(__name__)


class MqttSender:
    """A connected publisher; use as a context manager (connect on enter, disconnect on exit)."""

    channel = Channel.MQTT

    def __init__(
        self,
        endpoint: MqttEndpoint,
        *,
        client_id: str,
        ack_timeout_s: float = 5.0,
        connect_wait_s: float = 5.0,
        ca_file: str | None = None,
        protocol: str = "5",
    ) -> None:
        self._endpoint = endpoint
        self._ack_timeout_s = ack_timeout_s
        self._connect_wait_s = connect_wait_s
        self._connected = threading.Event()
        client = make_client(endpoint, client_id=client_id, protocol=protocol, ca_file=ca_file)
        client.max_inflight_messages_set(100)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self._client = client

    def __enter__(self) -> MqttSender:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Connect in the background (paho reconnects by itself) and wait a little for it."""
        self._client.connect_async(self._endpoint.host, self._endpoint.port, keepalive=30)
        self._client.loop_start()
        if not self._connected.wait(self._connect_wait_s):
            log.warning("MQTT notifier not connected to %s yet; retrying in the background",
                        self._endpoint.host)  # fmt: skip

    def stop(self) -> None:
        """Disconnect cleanly."""
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if reason_code.is_failure:
            log.warning("MQTT notifier refused by broker: %s", reason_code)
            return
        self._connected.set()
        log.info("MQTT notifier connected to %s:%s", self._endpoint.host, self._endpoint.port)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        self._connected.clear()
        log.warning("MQTT notifier disconnected: %s", reason_code)

    def send(self, notification: Notification, message: dict[str, Any]) -> None:
        """Publish at QoS 1 and wait for the PUBACK."""
        if not self._connected.is_set():
            raise DeliveryError("mqtt", "not connected to the broker")
        topic = str(NurseTopic(str(notification.nurse_id)))
        info = self._client.publish(topic, encode(message), qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise DeliveryError("mqtt", f"publish failed: {mqtt.error_string(info.rc)}")
        try:
            info.wait_for_publish(timeout=self._ack_timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise DeliveryError("mqtt", f"publish failed: {exc}") from exc
        if not info.is_published():
            raise DeliveryError("mqtt", f"no PUBACK within {self._ack_timeout_s}s on {topic}")
        log.debug("MQTT delivered notification %s to %s", notification.id, topic)
