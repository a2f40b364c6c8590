"""The ingest worker: consumes readings from MQTT and stores each exactly once.

Delivery contract (docs/ingest.md): a message is acknowledged (PUBACK, paho manual ack)
only after its batch is durable in the time-series store and the SQL ledger, so a crash,
a broker restart or a store outage causes redelivery, never loss; the ledger key
``(gateway_id, device_id, seq)`` turns redeliveries into counted duplicates, or into rewrites
when the ledger row's points are not known durable. A message from a dropped connection is
never acknowledged on the next one: packet ids are per connection.

Two threads share the work besides paho's network thread: the ``ingest`` thread collects,
decodes and triages batch N+1 (registrations, ledger and pending keys, owners) while the
``ingest-store`` thread writes batch N to the time-series store, commits its ledger rows and
alerts, and acknowledges it (much of it waiting on the servers, with the GIL released). With a
store that persists separately (VictoriaMetrics snapshots) a third thread, ``ingest-persist``
(``cloud/ingest/persister.py``), makes groups of committed batches durable with one snapshot
and acknowledges them, off the alerts' path. Batches are written and acknowledged in arrival
order; see ``_prepare`` for deduplication across the threads.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import NamedTuple, TypeVar

import paho.mqtt.client as mqtt
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts.engine import evaluate_readings
from cloud.db import transaction, utcnow
from cloud.devices import service as devices_service
from cloud.errors import StoreUnavailableError
from cloud.ingest import repository
from cloud.ingest.batch_window import BatchWindow
from cloud.ingest.last_seen import LastSeenThrottle
from cloud.ingest.mqtt_client import make_client, persistent_session_properties
from cloud.ingest.persister import (
    SNAPSHOT_INTERVAL_S,
    Committed,
    GroupPersister,
    SnapshotPolicy,
)
from cloud.ingest.pipeline import (
    Decoded,
    Inbound,
    Key,
    Rejected,
    Triage,
    confirmations,
    decode_batch,
    triage,
)
from cloud.ingest.ratelimit import GatewayRateLimiter
from cloud.ingest.repository import TsdbBatch
from cloud.ingest.stats import IngestStats
from cloud.observability.ingest_metrics import IngestMetrics
from cloud.observability.logs import bind, payload_fields
from cloud.settings import Settings
from cloud.tsdb.base import ReadingPoint, ReadingStore, WriteReceipt
from protocol.confirmations import encode_confirmation, split
from protocol.topics import GatewayTopic, TopicError

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.5, 1.0, 2.0, 5.0, 10.0)
COLLECT_POLL_S = 0.002

_T = TypeVar("_T")


class Written(NamedTuple):
    """A committed batch: its triage, and what the group snapshot needs (``batch`` None when
    the store needs no snapshot or the batch wrote no points)."""

    result: Triage
    batch: TsdbBatch | None = None
    points: list[ReadingPoint] = []
    receipt: WriteReceipt = None


class IngestWorker:
    """One worker process's consumer; several share the load through ``$share/ingest``."""

    def __init__(
        self,
        settings: Settings,
        *,
        session_factory: sessionmaker[Session],
        store: ReadingStore,
        stats: IngestStats | None = None,
        metrics: IngestMetrics | None = None,
    ) -> None:
        self._settings = settings
        self._sessions = session_factory
        self._store = store
        self.stats = stats or IngestStats()
        self._metrics = metrics
        # SimpleQueue: paho's thread puts one message per reading, at a tenth of Queue's cost.
        self._inbox: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
        # One prepared batch waits while the store thread works on the previous one; None ends.
        self._prepared: queue.Queue[tuple[list[Inbound], Triage | None] | None] = queue.Queue(1)
        self._triage_lock = threading.Lock()
        self._store_idle = threading.Event()  # the store thread waits for a prepared batch
        self._store_idle_since = time.monotonic()
        self._window = BatchWindow(settings.ingest_batch_seconds, settings.ingest_batch_max_seconds)
        self._tsdb_writer = ThreadPoolExecutor(1, thread_name_prefix="ingest-tsdb")
        self._sql_locks_database = _locks_whole_database(session_factory)
        self._pending: set[Key] = set()
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._ack_lock = threading.Lock()
        self._generation = 0
        self._devices: dict[str, set[str]] = {}
        self._last_seen = LastSeenThrottle()
        self._limiter = (
            GatewayRateLimiter(settings.ingest_gateway_rate, settings.ingest_gateway_burst)
            if settings.ingest_gateway_rate > 0
            else None
        )
        self._threads: list[threading.Thread] = []
        self._writer: int | None = None  # this run's row in tsdb_durable_marks, once needed
        self._batch_number = 0
        self._persister: GroupPersister | None = None
        if store.persists_separately:
            self._persister = GroupPersister(
                store,
                session_factory=session_factory,
                policy=SnapshotPolicy(SNAPSHOT_INTERVAL_S, 2 * settings.ingest_batch_size),
                acknowledge=self._acknowledge,
                retrying=self._retrying,
                stats=self.stats,
            )
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
        window = self._settings.ingest_batch_size * 4
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
        self._threads = [
            threading.Thread(target=self._process_loop, name="ingest", daemon=True),
            threading.Thread(target=self._store_loop, name="ingest-store", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        if self._persister is not None:
            self._persister.start()
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
        """Finish the batches in hand, then disconnect; unacknowledged messages are redelivered."""
        self._stopping.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._persister is not None:
            self._persister.finish(max(0.0, deadline - time.monotonic()))
        self._client.disconnect()
        self._client.loop_stop()
        self._tsdb_writer.shutdown()
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
            Inbound(
                message.topic,
                message.payload,
                message.mid,
                message.qos,
                self._generation,
                time.monotonic(),
            )
        )

    # -- processing (collector and store threads) -----------------------------------------

    def _process_loop(self) -> None:
        """Collect and decode batches for the store thread; tell it when stopping."""
        while not self._stopping.is_set():
            batch = self._collect()
            if batch:
                self._process(batch)
        self._prepared.put(None)

    def _collect(self) -> list[Inbound]:
        """Up to a batch of messages: the first that arrives, then whatever follows within
        the batch window (``cloud/ingest/batch_window.py``) and for as long as the store
        thread is still busy with the previous batch.

        A batch closed while the store thread is busy could only wait for it, so it stays
        open meanwhile (waiting on the store thread's idle event): what arrives is stored no
        later, and the window grows. It polls the inbox every ``COLLECT_POLL_S`` (a tenth of a
        longer window) rather than waiting for each message: a consumer faster than paho would
        otherwise be woken once per message, and each wake-up costs both threads CPU time they
        share under the GIL.
        """
        try:
            batch = [self._inbox.get(timeout=0.2)]
        except queue.Empty:
            return []
        size = self._settings.ingest_batch_size
        window = self._window.current_s
        deadline = time.monotonic() + window
        step = max(COLLECT_POLL_S, window / 10)  # a long window need not look as often
        while True:
            try:
                while len(batch) < size:
                    batch.append(self._inbox.get_nowait())
            except queue.Empty:
                pass
            if len(batch) >= size or self._stopping.is_set():
                return batch
            remaining = deadline - time.monotonic()
            if remaining > 0:
                time.sleep(min(remaining, step))
            elif self._store_idle.is_set():
                idle_s = time.monotonic() - self._store_idle_since
                self._window.closed(late=remaining < -COLLECT_POLL_S, idle_s=idle_s)
                return batch
            else:
                self._store_idle.wait(step)

    def _process(self, batch: list[Inbound]) -> None:
        """Prepare a batch and hand it to the store thread (waits while it holds one already)."""
        self.stats.add(received=len(batch))
        if self._limiter is not None:
            batch = self._within_rate(self._limiter, batch)
            if not batch:
                return
        try:
            prepared: Triage | None = self._prepare(batch)
        except Exception:  # the store thread prepares it again: it retries or isolates
            prepared = None
        self._prepared.put((batch, prepared))

    def _within_rate(self, limiter: GatewayRateLimiter, batch: list[Inbound]) -> list[Inbound]:
        """The messages of batch within their gateway's rate (``cloud/ingest/ratelimit.py``).

        The others are acknowledged at once and dropped without a confirmation, so their
        gateway keeps them and sends them again later: a flood is slowed down, not lost. They
        are acknowledged ahead of earlier batches still being stored; Mosquitto matches a
        PUBACK by its packet id. A topic that names no gateway passes to be dead-lettered.
        """
        admitted: list[Inbound] = []
        dropped: list[Inbound] = []
        for message in batch:
            try:
                gateway_id = GatewayTopic.parse(message.topic).gateway_id
            except TopicError:
                admitted.append(message)
                continue
            (admitted if limiter.allow(gateway_id, message.received) else dropped).append(message)
        if dropped:
            acknowledged = 0
            with self._ack_lock:
                for message in dropped:
                    if message.generation == self._generation:
                        self._client.ack(message.mid, message.qos)
                        acknowledged += 1
            self.stats.add(
                rate_limited=len(dropped),
                acknowledged=acknowledged,
                stale_acks_skipped=len(dropped) - acknowledged,
            )
        for report in limiter.drop_reports(batch[-1].received):
            log.warning(
                "gateway %s over its rate limit (%g/s, burst %d): %d messages dropped since the "
                "last report; it sends them again",
                report.gateway_id,
                limiter.rate,
                limiter.burst,
                report.dropped,
            )
        return admitted

    def _store_loop(self) -> None:
        """Store and acknowledge prepared batches in arrival order until the collector stops."""
        while True:
            self._store_idle_since = time.monotonic()
            self._store_idle.set()
            item = self._prepared.get()
            self._store_idle.clear()
            if item is None:
                return
            self._handle(*item)

    def _handle(self, batch: list[Inbound], prepared: Triage | None = None) -> None:
        """Store a batch and acknowledge it; isolate a message that fails for good."""
        started = time.perf_counter()
        try:
            written = self._store_with_retry(batch, prepared)
        except Exception as exc:  # a non-transient failure must not stop the stream
            if len(batch) > 1:
                log.exception("batch of %d failed; storing message by message", len(batch))
                for message in batch:
                    self._handle([message])
                return
            with bind(**payload_fields(batch[0].topic, batch[0].payload)):
                log.exception("message on %s cannot be stored; dead-lettered", batch[0].topic)
            reason = f"could not be stored: {exc!r}"
            dead = Triage(rejected=[Rejected(batch[0], reason, None)])
            written = self._retrying(lambda: self._write(dead))
        if written is None:
            return
        result = written.result
        self.stats.add(
            stored=len(result.accepted),
            duplicates=result.duplicates,
            rewritten=len(result.rewrites),
            dead_letters=len(result.rejected),
            batches=1,
        )
        if self._metrics is not None:
            self._metrics.observe_batch(
                dead_letter_reasons=[rejected.reason for rejected in result.rejected],
                write_seconds=time.perf_counter() - started,
            )
        committed = Committed(batch, *written[1:], confirmations=confirmations(result))
        if self._persister is None:
            self._acknowledge(committed)
        else:
            self._persister.submit(committed)

    def _store_with_retry(self, batch: list[Inbound], prepared: Triage | None) -> Written | None:
        """Write a batch (preparing it first unless done); None when stopping first.

        Its keys leave the pending set whatever happens: committed, they are in the ledger;
        not committed, the broker redelivers the messages.
        """
        if prepared is None:
            prepared = self._retrying(lambda: self._prepare(batch))
            if prepared is None:
                return None
        try:
            return self._retrying(lambda: self._write(prepared))
        finally:
            with self._triage_lock:
                self._pending.difference_update(prepared.keys)

    def _retrying(self, action: Callable[[], _T]) -> _T | None:
        """action(), retried while a store is unavailable; None when stopping first."""
        attempt = 0
        while True:
            try:
                return action()
            except (StoreUnavailableError, OperationalError) as exc:
                if self._stopping.is_set():
                    log.warning("stopping with a batch unstored; the broker redelivers it")
                    return None
                delay = RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]
                self.stats.add(store_retries=1)
                log.warning("batch not stored (%s); retry in %.1fs", exc, delay)
                self._stopping.wait(delay)
                attempt += 1

    def _prepare(self, batch: list[Inbound]) -> Triage:
        """Decode and triage a batch; its accepted keys join the pending set.

        Pending keys belong to batches prepared but not yet committed to the ledger, so a
        reading repeated in the next batch is a duplicate although the ledger does not show
        it yet. The pending set is copied before the ledger is read: a batch that commits in
        between is then found in one or the other. The lock makes check-and-add atomic when
        the store thread prepares a batch again (after a failure) beside the collector.
        """
        decoded = decode_batch(batch, max_payload_bytes=self._settings.ingest_max_payload_bytes)
        with self._triage_lock:
            pending = set(self._pending)
            with transaction(self._sessions) as session:
                devices = self._registered_devices(session, decoded)
                stored = repository.stored_keys(
                    session, {reading.key for _, reading in decoded.readings}
                )
                bindings = devices_service.bindings_of(
                    session, device_ids={reading.device_id for _, reading in decoded.readings}
                )
            result = triage(
                decoded,
                devices_by_gateway=devices,
                stored_keys=stored.durable | pending,
                bindings=bindings,
                undurable=stored.undurable,
            )
            self._pending.update(result.keys)
        return result

    def _write(self, result: Triage) -> Written:
        """Write accepted and rewritten readings to the time-series store, then commit the
        ledger and the alerts of the accepted ones.

        Nothing commits before the time-series write returned: durable, or, with a store that
        persists separately, searchable and recorded in the ledger rows as this run's batch
        so that the group snapshot can vouch for it (``cloud/ingest/persister.py``). A store
        that uses no SQL database writes on the ``ingest-tsdb`` thread meanwhile this one
        inserts the ledger rows into the still open transaction, so the two waits overlap;
        except on SQLite, whose write transaction locks the whole database: held while waiting
        for the time-series server, it would stall every other writer (another ingest worker on
        the shared subscription, the API, the scheduler) for that long.
        """
        points = [
            ReadingPoint.from_reading(reading, owner)
            for reading, owner in (*result.accepted, *result.rewrites)
        ]
        batch = self._next_tsdb_batch() if self._persister is not None and points else None
        write = self._store.write if batch is None else self._store.write_unpersisted
        written = self._tsdb_writer.submit(write, points)
        if not self._store.writes_outside_sql or self._sql_locks_database:
            written.result()
        now = utcnow()
        last_seen = self._last_seen.due((reading for reading, _ in result.accepted), now)
        with transaction(self._sessions) as session:
            repository.record_batch(
                session,
                accepted=result.accepted,
                rejected=result.rejected,
                received_at=now,
                last_seen=last_seen,
                tsdb_batch=batch,
                rewritten=[reading.key for reading, _ in result.rewrites],
            )
            self._evaluate_alerts(session, result, now)
            receipt = written.result()
        self._last_seen.written(last_seen)
        if batch is None:
            return Written(result)
        return Written(result, batch, points, receipt)

    def _next_tsdb_batch(self) -> TsdbBatch:
        """A new batch number of this run (registering the run as a writer first)."""
        if self._writer is None:
            with transaction(self._sessions) as session:
                self._writer = repository.register_writer(
                    session, client_id=self._settings.mqtt_client_id, started_at=utcnow()
                )
        self._batch_number += 1
        return TsdbBatch(self._writer, self._batch_number)

    def _evaluate_alerts(self, session: Session, result: Triage, now: datetime) -> None:
        """Run the alert rules on the stored readings, in the batch's transaction.

        A failure of the rules must not cost the readings: it is rolled back to a savepoint,
        logged at ERROR and counted, and the readings commit without their alerts.
        """
        if not result.accepted:
            return
        try:
            with session.begin_nested():
                changes = evaluate_readings(session, readings=result.accepted, now=now)
        except Exception:
            self.stats.add(alert_errors=1)
            log.exception("alert rules failed on a batch of %d readings", len(result.accepted))
            return
        opened = [change for change in changes if change.transition == "opened"]
        for change in opened:
            log.info(
                "alert %d opened: patient %d, %s (%s)",
                change.alert_id,
                change.patient_id,
                change.rule_id,
                change.severity,
            )
        self.stats.add(alerts_opened=len(opened), alert_changes=len(changes))

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

    def _acknowledge(self, committed: Committed) -> None:
        """PUBACK a durable batch, but no message received on an earlier connection, and
        confirm its readings to their gateways.

        Confirmations go whatever the connection: they are QoS 1 (paho re-sends them after a
        reconnect) and a gateway that misses one re-sends the reading, which is then confirmed
        as a duplicate.
        """
        batch = committed.messages
        acknowledged = 0
        with self._ack_lock:
            for message in batch:
                if message.generation != self._generation:
                    self.stats.add(stale_acks_skipped=1)
                    continue
                self._client.ack(message.mid, message.qos)
                acknowledged += 1
        for gateway_id, confirmation in committed.confirmations.items():
            topic = str(GatewayTopic(gateway_id, "confirm"))
            for part in split(confirmation):
                self._client.publish(topic, encode_confirmation(part), qos=1)
        self.stats.add(
            acknowledged=acknowledged,
            confirmations_sent=len(committed.confirmations),
        )
        if self._metrics is not None and batch:
            self._metrics.observe_ack(time.monotonic() - batch[0].received)


def _locks_whole_database(factory: sessionmaker[Session]) -> bool:
    """True when factory's database has one write lock for everything (SQLite)."""
    bind = factory.kw.get("bind")
    return bind is not None and bind.dialect.name == "sqlite"
