"""The ingest worker against a real Mosquitto, on SQLite and PostgreSQL with the sql store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cloud.alerts.models import Alert
from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.deadletters.models import DeadLetter
from cloud.ingest.pipeline import Inbound, Undurable
from cloud.ingest.repository import (
    _LEDGER_COLUMNS,
    TsdbBatch,
    mark_durable,
    record_batch,
    register_writer,
    stored_keys,
)
from cloud.ingest.worker import IngestWorker, _locks_whole_database
from cloud.migrate import upgrade
from cloud.readings.models import ReadingKey, TsdbDurableMark
from cloud.settings import Settings
from cloud.tsdb.base import ReadingPoint
from cloud.tsdb.sql_store import SqlReadingStore
from protocol.envelope import BloodPressureReading
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


def test_ledger_rows_are_stored_as_the_orm_stores_them(database_url: str) -> None:
    """The driver-level multi-row ledger insert stores the ORM's representation, to the byte."""
    upgrade(database_url)
    engine = make_engine(database_url)
    factory = make_sessionmaker(engine)
    patient_id = seed_home(factory)
    per_statement = engine.dialect.insertmanyvalues_max_parameters // len(_LEDGER_COLUMNS)
    sent = readings("gw1", per_statement + 2)  # more than one statement
    received_at = T0 + timedelta(hours=1, microseconds=7)
    with transaction(factory) as session:
        record_batch(
            session,
            accepted=[(reading, patient_id) for reading in sent[1:]],
            rejected=[],
            received_at=received_at,
            last_seen={},
        )
        first = sent[0]
        session.add(
            ReadingKey(
                gateway_id=first.gateway_id,
                device_id=first.device_id,
                seq=first.seq,
                patient_id=patient_id,
                kind=first.kind,
                measured_at=first.measured_at,
                received_at=received_at,
            )
        )
    with transaction(factory) as session:  # a known key is ignored, not an error
        record_batch(session, accepted=[(sent[1], None)], rejected=[], received_at=T0, last_seen={})
    with engine.connect() as connection:
        raw = connection.exec_driver_sql(
            "SELECT gateway_id, device_id, seq, patient_id, kind, measured_at, received_at"
            " FROM reading_keys ORDER BY seq"
        ).all()
    assert len(raw) == len(sent)
    orm_row = raw[0]
    for row, reading in zip(raw, sent, strict=True):
        assert tuple(row[:5]) == (
            reading.gateway_id,
            reading.device_id,
            reading.seq,
            patient_id,
            reading.kind,
        )
        assert row[6] == orm_row[6]
    with factory() as session:
        times = session.scalars(select(ReadingKey.measured_at).order_by(ReadingKey.seq)).all()
        between = session.scalar(
            select(func.count())
            .select_from(ReadingKey)
            .where(ReadingKey.measured_at >= sent[5].measured_at)
            .where(ReadingKey.measured_at < sent[10].measured_at)
        )
    assert times == [reading.measured_at for reading in sent]
    assert between == 5  # compared in SQL: the stored form orders like the ORM's


def test_a_reading_in_a_batch_not_yet_committed_is_a_duplicate(
    tmp_path: Path, mosquitto: Broker
) -> None:
    """The collector triages batch N+1 while batch N is still being stored."""
    worker = _worker(f"sqlite:///{tmp_path / 'caredge.db'}", mosquitto)
    seed_home(worker._sessions)
    messages = [
        Inbound(t, p, mid) for mid, (t, p) in enumerate(reading_messages(readings("gw1", 3)))
    ]
    try:
        first = worker._prepare(messages[:2])
        again = worker._prepare(messages[1:])  # seq 2 is pending, not yet in the ledger
        assert [r.seq for r, _ in again.accepted] == [3]
        assert again.duplicates == 1
        assert worker._store_with_retry(messages[:2], first).result is first  # type: ignore[union-attr]
        assert worker._store_with_retry(messages[1:], again).result is again  # type: ignore[union-attr]
        redelivered = worker._prepare(messages)  # committed now: the ledger knows all three
        assert (redelivered.accepted, redelivered.duplicates) == ([], 3)
    finally:
        worker.stop()


def test_a_crisis_reading_opens_an_alert_in_the_stream(tmp_path: Path, mosquitto: Broker) -> None:
    database_url = f"sqlite:///{tmp_path / 'caredge.db'}"
    worker = _worker(database_url, mosquitto)
    factory = make_sessionmaker(make_engine(database_url))
    patient_id = seed_home(factory)
    crisis = BloodPressureReading(
        gateway_id="gw1",
        device_id="bp-gw1",
        seq=1,
        measured_at=T0,
        systolic_mmhg=192,
        diastolic_mmhg=118,
    )
    worker.start()
    try:
        assert worker.wait_connected()
        assert publish(mosquitto.port, reading_messages([crisis])) == 1
        wait_until(lambda: worker.stats.snapshot()["alerts_opened"] == 1)
    finally:
        worker.stop()
    with factory() as session:
        alert = session.scalars(select(Alert)).one()
    assert (alert.patient_id, alert.rule_id, alert.severity, alert.state) == (
        patient_id,
        "bp.crisis",
        "critical",
        "open",
    )
    assert worker.stats.snapshot()["alert_errors"] == 0


def test_only_sqlite_is_locked_as_a_whole() -> None:
    """On SQLite the worker waits for the time-series write before its ledger transaction."""
    sqlite = make_sessionmaker(make_engine("sqlite:///:memory:"))
    postgres = make_sessionmaker(make_engine("postgresql+psycopg://u@127.0.0.1:1/x"))
    assert _locks_whole_database(sqlite) and not _locks_whole_database(postgres)


def test_stored_keys_tell_durable_rows_from_rows_no_snapshot_covers(database_url: str) -> None:
    """One batch query on PostgreSQL, per device on SQLite: the same answer."""
    upgrade(database_url)
    factory = make_sessionmaker(make_engine(database_url))
    patient_id = seed_home(factory)
    sent = readings("gw1", 6)
    with transaction(factory) as session:
        writer = register_writer(session, client_id="test", started_at=T0)
        for number, part in ((None, sent[:2]), (1, sent[2:4]), (2, sent[4:])):
            record_batch(
                session,
                accepted=[(reading, patient_id) for reading in part],
                rejected=[],
                received_at=T0,
                last_seen={},
                tsdb_batch=None if number is None else TsdbBatch(writer, number),
            )
        mark_durable(session, TsdbBatch(writer, 1))
    asked = {reading.key for reading in sent} | {("gw1", "bp-gw1", 99)}
    with factory() as session:
        found = stored_keys(session, asked)
    assert found.durable == {reading.key for reading in sent[:4]}
    assert found.undurable == {
        r.key: Undurable(patient_id, r.kind, r.measured_at) for r in sent[4:]
    }
    with transaction(factory) as session:  # a rewrite re-points rows to a covered batch
        record_batch(
            session,
            accepted=[],
            rejected=[],
            received_at=T0,
            last_seen={},
            tsdb_batch=TsdbBatch(writer, 3),
            rewritten=[sent[4].key],
        )
        mark_durable(session, TsdbBatch(writer, 3))
        mark_durable(session, TsdbBatch(writer, 2))  # a mark never goes back
    with factory() as session:
        found = stored_keys(session, asked)
        assert session.get(TsdbDurableMark, writer).durable_batch == 3  # type: ignore[union-attr]
    assert found.durable == {reading.key for reading in sent}
