"""MQTT uplink: drains the durable outbox to the broker; the cloud confirms each reading.

paho-mqtt 2.x, MQTT v5, QoS 1, persistent session (``clean_start=False`` with a session expiry),
or MQTT 3.1.1 with ``CAREDGE_MQTT_PROTOCOL=3.1.1`` (``clean_session=False``: the broker keeps
the session until the client cleans it; no Receive Maximum, so the window is the setting's),
credentials and TLS from ``CAREDGE_MQTT_URL``, and a retained last will on
``caredge/v1/gw/{id}/status`` saying ``"online": false``. On connect the uplink publishes a
retained online status and then a heartbeat every ``heartbeat_seconds``: the status provider's
figures (the daemon's meters with their last-seen times) plus the outbox depth, the age of its
oldest entry, the entries awaiting PUBACK and the uplink counters (docs/gateway.md, "Status").

Threads: paho's network thread only queues events (connected, disconnected, PUBACK); one drain
thread owns all state. It keeps at most ``inflight_window`` outbox entries awaiting PUBACK
(MQTT packet ids are 16-bit, and paho and Mosquitto lose messages past 65,535 outstanding),
deletes entries in one transaction per batch of PUBACKs, and wakes when something is put.

Confirmations (default ``CAREDGE_DELIVERY_CONFIRMATION=cloud``): the uplink subscribes to
``caredge/v1/gw/{id}/confirm``; after a good PUBACK a reading only becomes "sent" and waits for
the ingest worker's confirmation that it is durable (:mod:`protocol.confirmations`), which
removes it. One left unconfirmed is sent again after ``confirm_timeout_seconds``, doubling per
attempt (a broker that lost its queue, a rate-limited flood). Readings the cloud rejected for
good (dead letters) are removed too, with a WARNING naming the reason. Telemetry leaves on the
PUBACK. With ``broker``, readings leave on the PUBACK as well.

Redelivery: paho keeps every unacknowledged QoS 1 message of this process and re-sends it, with
its packet id and the DUP flag, after a reconnect (MQTT v5 §4.4); those are counted as
``resent``. A message the broker refuses (PUBACK reason code ≥ 0x80, e.g. 0x87 Not authorized)
stays in the outbox and is sent again after a back-off. After a crash the outbox still holds
everything unacknowledged and the next process sends it. Duplicates are fine: the cloud drops
repeated ``(gateway_id, device_id, seq)``.

Run on its own: ``python -m edge.uplink --help``.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import signal
import ssl
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.outbox import Outbox
from edge.outbox_policy import puback_delivered, retry_delay
from edge.settings import GatewaySettings
from protocol.confirmations import decode_confirmation
from protocol.envelope import PayloadError
from protocol.topics import GatewayTopic

log = logging.getLogger(__name__)

STATUS_VERSION = 1
SESSION_EXPIRY_S = 7 * 24 * 3600
KEEPALIVE_S = 30
#: Re-read the outbox at least this often, for entries put by another process.
POLL_SECONDS = 1.0
#: Packet ids beyond the outbox window, for status messages.
STATUS_SLOTS = 4
REFUSAL_LOG_SECONDS = 60.0

StatusProvider = Callable[[], Mapping[str, Any]]


@dataclass
class UplinkStats:
    """Counters since start: messages published, PUBACKed, re-sent and refused by the broker;
    readings the cloud confirmed as stored or as rejected for good."""

    published: int = 0
    acked: int = 0
    resent: int = 0
    rejected: int = 0
    confirmed: int = 0
    rejected_by_cloud: int = 0
    connects: int = 0
    disconnects: int = 0


def status_payload(
    gateway_id: str,
    *,
    online: bool,
    reason: str | None = None,
    extra: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> bytes:
    """The JSON of a gateway status message (retained on ``caredge/v1/gw/{id}/status``)."""
    status: dict[str, Any] = dict(extra or {})
    status.update(v=STATUS_VERSION, gateway_id=gateway_id, online=online)
    if at is not None:
        status["at"] = at.isoformat()
    if reason is not None:
        status["reason"] = reason
    return json.dumps(status, separators=(",", ":"), default=str).encode()


class Uplink:
    """Drains an :class:`~edge.outbox.Outbox` to MQTT until stopped; use as a context manager."""

    def __init__(
        self,
        settings: GatewaySettings,
        outbox: Outbox,
        status_provider: StatusProvider | None = None,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.stats = UplinkStats()
        self._status_provider = status_provider
        self._status_topic = str(GatewayTopic(settings.gateway_id, "status"))
        self._confirm_topic = str(GatewayTopic(settings.gateway_id, "confirm"))
        self._confirmed_by_cloud = settings.delivery_confirmation == "cloud"
        self._window = settings.inflight_window
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._events: deque[tuple[Any, ...]] = deque()
        # Owned by the drain thread: packet id -> outbox entry id, for every entry awaiting PUBACK.
        self._inflight: dict[int, int] = {}
        self._refused: set[int] = set()  # refused entries not yet published again
        self._refused_unlogged = 0
        self._refusal_warned = False
        self._next_refusal_log = 0.0
        self._connected = False
        self._failures = 0
        self._paused_until = 0.0
        self._next_heartbeat = 0.0
        self._status_failures = 0
        self._provider_failed = False
        self._thread: threading.Thread | None = None
        self._client = self._make_client()

    # -- public --------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the broker session is up (as last seen by the drain thread)."""
        return self._connected

    @property
    def inflight(self) -> int:
        """Outbox entries published and awaiting PUBACK."""
        return len(self._inflight)

    def start(self) -> None:
        """Connect in the background (retrying while the broker is away) and start draining."""
        if self._thread is not None:
            raise RuntimeError("uplink already started")
        endpoint = self.settings.mqtt
        self.outbox.add_listener(self._wake.set)
        log.info(
            "uplink %s connecting to %s:%d (MQTT %s, tls=%s)",
            self.settings.mqtt_client_id,
            endpoint.host,
            endpoint.port,
            self.settings.mqtt_protocol,
            endpoint.tls,
        )
        if self.settings.mqtt_protocol == "5":
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
            self._client.connect_async(
                endpoint.host,
                endpoint.port,
                keepalive=KEEPALIVE_S,
                clean_start=False,
                properties=properties,
            )
        else:  # 3.1.1: the persistent session is clean_session=False, set on the client
            self._client.connect_async(endpoint.host, endpoint.port, keepalive=KEEPALIVE_S)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._run, name="uplink-drain", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop draining, publish a retained offline status, disconnect cleanly."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.outbox.remove_listener(self._wake.set)
        if self._connected:
            info = self._client.publish(
                self._status_topic,
                status_payload(
                    self.settings.gateway_id,
                    online=False,
                    reason="stopped",
                    at=datetime.now(UTC),
                ),
                qos=1,
                retain=True,
            )
            try:
                info.wait_for_publish(timeout=min(timeout, 2.0))
            except (RuntimeError, ValueError):
                log.info("offline status not sent: the connection went away while stopping")
        self._client.disconnect()
        self._client.loop_stop()
        self._handle_events()  # delete what was PUBACKed while stopping: fewer duplicates later
        self._connected = False
        self._thread = None
        log.info(
            "uplink stopped: %d published, %d acked, %d resent, %d refused",
            self.stats.published,
            self.stats.acked,
            self.stats.resent,
            self.stats.rejected,
        )

    def is_empty(self) -> bool:
        """True when the outbox is empty (all confirmed) and nothing awaits a PUBACK."""
        return not self._inflight and sum(self.outbox.depth().values()) == 0

    def wait_until_empty(self, timeout: float) -> bool:
        """Block until :meth:`is_empty`; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.is_empty():
                return True
            time.sleep(0.01)
        return False

    def __enter__(self) -> Uplink:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- paho callbacks (network thread): only queue and wake ------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        # MQTT 3.1.1 has no Receive Maximum (paho passes no or empty properties then).
        receive_maximum = getattr(properties, "ReceiveMaximum", 65535) if properties else 65535
        self._events.append(("connect", reason_code, flags.session_present, receive_maximum))
        self._wake.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._events.append(("disconnect", reason_code))
        self._wake.set()

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._events.append(("puback", mid, reason_code))
        self._wake.set()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if message.topic == self._confirm_topic:
            self._events.append(("confirm", message.payload))
            self._wake.set()

    # -- drain thread --------------------------------------------------------------------

    def _run(self) -> None:
        timeout = 0.0
        while True:
            self._wake.wait(timeout)
            self._wake.clear()
            try:
                self._handle_events()
                if self._stopping.is_set():
                    return
                now = time.monotonic()
                if self._connected and now >= self._next_heartbeat:
                    self._publish_status()
                    self._next_heartbeat = now + self.settings.heartbeat_seconds
                if self._connected and now >= self._paused_until:
                    self._fill_window()
            except Exception:
                # The outbox is the source of truth: whatever failed here is retried.
                log.exception("uplink drain step failed; retrying")
                self._pause()
            timeout = self._next_wake()

    def _next_wake(self) -> float:
        now = time.monotonic()
        waits = [POLL_SECONDS]
        if self._connected:
            waits.append(self._next_heartbeat - now)
            if self._paused_until > now:
                waits.append(self._paused_until - now)
        return max(0.0, min(waits))

    def _handle_events(self) -> None:
        delivered: list[int] = []
        while self._events:
            event = self._events.popleft()
            if event[0] == "puback":
                self._handle_puback(event[1], event[2], delivered)
            elif event[0] == "confirm":
                self._handle_confirmation(event[1])
            elif event[0] == "connect":
                self._handle_connect(event[1], event[2], event[3])
            else:
                self._handle_disconnect(event[1])
        if delivered:
            if self._confirmed_by_cloud:
                self.outbox.mark_sent(delivered, base_wait=self.settings.confirm_timeout_seconds)
            else:
                self.outbox.ack(delivered)
            self.stats.acked += len(delivered)

    def _handle_confirmation(self, payload: bytes) -> None:
        try:
            confirmation = decode_confirmation(payload)
        except PayloadError as exc:
            log.warning("ignored a malformed confirmation: %s", exc.reason)
            return
        if confirmation.gateway_id != self.settings.gateway_id:
            log.warning("ignored a confirmation for gateway %r", confirmation.gateway_id)
            return
        for device_id, seqs in confirmation.stored.items():
            self.stats.confirmed += self.outbox.confirm(device_id, seqs)
        for rejected in confirmation.rejected:
            if self.outbox.confirm(rejected.device_id, [rejected.seq]):
                self.stats.rejected_by_cloud += 1
                log.warning(
                    "the cloud rejected reading %s/%d for good (kept there as a dead letter): %s",
                    rejected.device_id,
                    rejected.seq,
                    rejected.reason,
                )

    def _handle_puback(self, mid: int, reason_code: ReasonCode, delivered: list[int]) -> None:
        entry_id = self._inflight.pop(mid, None)
        accepted = puback_delivered(reason_code.value)
        if entry_id is None:
            # A status message (or a PUBACK of a message from before a restart of paho's state).
            if not accepted:
                self._status_failures += 1
                if self._status_failures == 1:
                    log.warning("broker refused a status message: %s", reason_code)
            else:
                self._status_failures = 0
            return
        if accepted:
            delivered.append(entry_id)
            self._failures = 0
            if self._refusal_warned:
                log.info("broker accepts outbox entries again")
                self._refusal_warned = False
            return
        self.stats.rejected += 1
        self._refused.add(entry_id)
        self._refused_unlogged += 1
        now = time.monotonic()
        if now >= self._paused_until:
            # One more round refused: back off further. Refusals of the same window arriving
            # during the pause belong to the same round and do not escalate it.
            self._failures += 1
            self._pause()
        if now >= self._next_refusal_log:
            # At most one WARNING a minute, however many entries the broker refuses.
            log.warning(
                "broker refused %d outbox entries (last: entry %d, %s, reason code 0x%02X): "
                "kept, retrying with back-off",
                self._refused_unlogged,
                entry_id,
                reason_code,
                reason_code.value,
            )
            self._refused_unlogged = 0
            self._refusal_warned = True
            self._next_refusal_log = now + REFUSAL_LOG_SECONDS

    def _handle_connect(
        self, reason_code: ReasonCode, session_present: bool, receive_maximum: int
    ) -> None:
        if reason_code.is_failure:
            log.warning("broker refused the connection: %s; paho retries", reason_code)
            return
        # Never exceed the broker's Receive Maximum (MQTT v5 §3.3.4): Mosquitto disconnects a
        # client that does, and paho does not enforce it.
        self._window = max(1, min(self.settings.inflight_window, receive_maximum - STATUS_SLOTS))
        self._connected = True
        self.stats.connects += 1
        if self._confirmed_by_cloud:
            # Every time: a broker that lost its state (no persistence) lost the subscription.
            self._client.subscribe(self._confirm_topic, qos=1)
        self._next_heartbeat = 0.0  # announce "online" (retained) right away
        if self.stats.connects > 1 and self._inflight:
            # paho re-sends every unacknowledged message of this process on reconnect.
            self.stats.resent += len(self._inflight)
        log.info(
            "uplink connected (session present: %s, %d unacknowledged re-sent)",
            session_present,
            len(self._inflight) if self.stats.connects > 1 else 0,
        )

    def _handle_disconnect(self, reason_code: ReasonCode) -> None:
        if not self._connected:
            return
        self._connected = False
        self.stats.disconnects += 1
        if self._stopping.is_set():
            return
        log.info(
            "uplink disconnected (%s); %d messages await PUBACK, paho reconnects",
            reason_code,
            len(self._inflight),
        )

    def _pause(self) -> None:
        self._paused_until = time.monotonic() + retry_delay(max(1, self._failures))

    def _fill_window(self) -> None:
        room = self._window - len(self._inflight)
        if room <= 0:
            return
        entries = self.outbox.peek(room, exclude=self._inflight.values(), due_by=time.time())
        for entry in entries:
            info = self._client.publish(entry.topic, entry.payload, qos=1)
            if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                log.warning(
                    "paho did not take outbox entry %d: %s", entry.id, mqtt.error_string(info.rc)
                )
                self._failures += 1
                self._pause()
                return
            # NO_CONN: paho keeps the message and sends it after the reconnect.
            self._inflight[info.mid] = entry.id
            self.stats.published += 1
            if entry.id in self._refused:
                self._refused.discard(entry.id)
                self.stats.resent += 1
            elif entry.attempts:
                self.stats.resent += 1  # accepted by the broker before, never confirmed

    def _publish_status(self) -> None:
        extra: dict[str, Any] = {}
        if self._status_provider is not None:
            try:
                extra.update(self._status_provider())
                self._provider_failed = False
            except Exception:
                if not self._provider_failed:
                    log.exception("status provider failed; sending the gateway's own figures")
                self._provider_failed = True
        extra.update(
            outbox=self.outbox.depth(),
            outbox_oldest_age_s=self._oldest_entry_age(),
            inflight=len(self._inflight),
            awaiting_confirmation=self.outbox.awaiting_confirmation(),
            dropped_telemetry=self.outbox.dropped_telemetry,
            uplink=asdict(self.stats),
        )
        payload = status_payload(
            self.settings.gateway_id, online=True, extra=extra, at=datetime.now(UTC)
        )
        log.debug("status %s", payload)
        self._client.publish(self._status_topic, payload, qos=1, retain=True)

    def _oldest_entry_age(self) -> float | None:
        """Seconds the next entry to drain has waited (readings first); None when empty.

        Growing while online means the broker refuses or the window is stuck; while offline it
        is how old the oldest undelivered reading is.
        """
        head = self.outbox.peek(1)
        return round(max(time.time() - head[0].enqueued_at, 0.0), 3) if head else None

    def _make_client(self) -> mqtt.Client:
        settings = self.settings
        endpoint = settings.mqtt
        if settings.mqtt_protocol == "5":
            client = mqtt.Client(
                callback_api_version=CallbackAPIVersion.VERSION2,
                client_id=settings.mqtt_client_id,
                protocol=mqtt.MQTTv5,
            )
        else:
            client = mqtt.Client(
                callback_api_version=CallbackAPIVersion.VERSION2,
                client_id=settings.mqtt_client_id,
                protocol=mqtt.MQTTv311,
                clean_session=False,
            )
        if endpoint.username:
            password = endpoint.password.get_secret_value() if endpoint.password else None
            client.username_pw_set(endpoint.username, password)
        if endpoint.tls:
            ca_file = str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None
            client.tls_set(ca_certs=ca_file, cert_reqs=ssl.CERT_REQUIRED)
        client.will_set(
            self._status_topic,
            status_payload(settings.gateway_id, online=False, reason="connection lost"),
            qos=1,
            retain=True,
        )
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_inflight_messages_set(self._window + STATUS_SLOTS)
        client.max_queued_messages_set(0)  # unbounded in paho; the window bounds it
        client.enable_logger(log.getChild("paho"))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client


def max_rss_kb() -> int:
    """Peak resident set size of this process in KiB.

    VmHWM of /proc/self/status where there is one: Linux's ``ru_maxrss`` keeps the high-water
    mark of the address space replaced by ``execve``, i.e. of the (possibly large) parent that
    spawned this process.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def main(argv: list[str] | None = None) -> int:
    """Run the uplink on the configured outbox until SIGTERM/SIGINT (or until it is empty)."""
    parser = argparse.ArgumentParser(
        prog="python -m edge.uplink",
        description="Drain the gateway's outbox to MQTT. Configured by CAREDGE_* variables "
        "(CAREDGE_GATEWAY_ID, CAREDGE_MQTT_URL, CAREDGE_OUTBOX_PATH, ...).",
    )
    parser.add_argument(
        "--exit-when-empty",
        action="store_true",
        help="stop cleanly once every entry is acknowledged, then print a JSON summary",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="with --exit-when-empty: give up after S s"
    )
    parser.add_argument("--log-level", default=None, help="override CAREDGE_LOG_LEVEL")
    args = parser.parse_args(argv)
    settings = GatewaySettings()
    logging.basicConfig(
        level=(args.log_level or settings.log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    outbox = Outbox(settings.outbox_file, max_rows=settings.outbox_max_rows)
    uplink = Uplink(settings, outbox)
    started = time.perf_counter()
    uplink.start()
    emptied = False
    deadline = time.monotonic() + args.timeout
    try:
        while not stop.wait(0.01 if args.exit_when_empty else 1.0):
            if args.exit_when_empty:
                emptied = uplink.is_empty()
                if emptied or time.monotonic() > deadline:
                    break
    finally:
        drain_seconds = time.perf_counter() - started
        uplink.stop()
        depth = outbox.depth()
        outbox.close()
    if args.exit_when_empty:
        summary = asdict(uplink.stats) | {
            "emptied": emptied,
            "drain_seconds": round(drain_seconds, 4),
            "max_rss_kb": max_rss_kb(),
            "outbox": depth,
        }
        print(json.dumps(summary), flush=True)
        return 0 if emptied else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
