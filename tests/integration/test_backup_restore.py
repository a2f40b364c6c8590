"""Backup and restore, once, end to end: scripts/backup.sh on live servers, scripts/restore.sh into
fresh ones (a new PostgreSQL database, a new VictoriaMetrics on a free port), then compare."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

import cloud.models  # noqa: F401  (registers every table)
from cloud.db import Base, make_engine, make_sessionmaker, transaction
from cloud.migrate import upgrade
from cloud.mqtt_admin.rotation import rotate_gateway_password
from cloud.notify.testing import seed_ward
from cloud.tsdb.base import ReadingPoint
from cloud.tsdb.influx_store import InfluxReadingStore
from tests.fixtures.ports import free_port
from tests.fixtures.postgres import ADMIN_URL, _sqlalchemy_url
from tests.fixtures.victoria import Victoria
from tests.support import T0, readings, seed_home

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A second, empty database on the same server: the "fresh server" to restore into."""
    name = f"caredge_restore_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _sqlalchemy_url(name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def table_contents(engine: Engine) -> dict[str, list[Any]]:
    """Every row of every table (and the migration revision), in a stable order."""
    with engine.connect() as conn:
        contents = {
            table: [tuple(row) for row in conn.execute(text(f'SELECT * FROM "{table}" ORDER BY 1'))]
            for table in sorted(Base.metadata.tables)
        }
        contents["alembic_version"] = list(conn.execute(text("SELECT * FROM alembic_version")))
    return contents


def run(script: str, *args: str, env: dict[str, str]) -> None:
    done = subprocess.run([str(REPO / "scripts" / script), *args], env=os.environ | env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"


def test_backup_then_restore_into_fresh_servers(
    postgres_url: str, empty_database: str, victoria: Victoria, tmp_path: Path
) -> None:
    # Fill: a ward with nurses and on-call shifts, two homes, gateway credentials, readings.
    upgrade(postgres_url)
    source = make_engine(postgres_url)
    sessions = make_sessionmaker(source)
    ward = seed_ward(sessions, now=T0, gateway_id="gw1", mqtt_enabled=True)
    other_patient = seed_home(sessions, "gw2", "P0002")
    with transaction(sessions) as session:
        rotate_gateway_password(session, gateway_id="gw1", actor="test")
    points = [ReadingPoint.from_reading(r, ward.patient_id) for r in readings("gw1", 400)]
    points += [ReadingPoint.from_reading(r, other_patient) for r in readings("gw2", 100)]
    store = InfluxReadingStore(victoria.url)
    store.write(points)
    window = {"since": T0, "until": T0 + timedelta(days=2)}
    before = {p: store.query(patient_id=p, **window) for p in (ward.patient_id, other_patient)}
    store.close()
    assert len(before[ward.patient_id]) == 400 and len(before[other_patient]) == 100
    tables_before = table_contents(source)
    assert tables_before["nurses"] and tables_before["audit_log"] and tables_before["shifts"]

    backup = tmp_path / "backup"
    run("backup.sh", str(backup), env={
        "CAREDGE_BACKUP_PG_URL": libpq(postgres_url),
        "CAREDGE_BACKUP_VM_URL": victoria.url,
        "CAREDGE_BACKUP_VM_DATA": str(victoria.data_dir),
    })  # fmt: skip
    assert (backup / "postgres.pgdump").stat().st_size > 0

    restored_vm = tmp_path / "restored" / "victoria-data"
    run("restore.sh", str(backup), env={
        "CAREDGE_RESTORE_PG_URL": libpq(empty_database),
        "CAREDGE_RESTORE_VM_DATA": str(restored_vm),
    })  # fmt: skip

    # Compare: the fresh database holds the same rows, the fresh VictoriaMetrics the same points.
    target = make_engine(empty_database)
    assert table_contents(target) == tables_before
    fresh = Victoria(port=free_port(), data_dir=restored_vm)
    fresh.start()
    try:
        assert fresh.port != victoria.port
        restored_store = InfluxReadingStore(fresh.url)
        after = {p: restored_store.query(patient_id=p, **window) for p in before}
        restored_store.close()
    finally:
        fresh.stop()
    assert after == before
    # The restored database is usable: migrations see it at head and the app can write to it.
    upgrade(empty_database)
    target.dispose()
    source.dispose()
