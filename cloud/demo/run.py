"""``caredge demo``: the whole system on one machine with nothing installed.

A fresh SQLite database under ``var_dir/demo``, the ``sql`` reading store, the embedded
amqtt broker (unless ``CAREDGE_MQTT_URL`` is set in the environment), the ingest worker,
the API under uvicorn, and a publisher that plays the scenario's patients: some days of
history at full speed, then a live reading every few seconds until Ctrl-C.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType

import uvicorn
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.api.app import create_app
from cloud.auth.models import Role
from cloud.auth.service import create_user
from cloud.db import make_engine, make_sessionmaker, transaction, utcnow
from cloud.deadletters.models import DeadLetter
from cloud.demo.broker import MQTT_PROTOCOL, EmbeddedBroker
from cloud.demo.publisher import DemoPublisher, PublishStats
from cloud.demo.scenario import DEFAULT_SEED, PATIENTS, DemoPatient, Publishable, Scenario
from cloud.devices import service as devices
from cloud.devices.schemas import DeviceCreate, DeviceKind, GatewayCreate
from cloud.errors import CloudError
from cloud.ingest.worker import IngestWorker
from cloud.migrate import upgrade
from cloud.patients import service as patients
from cloud.patients.schemas import PatientCreate
from cloud.readings.models import ReadingKey
from cloud.settings import Settings
from cloud.tsdb.base import ReadingStore
from cloud.tsdb.factory import make_store
from protocol.topics import READING_WILDCARD

log = logging.getLogger(__name__)

ADMIN_USERNAME = "admin"
NURSE_USERNAME = "nurse"
DEMO_ACTOR = "demo-seed"
DB_NAME = "caredge-demo.db"
#: The worker sends a username so amqtt keeps its session (see cloud/demo/broker.py).
INGEST_MQTT_USERNAME = "caredge-ingest"
_NOISY_LOGGERS = ("amqtt", "transitions")


class DemoError(CloudError):
    """A part of the demo did not come up."""


@dataclass(frozen=True)
class DemoAccess:
    """Where the running demo can be reached, and its accounts (passwords shown once)."""

    api_url: str
    mqtt_url: str
    embedded_broker: bool
    database_url: str
    admin_password: str
    nurse_password: str
    patient_ids: dict[str, int]


@dataclass(frozen=True)
class DemoSummary:
    """What the demo did: published and acknowledged (publisher), stored and dead-lettered (SQL)."""

    published: int
    acknowledged: int
    malformed_published: int
    stored: int
    dead_lettered: int


class DemoSystem:
    """Every process of caredge as threads of this one; ``start()`` also plays the history."""

    def __init__(
        self,
        settings: Settings,
        *,
        backfill_days: int = 14,
        live_interval_s: float = 3.0,
        malformed_every: int | None = 20,
        embedded_broker: bool = True,
        seed: int = DEFAULT_SEED,
    ) -> None:
        if backfill_days < 0:
            raise ValueError("backfill_days must not be negative")
        if live_interval_s <= 0:
            raise ValueError("live_interval_s must be positive")
        self._base = settings
        self._backfill_days = backfill_days
        self._live_interval_s = live_interval_s
        self._use_embedded = embedded_broker
        self._scenario = Scenario(seed=seed, malformed_every=malformed_every)
        self._broker: EmbeddedBroker | None = None
        self._engine: Engine | None = None
        self._store: ReadingStore | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._worker: IngestWorker | None = None
        self._api: uvicorn.Server | None = None
        self._api_thread: threading.Thread | None = None
        self._live_thread: threading.Thread | None = None
        self._live_stop = threading.Event()
        self._publishers: list[DemoPublisher] = []
        self._publisher_url = ""
        self.settings = settings

    # -- start -----------------------------------------------------------------------------

    def start(self) -> DemoAccess:
        """Bring everything up, seed, and play the history; return where to look."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> DemoAccess:
        demo_dir = self._base.var_dir / "demo"
        database_url = f"sqlite:///{_fresh_sqlite(demo_dir / DB_NAME)}"
        updates: dict[str, object] = {
            "database_url": database_url,
            "tsdb_url": "sql",
            "mqtt_client_id": "caredge-demo-ingest",
            "api_port": _free_or_other_port(self._base.api_host, self._base.api_port),
        }
        if self._use_embedded:
            self._broker = EmbeddedBroker()
            self._broker.start()
            self._publisher_url = self._broker.url
            updates |= {
                "mqtt_url": f"mqtt://{INGEST_MQTT_USERNAME}@127.0.0.1:{self._broker.port}",
                "mqtt_protocol": MQTT_PROTOCOL,
                "ingest_topic": READING_WILDCARD,  # amqtt has no shared subscriptions
            }
        else:
            self._publisher_url = self._base.mqtt_url
        self.settings = settings = self._base.model_copy(update=updates)

        log.info("demo database %s", database_url)
        upgrade(database_url)
        self._engine = make_engine(database_url)
        self._sessions = make_sessionmaker(self._engine)
        self._store = make_store(settings, self._engine)
        admin_password, nurse_password = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
        patient_ids = seed(
            self._sessions,
            admin_password=admin_password,
            nurse_password=nurse_password,
            bound_from=utcnow() - timedelta(days=self._backfill_days + 1),
        )

        self._start_worker()
        self._start_api()
        self._backfill()
        return DemoAccess(
            api_url=f"http://{settings.api_host}:{settings.api_port}",
            mqtt_url=self._publisher_url,
            embedded_broker=self._broker is not None,
            database_url=database_url,
            admin_password=admin_password,
            nurse_password=nurse_password,
            patient_ids=patient_ids,
        )

    def _start_worker(self) -> None:
        assert self._sessions is not None and self._store is not None
        self._worker = IngestWorker(
            self.settings, session_factory=self._sessions, store=self._store
        )
        self._worker.start()
        if not self._worker.wait_connected(15):
            raise DemoError(f"the ingest worker could not connect to {self.settings.mqtt_url}")
        # Publishing before the broker registered the subscription would lose the messages.
        if self._broker is not None:
            if not self._broker.wait_subscribed(self.settings.ingest_topic):
                raise DemoError("the ingest worker's subscription never reached the broker")
        else:
            time.sleep(0.5)

    def _start_api(self) -> None:
        settings = self.settings
        app = create_app(settings, engine=self._engine, store=self._store)
        config = uvicorn.Config(
            app,
            host=settings.api_host,
            port=settings.api_port,
            log_config=None,  # keep the logging the entry point configured
            lifespan="on",
        )
        self._api = uvicorn.Server(config)
        self._api_thread = threading.Thread(target=self._api.run, name="demo-api", daemon=True)
        self._api_thread.start()
        deadline = time.monotonic() + 15
        while not self._api.started:
            if not self._api_thread.is_alive() or time.monotonic() > deadline:
                raise DemoError(f"the API did not start on {settings.api_host}:{settings.api_port}")
            time.sleep(0.05)
        log.info("API on http://%s:%d", settings.api_host, settings.api_port)

    def _backfill(self) -> None:
        if self._backfill_days == 0:
            return
        now = utcnow()
        items = self._scenario.history(start=now - timedelta(days=self._backfill_days), end=now)
        log.info("playing %d days of history: %d messages", self._backfill_days, len(items))
        publisher = self._publisher(items, rate_per_s=None, client_id="caredge-demo-backfill")
        with publisher:
            stats = publisher.run()
        self.wait_ingested(stats.acknowledged)

    def _publisher(
        self, items: Iterable[Publishable], *, rate_per_s: float | None, client_id: str
    ) -> DemoPublisher:
        publisher = DemoPublisher(
            self._publisher_url,
            items,
            rate_per_s,
            client_id=client_id,
            protocol=self.settings.mqtt_protocol,
        )
        self._publishers.append(publisher)
        return publisher

    # -- live ------------------------------------------------------------------------------

    def start_live(self) -> None:
        """Publish one live reading every live_interval_s seconds in a background thread."""
        publisher = self._publisher(
            self._scenario.live(utcnow),
            rate_per_s=1 / self._live_interval_s,
            client_id="caredge-demo-live",
        )
        publisher.connect()

        def play() -> None:
            try:
                publisher.run(self._live_stop, drain_timeout=10)
            finally:
                publisher.close()

        self._live_thread = threading.Thread(target=play, name="demo-live", daemon=True)
        self._live_thread.start()

    def wait_ingested(self, count: int, timeout: float = 30.0) -> bool:
        """Block until the worker has processed count messages (stored, duplicate or dead)."""
        if self._worker is None:
            return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snapshot = self._worker.stats.snapshot()
            done = snapshot["stored"] + snapshot["duplicates"] + snapshot["dead_letters"]
            if done >= count:
                return True
            time.sleep(0.1)
        log.warning("the ingest worker has not processed %d messages after %.0fs", count, timeout)
        return False

    # -- stop ------------------------------------------------------------------------------

    def publish_stats(self) -> PublishStats:
        """The publishers' counts added up."""
        totals = [p.stats for p in self._publishers]
        return PublishStats(
            sent=sum(s.sent for s in totals),
            acknowledged=sum(s.acknowledged for s in totals),
            refused=sum(s.refused for s in totals),
            malformed_sent=sum(s.malformed_sent for s in totals),
        )

    def summary(self) -> DemoSummary:
        """Publisher counts and what SQL holds now."""
        stats = self.publish_stats()
        stored = dead = 0
        if self._sessions is not None:
            with self._sessions() as session:
                stored = session.scalar(select(func.count()).select_from(ReadingKey)) or 0
                dead = session.scalar(select(func.count()).select_from(DeadLetter)) or 0
        return DemoSummary(
            published=stats.sent,
            acknowledged=stats.acknowledged,
            malformed_published=stats.malformed_sent,
            stored=stored,
            dead_lettered=dead,
        )

    def stop(self) -> None:
        """Stop live publishing, let the worker finish, then stop API, worker and broker."""
        self._live_stop.set()
        if self._live_thread is not None:
            self._live_thread.join(15)
            self._live_thread = None
        if self._worker is not None:
            self.wait_ingested(self.publish_stats().acknowledged, timeout=10)
            self._worker.stop()
            self._worker = None
        if self._api is not None:
            self._api.should_exit = True
            if self._api_thread is not None:
                self._api_thread.join(10)
            self._api = None
        if self._broker is not None:
            self._broker.stop()
            self._broker = None

    def close(self) -> None:
        """Release the store and the database engine (after stop)."""
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> DemoSystem:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        self.close()


# --- seeding ------------------------------------------------------------------------------


def seed(
    factory: sessionmaker[Session],
    *,
    admin_password: str,
    nurse_password: str,
    bound_from: datetime,
    demo_patients: tuple[DemoPatient, ...] = PATIENTS,
) -> dict[str, int]:
    """Accounts, patients, gateways, meters and bindings of the demo; return patient ids by mrn."""
    ids: dict[str, int] = {}
    with transaction(factory) as session:
        create_user(
            session,
            username=ADMIN_USERNAME,
            password=admin_password,
            role=Role.ADMIN,
            display_name="Demo administrator",
        )
        create_user(
            session,
            username=NURSE_USERNAME,
            password=nurse_password,
            role=Role.NURSE,
            display_name="王芳 Wang Fang (on call)",
        )
        for demo_patient in demo_patients:
            patient = patients.create(
                session,
                data=PatientCreate(
                    mrn=demo_patient.mrn,
                    name=demo_patient.name,
                    birth_date=demo_patient.birth_date,
                ),
                actor=DEMO_ACTOR,
            )
            ids[demo_patient.mrn] = patient.id
            devices.register_gateway(
                session,
                data=GatewayCreate(
                    id=demo_patient.gateway_id, name=f"Home of {demo_patient.name_en}"
                ),
                actor=DEMO_ACTOR,
            )
            for meter in demo_patient.meters:
                devices.register_device(
                    session,
                    gateway_id=demo_patient.gateway_id,
                    data=DeviceCreate(
                        id=meter.device_id,
                        kind=DeviceKind(meter.kind),
                        ble_address=meter.ble_address,
                        model=meter.model,
                        serial=meter.serial,
                    ),
                    actor=DEMO_ACTOR,
                )
                devices.bind(
                    session,
                    device_id=meter.device_id,
                    patient_id=patient.id,
                    valid_from=bound_from,
                    actor=DEMO_ACTOR,
                )
    log.info("seeded %d patients, their gateways and meters, and 2 accounts", len(ids))
    return ids


# --- the command --------------------------------------------------------------------------


def run_demo(
    settings: Settings,
    *,
    duration: float | None,
    backfill_days: int,
    live_interval_s: float = 3.0,
) -> DemoSummary:
    """Run the demo until Ctrl-C, or for duration seconds of live readings; print a summary."""
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    embedded = "CAREDGE_MQTT_URL" not in os.environ
    with DemoSystem(
        settings,
        backfill_days=backfill_days,
        live_interval_s=live_interval_s,
        embedded_broker=embedded,
    ) as system:
        access = system.start()
        print(banner(access), flush=True)
        system.start_live()
        deadline = None if duration is None else time.monotonic() + duration
        stop = threading.Event()
        with _stop_on_sigterm(stop):
            try:
                while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                    stop.wait(0.2)
            except KeyboardInterrupt:
                stop.set()
        if stop.is_set():
            print("\nstopping …", flush=True)
        system.stop()
        summary = system.summary()
    print(summary_text(summary), flush=True)
    return summary


def banner(access: DemoAccess) -> str:
    """The text that tells a person where to look."""
    api = access.api_url
    first_mrn = next(iter(access.patient_ids))
    patient_id = access.patient_ids[first_mrn]
    broker = "embedded amqtt, MQTT 3.1.1" if access.embedded_broker else "CAREDGE_MQTT_URL"
    token_cmd = (
        f"TOKEN=$(curl -s -X POST {api}/api/v1/auth/token "
        f"-d username={NURSE_USERNAME} -d 'password={access.nurse_password}' "
        "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')"
    )
    patients_lines = "\n".join(
        f"    {access.patient_ids[p.mrn]:>3}  {p.mrn}  {p.name}  ({p.story.value})"
        for p in PATIENTS
        if p.mrn in access.patient_ids
    )
    return f"""
================================ caredge demo ================================
API docs        {api}/docs
MQTT broker     {access.mqtt_url}  ({broker})
Database        {access.database_url}

Accounts (passwords are shown only now):
    {ADMIN_USERNAME:<6} {access.admin_password}
    {NURSE_USERNAME:<6} {access.nurse_password}

Patients:
{patients_lines}

Get a token, then read a patient's readings:
    {token_cmd}
    curl -s -H "Authorization: Bearer $TOKEN" {api}/api/v1/patients/{patient_id}/readings
    curl -s -H "Authorization: Bearer $TOKEN" "{api}/api/v1/patients/{patient_id}/readings?every=1d"
Dead letters (admin token): {api}/api/v1/dead-letters

Live readings every few seconds. Ctrl-C stops.
==============================================================================
"""


def summary_text(summary: DemoSummary) -> str:
    """The closing line of the demo."""
    return (
        f"caredge demo: {summary.published} messages published "
        f"({summary.malformed_published} malformed on purpose), "
        f"{summary.acknowledged} acknowledged by the broker, "
        f"{summary.stored} readings stored, {summary.dead_lettered} dead letters."
    )


# --- helpers ------------------------------------------------------------------------------


@contextmanager
def _stop_on_sigterm(stop: threading.Event) -> Iterator[None]:
    """SIGTERM (docker stop, kill) ends the demo as cleanly as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _fresh_sqlite(path: Path) -> Path:
    """Remove the previous demo database (and its WAL files) so every run starts clean."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    return path


def _free_or_other_port(host: str, preferred: int) -> int:
    """preferred if nothing listens there, else a free port."""
    with socket.socket() as sock:
        try:
            sock.bind((host, preferred))
            return preferred
        except OSError:
            pass
    with socket.socket() as sock:
        sock.bind((host, 0))
        port = int(sock.getsockname()[1])
    log.warning("port %d is taken; the API uses %d", preferred, port)
    return port
