"""An embedded MQTT broker (amqtt) for ``caredge demo``: no service to install. Demo only.

What amqtt 0.12.1 does and does not do, read in its source and checked with paho-mqtt 2.2
clients on loopback (so the ingest worker knows how to talk to it):

- **MQTT 3.1.1 only.** ``BrokerProtocolHandler.init_from_connect`` answers any CONNECT
  whose protocol level is not 4 with CONNACK "unacceptable protocol version"; a paho
  ``MQTTv5`` client gets reason "Unsupported protocol version" and never connects.
  Clients of this broker must use ``MQTTv311`` (``CAREDGE_MQTT_PROTOCOL=3.1.1``).
- **No shared subscriptions.** ``$share/ingest/caredge/v1/gw/+/reading`` is granted
  (SUBACK QoS 1) but stored as a literal filter whose first levels never match a
  published topic, so the subscriber silently receives nothing. Subscribe to the plain
  filter ``caredge/v1/gw/+/reading`` (``protocol.topics.READING_WILDCARD``); with one
  worker nothing is lost by that.
- **Persistent sessions only for named clients.** ``clean_session=False`` keeps the
  session and its subscriptions, and queues QoS 1 messages while the client is away,
  only if the session is not anonymous: the broker drops disconnected anonymous sessions
  every second and never queues for them. The loopback auth plugin below marks a client
  anonymous exactly when it sends no username, so a worker that connects with any
  username (``mqtt://ingest@127.0.0.1:PORT``) gets a persistent session. Messages queued
  while it was away are delivered on reconnect with the RETAIN flag set (an amqtt quirk).
- **QoS 1 and manual acks work, with limits.** A publisher's PUBACK is sent once the
  broker holds the message in memory (before delivery to subscribers; nothing survives a
  broker restart). Towards a subscriber, amqtt waits 5 s for each PUBACK and then drops
  the message (logs "Timeout waiting for PUBACK" and never redelivers it); a later
  paho ``client.ack()`` only draws "PUBACK for unknown pending message". Messages in
  flight (sent, not yet acknowledged) when a subscriber disconnects are dropped too, not
  redelivered. So paho ``manual_ack=True`` works as long as the worker acknowledges
  within 5 s, and at-least-once across worker crashes does not hold with amqtt.
- There is no in-flight window towards a subscriber (3.1.1 has no Receive Maximum):
  every matching message is sent at once, one asyncio task each.
- Fine for a demo's few readings per second (MEASURED.md: ~2,000 QoS 1 msg/s), not for
  throughput or fault-tolerance tests: those run against Mosquitto.

Security: the broker binds a loopback address only and accepts any client that connects
from loopback, with or without credentials. That is acceptable for a demo on one machine
and for nothing else; production uses Mosquitto with TLS and per-gateway credentials.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import threading
import time
from types import TracebackType
from typing import Any

from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session

from cloud.errors import CloudError

log = logging.getLogger(__name__)

#: The only MQTT version amqtt speaks; clients of the embedded broker must use it.
MQTT_PROTOCOL = "3.1.1"
_LOOPBACK_NAMES = {"localhost"}
_START_TIMEOUT_S = 10.0


class EmbeddedBrokerError(CloudError):
    """The embedded broker could not start or stop."""


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class LoopbackAuthPlugin(BaseAuthPlugin):
    """amqtt auth plugin: accept loopback clients only; a client with a username is not anonymous.

    Not anonymous matters because amqtt keeps persistent sessions and queues QoS 1
    messages only for non-anonymous clients. Passwords are not checked: demo only.
    """

    async def authenticate(self, *, session: Session) -> bool:
        """True for a client connecting from a loopback address."""
        session.is_anonymous = not session.username
        if _is_loopback(session.remote_address):
            return True
        log.warning("refused MQTT client %s from %s", session.client_id, session.remote_address)
        return False


def broker_config(host: str, port: int) -> dict[str, Any]:
    """amqtt configuration: one TCP listener on host:port, loopback auth, no $SYS or packet logs."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {f"{__name__}.LoopbackAuthPlugin": {}},
    }


class EmbeddedBroker:
    """An amqtt broker on its own asyncio loop in a background thread; a context manager.

    ``port=0`` picks a free port; ``url`` is ``mqtt://HOST:PORT`` once started.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if not _is_loopback(host):
            raise ValueError(f"the embedded demo broker binds loopback only, not {host!r}")
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Broker | None = None
        self._stop_requested: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        """The port the broker listens on (only once started)."""
        if self._port is None:
            raise EmbeddedBrokerError("the embedded broker is not running")
        return self._port

    @property
    def url(self) -> str:
        """``mqtt://host:port`` of the running broker."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"mqtt://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the broker thread is alive and listening."""
        return self._port is not None and self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = _START_TIMEOUT_S) -> None:
        """Start the broker thread and return once it listens; EmbeddedBrokerError if it cannot."""
        if self._thread is not None:
            raise EmbeddedBrokerError("the embedded broker was already started")
        self._thread = threading.Thread(target=self._run, name="embedded-mqtt", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise EmbeddedBrokerError(f"the embedded broker did not start within {timeout}s")
        if self._error is not None:
            self._thread.join(timeout)
            raise EmbeddedBrokerError(f"the embedded broker failed to start: {self._error}") from (
                self._error
            )
        log.info("embedded MQTT broker (amqtt, MQTT %s) on %s", MQTT_PROTOCOL, self.url)

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the broker down (closes every client connection) and join its thread."""
        thread, loop, stop_requested = self._thread, self._loop, self._stop_requested
        if thread is None:
            return
        if loop is not None and stop_requested is not None and thread.is_alive():
            loop.call_soon_threadsafe(stop_requested.set)
        thread.join(timeout)
        if thread.is_alive():
            raise EmbeddedBrokerError(f"the embedded broker did not stop within {timeout}s")
        self._thread = None
        self._port = None
        log.info("embedded MQTT broker stopped")

    def wait_subscribed(self, topic_filter: str, timeout: float = 10.0) -> bool:
        """Block until some client subscribes to topic_filter; False after timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            loop, broker = self._loop, self._broker
            if loop is None or broker is None or not self.running:
                return False
            subscribed = asyncio.run_coroutine_threadsafe(
                _has_subscribers(broker, topic_filter), loop
            )
            if subscribed.result(timeout):
                return True
            time.sleep(0.05)
        return False

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- broker thread ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start(); the thread must not die silently
            if not self._ready.is_set():
                self._error = exc
                self._ready.set()
            else:
                log.exception("embedded MQTT broker crashed")

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        broker = Broker(broker_config(self.host, self._requested_port))
        await broker.start()
        self._broker = broker
        try:
            self._port = _listening_port(broker)
            self._ready.set()
            await self._stop_requested.wait()
        finally:
            self._broker = None
            await broker.shutdown()


async def _has_subscribers(broker: Broker, topic_filter: str) -> bool:
    return bool(broker.subscriptions.get(topic_filter))


def _listening_port(broker: Broker) -> int:
    # amqtt exposes no public accessor for the bound address; port 0 needs the real one.
    server = broker._servers["default"].instance  # noqa: SLF001
    sockets = getattr(server, "sockets", None) or ()
    if not sockets:
        raise EmbeddedBrokerError("the embedded broker has no listening socket")
    return int(sockets[0].getsockname()[1])
