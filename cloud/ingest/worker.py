"""The ingest worker: consumes readings from MQTT and stores each exactly once.

Delivery contract (docs/ingest.md): a message is acknowledged (PUBACK, paho manual ack)
only after its batch is durable in the time-series store and the SQL ledger, so a crash,
a broker restart or a store outage causes redelivery, never loss; the ledger key
``(gateway_id, device_id, seq)`` turns redeliveries into counted duplicates. A message from
a dropped connection is never acknowledged on the next one: packet ids are per connection.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from cloud.db import transaction, utcnow
from cloud.devices import service as devices_service
from cloud.errors import StoreUnavailableError
from cloud.ingest import repository
from cloud.ingest.last_seen import LastSeenThrottle
from cloud.ingest.mqtt_client import make_client, persistent_session_properties
from cloud.ingest.pipeline import Decoded, Inbound, Rejected, Triage, decode_batch, triage
from cloud.ingest.stats import IngestStats
from cloud.settings import Settings
from cloud.tsdb.base import ReadingPoint, ReadingStore

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.5, 1.0, 2.0, 5.0, 10.0)


class IngestWorker:
    """One worker process's consumer; several share the load through ``$share/ingest``."""

    def __init__(
        self,
        settings: Settings,
        *,
        session_factory: sessionmaker[Session],
        store: ReadingStore,
        stats: IngestStats | None = None,
    ) -> None:
        self._settings = settings
        self._sessions = session_factory
        self._store = store
        self.stats = stats or IngestStats()
        self._inbox: queue.Queue[Inbound] = queue.Queue()
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._ack_lock = threading.Lock()
        self._generation = 0
        self._devices: dict[str, set[str]] = {}
        self._last_seen = LastSeenThrottle()
        self._thread: threading.Thread | None = None
        self._client = make_client(
            settings.mqtt,
            client_id=settings.mqtt_client_id,
            protocol=settings.mqtt_protocol,
            ca_file=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
            manual_ack=True,
        )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Connect (retrying in the background) and start processing."""
        endpoint = self._settings.mqtt
        window = self._settings.ingest_batch_size * 2
        if self._settings.mqtt_protocol == "5":
            self._client.connect_async(
                endpoint.host,
                endpoint.port,
                keepalive=30,
                clean_start=False,
                properties=persistent_session_properties(window),
            )
        else:
            self._client.connect_async(endpoint.host, endpoint.port, keepalive=30)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._process_loop, name="ingest", daemon=True)
        self._thread.start()
        log.info(
            "ingest worker %s consuming %s from %s:%d",
            self._settings.mqtt_client_id,
            self._settings.ingest_topic,
            endpoint.host,
            endpoint.port,
        )

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """Block until the broker confirmed the subscription (for tests and start-up checks)."""
        return self._connected.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch in hand, then disconnect; unacknowledged messages are redelivered."""
        self._stopping.set()
        if self._thread:
            self._thread.join(timeout)
        self._client.disconnect()
        self._client.loop_stop()
        log.info("ingest worker stopped: %s", self.stats.snapshot())

    def run_until(self, should_stop: Callable[[], bool], poll_s: float = 0.5) -> None:
        """Run until should_stop() returns True (the CLI passes a signal flag)."""
        self.start()
        try:
            while not should_stop():
                time.sleep(poll_s)
        finally:
            self.stop()

    # -- paho callbacks (network thread) ---------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        client.subscribe(self._settings.ingest_topic, qos=1)
        log.info("connected to broker (session present: %s)", flags.session_present)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # type: ignore[no-untyped-def]
        if any(code.is_failure for code in reason_codes):
            log.error(
                "broker refused the subscription %s: %s", self._settings.ingest_topic, reason_codes
            )
            return
        self._connected.set()
        log.info("subscribed to %s", self._settings.ingest_topic)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        with self._ack_lock:
            self._generation += 1
        self._connected.clear()
        if not self._stopping.is_set():
            log.warning("disconnected from broker (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:  # type: ignore[no-untyped-def]
        self._inbox.put(
            Inbound(message.topic, message.payload, message.mid, message.qos, self._generation)
        )

    # -- processing (worker thread) --------------------------------------------------------

    def _process_loop(self) -> None:
        while not self._stopping.is_set():
            batch = self._collect()
            if batch:
                self._process(batch)

    def _collect(self) -> list[Inbound]:
        try:
            first = self._inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self._settings.ingest_batch_seconds
        while len(batch) < self._settings.ingest_batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self._inbox.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def _process(self, batch: list[Inbound]) -> None:
        self.stats.add(received=len(batch))
        self._handle(batch)

    def _handle(self, batch: list[Inbound]) -> None:
        """Store a batch and acknowledge it; isolate a message that fails for good."""
        try:
            result = self._store_with_retry(decode_batch(batch))
        except Exception as exc:  # a non-transient failure must not stop the stream
            if len(batch) > 1:
                log.exception("batch of %d failed; storing message by message", len(batch))
                for message in batch:
                    self._handle([message])
                return
            log.exception("message on %s cannot be stored; dead-lettered", batch[0].topic)
            result = self._store_with_retry(
                Decoded(rejected=[Rejected(batch[0], f"could not be stored: {exc!r}", None)])
            )
        if result is None:
            return
        self.stats.add(
            stored=len(result.accepted),
            duplicates=result.duplicates,
            dead_letters=len(result.rejected),
            batches=1,
        )
        self._acknowledge(batch)

    def _store_with_retry(self, decoded: Decoded) -> Triage | None:
        """Store, retrying while a store is unavailable; None when stopping first."""
        attempt = 0
        while True:
            try:
                return self._store_batch(decoded)
            except (StoreUnavailableError, OperationalError) as exc:
                if self._stopping.is_set():
                    log.warning("stopping with a batch unstored; the broker redelivers it")
                    return None
                delay = RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]
                self.stats.add(store_retries=1)
                log.warning("batch not stored (%s); retry in %.1fs", exc, delay)
                self._stopping.wait(delay)
                attempt += 1

    def _store_batch(self, decoded: Decoded) -> Triage:
        with transaction(self._sessions) as session:
            devices = self._registered_devices(session, decoded)
            keys = list({reading.key for _, reading in decoded.readings})
            stored = repository.stored_keys(session, keys)
            bindings = devices_service.bindings_of(
                session, device_ids=(reading.device_id for _, reading in decoded.readings)
            )
        result = triage(decoded, devices_by_gateway=devices, stored_keys=stored, bindings=bindings)
        points = [ReadingPoint.from_reading(reading, owner) for reading, owner in result.accepted]
        self._store.write(points)
        now = utcnow()
        last_seen = self._last_seen.due((reading for reading, _ in result.accepted), now)
        with transaction(self._sessions) as session:
            repository.record_batch(
                session,
                accepted=result.accepted,
                rejected=result.rejected,
                received_at=now,
                last_seen=last_seen,
            )
        self._last_seen.written(last_seen)
        return result

    def _registered_devices(self, session: Session, decoded: Decoded) -> dict[str, set[str]]:
        """Cached registrations, reloaded for any gateway whose device the cache does not know."""
        stale = {
            reading.gateway_id
            for _, reading in decoded.readings
            if reading.device_id not in self._devices.get(reading.gateway_id, set())
        }
        if stale:
            self._devices.update(devices_service.devices_by_gateway(session, gateway_ids=stale))
        return self._devices

    def _acknowledge(self, batch: list[Inbound]) -> None:
        with self._ack_lock:
            for message in batch:
                if message.generation != self._generation:
                    self.stats.add(stale_acks_skipped=1)
                    continue
                self._client.ack(message.mid, message.qos)
