"""Fault scenarios (marker ``faults``): the fixtures every scenario shares.

``CAREDGE_FAULTS_FULL=1`` runs the documented full durations (VictoriaMetrics down 60 s …);
without it the reduced CI versions run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cloud.db import make_engine, make_sessionmaker
from cloud.migrate import upgrade
from cloud.settings import Settings
from cloud.tsdb.base import ReadingStore
from cloud.tsdb.factory import make_store
from tests.faults.harness import CloudProcesses, WebhookReceiver
from tests.faults.private_postgres import PrivatePostgres
from tests.fixtures.mosquitto import Broker
from tests.fixtures.victoria import Victoria

FULL = os.environ.get("CAREDGE_FAULTS_FULL") == "1"


@dataclass
class Cloud:
    """The processes (not started yet) and the test's own handles on the same stores."""

    processes: CloudProcesses
    engine: Engine
    factory: sessionmaker[Session]
    store: ReadingStore


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this test only, so the test may restart it."""
    server = PrivatePostgres.create()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def make_cloud(
    tmp_path: Path, mosquitto: Broker, victoria: Victoria, webhook: WebhookReceiver
) -> Iterator[Callable[[str], Cloud]]:
    """Migrate database_url and prepare the cloud processes on the test's broker and store."""
    made: list[Cloud] = []

    def build(database_url: str) -> Cloud:
        upgrade(database_url)
        engine = make_engine(database_url)
        processes = CloudProcesses(
            tmp_path, database_url, mosquitto.url, victoria.url, webhook_url=webhook.url
        )
        store = make_store(Settings(tsdb_url=victoria.url, database_url=database_url), engine)
        made.append(Cloud(processes, engine, make_sessionmaker(engine), store))
        return made[-1]

    try:
        yield build
    finally:
        for cloud in made:
            cloud.processes.stop_all()
            cloud.store.close()
            cloud.engine.dispose()
