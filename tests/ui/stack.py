"""The whole cloud side as real processes for console tests and screenshots.

Mosquitto (caredge's configuration) and the three ``caredge`` processes as production runs them
(``caredge api``, ``caredge ingest``, ``caredge scheduler``) on one SQLite file with the ``sql``
reading store, configured only through ``CAREDGE_*`` variables. The test process seeds and
inspects the same database file.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cloud.db import make_engine, make_sessionmaker
from cloud.migrate import upgrade
from cloud.tsdb.base import ReadingStore
from cloud.tsdb.sql_store import SqlReadingStore
from tests.fixtures.mosquitto import Broker
from tests.fixtures.ports import free_port

CAREDGE = Path(sys.executable).with_name("caredge")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
#: Log lines that say a process is ready (the API is probed over HTTP instead).
READY_LINES = {"ingest": "subscribed to ", "scheduler": "scheduler running"}


class StackError(RuntimeError):
    """A process of the stack did not come up (the message carries its log's tail)."""


@dataclass
class CaredgeStack:
    """Broker, API, ingest worker and scheduler under workdir; use as a context manager."""

    workdir: Path
    console_poll_seconds: float = 0.05
    broker: Broker | None = field(init=False, default=None)
    api_port: int = field(init=False, default=0)
    database_url: str = field(init=False, default="")
    engine: Engine | None = field(init=False, default=None)
    _processes: dict[str, subprocess.Popen[bytes]] = field(init=False, default_factory=dict)

    @property
    def api_url(self) -> str:
        """Where the API and the console (``/console/``) answer."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def mqtt_port(self) -> int:
        """The broker's port on 127.0.0.1."""
        assert self.broker is not None, "start the stack first"
        return self.broker.port

    @property
    def sessions(self) -> sessionmaker[Session]:
        """Sessions on the stack's database (seeding and assertions)."""
        assert self.engine is not None, "start the stack first"
        return make_sessionmaker(self.engine)

    def store(self) -> ReadingStore:
        """The reading store the processes use (caller closes it)."""
        assert self.engine is not None, "start the stack first"
        return SqlReadingStore(self.engine)

    def __enter__(self) -> CaredgeStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the broker, migrate a fresh database, start the processes and wait for each."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.broker = Broker(port=free_port(), workdir=self.workdir)
        self.broker.start()
        broker_url = self.broker.url
        self.database_url = f"sqlite:///{self.workdir / 'caredge.db'}"
        upgrade(self.database_url)
        self.engine = make_engine(self.database_url)
        self.api_port = free_port()
        tag = secrets.token_hex(3)
        env = {
            **os.environ,
            "CAREDGE_ENV": "development",
            "CAREDGE_VAR_DIR": str(self.workdir),
            "CAREDGE_DATABASE_URL": self.database_url,
            "CAREDGE_TSDB_URL": "sql",
            "CAREDGE_MQTT_URL": broker_url,
            "CAREDGE_MQTT_CLIENT_ID": f"ui-ingest-{tag}",
            "CAREDGE_NOTIFY_MQTT_CLIENT_ID": f"ui-notify-{tag}",
            "CAREDGE_API_HOST": "127.0.0.1",
            "CAREDGE_API_PORT": str(self.api_port),
            "CAREDGE_SECRET_KEY": secrets.token_urlsafe(32),
            "CAREDGE_INGEST_BATCH_SECONDS": "0.02",
            "CAREDGE_CONSOLE_POLL_SECONDS": str(self.console_poll_seconds),
            "CAREDGE_WEBHOOK_URL": "",
            "CAREDGE_LOG_LEVEL": "INFO",
        }
        for name in ("api", "ingest", "scheduler"):
            with (self.workdir / f"{name}.log").open("wb") as log:
                self._processes[name] = subprocess.Popen(
                    [str(CAREDGE), name], env=env, stdout=log, stderr=subprocess.STDOUT
                )
        deadline = time.monotonic() + START_TIMEOUT_S
        self._wait_api(deadline)
        for name, line in READY_LINES.items():
            self._wait_log(name, line, deadline)

    def stop(self) -> None:
        """SIGTERM every process (each stops cleanly), kill what lingers, stop the broker."""
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
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None
        if self.broker is not None:
            self.broker.stop()
            self.broker = None

    def log_tail(self, name: str, lines: int = 30) -> str:
        """The last lines of a process's log (for failure messages)."""
        path = self.workdir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _check_alive(self, name: str) -> None:
        process = self._processes[name]
        if process.poll() is not None:
            raise StackError(
                f"caredge {name} exited with {process.returncode}:\n{self.log_tail(name)}"
            )

    def _wait_api(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            self._check_alive("api")
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
            self._check_alive(name)
            if line in path.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise StackError(f"caredge {name} never logged {line!r}:\n{self.log_tail(name)}")
