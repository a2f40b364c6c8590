"""A ready API over a migrated database for tests: users and tokens without the login form."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cloud.api.app import create_app
from cloud.auth.models import Role
from cloud.auth.security import create_access_token
from cloud.auth.service import create_user
from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.migrate import upgrade
from cloud.settings import Settings
from cloud.tsdb.base import ReadingStore
from cloud.tsdb.sql_store import SqlReadingStore


@dataclass
class ApiHarness:
    """An app on its own database, a TestClient, and helpers to act as a given role."""

    settings: Settings
    engine: Engine
    store: ReadingStore
    app: FastAPI
    client: TestClient
    sessions: sessionmaker[Session]
    _users: set[str] = field(default_factory=set)

    def add_user(
        self, username: str, role: Role | str, *, password: str = "pw-for-tests", **extra: Any
    ) -> None:
        """Create an active user directly in the database."""
        with transaction(self.sessions) as session:
            create_user(session, username=username, password=password, role=role, **extra)

    def token(self, username: str, role: Role | str, *, lifetime: timedelta | None = None) -> str:
        """A signed token for username (created with role if missing)."""
        if username not in self._users:
            self.add_user(username, role)
            self._users.add(username)
        return create_access_token(
            subject=username,
            role=str(Role(role)),
            secret=self.settings.secret_key.get_secret_value(),
            lifetime=lifetime or timedelta(minutes=5),
        )

    def headers(self, role: Role | str, username: str | None = None) -> dict[str, str]:
        """Authorization headers of a user with role (one user per role unless named)."""
        name = username or f"{Role(role).value}-user"
        return {"Authorization": f"Bearer {self.token(name, role)}"}

    def close(self) -> None:
        """Close the client and the engine."""
        self.client.close()
        self.store.close()
        self.engine.dispose()


def make_harness(
    database_url: str, *, store: ReadingStore | None = None, **settings: Any
) -> ApiHarness:
    """Migrate database_url, build the app on it (SQL reading store unless given)."""
    upgrade(database_url)
    config = Settings(database_url=database_url, **settings)
    engine = make_engine(database_url)
    store = store if store is not None else SqlReadingStore(engine)
    app = create_app(config, engine=engine, store=store)
    return ApiHarness(
        settings=config,
        engine=engine,
        store=store,
        app=app,
        client=TestClient(app),
        sessions=make_sessionmaker(engine),
    )
