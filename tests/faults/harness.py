"""What every fault scenario needs: the cloud processes, a seeded hospital, gateways that keep
publishing through outages, a paging webhook that records what it receives, and the tally of
sent against stored.

The cloud runs as production runs it: ``caredge ingest|api|scheduler`` processes configured only
by ``CAREDGE_*`` variables, so a scenario can SIGKILL or restart any of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts.models import Alert
from cloud.auth.models import User
from cloud.db import transaction
from cloud.devices.models import Device, DeviceBinding, Gateway
from cloud.oncall import service as oncall
from cloud.oncall.models import Notification
from cloud.patients.models import Patient
from cloud.readings.models import ReadingKey
from cloud.tsdb.base import ReadingStore
from edge.outbox import Outbox
from edge.settings import GatewaySettings
from edge.uplink import Uplink, UplinkStats
from protocol.envelope import BloodPressureReading, GlucoseReading, encode_reading
from protocol.topics import GatewayTopic
from tests.fixtures.ports import free_port
from tests.support import wait_until

CAREDGE = Path(sys.executable).with_name("caredge")
READY_LINES = {"ingest": "subscribed to ", "scheduler": "scheduler running"}
#: Escalation to tier 2 this long after an unacknowledged critical alert opened (minutes).
CRITICAL_DELAY_MIN = 0.3
CRISIS_SYSTOLIC = 200.0

AnyReading = BloodPressureReading | GlucoseReading


# --- the cloud processes ------------------------------------------------------------------


@dataclass
class CloudProcesses:
    """``caredge ingest``, ``api`` and ``scheduler`` as separate processes, logs in workdir."""

    workdir: Path
    database_url: str
    mqtt_url: str
    tsdb_url: str = "sql"
    webhook_url: str = ""
    api_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _starts: Counter[str] = field(default_factory=Counter)

    @property
    def env(self) -> dict[str, str]:
        tag = self.workdir.name[-12:]
        return {
            **os.environ,
            "CAREDGE_ENV": "development",
            "CAREDGE_VAR_DIR": str(self.workdir),
            "CAREDGE_DATABASE_URL": self.database_url,
            "CAREDGE_TSDB_URL": self.tsdb_url,
            "CAREDGE_MQTT_URL": self.mqtt_url,
            "CAREDGE_MQTT_CLIENT_ID": f"faults-ingest-{tag}",
            "CAREDGE_NOTIFY_MQTT_CLIENT_ID": f"faults-notify-{tag}",
            "CAREDGE_API_HOST": "127.0.0.1",
            "CAREDGE_API_PORT": str(self.api_port),
            "CAREDGE_SECRET_KEY": "faults-" + "k" * 40,
            "CAREDGE_INGEST_BATCH_SECONDS": "0.02",
            "CAREDGE_WEBHOOK_URL": self.webhook_url,
            "CAREDGE_WEBHOOK_SECRET": "faults-webhook-secret" if self.webhook_url else "",
            "CAREDGE_LOG_LEVEL": "INFO",
            **self.extra_env,
        }

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, name: str, *, timeout: float = 30.0) -> None:
        """Start one process and wait until it is ready (log line, or /readyz for the API)."""
        self._starts[name] += 1
        marker = f"--- start {self._starts[name]} ---\n".encode()
        with (self.workdir / f"{name}.log").open("ab") as log:
            log.write(marker)
            log.flush()
            self.processes[name] = subprocess.Popen(
                [str(CAREDGE), name], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        ready = READY_LINES.get(name)

        def up() -> bool:
            if self.processes[name].poll() is not None:
                raise AssertionError(f"caredge {name} exited:\n{self.log(name)[-3000:]}")
            if ready is not None:
                return ready in self.log(name).rsplit(marker.decode(), 1)[-1]
            try:
                with urllib.request.urlopen(f"{self.api_url}/readyz", timeout=1) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        wait_until(up, timeout=timeout, every=0.1)

    def kill(self, name: str) -> None:
        """SIGKILL: no clean shutdown, as on a crash or an OOM kill."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    def tracebacks(self) -> list[str]:
        """Process logs that hold a traceback (a crash is a defect even if data survived)."""
        return [n for n in ("ingest", "api", "scheduler") if "Traceback" in self.log(n)]


# --- the hospital ----------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """Ids of what seed_world made."""

    patients: dict[str, int]  # gateway id -> patient id
    nurses: dict[int, int]  # tier -> nurse id


def seed_world(
    factory: sessionmaker[Session], gateways: Sequence[str], *, since: datetime
) -> World:
    """A ward with a tier-1 and a tier-2 nurse on call (webhook pager), a fast critical
    escalation policy, and per gateway one patient with a BP meter bp-<gw> and glucose meter
    glu-<gw> bound an hour ago (so the stale-data rule, on by default, stays quiet)."""
    patients: dict[str, int] = {}
    nurses: dict[int, int] = {}
    with transaction(factory) as session:
        policy = oncall.save_policy(
            session,
            policy_id=None,
            name="faults",
            levels=[
                {"tier": 1, "delay_minutes": 0, "critical_delay_minutes": 0},
                {"tier": 2, "delay_minutes": 60, "critical_delay_minutes": CRITICAL_DELAY_MIN},
            ],
            repeat_minutes=0,
            critical_repeat_minutes=0,
            is_default=True,
            actor="faults",
        )
        ward = oncall.create_ward(
            session, name="Home care", timezone="Asia/Shanghai",
            escalation_policy_id=policy.id, actor="faults",
        )  # fmt: skip
        for tier in (1, 2):
            user = User(username=f"nurse{tier}", password_hash="-", role="nurse",
                        display_name=f"Nurse {tier}")  # fmt: skip
            session.add(user)
            session.flush()
            nurse = oncall.create_nurse(
                session, user_id=user.id, ward_id=ward.id, phone=f"+861380000000{tier}",
                mqtt_enabled=False, actor="faults",
            )  # fmt: skip
            nurses[tier] = nurse.id
            oncall.create_shift(
                session, ward_id=ward.id, nurse_id=nurse.id, tier=tier,
                starts_at=since - timedelta(days=1), ends_at=since + timedelta(days=2),
                actor="faults",
            )  # fmt: skip
        for index, gateway_id in enumerate(gateways):
            patient = Patient(mrn=f"F{index:04d}", name=f"Patient {gateway_id}",
                              birth_date=date(1950, 1, 2))  # fmt: skip
            session.add(patient)
            session.add(Gateway(id=gateway_id, name=gateway_id, mqtt_password_hash="-"))
            session.flush()
            for kind, prefix in (("blood_pressure", "bp"), ("glucose", "glu")):
                device_id = f"{prefix}-{gateway_id}"
                session.add(Device(id=device_id, gateway_id=gateway_id, kind=kind,
                                   ble_address=f"C0:CA:ED:{index // 256:02X}:{index % 256:02X}:"
                                   f"{1 if prefix == 'bp' else 2:02X}"))  # fmt: skip
                session.flush()
                session.add(DeviceBinding(device_id=device_id, patient_id=patient.id,
                                          valid_from=since - timedelta(hours=1)))  # fmt: skip
            session.flush()
            oncall.assign_patient(session, patient_id=patient.id, ward_id=ward.id, actor="faults")
            patients[gateway_id] = patient.id
    return World(patients, nurses)


def stream_readings(
    gateway_id: str, count: int, *, end: datetime, crisis_at: Sequence[int] = ()
) -> list[AnyReading]:
    """count in-range readings (BP and glucose alternating, one second apart, the last at end);
    the seqs in crisis_at are hypertensive crises (SBP 200): one critical alert per patient."""
    made: list[AnyReading] = []
    for seq in range(1, count + 1):
        at = end - timedelta(seconds=count - seq)
        if seq % 2 or seq in crisis_at:
            made.append(BloodPressureReading(
                gateway_id=gateway_id, device_id=f"bp-{gateway_id}", seq=seq, measured_at=at,
                systolic_mmhg=CRISIS_SYSTOLIC if seq in crisis_at else 118 + seq % 20,
                diastolic_mmhg=76 + seq % 10, pulse_bpm=60 + seq % 20,
            ))  # fmt: skip
        else:
            made.append(GlucoseReading(
                gateway_id=gateway_id, device_id=f"glu-{gateway_id}", seq=seq, measured_at=at,
                glucose_mmol_l=round(5.0 + (seq % 30) / 10, 1),
            ))  # fmt: skip
    return made


# --- gateways that publish through outages -------------------------------------------------


class RetryingPublisher(threading.Thread):
    """One simulated gateway: publishes its readings at QoS 1 at ``rate`` per second and, like
    the gateway's outbox, keeps every reading until its PUBACK, republishing after a reconnect."""

    def __init__(self, port: int, items: Sequence[AnyReading], *, rate: float = 20.0) -> None:
        super().__init__(daemon=True, name=f"pub-{items[0].gateway_id}")
        self.port = port
        self.items = list(items)
        self.rate = rate
        self.acked: set[int] = set()
        self.published = 0  # PUBLISH packets handed to paho, republications included
        self.reconnects = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # surfaced by the test through .error
            self.error = exc

    def _client(self) -> mqtt.Client:
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"faults-{self.name}-{secrets.token_hex(2)}",
        )
        client.max_inflight_messages_set(50)
        while True:
            try:
                client.connect("127.0.0.1", self.port, keepalive=5)
                client.loop_start()
                return client
            except OSError:
                time.sleep(0.3)

    def _run(self) -> None:
        topic = str(GatewayTopic(self.items[0].gateway_id, "reading"))
        deadline = time.monotonic() + len(self.items) / self.rate + 300
        while len(self.acked) < len(self.items):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: {len(self.acked)} of {len(self.items)} acked")
            client = self._client()
            pending: list[tuple[int, mqtt.MQTTMessageInfo]] = []
            try:
                for index, reading in enumerate(self.items):
                    if index in self.acked:
                        continue
                    pending.append((index, client.publish(topic, encode_reading(reading), 1)))
                    self.published += 1
                    time.sleep(1 / self.rate)
                    pending = self._settle(pending, wait=0)
                    if not client.is_connected() and index % 5 == 0:
                        break  # broker gone: reconnect and resend what is not acknowledged
                pending = self._settle(pending, wait=5)
            finally:
                client.loop_stop()
                client.disconnect()
            if len(self.acked) < len(self.items):
                self.reconnects += 1
                time.sleep(0.5)

    def _settle(
        self, pending: list[tuple[int, mqtt.MQTTMessageInfo]], *, wait: float
    ) -> list[tuple[int, mqtt.MQTTMessageInfo]]:
        deadline = time.monotonic() + wait
        left = []
        for index, info in pending:
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                continue  # not queued (disconnected): resent on the next connection
            if not info.is_published() and wait:
                info.wait_for_publish(timeout=max(deadline - time.monotonic(), 0.01))
            if info.is_published():
                self.acked.add(index)
            else:
                left.append((index, info))
        return left


class OutboxGateway(threading.Thread):
    """One real gateway uplink (the durable outbox and :class:`~edge.uplink.Uplink`) fed at
    ``rate`` readings per second; done when its outbox is empty, i.e. when every reading was
    confirmed (``delivery_confirmation="cloud"``) or PUBACKed (``"broker"``)."""

    def __init__(
        self,
        port: int,
        items: Sequence[AnyReading],
        workdir: Path,
        *,
        confirmation: Literal["cloud", "broker"] = "cloud",
        rate: float = 20.0,
        timeout: float = 300.0,
    ) -> None:
        gateway_id = items[0].gateway_id
        super().__init__(daemon=True, name=f"gw-{gateway_id}")
        self.items = list(items)
        self.rate = rate
        self.timeout = timeout
        self.settings = GatewaySettings(
            gateway_id=gateway_id,
            mqtt_url=f"mqtt://127.0.0.1:{port}",
            outbox_path=workdir / gateway_id / "outbox.db",
            delivery_confirmation=confirmation,
            confirm_timeout_seconds=2.0,
            heartbeat_seconds=30,
        )
        self.uplink: Uplink | None = None
        self.emptied = False
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            topic = str(GatewayTopic(self.settings.gateway_id, "reading"))
            with Outbox(self.settings.outbox_file) as outbox, Uplink(self.settings, outbox) as up:
                self.uplink = up
                for reading in self.items:
                    outbox.put("reading", topic, encode_reading(reading), reading.key)
                    time.sleep(1 / self.rate)
                self.emptied = up.wait_until_empty(self.timeout)
        except BaseException as exc:  # surfaced by the test through .error
            self.error = exc

    @property
    def stats(self) -> UplinkStats:
        """The uplink's counters (zero before it started)."""
        return self.uplink.stats if self.uplink is not None else UplinkStats()


def run_publishers(
    publishers: Sequence[RetryingPublisher | OutboxGateway], *, timeout: float = 400
) -> None:
    for publisher in publishers:
        publisher.join(timeout)
        assert not publisher.is_alive(), f"{publisher.name} still publishing"
        if publisher.error is not None:
            raise publisher.error


# --- the paging webhook --------------------------------------------------------------------


class WebhookReceiver:
    """The hospital's paging service: records each POSTed notification (id header, body)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, object], float]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.received.append(
                    (self.headers.get("X-Caredge-Notification-Id", ""), json.loads(body),
                     time.time())
                )  # fmt: skip
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/page"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- sent against stored ---------------------------------------------------------------------


@dataclass
class Tally:
    """What a scenario measured; ``line()`` is what the docs table quotes."""

    scenario: str
    sent: int
    stored: int
    lost: int
    duplicated: int
    alerts_expected: int
    alerts_delivered: int
    escalated: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    def line(self) -> str:
        figures = {k: v for k, v in vars(self).items() if k not in ("scenario", "extra")}
        figures.update(self.extra)
        return f"FAULTS {self.scenario}: " + " ".join(f"{k}={v}" for k, v in figures.items())


def ledger_count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(ReadingKey)) or 0)


def tally(
    scenario: str,
    factory: sessionmaker[Session],
    store: ReadingStore,
    world: World,
    sent: dict[str, list[AnyReading]],
    *,
    expected_alerts: int,
) -> Tally:
    """Compare every sent reading with the ledger and the reading store; count the alerts that
    opened and whose tier-1 webhook page was delivered."""
    since = min(r.measured_at for items in sent.values() for r in items) - timedelta(hours=1)
    until = datetime.now(UTC) + timedelta(hours=1)
    stored_keys: Counter[tuple[str, str, int]] = Counter()
    for gateway_id, patient_id in world.patients.items():
        if gateway_id not in sent:
            continue
        for point in store.query(patient_id=patient_id, since=since, until=until):
            stored_keys[point.key] += 1
    sent_keys = {r.key for items in sent.values() for r in items}
    with factory() as session:
        ledger = {
            (g, d, s)
            for g, d, s in session.execute(
                select(ReadingKey.gateway_id, ReadingKey.device_id, ReadingKey.seq)
            )
        }
        alerts = session.scalars(select(Alert).where(Alert.severity == "critical")).all()
        delivered = {
            alert_id
            for alert_id, in session.execute(
                select(Notification.alert_id).where(
                    Notification.channel == "webhook", Notification.status == "sent",
                    Notification.level == 1,
                )
            )
        }  # fmt: skip
        escalated = {
            alert_id
            for (alert_id,) in session.execute(
                select(Notification.alert_id).where(Notification.level == 2)
            )
        }
    lost = len(sent_keys - (set(stored_keys) & ledger))
    return Tally(
        scenario=scenario,
        sent=len(sent_keys),
        stored=len(set(stored_keys) & sent_keys),
        lost=lost,
        duplicated=sum(n - 1 for n in stored_keys.values()),
        alerts_expected=expected_alerts,
        alerts_delivered=len({a.id for a in alerts} & delivered),
        escalated=len({a.id for a in alerts} & escalated),
    )


def settle(
    label: str,
    factory: sessionmaker[Session],
    store: ReadingStore,
    world: World,
    sent: dict[str, list[AnyReading]],
    *,
    webhook: WebhookReceiver,
    expected_alerts: int,
    flush: Callable[[], None] = lambda: None,
    timeout: float = 45,
) -> Tally:
    """Wait until the ledger holds every sent reading and every expected alert's page was
    delivered (or the timeout), then tally and print the figures."""
    total = sum(len(items) for items in sent.values())

    def done() -> bool:
        if ledger_count(factory) < total:
            return False
        with factory() as session:
            return (
                session.scalar(
                    select(func.count(func.distinct(Notification.alert_id))).where(
                        Notification.channel == "webhook", Notification.status == "sent"
                    )
                )
                or 0
            ) >= expected_alerts

    with contextlib.suppress(AssertionError):  # the tally below says what is missing
        wait_until(done, timeout=timeout, every=0.2)
    flush()
    result = tally(label, factory, store, world, sent, expected_alerts=expected_alerts)
    result.extra["webhook_pages"] = len(webhook.received)
    return result
