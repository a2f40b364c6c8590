"""SQLAlchemy base, engine and session factories (built on demand, never at import time)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    DateTime,
    Engine,
    TypeDecorator,
    any_,
    bindparam,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, QueryableAttribute, Session, sessionmaker

#: A column to compare, as a table's or a mapped class's attribute.
Comparable = ColumnElement[Any] | QueryableAttribute[Any]


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offsets)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every caredge table."""


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and its folder created."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to engine; sessions do not expire objects on commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dialect_insert(dialect_name: str) -> Callable[..., Any]:
    """The dialect's ``insert`` (it has ``on_conflict_do_nothing``) for SQLite or PostgreSQL."""
    inserts = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
    if dialect_name not in inserts:
        raise ValueError(f"caredge supports SQLite and PostgreSQL, not {dialect_name}")
    return inserts[dialect_name]


def in_batch(column: Comparable, name: str, dialect_name: str) -> ColumnElement[bool]:
    """``column IN :name`` in a statement built once per dialect and given a batch-sized list:
    on PostgreSQL ``= ANY`` of one array parameter (see :func:`one_of`), elsewhere an
    expanding ``IN``."""
    if dialect_name == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def one_of(column: Comparable, values: Sequence[Any], dialect_name: str) -> ColumnElement[bool]:
    """``column IN values`` for a batch-sized list: on PostgreSQL as ``= ANY`` of one array
    parameter, whose statement text stays the same whatever the count (psycopg parses a text
    longer than 4 KiB for its placeholders on every execution; an ``IN`` list of a thousand
    is); elsewhere an expanding ``IN``."""
    if dialect_name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))
