"""MQTT security on real Mosquitto: provisioned accounts and ACLs, TLS, credential rotation.

The broker runs ``deploy/mosquitto/mosquitto.conf`` (the compose stack's configuration) with its
paths pointed at this test's folder, plus a plain listener on loopback for the ACL tests; the
password file and ACL are written by ``caredge mqtt provision`` from PostgreSQL.
"""

from __future__ import annotations

import getpass
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.ingest.worker import IngestWorker
from cloud.migrate import upgrade
from cloud.mqtt_admin.accounts import nurse_username
from cloud.mqtt_admin.nurse_credentials import nurse_password
from cloud.mqtt_admin.provision import provision
from cloud.mqtt_admin.rotation import rotate_gateway_password
from cloud.mqtt_admin.settings import MqttAdminSettings
from cloud.notify.mqtt_channel import MqttSender
from cloud.notify.testing import SeededWard, seed_ward
from cloud.oncall.models import Notification
from cloud.readings.models import ReadingKey
from cloud.settings import Settings
from cloud.tsdb.sql_store import SqlReadingStore
from edge.outbox import Outbox
from edge.settings import GatewaySettings
from edge.uplink import Uplink
from protocol.broker_url import MqttEndpoint
from protocol.envelope import encode_reading
from protocol.topics import GatewayTopic, NurseTopic
from tests.fixtures.mosquitto import BROKER_CONF
from tests.fixtures.ports import free_port, wait_listening
from tests.support import T0, readings, seed_home, wait_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MAKE_CA = REPO / "scripts" / "make-test-ca.sh"
DEPLOY_CONF = REPO / "deploy" / "mosquitto" / "mosquitto.conf"
# Test-only secrets, made up for this file.
INGEST_PASSWORD = "ingest-test-password-0123456789"
NOTIFIER_PASSWORD = "notifier-test-password-0123456789"
NURSE_KEY = "nurse-key-for-tests-only-0123456789abcdef"


@dataclass
class SecureBroker:
    """Mosquitto running the deployment's configuration, with a TLS and a plain listener."""

    workdir: Path
    certs: Path
    plain_port: int = field(default_factory=free_port)
    tls_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def auth_dir(self) -> Path:
        return self.workdir / "auth"

    def start(self) -> None:
        conf_d = self.workdir / "conf.d"
        conf_d.mkdir(exist_ok=True)
        shutil.copy(BROKER_CONF, conf_d / "caredge.conf")
        text = DEPLOY_CONF.read_text()
        for deployed, here in (
            ("/mosquitto/config/conf.d", str(conf_d)),
            ("/mosquitto/data/", f"{self.workdir}/"),
            ("/mosquitto/auth/", f"{self.auth_dir}/"),
            ("/mosquitto/certs/", f"{self.certs}/"),
            ("listener 8883\n", f"listener {self.tls_port} 127.0.0.1\n"),
        ):
            assert deployed in text, f"{DEPLOY_CONF} no longer mentions {deployed!r}"
            text = text.replace(deployed, here)
        # Accounts and ACL are global (per_listener_settings false): they bind this listener too.
        text += f"\nlistener {self.plain_port} 127.0.0.1\nuser {getpass.getuser()}\n"
        text += "log_dest stderr\n"  # unbuffered, unlike stdout to a file
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(text)
        log = (self.workdir / "mosquitto.log").open("ab")
        self.process = subprocess.Popen(
            [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        wait_listening(self.plain_port)
        wait_listening(self.tls_port)

    def reload(self) -> None:
        assert self.process is not None
        before = self.log().count("Reloading config")
        self.process.send_signal(signal.SIGHUP)
        wait_until(lambda: self.log().count("Reloading config") > before, timeout=5, every=0.02)
        time.sleep(0.2)  # the reload runs in the broker's main loop right after logging

    def log(self) -> str:
        return (self.workdir / "mosquitto.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class Probe:
    """A paho MQTT v5 client recording the broker's reason codes and the messages it gets."""

    def __init__(
        self,
        port: int,
        username: str | None = None,
        password: str | None = None,
        *,
        client_id: str = "probe",
        ca_file: Path | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self._connacks: queue.Queue[ReasonCode] = queue.Queue()
        self._subacks: dict[int, list[ReasonCode]] = {}
        self._pubacks: dict[int, ReasonCode] = {}
        self._lock = threading.Lock()
        self.messages: list[tuple[str, bytes]] = []
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv5)  # fmt: skip
        if username is not None:
            client.username_pw_set(username, password)
        if ca_file is not None:
            client.tls_set(ca_certs=str(ca_file))
        client.on_connect = lambda c, u, f, reason, p: self._connacks.put(reason)
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.reconnect_delay_set(min_delay=5, max_delay=5)  # no retry storm after a refusal
        self.client = client
        client.connect(host, port)
        client.loop_start()
        self.connack = self._connacks.get(timeout=10)

    @property
    def accepted(self) -> bool:
        return not self.connack.is_failure

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, codes: Any, props: Any) -> None:
        with self._lock:
            self._subacks[mid] = list(codes)

    def _on_publish(self, client: Any, userdata: Any, mid: int, code: Any, props: Any) -> None:
        with self._lock:
            self._pubacks[mid] = code

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, message.payload))

    def subscribe(self, topic: str) -> ReasonCode:
        """Subscribe at QoS 1; the SUBACK's reason code."""
        _, mid = self.client.subscribe(topic, qos=1)
        wait_until(lambda: mid in self._subacks, timeout=5, every=0.01)
        return self._subacks[mid][0]

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        """Publish at QoS 1; the PUBACK's reason code."""
        mid = self.client.publish(topic, payload, qos=1).mid
        wait_until(lambda: mid in self._pubacks, timeout=5, every=0.01)
        return self._pubacks[mid]

    def topics(self) -> list[str]:
        with self._lock:
            return [topic for topic, _ in self.messages]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class Stack:
    """PostgreSQL with two homes (gwA with a ward of two MQTT nurses, gwB) and the broker."""

    broker: SecureBroker
    database_url: str
    sessions: sessionmaker[Session]
    admin: MqttAdminSettings
    ward: SeededWard
    gateway_passwords: dict[str, str]
    ca_dir: Path

    def provision(self, reload: bool = True) -> None:
        with self.sessions() as session:
            provision(session, self.admin)
        if reload:
            self.broker.reload()

    def ingest_worker(self, *, tls: bool = False, ca_file: Path | None = None) -> IngestWorker:
        url = (
            f"mqtts://caredge-ingest:{INGEST_PASSWORD}@127.0.0.1:{self.broker.tls_port}"
            if tls
            else f"mqtt://caredge-ingest:{INGEST_PASSWORD}@127.0.0.1:{self.broker.plain_port}"
        )
        settings = Settings(
            database_url=self.database_url,
            mqtt_url=url,
            mqtt_ca_file=ca_file,
            mqtt_client_id="ingest-secure",
            ingest_batch_seconds=0.02,
        )
        engine = make_engine(self.database_url)
        return IngestWorker(settings, session_factory=self.sessions, store=SqlReadingStore(engine))

    def stored_keys(self) -> set[tuple[str, str, int]]:
        with self.sessions() as session:
            rows = session.execute(select(ReadingKey.gateway_id, ReadingKey.device_id,
                                          ReadingKey.seq))  # fmt: skip
            return {(g, d, s) for g, d, s in rows}


@pytest.fixture(scope="module")
def ca_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The test CA with the broker certificate, and an unrelated CA (the wrong one)."""
    right = tmp_path_factory.mktemp("ca")
    wrong = tmp_path_factory.mktemp("wrong-ca")
    for folder in (right, wrong):
        subprocess.run([str(MAKE_CA), str(folder)], check=True, capture_output=True)
    return right, wrong


@pytest.fixture
def stack(postgres_url: str, tmp_path: Path, ca_dirs: tuple[Path, Path]) -> Iterator[Stack]:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    sessions = make_sessionmaker(engine)
    ward = seed_ward(sessions, now=T0, gateway_id="gwA", mqtt_enabled=True)
    seed_home(sessions, "gwB", "P0002")
    passwords = {}
    with transaction(sessions) as session:
        for gateway_id in ("gwA", "gwB"):
            passwords[gateway_id] = rotate_gateway_password(
                session, gateway_id=gateway_id, actor="test"
            )
    broker = SecureBroker(tmp_path / "broker", ca_dirs[0])
    broker.workdir.mkdir()
    admin = MqttAdminSettings(
        password_file=broker.auth_dir / "passwords",
        acl_file=broker.auth_dir / "acl",
        ingest_password=INGEST_PASSWORD,
        notifier_password=NOTIFIER_PASSWORD,
        nurse_key=NURSE_KEY,
    )
    made = Stack(broker, postgres_url, sessions, admin, ward, passwords, ca_dirs[0])
    made.provision(reload=False)
    broker.start()
    try:
        yield made
    finally:
        broker.stop()
        engine.dispose()


def reading_message(gateway_id: str, seq: int = 1) -> tuple[str, bytes]:
    reading = readings(gateway_id, 1, start_seq=seq)[0]
    return str(GatewayTopic(gateway_id, "reading")), encode_reading(reading)


def test_gateway_cannot_publish_as_another_gateway(stack: Stack) -> None:
    worker = stack.ingest_worker()
    worker.start()
    gateway_a = Probe(stack.broker.plain_port, "gwA", stack.gateway_passwords["gwA"])
    try:
        assert worker.wait_connected(), "the ingest account could not subscribe"
        assert gateway_a.accepted
        forged_topic, forged = reading_message("gwB", seq=7)
        # Refused by the broker: MQTT v5 PUBACK "Not authorized" (0x87); nothing is routed.
        assert gateway_a.publish(forged_topic, forged).value == 0x87
        for channel in ("status", "beacon"):
            assert gateway_a.publish(str(GatewayTopic("gwB", channel)), b"{}").value == 0x87
        # Its own reading is accepted and stored.
        own_topic, own = reading_message("gwA", seq=1)
        assert gateway_a.publish(own_topic, own).value == 0
        wait_until(lambda: worker.stats.snapshot()["stored"] == 1, timeout=15)
        time.sleep(0.3)
    finally:
        gateway_a.close()
        worker.stop()
    assert worker.stats.snapshot()["received"] == 1  # the forged reading never reached ingest
    assert stack.stored_keys() == {("gwA", "bp-gwA", 1)}


def test_gateway_receives_nothing_of_another_gateway(stack: Stack) -> None:
    gateway_a = Probe(stack.broker.plain_port, "gwA", stack.gateway_passwords["gwA"],
                      client_id="gwA-spy")  # fmt: skip
    gateway_b = Probe(stack.broker.plain_port, "gwB", stack.gateway_passwords["gwB"],
                      client_id="gwB-own")  # fmt: skip
    try:
        # Mosquitto 2.0 grants a SUBSCRIBE and applies the read ACL to every message it would
        # deliver, so what counts is that nothing arrives.
        for topic in ("caredge/v1/gw/gwB/cmd", "caredge/v1/gw/gwB/reading",
                      "caredge/v1/gw/+/reading", "caredge/v1/gw/gwA/reading", "#"):  # fmt: skip
            assert not gateway_a.subscribe(topic).is_failure
        assert not gateway_b.subscribe("caredge/v1/gw/gwB/cmd").is_failure
        topic, payload = reading_message("gwB", seq=1)
        assert gateway_b.publish(topic, payload).value == 0
        assert gateway_b.publish(str(GatewayTopic("gwB", "status")), b"{}").value == 0
        # A gateway cannot send commands, not even to itself, nor write its own cmd topic.
        assert gateway_a.publish(str(GatewayTopic("gwB", "cmd")), b"{}").value == 0x87
        assert gateway_b.publish(str(GatewayTopic("gwB", "cmd")), b"{}").value == 0x87
        own_topic, own = reading_message("gwA", seq=1)
        # Its own readings are write-only too: a gateway reads nothing but its commands.
        assert gateway_a.publish(own_topic, own).value == 0
        time.sleep(0.5)
    finally:
        gateway_a.close()
        gateway_b.close()
    assert gateway_a.messages == []
    assert gateway_b.messages == []


def test_nurse_device_receives_only_its_own_alerts(stack: Stack) -> None:
    ann, bob = stack.ward.primary_nurse_id, stack.ward.backup_nurse_id
    ann_device = Probe(stack.broker.plain_port, nurse_username(ann),
                       nurse_password(NURSE_KEY, ann), client_id="ann-phone")  # fmt: skip
    bob_device = Probe(stack.broker.plain_port, nurse_username(bob),
                       nurse_password(NURSE_KEY, bob), client_id="bob-phone")  # fmt: skip
    notifier = MqttSender(
        MqttEndpoint.parse(
            f"mqtt://caredge-notifier:{NOTIFIER_PASSWORD}@127.0.0.1:{stack.broker.plain_port}"
        ),
        client_id="notifier-test",
    )
    try:
        assert ann_device.subscribe(str(NurseTopic(str(ann)))).value == 1
        # Granted, but the broker delivers nothing the read ACL does not allow.
        ann_device.subscribe(str(NurseTopic(str(bob))))
        ann_device.subscribe("caredge/v1/nurse/+/alerts")
        assert bob_device.subscribe(str(NurseTopic(str(bob)))).value == 1
        # A nurse device cannot page anyone.
        assert ann_device.publish(str(NurseTopic(str(bob))), b"{}").value == 0x87
        with notifier:
            for notification_id, nurse_id in ((1, ann), (2, bob), (3, bob)):
                notifier.send(Notification(id=notification_id, nurse_id=nurse_id),
                              {"notification": notification_id})  # fmt: skip
        wait_until(lambda: len(bob_device.messages) == 2, timeout=5)
        wait_until(lambda: len(ann_device.messages) >= 1, timeout=5)
        time.sleep(0.3)
    finally:
        ann_device.close()
        bob_device.close()
    assert set(ann_device.topics()) == {str(NurseTopic(str(ann)))}
    assert set(bob_device.topics()) == {str(NurseTopic(str(bob)))}


def test_unauthenticated_and_wrong_passwords_are_refused(stack: Stack) -> None:
    attempts = {
        "anonymous": (None, None),
        "wrong password": ("gwA", "not-the-password"),
        "unknown user": ("gwZ", "whatever-password"),
        "other gateway's password": ("gwA", stack.gateway_passwords["gwB"]),
        "nurse key of another nurse": (
            nurse_username(stack.ward.primary_nurse_id),
            nurse_password(NURSE_KEY, stack.ward.backup_nurse_id),
        ),
    }
    for what, (username, password) in attempts.items():
        probe = Probe(stack.broker.plain_port, username, password, client_id=f"bad-{username}")
        probe.close()
        assert probe.connack.is_failure, what
        assert probe.connack.value in (0x86, 0x87), what  # bad credentials / not authorized
    # Nor over TLS.
    probe = Probe(stack.broker.tls_port, client_id="anon-tls", ca_file=stack.ca_dir / "ca.crt")
    probe.close()
    assert probe.connack.is_failure


def test_tls_wrong_ca_fails_right_ca_works(
    stack: Stack, ca_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    right_ca, wrong_ca = ca_dirs[0] / "ca.crt", ca_dirs[1] / "ca.crt"
    password = stack.gateway_passwords["gwA"]
    url = f"mqtts://gwA:{password}@127.0.0.1:{stack.broker.tls_port}"

    # The ingest worker and the gateway's uplink with the wrong CA never get a session.
    bad_worker = stack.ingest_worker(tls=True, ca_file=wrong_ca)
    bad_worker.start()
    bad_settings = GatewaySettings(gateway_id="gwA", mqtt_url=url, mqtt_ca_file=wrong_ca,
                                   outbox_path=tmp_path / "bad" / "outbox.db")  # fmt: skip
    with Outbox(bad_settings.outbox_file) as outbox, Uplink(bad_settings, outbox) as uplink:
        topic, payload = reading_message("gwA", seq=2)
        outbox.put("reading", topic, payload, ("gwA", 2))
        time.sleep(2.0)
        assert not uplink.connected
        assert not uplink.is_empty()
    assert not bad_worker.wait_connected(timeout=0.1)
    bad_worker.stop()
    assert "tlsv1 alert unknown ca" in stack.broker.log()  # the clients said so, and left

    # With the right CA both connect, and a reading crosses gateway → broker → ingest over TLS.
    worker = stack.ingest_worker(tls=True, ca_file=right_ca)
    worker.start()
    settings = GatewaySettings(gateway_id="gwA", mqtt_url=url, mqtt_ca_file=right_ca,
                               outbox_path=tmp_path / "good" / "outbox.db")  # fmt: skip
    try:
        assert worker.wait_connected(), "ingest did not connect over TLS with the right CA"
        with Outbox(settings.outbox_file) as outbox, Uplink(settings, outbox) as uplink:
            for reading in readings("gwA", 5):
                outbox.put("reading", str(GatewayTopic("gwA", "reading")),
                           encode_reading(reading), reading.key)  # fmt: skip
            assert uplink.wait_until_empty(15)
        wait_until(lambda: worker.stats.snapshot()["stored"] == 5, timeout=15)
    finally:
        worker.stop()
    # The certificate names the host as well as the address: "localhost" verifies too.
    by_name = Probe(stack.broker.tls_port, "gwA", password, client_id="gwA-by-name",
                    ca_file=right_ca, host="localhost")  # fmt: skip
    by_name.close()
    assert by_name.accepted


def test_rotation_switches_passwords_without_losing_a_reading(stack: Stack, tmp_path: Path) -> None:
    old = stack.gateway_passwords["gwA"]
    port = stack.broker.plain_port
    worker = stack.ingest_worker()
    worker.start()
    settings = GatewaySettings(
        gateway_id="gwA",
        mqtt_url=f"mqtt://gwA:{old}@127.0.0.1:{port}",
        outbox_path=tmp_path / "gateway" / "outbox.db",
    )
    sent = readings("gwA", 300)
    topic = str(GatewayTopic("gwA", "reading"))
    bystander = Probe(port, "gwB", stack.gateway_passwords["gwB"], client_id="gwB-bystander")
    try:
        assert worker.wait_connected()
        with Outbox(settings.outbox_file) as outbox:
            uplink = Uplink(settings, outbox)
            uplink.start()
            for reading in sent[:100]:
                outbox.put("reading", topic, encode_reading(reading), reading.key)
            assert uplink.wait_until_empty(15)

            # Step 1: new password in the database, files rewritten, broker reloaded.
            with transaction(stack.sessions) as session:
                new = rotate_gateway_password(session, gateway_id="gwA", actor="test")
            stack.provision()
            # Mosquitto re-checks connected clients on reload: the session that logged in
            # with the old password is closed, and the old password opens no new one...
            wait_until(lambda: not uplink.connected, timeout=5)
            assert Probe(port, "gwA", old, client_id="gwA-old").connack.is_failure
            # ...while the new one does, and accounts that did not change stay connected.
            fresh = Probe(port, "gwA", new, client_id="gwA-new")
            fresh.close()
            assert fresh.accepted
            assert "Client gwB-bystander disconnected" not in stack.broker.log()
            assert "Client ingest-secure disconnected" not in stack.broker.log()

            # Readings keep arriving at the gateway while it waits for its new password.
            for reading in sent[100:200]:
                outbox.put("reading", topic, encode_reading(reading), reading.key)
            time.sleep(0.5)
            assert not uplink.is_empty()
            uplink.stop()

            # Step 2: the gateway restarts with its new password and drains its outbox.
            settings = settings.model_copy(
                update={"mqtt_url": f"mqtt://gwA:{new}@127.0.0.1:{port}"}
            )
            with Uplink(settings, outbox) as renewed:
                for reading in sent[200:]:
                    outbox.put("reading", topic, encode_reading(reading), reading.key)
                assert renewed.wait_until_empty(15)
        wait_until(lambda: worker.stats.snapshot()["stored"] == 300, timeout=20)
        time.sleep(0.3)
    finally:
        bystander.close()
        worker.stop()
    assert worker.stats.snapshot()["stored"] == 300
    assert stack.stored_keys() == {r.key for r in sent}
    with stack.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ReadingKey)) == 300
