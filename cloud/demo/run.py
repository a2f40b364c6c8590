"""``caredge demo``: the whole system on one machine with nothing installed.

A fresh SQLite database under ``var_dir/demo``, the ``sql`` reading store, the embedded
amqtt broker (unless ``CAREDGE_MQTT_URL`` is set in the environment), the ingest worker, the
API with the nurse console under uvicorn, the alert scheduler (escalation timers), and one
simulated home per patient: firmware-sim meters on bumble read by the real edge gateway
(``cloud/demo/home.py``). The meters start with some days of history in their memories, which
the gateways collect first (BP indications, glucose RACP); then the patients take a live
reading every few seconds until Ctrl-C. The deliberately malformed messages of the scenario,
which no gateway would send, are published straight to the broker to show dead letters.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import TracebackType

import uvicorn
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts.models import Alert
from cloud.api.app import create_app
from cloud.db import make_engine, make_sessionmaker, transaction, utcnow
from cloud.deadletters.models import DeadLetter
from cloud.demo.broker import MQTT_PROTOCOL, EmbeddedBroker
from cloud.demo.home import HomeError, SimulatedHomes, gateway_settings
from cloud.demo.kiosk import (
    KioskWindow,
    has_display,
    kiosk_argv,
    kiosk_environment,
    open_kiosk_hint,
    route_page_url,
)
from cloud.demo.publisher import DemoPublisher
from cloud.demo.scenario import DEFAULT_SEED, PATIENTS, AnyReading, MalformedPayload, Scenario
from cloud.demo.seed import (
    ADMIN_USERNAME,
    BACKUP_NURSE_USERNAME,
    NURSE_USERNAME,
    WARDS,
    seed,
    seed_on_call,
)
from cloud.errors import CloudError
from cloud.hospital.demo_seed import DEPARTMENTS, DemoHospital, seed_demo
from cloud.ingest.worker import IngestWorker
from cloud.migrate import upgrade
from cloud.oncall.scheduler import run_scheduler_once
from cloud.readings.models import ReadingKey
from cloud.settings import Settings
from cloud.tsdb.base import ReadingStore
from cloud.tsdb.factory import make_store
from protocol.topics import READING_WILDCARD

log = logging.getLogger(__name__)

DB_NAME = "caredge-demo.db"
#: The worker sends a username so amqtt keeps its session (see cloud/demo/broker.py).
INGEST_MQTT_USERNAME = "caredge-ingest"
SCHEDULER_INTERVAL_S = 1.0
_NOISY_LOGGERS = (
    "amqtt",
    "transitions",
    "bumble",
    "firmware_sim",
    "edge.ble",
    "edge.gateway.coordinator",
)

Progress = Callable[[str], None]


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
    backup_nurse_password: str
    patient_ids: dict[str, int]
    hospital: DemoHospital
    print_dir: Path

    @property
    def console_url(self) -> str:
        """The nurse console."""
        return f"{self.api_url}/console/"

    @property
    def route_url(self) -> str:
        """The phone page of the route from the lobby kiosk to Cardiology (sample map)."""
        return route_page_url(self.api_url)


@dataclass(frozen=True)
class DemoSummary:
    """What the demo did: meters and gateways (edge), malformed messages, SQL (cloud)."""

    meter_readings: int
    gateway_acknowledged: int
    malformed_published: int
    stored: int
    dead_lettered: int
    alerts: int


class DemoSystem:
    """Every process of caredge as threads of this one; ``start()`` also delivers the history."""

    def __init__(
        self,
        settings: Settings,
        *,
        backfill_days: int = 14,
        live_interval_s: float = 3.0,
        malformed_every: int | None = 20,
        embedded_broker: bool = True,
        seed: int = DEFAULT_SEED,
        progress: Progress | None = None,
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
        self._say: Progress = progress or log.info
        self._broker: EmbeddedBroker | None = None
        self._engine: Engine | None = None
        self._store: ReadingStore | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._worker: IngestWorker | None = None
        self._api: uvicorn.Server | None = None
        self._api_thread: threading.Thread | None = None
        self._scheduler_thread: threading.Thread | None = None
        self._scheduler_stop = threading.Event()
        self._homes: SimulatedHomes | None = None
        self._publisher: DemoPublisher | None = None
        self._live_thread: threading.Thread | None = None
        self._live_stop = threading.Event()
        self._history_messages = 0
        self._stopped = False
        self.settings = settings

    # -- start -----------------------------------------------------------------------------

    def start(self) -> DemoAccess:
        """Bring everything up, seed, and deliver the history; return where to look."""
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
            broker_url = self._broker.url
            updates |= {
                "mqtt_url": f"mqtt://{INGEST_MQTT_USERNAME}@127.0.0.1:{self._broker.port}",
                "mqtt_protocol": MQTT_PROTOCOL,
                "ingest_topic": READING_WILDCARD,  # amqtt has no shared subscriptions
            }
            self._say(f"embedded MQTT broker (amqtt, MQTT {MQTT_PROTOCOL}) on {broker_url}")
        else:
            broker_url = self._base.mqtt_url
        self.settings = settings = self._base.model_copy(update=updates)

        upgrade(database_url)
        self._engine = make_engine(database_url)
        self._sessions = make_sessionmaker(self._engine)
        self._store = make_store(settings, self._engine)
        passwords = [secrets.token_urlsafe(12) for _ in range(3)]
        now = utcnow()
        patient_ids = seed(
            self._sessions,
            admin_password=passwords[0],
            nurse_password=passwords[1],
            bound_from=now - timedelta(days=self._backfill_days + 1),
        )
        seed_on_call(self._sessions, patient_ids=patient_ids, backup_password=passwords[2], now=now)
        with transaction(self._sessions) as session:
            hospital = seed_demo(
                session,
                now=now,
                zone=settings.hospital_zone,
                secret=settings.secret_key.get_secret_value(),
            )
        self._say(
            f"database {database_url}: {len(patient_ids)} patients with their meters, "
            f"{len(WARDS)} wards, 2 nurses on call; the hospital: {len(DEPARTMENTS)} departments, "
            f"{len(hospital.patients)} outpatients, {len(hospital.appointments)} appointments, "
            f"kiosk {hospital.kiosk_name}"
        )
        self._start_worker()
        self._start_api()
        self._start_scheduler()
        self._start_homes(broker_url)
        return DemoAccess(
            api_url=f"http://{settings.api_host}:{settings.api_port}",
            mqtt_url=broker_url,
            embedded_broker=self._broker is not None,
            database_url=database_url,
            admin_password=passwords[0],
            nurse_password=passwords[1],
            backup_nurse_password=passwords[2],
            patient_ids=patient_ids,
            hospital=hospital,
            print_dir=demo_dir / "prints",
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
        self._say(f"ingest worker subscribed to {self.settings.ingest_topic}")

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
        self._say(f"API and nurse console on http://{settings.api_host}:{settings.api_port}")

    def _start_scheduler(self) -> None:
        """Escalation and stale-data timers; the API delivers the console (WebSocket) pages.

        The demo nurses have no MQTT device and no pager, so no other channel is needed.
        """
        sessions = self._sessions
        assert sessions is not None

        def tick() -> None:
            while not self._scheduler_stop.wait(SCHEDULER_INTERVAL_S):
                run = run_scheduler_once(sessions, utcnow())
                if run.escalations or run.stale:
                    log.info("scheduler: %d escalations, %d stale-data alerts",
                             len(run.escalations), len(run.stale))  # fmt: skip

        self._scheduler_thread = threading.Thread(target=tick, name="demo-scheduler", daemon=True)
        self._scheduler_thread.start()

    def _start_homes(self, broker_url: str) -> None:
        started = time.monotonic()
        settings = self.settings
        homes_dir = settings.var_dir / "demo" / "homes"
        shutil.rmtree(homes_dir, ignore_errors=True)  # fresh outboxes, like the fresh database

        def mqtt_url(gateway_id: str) -> str:
            if self._broker is None:
                return self._base.mqtt_url
            return f"mqtt://{gateway_id}@127.0.0.1:{self._broker.port}"  # named: amqtt session

        self._homes = SimulatedHomes(
            PATIENTS,
            settings_for=lambda patient: gateway_settings(
                patient,
                mqtt_url=mqtt_url(patient.gateway_id),
                mqtt_protocol=settings.mqtt_protocol,
                var_dir=homes_dir,
            ),
        )
        history = []
        if self._backfill_days:
            now = utcnow()
            history = self._scenario.history(
                start=now - timedelta(days=self._backfill_days), end=now
            )
        memories: list[AnyReading] = [i for i in history if not isinstance(i, MalformedPayload)]
        malformed = [i for i in history if isinstance(i, MalformedPayload)]
        meters = sum(len(p.meters) for p in PATIENTS)
        self._homes.start(memories)
        self._say(
            f"{len(PATIENTS)} simulated homes: {meters} meters on bumble, one gateway each "
            f"(bleak + bumble backend, durable outbox, MQTT uplink); the meters hold "
            f"{len(memories)} readings of the last {self._backfill_days} days"
        )
        self._publisher = DemoPublisher(
            broker_url, [], client_id="caredge-demo-malformed", protocol=settings.mqtt_protocol
        )
        self._publisher.connect()
        for item in malformed:
            self._publisher.publish(item)
        if malformed:
            self._say(
                f"{len(malformed)} malformed messages published straight to the broker "
                "(no gateway sends those): they become dead letters"
            )
        self._history_messages = len(memories) + len(malformed)
        if not self.wait_ingested(self._history_messages, timeout=60):
            raise DemoError("the gateways did not deliver the meters' memories within 60 s")
        self._say(
            f"the gateways collected and delivered the history: {len(memories)} readings "
            f"in {time.monotonic() - started:.1f}s"
        )

    # -- live ------------------------------------------------------------------------------

    def start_live(self) -> None:
        """Patients take a reading every live_interval_s seconds, round robin over the meters."""
        homes, publisher = self._homes, self._publisher
        if homes is None or publisher is None:
            raise DemoError("start() the demo first")
        items = self._scenario.live(lambda: utcnow().replace(microsecond=0))

        def play() -> None:
            for item in items:
                if isinstance(item, MalformedPayload):
                    publisher.publish(item)
                    continue
                try:
                    homes.take(item)
                except (HomeError, TimeoutError) as exc:
                    log.warning("reading of %s not taken: %s", item.device_id, exc)
                if self._live_stop.wait(self._live_interval_s):
                    return

        self._live_thread = threading.Thread(target=play, name="demo-live", daemon=True)
        self._live_thread.start()

    def meter_readings(self) -> list[AnyReading]:
        """Every reading the simulated meters took so far (history included)."""
        return self._homes.readings() if self._homes is not None else []

    def wait_live(self, timeout: float = 15.0) -> bool:
        """Block until the first live reading went through a gateway and was stored."""
        return self.wait_ingested(self._history_messages + 1, timeout)

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

    def summary(self) -> DemoSummary:
        """Meter and gateway counts, malformed messages sent, and what SQL holds now."""
        stored = dead = alerts = 0
        if self._sessions is not None:
            with self._sessions() as session:
                stored = session.scalar(select(func.count()).select_from(ReadingKey)) or 0
                dead = session.scalar(select(func.count()).select_from(DeadLetter)) or 0
                alerts = session.scalar(select(func.count()).select_from(Alert)) or 0
        homes = self._homes
        return DemoSummary(
            meter_readings=homes.taken if homes else 0,
            gateway_acknowledged=sum(s.acked for s in homes.uplink_stats().values())
            if homes
            else 0,
            malformed_published=self._publisher.stats.malformed_sent if self._publisher else 0,
            stored=stored,
            dead_lettered=dead,
            alerts=alerts,
        )

    def stop(self) -> None:
        """Stop the patients, let gateways and worker finish, then stop everything else."""
        if self._stopped:
            return
        self._stopped = True
        self._live_stop.set()
        if self._live_thread is not None:
            self._live_thread.join(15)
            self._live_thread = None
        if self._homes is not None:
            self._homes.wait_delivered(timeout=10)
            self._homes.stop()
        if self._publisher is not None:
            self._publisher.wait_acknowledged(5)
            self._publisher.close()
        if self._worker is not None:
            summary = self.summary()
            self.wait_ingested(summary.gateway_acknowledged + summary.malformed_published, 10)
            self._worker.stop()
            self._worker = None
        self._scheduler_stop.set()
        if self._scheduler_thread is not None:
            self._scheduler_thread.join(10)
            self._scheduler_thread = None
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
    started = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {text}", flush=True)

    with DemoSystem(
        settings,
        backfill_days=backfill_days,
        live_interval_s=live_interval_s,
        embedded_broker=embedded,
        progress=say,
    ) as system:
        access = system.start()
        print(banner(access, display=has_display()), flush=True)
        with ExitStack() as kiosk:
            if has_display():
                log_path = settings.var_dir / "demo" / "kiosk.log"
                kiosk.enter_context(_kiosk_window(access, log_path))
                say(f"kiosk window opened (caredge kiosk --windowed; log {log_path})")
            system.start_live()
            if system.wait_live():
                say("first live reading: meter → gateway → broker → ingest, stored")
            else:
                say("no live reading stored yet; see the log above")
            deadline = None if duration is None else time.monotonic() + duration
            stop = threading.Event()
            with _stop_on_sigterm(stop):
                try:
                    while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                        stop.wait(0.2)
                except KeyboardInterrupt:
                    stop.set()
            say("stopping …")
        system.stop()
        summary = system.summary()
    print(summary_text(summary), flush=True)
    return summary


def _kiosk_window(access: DemoAccess, log_path: Path) -> KioskWindow:
    """The demo kiosk against the demo API, printing to files."""
    return KioskWindow(
        kiosk_argv(access.api_url),
        kiosk_environment(access.hospital.kiosk_token, access.print_dir),
        log_path,
    )


def banner(access: DemoAccess, *, display: bool) -> str:
    """The text that tells a person where to look."""
    api = access.api_url
    broker = "embedded amqtt, MQTT 3.1.1" if access.embedded_broker else "CAREDGE_MQTT_URL"
    ward_of = {mrn: ward for ward, mrns in WARDS.items() for mrn in mrns}
    patients_lines = "\n".join(
        f"    {access.patient_ids[p.mrn]:>3}  {p.mrn}  {p.name}  ({p.story.value}; "
        f"{ward_of.get(p.mrn, 'no ward')}; gateway {p.gateway_id})"
        for p in PATIENTS
        if p.mrn in access.patient_ids
    )
    first = next(iter(access.patient_ids.values()))
    hospital = access.hospital
    number, _name, birth = hospital.patients[0]
    qr_code = next(code for _id, n, _s, _d, code in hospital.appointments if n == number)
    if display:
        opening = "    the kiosk window opens now (it stops with the demo)"
    else:
        opening = "    no display here; open it with:\n" + open_kiosk_hint(
            access.api_url, hospital.kiosk_token, access.print_dir
        )
    return f"""
================================ caredge demo ================================
Nurse console   {access.console_url}
API docs        {api}/docs
MQTT broker     {access.mqtt_url}  ({broker})
Database        {access.database_url}

Logins (passwords are shown only now):
    {NURSE_USERNAME:<7} {access.nurse_password}   on-call nurse (tier 1), both wards
    {BACKUP_NURSE_USERNAME:<7} {access.backup_nurse_password}   backup (tier 2): paged 1 min \
after an unacknowledged critical alert
    {ADMIN_USERNAME:<7} {access.admin_password}   administrator (API, dead letters)

Patients (readings: simulated BLE meters → real gateway → MQTT → ingest → alerts):
{patients_lines}

Alerts to expect: 张伟 Zhang Wei hypertensive crisis, Maria Garcia level-2
hypoglycaemia (critical), 李秀英 Li Xiuying loose cuff (device fault).
API with a token:
    curl -s -X POST {api}/api/v1/auth/token -d username={NURSE_USERNAME} -d password=…
    curl -s -H "Authorization: Bearer $TOKEN" {api}/api/v1/patients/{first}/readings

Hospital kiosk (demo hospital: departments, outpatients, today's appointments, bills, reports):
    kiosk token     {hospital.kiosk_token}
    try patient     {number}, born {birth:%Y%m%d} (keypad), or scan (type) this QR text:
                    {qr_code}
    route page      {access.route_url}
                    (lobby kiosk → Cardiology, the page the kiosk's QR code opens on a phone)
    prints go to    {access.print_dir}
{opening}

A live reading every few seconds. Ctrl-C stops.
==============================================================================
"""


def summary_text(summary: DemoSummary) -> str:
    """The closing line of the demo."""
    return (
        f"caredge demo: {summary.meter_readings} readings taken by the simulated meters, "
        f"{summary.gateway_acknowledged} delivered by the gateways (PUBACK), "
        f"{summary.malformed_published} malformed messages published on purpose; "
        f"{summary.stored} readings stored, {summary.dead_lettered} dead letters, "
        f"{summary.alerts} alerts raised."
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
