"""Delivery confirmations end to end: the real uplink, Mosquitto and the ingest worker.

A reading leaves the gateway's outbox only when the worker confirms it durable; a dead letter
is confirmed as rejected with its reason; without a worker readings stay and are re-sent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.db import make_engine, make_sessionmaker
from cloud.deadletters.models import DeadLetter
from cloud.ingest.worker import IngestWorker
from cloud.migrate import upgrade
from cloud.settings import Settings
from cloud.tsdb.sql_store import SqlReadingStore
from edge.outbox import Outbox
from edge.settings import GatewaySettings
from edge.uplink import Uplink
from protocol.envelope import encode_reading
from protocol.topics import GatewayTopic
from tests.fixtures.mosquitto import Broker
from tests.support import readings, seed_home, wait_until

pytestmark = pytest.mark.integration

TOPIC = str(GatewayTopic("gw1", "reading"))


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'caredge.db'}"
    upgrade(url)
    engine = make_engine(url)
    made = make_sessionmaker(engine)
    seed_home(made)
    yield made
    engine.dispose()


@pytest.fixture
def worker(factory: sessionmaker[Session], mosquitto: Broker) -> Iterator[IngestWorker]:
    engine = factory.kw["bind"]
    settings = Settings(
        database_url=str(engine.url), mqtt_url=mosquitto.url, mqtt_client_id="ingest-confirm"
    )
    made = IngestWorker(settings, session_factory=factory, store=SqlReadingStore(engine))
    yield made
    made.stop()


def gateway_settings(tmp_path: Path, broker: Broker) -> GatewaySettings:
    return GatewaySettings(
        gateway_id="gw1",
        mqtt_url=broker.url,
        outbox_path=tmp_path / "gw1" / "outbox.db",
        confirm_timeout_seconds=0.5,
        heartbeat_seconds=30,
    )


def test_readings_stay_until_confirmed_and_are_resent_meanwhile(
    tmp_path: Path, mosquitto: Broker, worker: IngestWorker
) -> None:
    settings = gateway_settings(tmp_path, mosquitto)
    sent = readings("gw1", 40)
    with Outbox(settings.outbox_file) as outbox, Uplink(settings, outbox) as uplink:
        for reading in sent:
            outbox.put("reading", TOPIC, encode_reading(reading), reading.key)
        # The broker PUBACKs them all, but no worker has ever subscribed: nothing confirms.
        wait_until(lambda: uplink.stats.acked >= 40, timeout=15)
        assert outbox.awaiting_confirmation() == 40
        wait_until(lambda: uplink.stats.resent >= 40, timeout=15)  # due again after 0.5 s
        assert outbox.depth()["reading"] == 40

        worker.start()
        assert worker.wait_connected()
        # The next re-send reaches the worker; its confirmation empties the outbox.
        assert uplink.wait_until_empty(30)
        assert uplink.stats.confirmed == 40
    assert worker.stats.snapshot()["stored"] == 40


def test_a_dead_letter_is_confirmed_as_rejected_with_its_reason(
    tmp_path: Path,
    mosquitto: Broker,
    worker: IngestWorker,
    factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = gateway_settings(tmp_path, mosquitto)
    good = readings("gw1", 2)
    stranger = readings("gw1", 1, start_seq=99)[0].model_copy(update={"device_id": "bp-stranger"})
    worker.start()
    assert worker.wait_connected()
    caplog.set_level(logging.WARNING, logger="edge.uplink")
    with Outbox(settings.outbox_file) as outbox, Uplink(settings, outbox) as uplink:
        for reading in (*good, stranger):
            outbox.put("reading", TOPIC, encode_reading(reading), reading.key)
        assert uplink.wait_until_empty(15)
        assert (uplink.stats.confirmed, uplink.stats.rejected_by_cloud) == (2, 1)
    assert "not registered to gateway 'gw1'" in caplog.text
    with factory() as session:
        letters = session.scalars(select(DeadLetter)).all()
    assert len(letters) == 1
    assert json.loads(letters[0].payload)["device_id"] == "bp-stranger"
