"""Publishes demo items straight to the gateways' topics over MQTT QoS 1 with paho-mqtt.

The demo's readings come through the simulated homes (cloud/demo/home.py); this publisher
sends what no real gateway would: the deliberately malformed payloads that become dead letters.

It counts what the broker acknowledged (PUBACK), not what it sent, and keeps at most
``window`` messages awaiting PUBACK: MQTT packet ids are 16-bit, and an unbounded
in-flight count loses messages silently (MEASURED.md).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cloud.demo.scenario import MalformedPayload, Publishable
from cloud.errors import CloudError
from protocol.broker_url import MqttEndpoint
from protocol.envelope import encode_reading
from protocol.topics import GatewayTopic

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 10.0
_ACCEPTED_RC = (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN)  # NO_CONN: queued until reconnect


class PublisherError(CloudError):
    """The demo publisher could not connect or was refused by the broker."""


@dataclass(frozen=True)
class PublishStats:
    """Counts of one publisher: sent, acknowledged by the broker, refused in a PUBACK."""

    sent: int = 0
    acknowledged: int = 0
    refused: int = 0
    malformed_sent: int = 0

    @property
    def in_flight(self) -> int:
        """Messages sent and not yet answered by the broker."""
        return self.sent - self.acknowledged - self.refused


class DemoPublisher:
    """Publishes readings (and deliberately malformed payloads) to their gateways' topics.

    ``rate_per_s`` paces the messages (None: as fast as the in-flight window allows).
    Use as a context manager: connect on enter, clean disconnect on exit; ``run()`` plays
    the iterable until it ends or ``stop`` is set, then waits for the outstanding PUBACKs.
    """

    def __init__(
        self,
        mqtt_url: str,
        readings: Iterable[Publishable],
        rate_per_s: float | None = None,
        *,
        window: int = 100,
        client_id: str = "caredge-demo-publisher",
        protocol: Literal["5", "3.1.1"] = "5",
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        if rate_per_s is not None and rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive (or None for unpaced)")
        self._endpoint = MqttEndpoint.parse(mqtt_url)
        self._readings = readings
        self._rate = rate_per_s
        self._window = threading.BoundedSemaphore(window)
        self._window_size = window
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._refusal: str | None = None
        self._sent = self._acknowledged = self._refused = self._malformed = 0
        self._last_progress = time.monotonic()
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311,
        )
        if self._endpoint.username:
            password = self._endpoint.password
            self._client.username_pw_set(
                self._endpoint.username, password.get_secret_value() if password else None
            )
        if self._endpoint.tls:
            self._client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        self._client.max_inflight_messages_set(window)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish

    @property
    def stats(self) -> PublishStats:
        """A snapshot of the counts."""
        with self._lock:
            return PublishStats(self._sent, self._acknowledged, self._refused, self._malformed)

    # -- lifecycle -------------------------------------------------------------------------

    def connect(self, timeout: float = 10.0) -> None:
        """Connect and wait for CONNACK; PublisherError if refused or unreachable."""
        self._client.connect_async(self._endpoint.host, self._endpoint.port, keepalive=30)
        self._client.loop_start()
        if not self._connected.wait(timeout) or self._refusal is not None:
            self._client.disconnect()
            self._client.loop_stop()
            reason = self._refusal or f"no CONNACK within {timeout}s"
            raise PublisherError(
                f"cannot publish to {self._endpoint.host}:{self._endpoint.port}: {reason}"
            )
        log.info("publisher connected to %s:%d", self._endpoint.host, self._endpoint.port)

    def close(self) -> None:
        """Disconnect cleanly and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()
        stats = self.stats
        log.info(
            "publisher closed: %d sent, %d acknowledged, %d refused, %d unanswered",
            stats.sent,
            stats.acknowledged,
            stats.refused,
            stats.in_flight,
        )

    def __enter__(self) -> DemoPublisher:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- publishing ------------------------------------------------------------------------

    def run(
        self, stop: threading.Event | None = None, *, drain_timeout: float = 30.0
    ) -> PublishStats:
        """Publish every item (paced), then wait up to drain_timeout for the PUBACKs."""
        stop = stop or threading.Event()
        started = time.monotonic()
        for index, item in enumerate(self._readings):
            if self._rate is not None:
                delay = started + index / self._rate - time.monotonic()
                if delay > 0 and stop.wait(delay):
                    break
            if stop.is_set() or not self._acquire_slot(stop):
                break
            self._publish(item)
            self._maybe_log_progress()
        self.wait_acknowledged(drain_timeout)
        stats = self.stats
        log.info(
            "published %d (%d malformed on purpose), %d acknowledged",
            stats.sent,
            stats.malformed_sent,
            stats.acknowledged,
        )
        return stats

    def publish(self, item: Publishable, timeout: float = 10.0) -> bool:
        """Publish one item now, once the window has room; False if it had none in timeout."""
        if not self._window.acquire(timeout=timeout):
            log.warning("no room in the in-flight window after %.0fs; item not sent", timeout)
            return False
        self._publish(item)
        return True

    def wait_acknowledged(self, timeout: float) -> bool:
        """Block until every sent message was answered (or timeout); True if none is left."""
        deadline = time.monotonic() + timeout
        while self.stats.in_flight > 0:
            if time.monotonic() >= deadline:
                log.warning("%d messages still await PUBACK", self.stats.in_flight)
                return False
            time.sleep(0.02)
        return True

    def _acquire_slot(self, stop: threading.Event) -> bool:
        while not self._window.acquire(timeout=0.2):
            if stop.is_set():
                return False
        return True

    def _publish(self, item: Publishable) -> None:
        if isinstance(item, MalformedPayload):
            topic, payload = str(GatewayTopic(item.gateway_id, "reading")), item.payload
            log.debug("publishing a malformed payload (%s) to %s", item.defect, topic)
        else:
            topic, payload = str(GatewayTopic(item.gateway_id, "reading")), encode_reading(item)
            log.debug("publishing %s to %s", payload, topic)
        malformed = int(isinstance(item, MalformedPayload))
        with self._lock:  # counted first: the PUBACK may arrive before publish() returns
            self._sent += 1
            self._malformed += malformed
        info = self._client.publish(topic, payload, qos=1)
        if info.rc not in _ACCEPTED_RC:
            with self._lock:
                self._sent -= 1
                self._malformed -= malformed
            self._window.release()
            log.warning("paho did not take a message for %s: %s", topic, mqtt.error_string(info.rc))

    def _maybe_log_progress(self) -> None:
        now = time.monotonic()
        if now - self._last_progress < PROGRESS_EVERY_S:
            return
        self._last_progress = now
        stats = self.stats
        log.info(
            "publisher progress: %d sent, %d acknowledged, %d in flight",
            stats.sent,
            stats.acknowledged,
            stats.in_flight,
        )

    # -- paho callbacks (network thread) ---------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if reason_code.is_failure:
            self._refusal = str(reason_code)
            log.error("broker refused the publisher: %s", reason_code)
        else:
            self._refusal = None
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if reason_code.is_failure:
            log.warning("publisher disconnected (%s); paho reconnects and resends", reason_code)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        # Called only for a PUBACK of this session (paho holds its own lock: never publish here).
        with self._lock:
            if reason_code.is_failure:
                self._refused += 1
            else:
                self._acknowledged += 1
        self._window.release()
        if reason_code.is_failure:
            log.warning("broker refused message %d: %s", mid, reason_code)
