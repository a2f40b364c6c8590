"""Three ingest batches through the alert engine, checked row by row against tables worked out
by hand from the rules, the lifecycle and the escalation policy (not from the engine's code).

The stream covers what the engine's SQL must get right: attaching within a batch, an alert
resolved and the same rule reopened in one batch (the one-active-alert constraint), several new
alerts in one batch, resolutions that stop escalations and cancel notifications, unbound and
tied readings. On SQLite here and on PostgreSQL in the integration run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cloud.alerts.engine import _save_last_values, last_values
from cloud.alerts.lifecycle import Transition
from cloud.alerts.models import Alert, AlertReading, PatientLastReading
from cloud.alerts.service import AlertRecord
from cloud.audit.models import AuditEntry
from cloud.db import transaction
from cloud.oncall import service as oncall
from cloud.oncall.models import EscalationState, Notification
from tests.unit.cloud.test_alert_engine import T0, World, make_world


def hhmm(text: str) -> datetime:
    hours, minutes = text.split(":")
    return T0 + timedelta(hours=int(hours), minutes=int(minutes))


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)],
)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tables.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    w = make_world(url)
    yield w
    w.engine.dispose()


def test_three_batches_leave_exactly_the_expected_rows(world: World) -> None:
    p1, p2 = world.patient("P1", kinds=("blood_pressure",)), world.patient("P2")
    with world.sessions() as session:
        audit_before = len(session.scalars(select(AuditEntry.id)).all())
    ann = world.nurses["ann"]  # tier 1, console + MQTT device + phone: three channels
    bp = world.bp

    # Batch A: a crisis opens (critical) and a second crisis reading attaches to it.
    Batch = list[tuple[Any, int | None]]
    a: Batch = [(bp("P1", hhmm("1:00"), 190, 100), p1), (bp("P1", hhmm("1:05"), 185, 95), p1),
                (bp("P2", hhmm("1:00"), 120, 80), p2),
                (bp("P3", hhmm("1:00"), 200, 130), None)]  # fmt: skip
    changes_a = world.evaluate(a, hhmm("1:06"))
    # Batch B: 30 min in range resolve the crisis at 1:40; grade 2 opens at 1:50; a new
    # crisis at 2:00 (same rule as the one just resolved); P2's low pressure at 2:00.
    b: Batch = [(bp("P1", hhmm("1:10"), 150, 90), p1), (bp("P1", hhmm("1:40"), 150, 90), p1),
                (bp("P1", hhmm("1:50"), 170, 95), p1), (bp("P1", hhmm("2:00"), 195, 100), p1),
                (bp("P2", hhmm("2:00"), 85, 55), p2)]  # fmt: skip
    shuffled = [b[3], b[4], b[0], b[2], b[1]]  # the engine orders by time (ties: as given)
    changes_b = world.evaluate(shuffled, hhmm("3:00"))
    # Batch C: P1 in range at 2:10 (both streaks start), grade 2 again at 2:20 (ends that
    # streak only), in range at 2:45 (crisis resolves, 35 min); P2 in range 2:10 and 2:40.
    c: Batch = [(bp("P1", hhmm("2:10"), 150, 90), p1), (bp("P2", hhmm("2:10"), 120, 80), p2),
                (bp("P1", hhmm("2:20"), 175, 95), p1), (bp("P2", hhmm("2:40"), 120, 80), p2),
                (bp("P1", hhmm("2:45"), 150, 90), p1)]  # fmt: skip
    changes_c = world.evaluate(c, hhmm("4:00"))

    opened, attached, resolved = Transition.OPENED, Transition.ATTACHED, Transition.AUTO_RESOLVED
    assert [(ch.alert_id, ch.transition, ch.rule_id, ch.severity, ch.at) for ch in changes_a] == [
        (1, opened, "bp.crisis", "critical", hhmm("1:06")),
        (1, attached, "bp.crisis", "critical", hhmm("1:06")),
    ]
    assert [(ch.alert_id, ch.transition) for ch in changes_b] == [
        (1, resolved), (2, opened), (3, opened), (4, opened),
    ]  # fmt: skip
    assert [(ch.alert_id, ch.transition) for ch in changes_c] == [
        (2, attached), (4, resolved), (3, resolved),
    ]  # fmt: skip

    key = {reading.measured_at: reading for reading, owner in a[:2] + b[:4] + c if owner == p1}
    key2 = {reading.measured_at: reading for reading, owner in b + c if owner == p2}

    def alert_row(alert: Alert) -> tuple[Any, ...]:
        return (
            alert.id, alert.patient_id, alert.rule_id, alert.active_rule_id, alert.severity,
            alert.category, alert.kind, alert.state, alert.message_en, alert.first_value,
            alert.last_value, alert.opened_at, alert.updated_at, alert.first_reading_at,
            alert.last_reading_at, (alert.first_device_id, alert.first_seq),
            (alert.last_device_id, alert.last_seq), alert.readings_count, alert.clear_since,
            alert.acknowledged_by, alert.resolved_by, alert.resolved_at, alert.auto_resolved,
        )  # fmt: skip

    def at_key(reading: Any) -> tuple[str, int]:
        return (reading.device_id, reading.seq)

    crisis, high, low = "Hypertensive crisis", "High blood pressure (grade 2)", "Low blood pressure"
    expected_alerts = [
        (1, p1, "bp.crisis", None, "critical", "clinical", "blood_pressure", "resolved",
         f"{crisis}: 185/95 mmHg", 190, 185, hhmm("1:06"), hhmm("3:00"), hhmm("1:00"),
         hhmm("1:05"), at_key(key[hhmm("1:00")]), at_key(key[hhmm("1:05")]), 2, hhmm("1:10"),
         None, "system", hhmm("1:40"), True),
        (2, p1, "bp.high", "bp.high", "warning", "clinical", "blood_pressure", "open",
         f"{high}: 175/95 mmHg", 170, 175, hhmm("3:00"), hhmm("4:00"), hhmm("1:50"),
         hhmm("2:20"), at_key(key[hhmm("1:50")]), at_key(key[hhmm("2:20")]), 2, hhmm("2:45"),
         None, None, None, False),
        (3, p1, "bp.crisis", None, "critical", "clinical", "blood_pressure", "resolved",
         f"{crisis}: 195/100 mmHg", 195, 195, hhmm("3:00"), hhmm("4:00"), hhmm("2:00"),
         hhmm("2:00"), at_key(key[hhmm("2:00")]), at_key(key[hhmm("2:00")]), 1, hhmm("2:10"),
         None, "system", hhmm("3:00"), True),  # resolved at 2:45, but never before opening
        (4, p2, "bp.low", None, "warning", "clinical", "blood_pressure", "resolved",
         f"{low}: 85/55 mmHg", 85, 85, hhmm("3:00"), hhmm("4:00"), hhmm("2:00"),
         hhmm("2:00"), at_key(key2[hhmm("2:00")]), at_key(key2[hhmm("2:00")]), 1, hhmm("2:10"),
         None, "system", hhmm("3:00"), True),
    ]  # fmt: skip
    with world.sessions() as session:
        alerts = session.scalars(select(Alert).order_by(Alert.id)).all()
        assert [alert_row(alert) for alert in alerts] == expected_alerts

        readings = session.scalars(select(AlertReading).order_by(AlertReading.id)).all()
        assert [(r.id, r.alert_id, (r.device_id, r.seq), r.measured_at, r.value, r.values)
                for r in readings] == [
            (i, alert_id, at_key(reading), reading.measured_at, float(reading.systolic_mmhg),
             {"systolic_mmhg": reading.systolic_mmhg, "diastolic_mmhg": reading.diastolic_mmhg})
            for i, (alert_id, reading) in enumerate(
                [(1, key[hhmm("1:00")]), (1, key[hhmm("1:05")]), (2, key[hhmm("1:50")]),
                 (3, key[hhmm("2:00")]), (4, key2[hhmm("2:00")]), (2, key[hhmm("2:20")])],
                start=1,
            )
        ]  # fmt: skip

        audit = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()[audit_before:]

        def opened_detail(alert_id: int, message: str | None = None) -> dict[str, Any]:
            row = expected_alerts[alert_id - 1]
            return {"patient_id": row[1], "rule_id": row[2], "severity": row[4],
                    "message": message or row[8]}  # fmt: skip

        def resolved_detail(since: str) -> dict[str, Any]:
            return {"in_range_since": hhmm(since).isoformat()}

        assert [(e.actor, e.action, e.target, e.detail) for e in audit] == [
            ("system", "alerts.opened", "alert:1", opened_detail(1)),
            ("system", "alerts.opened", "alert:2", opened_detail(2, f"{high}: 170/95 mmHg")),
            ("system", "alerts.opened", "alert:3", opened_detail(3)),
            ("system", "alerts.opened", "alert:4", opened_detail(4)),
            ("system", "alerts.auto_resolved", "alert:1", resolved_detail("1:10")),
            ("system", "alerts.auto_resolved", "alert:4", resolved_detail("2:10")),
            ("system", "alerts.auto_resolved", "alert:3", resolved_detail("2:10")),
        ]

        # Level 1 (the primary on call) at opening; level 2 after 5 min (critical) or 15 min.
        states = session.scalars(select(EscalationState).order_by(EscalationState.alert_id))
        assert [(s.alert_id, s.ward_id, s.policy_id, s.level, s.last_notified_at,
                 s.next_escalation_at, s.stopped_reason) for s in states] == [
            (1, world.ward_id, None, 1, hhmm("1:06"), None, "auto_resolved"),
            (2, world.ward_id, None, 1, hhmm("3:00"), hhmm("3:15"), None),
            (3, world.ward_id, None, 1, hhmm("3:00"), None, "auto_resolved"),
            (4, world.ward_id, None, 1, hhmm("3:00"), None, "auto_resolved"),
        ]  # fmt: skip

        queued = session.scalars(select(Notification).order_by(Notification.id)).all()
        assert [(n.alert_id, n.nurse_id, n.channel, n.event, n.level, n.status, n.attempts,
                 n.created_at, n.next_attempt_at, n.sent_at) for n in queued] == [
            (alert_id, ann, channel, "opened", 1, status, 0, created, created, None)
            for alert_id, status, created in (
                (1, "cancelled", hhmm("1:06")), (2, "pending", hhmm("3:00")),
                (3, "cancelled", hhmm("3:00")), (4, "cancelled", hhmm("3:00")),
            )
            for channel in ("websocket", "mqtt", "webhook")
        ]  # fmt: skip

        last = session.scalars(
            select(PatientLastReading).order_by(PatientLastReading.patient_id)
        ).all()
        assert [(r.patient_id, r.kind, r.measured_at, r.value) for r in last] == [
            (p1, "blood_pressure", hhmm("2:45"), 150),
            (p2, "blood_pressure", hhmm("2:40"), 120),
        ]


def test_the_engine_record_has_every_alert_column() -> None:
    """The engine's plain record mirrors the ORM model, so a new column is not left out."""
    names = [f.name for f in fields(AlertRecord)]
    assert names == [*Alert.__table__.columns.keys(), "readings_changed"]


def test_stopping_an_escalation_refreshes_a_state_loaded_in_the_session(world: World) -> None:
    """stop_escalations writes with Core statements; a state object the session holds must not
    keep showing the running timer (nor write it back)."""
    pid = world.patient("P1", kinds=("blood_pressure",))
    (change,) = world.evaluate([(world.bp("P1", hhmm("1:00"), 190, 100), pid)], hhmm("1:00"))
    with transaction(world.sessions) as session:
        state = session.get(EscalationState, change.alert_id)
        assert state is not None and state.next_escalation_at == hhmm("1:05")
        state.level = 2  # pending in the session: written before the stop, not over it
        oncall.stop_escalations(session, alert_ids=[change.alert_id], reason="acknowledged")
        assert (state.level, state.next_escalation_at, state.stopped_reason) == (
            2, None, "acknowledged",
        )  # fmt: skip
    with world.sessions() as session:
        state = session.get(EscalationState, change.alert_id)
        assert state is not None
        assert (state.level, state.next_escalation_at, state.stopped_reason) == (
            2, None, "acknowledged",
        )  # fmt: skip
        (row,) = session.scalars(select(Notification.status).distinct()).all()
        assert row == "cancelled"


def test_last_values_only_move_forward(world: World) -> None:
    p1, p2 = world.patient("P1"), world.patient("P2")
    with transaction(world.sessions) as session:
        _save_last_values(
            session,
            {(p1, "glucose"): (hhmm("1:00"), 5.5), (p2, "blood_pressure"): (hhmm("1:00"), 130.0)},
        )
    with transaction(world.sessions) as session:  # one older, one newer, one new kind
        _save_last_values(
            session,
            {
                (p1, "glucose"): (hhmm("0:30"), 3.1),
                (p2, "blood_pressure"): (hhmm("1:30"), 141.0),
                (p2, "glucose"): (hhmm("1:10"), 7.2),
            },
        )
    with world.sessions() as session:
        assert last_values(session, patient_ids=[p1, p2]) == {
            (p1, "glucose"): (hhmm("1:00"), 5.5),
            (p2, "blood_pressure"): (hhmm("1:30"), 141.0),
            (p2, "glucose"): (hhmm("1:10"), 7.2),
        }
        assert last_values(session, patient_ids=[]) == {}
