"""Alembic migrations match the SQLAlchemy models and go both ways, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from cloud.db import make_engine
from cloud.migrate import downgrade, upgrade
from cloud.models import Base

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'caredge.db'}"
    else:
        yield request.getfixturevalue("postgres_url")


def test_migrations_match_models_and_downgrade(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == [], f"models and migrations differ; add a migration: {diff}"
    downgrade(database_url, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(database_url)  # and up again from nothing
    assert "reading_keys" in inspect(engine).get_table_names()
    engine.dispose()
