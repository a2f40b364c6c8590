"""The app shell: probes, JSON errors, OpenAPI, dead letters, the session dependency."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from cloud.api.app import create_app
from cloud.api.deps import SessionDep
from cloud.api.testing import ApiHarness, make_harness
from cloud.auth.models import Role
from cloud.db import transaction
from cloud.deadletters.models import DeadLetter
from cloud.deadletters.service import add_dead_letter
from cloud.errors import StoreUnavailableError
from cloud.patients.models import Patient
from cloud.settings import Settings
from cloud.tsdb.sql_store import SqlReadingStore


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiHarness]:
    harness = make_harness(f"sqlite:///{tmp_path / 'api.db'}")
    yield harness
    harness.close()


class DownStore(SqlReadingStore):
    def ping(self) -> None:
        raise StoreUnavailableError("influx at http://tsdb:8428 refused the connection")


def test_healthz_and_readyz(api: ApiHarness) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "store": "ok"}}


def test_readyz_names_the_store_when_it_is_down(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    engine = create_engine(url)
    client = TestClient(
        create_app(Settings(database_url=url), engine=engine, store=DownStore(engine))
    )
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["detail"].startswith("not ready: store unavailable")
    assert "refused" in body["detail"]
    assert body["checks"]["database"] == "ok"
    assert client.get("/healthz").status_code == 200


def test_readyz_names_the_database_when_it_is_down(tmp_path: Path) -> None:
    good = create_engine(f"sqlite:///{tmp_path / 'ok.db'}")
    broken = create_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    app = create_app(Settings(), engine=broken, store=SqlReadingStore(good))
    response = TestClient(app).get("/readyz")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("not ready: database unavailable")
    assert response.json()["checks"]["store"] == "ok"


def test_openapi_and_docs_are_served(api: ApiHarness) -> None:
    schema = api.client.get("/openapi.json").json()
    assert schema["info"]["title"] == "caredge API"
    assert "/api/v1/patients/{patient_id}/readings" in schema["paths"]
    assert api.client.get("/docs").status_code == 200


def test_unknown_route_is_json_404(api: ApiHarness) -> None:
    response = api.client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_unexpected_errors_are_json_500_and_roll_back(tmp_path: Path) -> None:
    harness = make_harness(f"sqlite:///{tmp_path / 'api.db'}")

    @harness.app.get("/boom")
    def boom(session: SessionDep) -> None:
        session.add(Patient(mrn="X", name="x", birth_date=date(1950, 1, 1)))
        session.flush()
        raise RuntimeError("secret internals")

    client = TestClient(harness.app, raise_server_exceptions=False)
    response = client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}
    with harness.sessions() as session:
        assert session.scalars(select(Patient)).all() == []
    harness.close()


def test_dead_letters_are_listed_newest_first_with_text_and_base64(api: ApiHarness) -> None:
    with transaction(api.sessions) as session:
        add_dead_letter(
            session,
            topic="caredge/v1/gw/gw-1/reading",
            payload=b'{"v": 1',
            reason="invalid JSON",
            gateway_id="gw-1",
        )
    with transaction(api.sessions) as session:
        add_dead_letter(
            session,
            topic="caredge/v1/gw/??/reading",
            payload=b"\xff\xfeok",
            reason="bad topic",
            gateway_id=None,
        )
    response = api.client.get("/api/v1/dead-letters?limit=10", headers=api.headers(Role.ADMIN))
    assert response.status_code == 200
    page = response.json()
    assert page["total"] == 2
    newest, oldest = page["items"]
    assert newest["reason"] == "bad topic"
    assert newest["gateway_id"] is None
    assert newest["payload_text"] == "\ufffd\ufffdok"
    assert base64.b64decode(newest["payload_base64"]) == b"\xff\xfeok"
    assert newest["size"] == 4
    assert oldest["payload_text"] == '{"v": 1'
    assert oldest["topic"] == "caredge/v1/gw/gw-1/reading"
    with api.sessions() as session:
        assert len(session.scalars(select(DeadLetter)).all()) == 2


def test_dead_letter_pagination(api: ApiHarness) -> None:
    with transaction(api.sessions) as session:
        for n in range(3):
            add_dead_letter(session, topic="t", payload=bytes([n]), reason=f"r{n}", gateway_id="g")
    page = api.client.get(
        "/api/v1/dead-letters?limit=1&offset=1", headers=api.headers(Role.ADMIN)
    ).json()
    assert (page["total"], len(page["items"])) == (3, 1)
