"""The console feed woken by PostgreSQL NOTIFY: the triggers of migration 0005 notify on commit
only, and a change committed by another connection reaches an open console WebSocket far sooner
than the feed's fallback poll (5 s here), also after the listening connection was killed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from cloud.alerts.engine import evaluate_readings
from cloud.alerts.models import Alert
from cloud.api.testing import ApiHarness, make_harness
from cloud.db import transaction, utcnow
from cloud.notify.pg_listen import APPLICATION_NAME, CHANNEL, listen_conninfo
from cloud.notify.testing import PASSWORD, SeededWard, seed_ward
from cloud.oncall.models import Notification
from protocol.envelope import BloodPressureReading

pytestmark = pytest.mark.integration

FALLBACK_S = 5.0
#: A woken feed: commit → NOTIFY → one tick (two indexed queries) → WebSocket.
WOKEN_WITHIN_S = 0.5


@pytest.fixture
def api(postgres_url: str) -> Iterator[ApiHarness]:
    harness = make_harness(
        postgres_url, console_poll_seconds=FALLBACK_S, console_listen_poll_seconds=FALLBACK_S
    )
    yield harness
    harness.close()


def breach(api: ApiHarness, ward: SeededWard, seq: int) -> int:
    """Commit a crisis BP reading of the ward's patient (another connection than the API's
    feed); the alert it opened or attached to."""
    reading = BloodPressureReading(
        gateway_id=ward.gateway_id, device_id=ward.bp_device_id, seq=seq, measured_at=utcnow(),
        systolic_mmhg=190 + seq, diastolic_mmhg=118,
    )  # fmt: skip
    with transaction(api.sessions) as session:
        [change] = evaluate_readings(session, readings=[(reading, ward.patient_id)], now=utcnow())
    return change.alert_id


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def receive(ws: Any, wanted: str) -> dict[str, Any]:
    for _ in range(20):
        message: dict[str, Any] = ws.receive_json()
        if message["type"] == wanted:
            return message
    raise AssertionError(f"no {wanted} message")


def notifies(connection: psycopg.Connection[Any], timeout: float = 0.5) -> list[str]:
    return [n.payload for n in connection.notifies(timeout=timeout) if n.channel == CHANNEL]


def test_triggers_notify_alert_ids_on_commit_only(api: ApiHarness, postgres_url: str) -> None:
    ward = seed_ward(api.sessions, now=utcnow())
    with psycopg.connect(listen_conninfo(postgres_url), autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        alert_id = breach(api, ward, seq=1)  # alert row + websocket page, one transaction
        assert notifies(listener) == [str(alert_id)]  # identical payloads fold into one
        with pytest.raises(RuntimeError), transaction(api.sessions) as session:
            session.execute(update(Alert).values(updated_at=utcnow()))
            raise RuntimeError("roll back")
        assert notifies(listener, timeout=0.3) == []
        with transaction(api.sessions) as session:
            for channel in ("mqtt", "webhook"):
                session.add(Notification(alert_id=alert_id, nurse_id=ward.primary_nurse_id,
                                         channel=channel, event="opened"))  # fmt: skip
        assert notifies(listener, timeout=0.3) == []
        with transaction(api.sessions) as session:
            session.add(Notification(alert_id=alert_id, nurse_id=ward.primary_nurse_id,
                                     channel="websocket", event="repeated"))  # fmt: skip
        assert notifies(listener) == [str(alert_id)]
        assert breach(api, ward, seq=2) == alert_id  # attached: an UPDATE of the alert
        assert notifies(listener) == [str(alert_id)]


def listening_pids(api: ApiHarness) -> set[int]:
    with api.engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity"
            " WHERE application_name = %(name)s AND datname = current_database()",
            {"name": APPLICATION_NAME},
        )
        return {int(pid) for (pid,) in rows}


def test_commits_reach_the_console_long_before_the_fallback_poll(api: ApiHarness) -> None:
    ward = seed_ward(api.sessions, now=utcnow())
    with TestClient(api.app) as client:
        wakeup = api.app.state.console_wakeup
        wait_for(lambda: wakeup.listening, "the listener")
        assert wakeup.interval_s == FALLBACK_S
        token = client.post(
            "/api/v1/auth/token", data={"username": "ann", "password": PASSWORD}
        ).json()["access_token"]
        with client.websocket_connect("/api/v1/console/ws") as ws:
            ws.send_json({"type": "auth", "token": token})
            receive(ws, "snapshot")
            time.sleep(0.2)  # the ticks of start-up and sign-in are over

            alert_id = breach(api, ward, seq=1)
            committed = time.perf_counter()
            assert receive(ws, "alert")["alert"]["id"] == alert_id
            page = receive(ws, "notification")  # the page of the same tick
            took = time.perf_counter() - committed
            assert (page["alert"]["id"], page["event"]) == (alert_id, "opened")
            assert took < WOKEN_WITHIN_S, f"opened alert and page after {took:.3f} s"

            time.sleep(0.2)
            assert breach(api, ward, seq=2) == alert_id
            committed = time.perf_counter()
            update_message = receive(ws, "alert")
            took = time.perf_counter() - committed
            assert update_message["alert"]["readings_count"] == 2
            assert took < WOKEN_WITHIN_S, f"attached reading after {took:.3f} s"

            # The listening connection dies: the listener reconnects and wakes the feed again.
            [old_pid] = listening_pids(api)
            with api.engine.connect() as connection:
                connection.exec_driver_sql(f"SELECT pg_terminate_backend({old_pid})")
            wait_for(lambda: listening_pids(api) - {old_pid} != set(), "a new LISTEN session")
            wait_for(lambda: wakeup.listening, "the listener again")
            time.sleep(0.2)
            with transaction(api.sessions) as session:
                session.execute(update(Alert).where(Alert.id == alert_id).values(
                    acknowledged_by="bob", state="acknowledged", updated_at=utcnow()))  # fmt: skip
            committed = time.perf_counter()
            acked = receive(ws, "alert")["alert"]
            took = time.perf_counter() - committed
            assert acked["state"] == "acknowledged"
            assert took < WOKEN_WITHIN_S, f"acknowledgement after reconnect: {took:.3f} s"
