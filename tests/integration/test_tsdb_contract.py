"""One contract for every ReadingStore: SQL on SQLite, SQL on PostgreSQL, influx on VictoriaMetrics.

Differences the contract allows, and documented by the adapters: the influx store keeps time in
milliseconds (``resolution``) and VictoriaMetrics keeps about 12 significant digits per value.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, event

from cloud.db import make_engine
from cloud.errors import StoreUnavailableError
from cloud.migrate import upgrade
from cloud.tsdb.base import ReadingPoint, ReadingStore, UnpersistedWritesLostError
from cloud.tsdb.influx_store import InfluxReadingStore
from cloud.tsdb.sql_store import SqlReadingStore
from tests.fixtures.postgres import ADMIN_URL

pytestmark = pytest.mark.integration

T0 = datetime(2021, 6, 1, 8, 0, tzinfo=UTC)
MS = timedelta(milliseconds=1)
PATIENT = 7
OTHER_PATIENT = 8


@dataclass
class StoreCase:
    """A store under test, how precisely it keeps time and values, and how to cut it off."""

    store: ReadingStore
    stop: Callable[[], None]
    start: Callable[[], None]
    resolution: timedelta = timedelta(microseconds=1)
    significant_digits: int | None = None

    def stored_time(self, moment: datetime) -> datetime:
        """moment as the store keeps it (truncated to its resolution)."""
        return moment - (moment - T0) % self.resolution


def _sqlite_case(tmp_path: Path) -> Iterator[StoreCase]:
    url = f"sqlite:///{tmp_path / 'contract.db'}"
    upgrade(url)
    engine = make_engine(url)

    # A writer holding the lock longer than busy_timeout is SQLite's "cannot take it now";
    # shorten make_engine's 10 s timeout so the test does not wait for it.
    @event.listens_for(engine, "connect")
    def _short_busy_timeout(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.execute("PRAGMA busy_timeout=200")

    blocker = make_engine(url).raw_connection()

    def stop() -> None:
        blocker.execute("BEGIN EXCLUSIVE")

    def start() -> None:
        blocker.rollback()

    yield StoreCase(SqlReadingStore(engine), stop, start)
    blocker.close()
    engine.dispose()


def _postgres_case(postgres_url: str) -> Iterator[StoreCase]:
    upgrade(postgres_url)
    engine: Engine = make_engine(postgres_url)
    dbname = postgres_url.rsplit("/", 1)[1]

    def admin(sql: str) -> None:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql)

    # The shared server cannot be stopped, so the database refuses connections instead.
    def stop() -> None:
        admin(f'ALTER DATABASE "{dbname}" WITH ALLOW_CONNECTIONS false')
        admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{dbname}'")

    def start() -> None:
        admin(f'ALTER DATABASE "{dbname}" WITH ALLOW_CONNECTIONS true')

    yield StoreCase(SqlReadingStore(engine), stop, start)
    start()
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres", "victoria"])
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreCase]:
    if request.param == "sqlite":
        yield from _sqlite_case(tmp_path)
    elif request.param == "postgres":
        yield from _postgres_case(request.getfixturevalue("postgres_url"))
    else:
        victoria = request.getfixturevalue("victoria")
        store = InfluxReadingStore(victoria.url, timeout=2.0)
        yield StoreCase(store, victoria.stop, victoria.start, MS, significant_digits=12)
        store.close()


def bp(seq: int, at: datetime, **changes: object) -> ReadingPoint:
    point = ReadingPoint(
        gateway_id="gw-1",
        device_id="bp-1",
        seq=seq,
        kind="blood_pressure",
        measured_at=at,
        patient_id=PATIENT,
        values={"systolic_mmhg": 120.0, "diastolic_mmhg": 80.0, "map_mmhg": 93.3, "pulse_bpm": 72},
    )
    return point._replace(**changes)  # type: ignore[arg-type]


def glucose(seq: int, at: datetime, value: float, **changes: object) -> ReadingPoint:
    point = ReadingPoint(
        gateway_id="gw-1",
        device_id="glu-1",
        seq=seq,
        kind="glucose",
        measured_at=at,
        patient_id=PATIENT,
        values={"glucose_mmol_l": value},
    )
    return point._replace(**changes)  # type: ignore[arg-type]


def everything(store: ReadingStore, patient_id: int = PATIENT, **kwargs: object) -> list:
    window = {"since": T0 - timedelta(days=365), "until": T0 + timedelta(days=365)}
    return store.query(patient_id=patient_id, **{**window, **kwargs})  # type: ignore[arg-type]


def test_write_then_query_returns_identical_points_oldest_first(case: StoreCase) -> None:
    points = [
        glucose(4, T0 + timedelta(minutes=4), 13.9),
        bp(1, T0, values={"systolic_mmhg": 181.0, "diastolic_mmhg": 7.8, "pulse_bpm": 60.0}),
        glucose(2, T0 + timedelta(minutes=2), 5.55),
        glucose(3, T0 + timedelta(minutes=3), 7.8),
        bp(2, T0 + timedelta(minutes=1)),
    ]
    case.store.write(points)
    assert everything(case.store) == sorted(points, key=lambda p: p.measured_at)


def test_awkward_floats_come_back_to_the_stores_precision(case: StoreCase) -> None:
    awkward = [5.55, 7.8, 13.9, 0.1 + 0.2, 100 / 18.016, 2.2, 33.3]
    case.store.write([glucose(i, T0 + i * MS * 1000, v) for i, v in enumerate(awkward)])
    got = [p.values["glucose_mmol_l"] for p in everything(case.store)]
    for value, stored in zip(awkward, got, strict=True):
        if case.significant_digits is None or len(repr(value).replace(".", "")) <= 12:
            assert stored == value
        else:  # VictoriaMetrics keeps ~12 significant digits (module docstring)
            assert math.isclose(stored, value, rel_tol=10**-case.significant_digits)


def test_kind_filter(case: StoreCase) -> None:
    case.store.write([bp(1, T0), glucose(1, T0 + MS * 1000, 6.1), bp(2, T0 + MS * 2000)])
    assert [p.seq for p in everything(case.store, kind="blood_pressure")] == [1, 2]
    assert [p.kind for p in everything(case.store, kind="glucose")] == ["glucose"]
    assert everything(case.store, kind="weight") == []


def test_window_includes_since_and_excludes_until(case: StoreCase) -> None:
    since, until = T0, T0 + timedelta(hours=1)
    case.store.write(
        [
            glucose(1, since - MS, 5.0),
            glucose(2, since, 5.1),
            glucose(3, until - MS, 5.2),
            glucose(4, until, 5.3),
        ]
    )
    got = case.store.query(patient_id=PATIENT, since=since, until=until)
    assert [p.seq for p in got] == [2, 3]
    assert case.store.query(patient_id=PATIENT, since=since, until=since) == []


def test_other_patients_and_unbound_points_are_excluded(case: StoreCase) -> None:
    mine = glucose(1, T0, 5.5)
    theirs = glucose(2, T0 + MS * 1000, 9.9, patient_id=OTHER_PATIENT)
    unbound = glucose(3, T0 + MS * 2000, 4.4, patient_id=None)
    case.store.write([mine, theirs, unbound])
    assert everything(case.store) == [mine]
    assert everything(case.store, patient_id=OTHER_PATIENT) == [theirs]
    for patient_id in (0, 1, 3, PATIENT + 100):
        assert everything(case.store, patient_id=patient_id) == []


def test_rewriting_a_key_stores_one_reading(case: StoreCase) -> None:
    point = bp(5, T0)
    case.store.write([point])
    case.store.write([point])
    case.store.write([point, point])
    assert everything(case.store) == [point]


def test_timestamps_with_microseconds(case: StoreCase) -> None:
    at = T0 + timedelta(seconds=1, microseconds=123456)
    case.store.write([glucose(1, at, 5.0), glucose(2, at + timedelta(microseconds=999), 5.1)])
    got = everything(case.store)
    assert [p.measured_at for p in got] == [
        case.stored_time(at),
        case.stored_time(at + timedelta(microseconds=999)),
    ]
    assert all(p.measured_at.tzinfo is not None for p in got)


def test_write_to_a_stopped_store_raises_and_works_after_restart(case: StoreCase) -> None:
    case.store.write([glucose(1, T0, 5.0)])
    case.stop()
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError) as raised:
            case.store.write([glucose(2, T0 + MS * 1000, 5.1)])
        assert raised.value.__cause__ is not None
        assert time.monotonic() - started < 10
    finally:
        case.start()
    case.store.write([glucose(2, T0 + MS * 1000, 5.1)])
    assert [p.seq for p in everything(case.store)] == [1, 2]


def test_ping(case: StoreCase) -> None:
    case.store.ping()
    case.store.write([])


class _StubServer(ThreadingHTTPServer):
    """An HTTP server answering every request with one status, counting the requests."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                outer.requests += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(outer.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"no")

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def stub() -> Iterator[Callable[[int], _StubServer]]:
    servers: list[_StubServer] = []

    def serve(status: int) -> _StubServer:
        server = _StubServer(status)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return server

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_influx_server_errors_are_retried_briefly_then_reported(
    stub: Callable[[int], _StubServer],
) -> None:
    server = stub(503)
    store = InfluxReadingStore(server.url, timeout=2.0)
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError):
        store.write([glucose(1, T0, 5.0)])
    assert 1 < server.requests <= 4
    assert time.monotonic() - started < 3
    with pytest.raises(StoreUnavailableError):
        store.ping()
    with pytest.raises(StoreUnavailableError):
        everything(store)
    store.close()


def test_influx_rejected_points_are_not_reported_as_an_outage(
    stub: Callable[[int], _StubServer],
) -> None:
    server = stub(400)
    store = InfluxReadingStore(server.url, timeout=2.0)
    with pytest.raises(ValueError):
        store.write([glucose(1, T0, 5.0)])
    assert server.requests == 1
    store.close()


def test_victoria_without_flush_on_write_needs_a_flush_to_read(victoria) -> None:
    store = InfluxReadingStore(victoria.url, flush_on_write=False)
    store.write([glucose(1, T0, 5.0)])
    victoria.flush()
    assert [p.seq for p in everything(store)] == [1]
    store.close()


def test_victoria_persist_on_write_survives_a_hard_crash(victoria) -> None:
    store = InfluxReadingStore(victoria.url, persist_on_write=True)
    store.write([glucose(1, T0, 5.0)])
    assert [p.seq for p in everything(store)] == [1]  # searchable at once, without a flush
    victoria.kill()
    victoria.start()
    assert [p.seq for p in everything(store)] == [1]
    store.close()


def test_victoria_unpersisted_writes_become_durable_with_one_snapshot(victoria) -> None:
    store = InfluxReadingStore(victoria.url, persist_on_write=True)
    assert store.persists_separately
    receipts = [store.write_unpersisted([glucose(seq, T0 + seq * MS, 5.0)]) for seq in (1, 2, 3)]
    assert [p.seq for p in everything(store)] == [1, 2, 3]  # searchable before the snapshot
    store.persist(receipts)
    victoria.kill()
    victoria.start()
    assert [p.seq for p in everything(store)] == [1, 2, 3]
    store.close()


def test_victoria_restarted_between_write_and_snapshot_is_detected(victoria) -> None:
    """The snapshot of a restarted server succeeds, but cannot vouch for earlier writes."""
    store = InfluxReadingStore(victoria.url, persist_on_write=True)
    before = store.write_unpersisted([glucose(1, T0, 5.0)])
    store.persist([before])
    receipt = store.write_unpersisted([glucose(2, T0 + MS, 5.0)])
    victoria.kill()  # the write may be lost: VictoriaMetrics keeps recent samples in memory
    victoria.start()
    with pytest.raises(UnpersistedWritesLostError):
        store.persist([receipt])
    again = store.write_unpersisted([glucose(2, T0 + MS, 5.0)])
    store.persist([again])  # written to the new process: vouched for
    victoria.kill()
    victoria.start()
    assert [p.seq for p in everything(store)] == [1, 2]
    store.close()


def test_victoria_durable_write_rewrites_after_a_restart(victoria, monkeypatch) -> None:
    """write() = write + snapshot; a restart in between is caught and the write repeated."""
    store = InfluxReadingStore(victoria.url, persist_on_write=True)
    store.write([glucose(1, T0, 5.0)])
    post = store._post
    crashed: list[bool] = []

    def post_then_crash(points):  # type: ignore[no-untyped-def]
        post(points)
        if not crashed:
            crashed.append(True)
            victoria.kill()
            victoria.start()

    monkeypatch.setattr(store, "_post", post_then_crash)
    store.write([glucose(2, T0 + MS, 5.0)])
    victoria.kill()
    victoria.start()
    assert [p.seq for p in everything(store)] == [1, 2]
    store.close()
