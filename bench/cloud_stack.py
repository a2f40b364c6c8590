"""The cloud side as real processes for benchmarks, stopped in reverse order whatever happens.

Mosquitto with caredge's configuration and (optionally) VictoriaMetrics on free ports, a fresh
PostgreSQL database (dropped afterwards) or SQLite file, and ``caredge api`` and
``caredge ingest`` as production runs them, configured only through ``CAREDGE_*`` variables.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import psycopg

from cloud.migrate import upgrade
from tests.fixtures.mosquitto import Broker
from tests.fixtures.ports import free_port
from tests.fixtures.victoria import VICTORIA_BINARY, Victoria

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
CAREDGE = Path(sys.executable).with_name("caredge")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
Database = Literal["postgres", "sqlite"]
Tsdb = Literal["victoria", "sql"]


class StackError(RuntimeError):
    """A service of the stack is missing or did not come up (with its log's tail)."""


def postgres_available(admin_url: str) -> bool:
    """True if the PostgreSQL server at admin_url accepts a connection within 2 s."""
    try:
        with psycopg.connect(admin_url, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (SQLAlchemy URL), dropped on exit."""
    name = f"caredge_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class CloudStack:
    """Broker, time-series store, SQL database, API and ingest worker under workdir.

    ``environment`` adds or overrides ``CAREDGE_*`` variables of the two caredge processes
    (the knobs a benchmark turns); ``traced`` runs them under :mod:`bench.stage_trace`. Use as
    a context manager (it starts the services; seed, then ``start_caredge``).
    """

    workdir: Path
    database: Database = "postgres"
    tsdb: Tsdb = "victoria"
    postgres_admin_url: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    #: Run the processes under bench.stage_trace (stage timestamps in their logs).
    traced: bool = False
    progress: Callable[[str], None] = log.info
    broker: Broker | None = field(init=False, default=None)
    victoria: Victoria | None = field(init=False, default=None)
    database_url: str = field(init=False, default="")
    api_port: int = field(init=False, default=0)
    _exits: contextlib.ExitStack = field(init=False, default_factory=contextlib.ExitStack)
    _processes: dict[str, subprocess.Popen[bytes]] = field(init=False, default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def mqtt_port(self) -> int:
        assert self.broker is not None, "start the stack first"
        return self.broker.port

    def __enter__(self) -> CloudStack:
        try:
            self.start_services()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start_services(self) -> None:
        """Broker, time-series store and a migrated database (seed it, then ``start_caredge``)."""
        if not CAREDGE.exists():
            raise StackError(f"{CAREDGE} missing: pip install -e . in this venv")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.broker = Broker(port=free_port(), workdir=self.workdir)
        self._exits.callback(self.broker.stop)
        self.broker.start()
        self.progress(f"mosquitto on port {self.broker.port}")
        if self.tsdb == "victoria":
            if not VICTORIA_BINARY.exists():
                raise StackError(f"{VICTORIA_BINARY} missing: apt-get install victoria-metrics")
            (self.workdir / "vm").mkdir(exist_ok=True)
            self.victoria = Victoria(port=free_port(), data_dir=self.workdir / "vm")
            self._exits.callback(self.victoria.stop)
            self.victoria.start()
            self.progress(f"victoria-metrics on {self.victoria.url}")
        if self.database == "postgres":
            self.database_url = self._exits.enter_context(
                postgres_database(self.postgres_admin_url)
            )
        else:
            self.database_url = f"sqlite:///{self.workdir / 'caredge.db'}"
        upgrade(self.database_url)
        self.progress(f"database {self.database_url.rsplit('/', 1)[1]} migrated ({self.database})")

    def start_caredge(self) -> None:
        """Start ``caredge api`` and ``caredge ingest`` and wait until both are ready."""
        assert self.broker is not None, "start_services first"
        self.api_port = free_port()
        tag = secrets.token_hex(3)
        env = {
            **os.environ,
            "CAREDGE_ENV": "development",
            "CAREDGE_VAR_DIR": str(self.workdir),
            "CAREDGE_DATABASE_URL": self.database_url,
            "CAREDGE_TSDB_URL": self.victoria.url if self.victoria else "sql",
            "CAREDGE_MQTT_URL": self.broker.url,
            "CAREDGE_MQTT_CLIENT_ID": f"bench-ingest-{tag}",
            "CAREDGE_NOTIFY_MQTT_CLIENT_ID": f"bench-notify-{tag}",
            "CAREDGE_API_HOST": "127.0.0.1",
            "CAREDGE_API_PORT": str(self.api_port),
            "CAREDGE_SECRET_KEY": secrets.token_urlsafe(32),
            "CAREDGE_WEBHOOK_URL": "",
            "CAREDGE_LOG_LEVEL": "INFO",
            **self.environment,
        }
        self._exits.callback(self._stop_processes)
        for name in ("api", "ingest"):
            command = (
                [sys.executable, "-m", "bench.stage_trace", name]
                if self.traced
                else [str(CAREDGE), name]
            )
            with (self.workdir / f"{name}.log").open("wb") as out:
                self._processes[name] = subprocess.Popen(
                    command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT
                )
        deadline = time.monotonic() + START_TIMEOUT_S
        self._wait_api(deadline)
        self._wait_log("ingest", "subscribed to ", deadline)
        self.progress(f"caredge api on {self.api_url}, caredge ingest subscribed")

    def pids(self) -> dict[str, list[int]]:
        """Process ids by service (PostgreSQL: the backends serving this database now)."""
        found: dict[str, list[int]] = {name: [p.pid] for name, p in self._processes.items()}
        for name, server in (("mosquitto", self.broker), ("victoria", self.victoria)):
            if server is not None and server.process is not None:
                found[name] = [server.process.pid]
        if self.database == "postgres":
            database = self.database_url.rsplit("/", 1)[1]
            with psycopg.connect(self.postgres_admin_url, autocommit=True) as conn:
                rows = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s",
                    (database,),
                ).fetchall()
            found["postgres"] = [int(row[0]) for row in rows]
        return found

    def stop(self) -> None:
        """Stop everything started, last first (idempotent)."""
        self._exits.close()

    def log_tail(self, name: str, lines: int = 30) -> str:
        """The last lines of a process's log (for error messages)."""
        path = self.workdir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def check_alive(self) -> None:
        """Raise StackError if the API or the ingest worker has exited."""
        for name, process in self._processes.items():
            if process.poll() is not None:
                raise StackError(
                    f"caredge {name} exited with {process.returncode}:\n{self.log_tail(name)}"
                )

    def _stop_processes(self) -> None:
        for process in self._processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self._processes.values():
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes.clear()

    def _wait_api(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with urllib.request.urlopen(f"{self.api_url}/readyz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise StackError(f"caredge api not ready on {self.api_url}:\n{self.log_tail('api')}")

    def _wait_log(self, name: str, line: str, deadline: float) -> None:
        path = self.workdir / f"{name}.log"
        while time.monotonic() < deadline:
            self.check_alive()
            if line in path.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise StackError(f"caredge {name} never logged {line!r}:\n{self.log_tail(name)}")
