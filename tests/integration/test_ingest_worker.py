"""The ingest worker against a real Mosquitto, on SQLite and PostgreSQL with the sql store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cloud.db import make_engine, make_sessionmaker
from cloud.deadletters.models import DeadLetter
from cloud.ingest.worker import IngestWorker
from cloud.migrate import upgrade
from cloud.readings.models import ReadingKey
from cloud.settings import Settings
from cloud.tsdb.base import ReadingPoint
from cloud.tsdb.sql_store import SqlReadingStore
from tests.fixtures.mosquitto import Broker
from tests.support import T0, publish, reading_messages, readings, seed_home, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'caredge.db'}"
    else:
        yield request.getfixturevalue("postgres_url")


def _worker(database_url: str, broker: Broker, client_id: str = "ingest-test") -> IngestWorker:
    upgrade(database_url)
    engine = make_engine(database_url)
    settings = Settings(
        database_url=database_url,
        mqtt_url=broker.url,
        mqtt_client_id=client_id,
        ingest_batch_seconds=0.02,
    )
    return IngestWorker(
        settings, session_factory=make_sessionmaker(engine), store=SqlReadingStore(engine)
    )


def test_readings_stored_once_with_identical_values(database_url: str, mosquitto: Broker) -> None:
    worker = _worker(database_url, mosquitto)
    engine = make_engine(database_url)
    factory = make_sessionmaker(engine)
    patient_id = seed_home(factory)
    sent = readings("gw1", 300)
    messages = reading_messages(sent)
    bad = [
        ("caredge/v1/gw/gw1/reading", b'{"v": 1, "kind": "glucose", "truncated'),
        ("caredge/v1/gw/gw1/reading", messages[0][1].replace(b'"v":1', b'"v":9')),
        ("caredge/v1/gw/gw9/reading", messages[1][1]),
    ]
    worker.start()
    try:
        assert worker.wait_connected()
        # valid, malformed and duplicate messages interleaved in one stream
        stream = messages[:150] + bad + messages[100:] + messages[:10]
        assert publish(mosquitto.port, stream) == len(stream)
        wait_until(lambda: worker.stats.snapshot()["received"] >= len(stream))
        wait_until(lambda: worker.stats.snapshot()["batches"] > 0)
        wait_until(
            lambda: (
                worker.stats.snapshot()["stored"]
                + worker.stats.snapshot()["duplicates"]
                + worker.stats.snapshot()["dead_letters"]
                == len(stream)
            )
        )
    finally:
        worker.stop()
    stats = worker.stats.snapshot()
    assert stats["stored"] == 300
    assert stats["duplicates"] == 60
    assert stats["dead_letters"] == 3

    store = SqlReadingStore(engine)
    stored = store.query(patient_id=patient_id, since=T0, until=T0 + timedelta(days=1))
    expected = [ReadingPoint.from_reading(r, patient_id) for r in sent]
    assert sorted(stored, key=lambda p: p.key) == sorted(expected, key=lambda p: p.key)
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(ReadingKey)) == 300
        letters = session.scalars(select(DeadLetter).order_by(DeadLetter.id)).all()
    assert {letter.payload for letter in letters} == {payload for _, payload in bad}
    reasons = " | ".join(letter.reason for letter in letters)
    assert "not JSON" in reasons
    assert "unsupported payload version 9" in reasons
    assert "does not match topic gateway 'gw9'" in reasons


def test_queued_readings_survive_worker_downtime(tmp_path: Path, mosquitto: Broker) -> None:
    database_url = f"sqlite:///{tmp_path / 'caredge.db'}"
    worker = _worker(database_url, mosquitto, client_id="ingest-persistent")
    factory = make_sessionmaker(make_engine(database_url))
    seed_home(factory)
    worker.start()
    assert worker.wait_connected()
    worker.stop()  # the persistent session and its subscription stay on the broker
    sent = reading_messages(readings("gw1", 2000))
    assert publish(mosquitto.port, sent) == 2000
    mosquitto.restart()  # queued messages must survive a broker restart too
    worker = _worker(database_url, mosquitto, client_id="ingest-persistent")
    worker.start()
    try:
        wait_until(lambda: worker.stats.snapshot()["stored"] >= 2000, timeout=60)
    finally:
        worker.stop()
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(ReadingKey)) == 2000


class _PoisonStore(SqlReadingStore):
    """A real store that fails for good on one reading, as a corrupt row or a bug would."""

    def write(self, points: Sequence[ReadingPoint]) -> None:
        if any(point.seq == 13 for point in points):
            raise ValueError("cannot store seq 13")
        super().write(points)


def test_a_message_that_fails_for_good_is_isolated(tmp_path: Path, mosquitto: Broker) -> None:
    database_url = f"sqlite:///{tmp_path / 'caredge.db'}"
    upgrade(database_url)
    engine = make_engine(database_url)
    factory = make_sessionmaker(engine)
    seed_home(factory)
    settings = Settings(
        database_url=database_url, mqtt_url=mosquitto.url, ingest_batch_seconds=0.05
    )
    worker = IngestWorker(settings, session_factory=factory, store=_PoisonStore(engine))
    worker.start()
    try:
        assert worker.wait_connected()
        assert publish(mosquitto.port, reading_messages(readings("gw1", 40))) == 40
        wait_until(lambda: worker.stats.snapshot()["stored"] == 39)
        wait_until(lambda: worker.stats.snapshot()["dead_letters"] == 1)
    finally:
        worker.stop()
    with factory() as session:
        letter = session.scalars(select(DeadLetter)).one()
    assert "cannot store seq 13" in letter.reason
    assert b'"seq":13' in letter.payload
