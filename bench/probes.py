"""Receivers whose arrival times the latency benchmark measures against the publish time.

- :class:`ConsoleWatch`: the nurse console's WebSocket (``/api/v1/console/ws``), signed in as
  a nurse, noting when the ``alert`` message of each newly opened alert arrives, by patient.
- :class:`BareSubscriber`: a paho subscriber that only notes arrival times, by payload: the
  broker's own round trip, the floor under any MQTT → console path.

Both note ``time.perf_counter()`` on their receiving thread, the same clock the publisher reads.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

log = logging.getLogger(__name__)


class ProbeError(RuntimeError):
    """A receiver could not sign in, connect or subscribe."""


@dataclass(frozen=True)
class Arrival:
    """When an alert reached the console, and what the message said about it."""

    at: float
    alert_id: int
    opened_at: str


def sign_in(api_url: str, username: str, password: str) -> str:
    """A bearer token from POST /api/v1/auth/token (OAuth2 password form)."""
    response = httpx.post(
        f"{api_url}/api/v1/auth/token",
        data={"username": username, "password": password},
        timeout=10,
    )
    if response.status_code != 200:
        raise ProbeError(f"sign-in as {username} failed: {response.status_code} {response.text}")
    return str(response.json()["access_token"])


@dataclass
class ConsoleWatch:
    """A console WebSocket on its own thread; ``opened[patient_id]`` is the first arrival of
    an open alert of that patient, ``paged[patient_id]`` the first ``notification`` page."""

    api_url: str
    token: str
    opened: dict[int, Arrival] = field(default_factory=dict)
    paged: dict[int, float] = field(default_factory=dict)
    messages: int = 0
    _socket: ClientConnection | None = field(init=False, default=None)
    _thread: threading.Thread | None = field(init=False, default=None)
    _changed: threading.Condition = field(init=False, default_factory=threading.Condition)

    def __enter__(self) -> ConsoleWatch:
        url = self.api_url.replace("http://", "ws://", 1) + "/api/v1/console/ws"
        self._socket = connect(url, open_timeout=10, max_size=None)
        self._socket.send(json.dumps({"type": "auth", "token": self.token}))
        for expected in ("hello", "snapshot"):
            message = json.loads(self._socket.recv(timeout=10))
            if message.get("type") != expected:
                raise ProbeError(f"console sent {message!r}, expected {expected!r}")
        self._thread = threading.Thread(target=self._receive, name="console-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._socket is not None:
            self._socket.close()
        if self._thread is not None:
            self._thread.join(5)

    def wait_for(self, patient_ids: set[int], timeout: float) -> bool:
        """Block until every patient in patient_ids has an arrival; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not patient_ids <= self.opened.keys():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    def _receive(self) -> None:
        assert self._socket is not None
        try:
            for text in self._socket:
                at = time.perf_counter()
                self._note(json.loads(text), at)
        except ConnectionClosed:
            pass

    def _note(self, message: dict[str, Any], at: float) -> None:
        self.messages += 1
        kind = message.get("type")
        if kind == "alert":
            alert = message["alert"]
            patient_id = int(alert["patient_id"])
            if alert["state"] == "open" and patient_id not in self.opened:
                with self._changed:
                    self.opened[patient_id] = Arrival(at, int(alert["id"]), alert["opened_at"])
                    self._changed.notify_all()
        elif kind == "notification" and message.get("event") == "opened":
            self.paged.setdefault(int(message["alert"]["patient_id"]), at)


@dataclass
class BareSubscriber:
    """A paho subscriber (QoS 1) to one topic noting ``arrivals[payload] = perf_counter()``."""

    port: int
    topic: str
    client_id: str = "bench-bare-subscriber"
    arrivals: dict[bytes, float] = field(default_factory=dict)
    _client: mqtt.Client | None = field(init=False, default=None)

    def __enter__(self) -> BareSubscriber:
        subscribed = threading.Event()

        def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
            self.arrivals.setdefault(bytes(message.payload), time.perf_counter())

        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5
        )
        client.on_message = on_message
        client.on_connect = lambda c, *_: c.subscribe(self.topic, qos=1)
        client.on_subscribe = lambda *_: subscribed.set()
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        self._client = client
        if not subscribed.wait(10):
            self.__exit__()
            raise ProbeError(f"bare subscriber could not subscribe to {self.topic}")
        return self

    def __exit__(self, *_: object) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
