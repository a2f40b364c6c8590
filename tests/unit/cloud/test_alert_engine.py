"""The alert engine on SQLite: open/attach/auto-resolve, overrides, audit, notifications,
escalation timers in SQL, stale data and a bounded number of queries per batch."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts import service as alerts
from cloud.alerts.engine import evaluate_readings
from cloud.alerts.lifecycle import Transition
from cloud.alerts.models import Alert, AlertReading, PatientLastReading
from cloud.audit.models import AuditEntry
from cloud.auth.models import User
from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.devices.models import Device, DeviceBinding, Gateway
from cloud.migrate import upgrade
from cloud.oncall import notifications
from cloud.oncall import service as oncall
from cloud.oncall.models import EscalationState, Notification, Nurse, Shift, Ward
from cloud.oncall.scheduler import check_stale, run_scheduler_once
from cloud.patients.models import Patient
from protocol.envelope import BloodPressureReading, BloodPressureStatus, GlucoseReading

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@dataclass
class World:
    engine: Engine
    sessions: sessionmaker[Session]
    ward_id: int
    nurses: dict[str, int]
    seq: int = 0

    def patient(self, mrn: str, kinds: tuple[str, ...] = ("blood_pressure", "glucose")) -> int:
        """A patient in the ward with meters <mrn>-<kind> bound since long ago."""
        with transaction(self.sessions) as session:
            patient = Patient(mrn=mrn, name=mrn, birth_date=date(1950, 1, 1))
            session.add(patient)
            if session.get(Gateway, "gw1") is None:
                session.add(Gateway(id="gw1", name="gw1", mqtt_password_hash="-"))
            session.flush()
            for index, kind in enumerate(kinds):
                device_id = f"{mrn.lower()}-{kind[:3]}"
                address = f"AA:BB:CC:00:{patient.id:02X}:{index:02X}"
                session.add(Device(id=device_id, gateway_id="gw1", kind=kind, ble_address=address))
                session.flush()
                session.add(
                    DeviceBinding(
                        device_id=device_id,
                        patient_id=patient.id,
                        valid_from=T0 - timedelta(days=30),
                    )
                )
            oncall.assign_patient(session, patient_id=patient.id, ward_id=self.ward_id, actor="t")
            return patient.id

    def bp(
        self, mrn: str, when: datetime, systolic: float, diastolic: float, **kw: object
    ) -> BloodPressureReading:
        self.seq += 1
        return BloodPressureReading(
            gateway_id="gw1", device_id=f"{mrn.lower()}-blo", seq=self.seq, measured_at=when,
            systolic_mmhg=systolic, diastolic_mmhg=diastolic, **kw,  # type: ignore[arg-type]
        )  # fmt: skip

    def glucose(self, mrn: str, when: datetime, value: float, **kw: object) -> GlucoseReading:
        self.seq += 1
        return GlucoseReading(
            gateway_id="gw1", device_id=f"{mrn.lower()}-glu", seq=self.seq, measured_at=when,
            glucose_mmol_l=value, **kw,  # type: ignore[arg-type]
        )  # fmt: skip

    def evaluate(self, readings: list[tuple[object, int | None]], now: datetime):  # type: ignore[no-untyped-def]
        with transaction(self.sessions) as session:
            return evaluate_readings(session, readings=readings, now=now)  # type: ignore[arg-type]

    def alerts(self, patient_id: int | None = None) -> list[Alert]:
        with self.sessions() as session:
            statement = select(Alert).order_by(Alert.id)
            if patient_id is not None:
                statement = statement.where(Alert.patient_id == patient_id)
            return list(session.scalars(statement))

    def notifications(self) -> list[Notification]:
        with self.sessions() as session:
            return list(session.scalars(select(Notification).order_by(Notification.id)))


def make_world(database_url: str) -> World:
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    nurses: dict[str, int] = {}
    with transaction(sessions) as session:
        ward = oncall.create_ward(
            session,
            name="Cardiology",
            timezone="Asia/Shanghai",
            escalation_policy_id=None,
            actor="t",
        )
        for name, tier, phone in (("ann", 1, "+8613800000001"), ("bo", 2, None), ("cy", 3, None)):
            user = User(username=name, password_hash="-", role="nurse", display_name=name.title())
            session.add(user)
            session.flush()
            nurse = oncall.create_nurse(
                session,
                user_id=user.id,
                ward_id=ward.id,
                phone=phone,
                mqtt_enabled=tier == 1,
                actor="t",
            )
            nurses[name] = nurse.id
            oncall.create_shift(
                session, ward_id=ward.id, nurse_id=nurse.id, tier=tier,
                starts_at=T0 - timedelta(days=2), ends_at=T0 + timedelta(days=5), actor="t",
            )  # fmt: skip
        ward_id = ward.id
    return World(engine, sessions, ward_id, nurses)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = make_world(f"sqlite:///{tmp_path / 'alerts.db'}")
    yield w
    w.engine.dispose()


def test_unbound_readings_are_skipped(world: World) -> None:
    world.patient("P1")
    assert world.evaluate([(world.bp("P1", at(1), 200, 130), None)], at(1)) == []
    assert world.alerts() == []


def test_crisis_opens_one_alert_and_later_breaches_attach(world: World) -> None:
    pid = world.patient("P1")
    changes = world.evaluate([(world.bp("P1", at(1), 190, 100), pid)], at(1))
    assert [(c.rule_id, c.transition) for c in changes] == [("bp.crisis", Transition.OPENED)]
    changes = world.evaluate(
        [(world.bp("P1", at(1.1), 195, 100), pid), (world.bp("P1", at(1.2), 186, 90), pid)], at(1.2)
    )
    assert [c.transition for c in changes] == [Transition.ATTACHED, Transition.ATTACHED]
    (alert,) = world.alerts()
    assert (alert.rule_id, alert.severity, alert.state, alert.readings_count) == (
        "bp.crisis", "critical", "open", 3,
    )  # fmt: skip
    assert (alert.first_value, alert.last_value) == (190, 186)
    assert alert.first_reading_at == at(1) and alert.last_reading_at == at(1.2)
    assert alert.last_seq == world.seq
    with world.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AlertReading)) == 3
        actions = session.scalars(select(AuditEntry.action)).all()
    assert actions.count("alerts.opened") == 1


def test_hysteresis_needs_thirty_minutes_in_range(world: World) -> None:
    pid = world.patient("P1")
    world.evaluate([(world.glucose("P1", at(1), 3.5), pid)], at(1))
    world.evaluate([(world.glucose("P1", at(1.25), 4.5), pid)], at(1.25))
    world.evaluate([(world.glucose("P1", at(1.5), 3.8), pid)], at(1.5))  # breaches again
    world.evaluate([(world.glucose("P1", at(1.75), 5.0), pid)], at(1.75))
    (alert,) = world.alerts()
    assert alert.state == "open" and alert.clear_since == at(1.75)
    changes = world.evaluate([(world.glucose("P1", at(2.25), 5.5), pid)], at(2.25))
    assert [c.transition for c in changes] == [Transition.AUTO_RESOLVED]
    (alert,) = world.alerts()
    assert (alert.state, alert.auto_resolved, alert.resolved_by, alert.active_rule_id) == (
        "resolved", True, "system", None,
    )  # fmt: skip
    # the next breach is a new alert
    world.evaluate([(world.glucose("P1", at(3), 3.6), pid)], at(3))
    assert [a.state for a in world.alerts()] == ["resolved", "open"]


def test_one_batch_follows_the_lifecycle_reading_by_reading(world: World) -> None:
    """Within one batch a breach ends a clear streak begun earlier in the same batch, and the
    alert resolves at the first reading thirty minutes into the new streak."""
    pid = world.patient("P1")
    minute = timedelta(minutes=1)
    values = ((0, 3.5), (10, 5.0), (20, 5.2), (25, 3.6), (40, 5.5), (60, 5.4), (71, 5.6))
    batch = [(world.glucose("P1", at(1) + m * minute, v), pid) for m, v in values]
    changes = world.evaluate(batch[::-1], at(3))  # the engine orders by measurement time
    assert [c.transition for c in changes] == [
        Transition.OPENED, Transition.ATTACHED, Transition.AUTO_RESOLVED,
    ]  # fmt: skip
    (alert,) = world.alerts()
    assert (alert.state, alert.readings_count) == ("resolved", 2)
    assert alert.clear_since == at(1) + 40 * minute
    # back in range at 02:11, but the batch arrived (and the alert opened) at 03:00: an alert
    # never resolves before it opened
    assert alert.resolved_at == alert.opened_at == at(3)
    assert alert.last_reading_at == at(1) + 25 * minute


def test_a_clear_streak_spanning_batches_is_kept_in_the_row(world: World) -> None:
    pid = world.patient("P1")
    minute = timedelta(minutes=1)
    world.evaluate([(world.glucose("P1", at(1), 3.5), pid)], at(1))
    world.evaluate([(world.glucose("P1", at(1) + 10 * minute, 5.0), pid)], at(2))
    world.evaluate([(world.glucose("P1", at(1) + 20 * minute, 5.0), pid)], at(2))
    (alert,) = world.alerts()
    assert alert.state == "open" and alert.clear_since == at(1) + 10 * minute
    changes = world.evaluate([(world.glucose("P1", at(1) + 40 * minute, 5.0), pid)], at(2))
    assert [c.transition for c in changes] == [Transition.AUTO_RESOLVED]


def test_per_patient_override_changes_what_alerts(world: World) -> None:
    relaxed, default = world.patient("P1"), world.patient("P2")
    with transaction(world.sessions) as session:
        alerts.put_thresholds(
            session, patient_id=relaxed, overrides={"bp_high_systolic": 170}, actor="dr", now=at(0)
        )
    world.evaluate(
        [(world.bp("P1", at(1), 165, 85), relaxed), (world.bp("P2", at(1), 165, 85), default)],
        at(1),
    )
    assert [(a.patient_id, a.rule_id) for a in world.alerts()] == [(default, "bp.high")]


def test_new_alert_notifies_the_on_call_nurse_on_each_channel(world: World) -> None:
    pid = world.patient("P1")
    world.evaluate([(world.bp("P1", at(1), 190, 100), pid)], at(1))
    rows = world.notifications()
    assert {(n.nurse_id, n.channel, n.event, n.level, n.status) for n in rows} == {
        (world.nurses["ann"], "websocket", "opened", 1, "pending"),
        (world.nurses["ann"], "mqtt", "opened", 1, "pending"),
        (world.nurses["ann"], "webhook", "opened", 1, "pending"),
    }
    with world.sessions() as session:
        state = session.get(EscalationState, world.alerts()[0].id)
        assert state is not None
        assert state.level == 1 and state.next_escalation_at == at(1) + timedelta(minutes=5)


def test_unacknowledged_critical_alert_escalates_and_acknowledge_stops_it(world: World) -> None:
    pid = world.patient("P1", kinds=("blood_pressure",))
    world.evaluate([(world.bp("P1", at(1), 190, 100), pid)], at(1))
    early = run_scheduler_once(world.sessions, at(1) + timedelta(minutes=4))
    assert early.escalations == []
    run = run_scheduler_once(world.sessions, at(1) + timedelta(minutes=5))
    (step,) = run.escalations
    assert (step.level, step.event, step.nurse_ids) == (2, "escalated", (world.nurses["bo"],))
    alert_id = world.alerts()[0].id
    with transaction(world.sessions) as session:
        alerts.acknowledge(session, alert_id=alert_id, actor="bo", note="calling", now=at(1.1))
    assert run_scheduler_once(world.sessions, at(2)).escalations == []
    with world.sessions() as session:
        state = session.get(EscalationState, alert_id)
        assert state is not None and state.next_escalation_at is None
        assert state.stopped_reason == "acknowledged"
    assert {n.status for n in world.notifications()} == {"cancelled"}


def test_acknowledging_one_alert_silences_nothing_else(world: World) -> None:
    p1, p2 = world.patient("P1"), world.patient("P2")
    world.evaluate(
        [(world.bp("P1", at(1), 190, 100), p1), (world.glucose("P1", at(1), 2.5), p1),
         (world.bp("P2", at(1), 190, 100), p2)],
        at(1),
    )  # fmt: skip
    first = world.alerts(p1)[0]
    with transaction(world.sessions) as session:
        alerts.acknowledge(session, alert_id=first.id, actor="ann", note=None, now=at(1.01))
    with transaction(world.sessions) as session:
        escalated = oncall.escalate_due(session, now=at(1) + timedelta(minutes=5))
    assert sorted(r.alert_id for r in escalated) == sorted(
        a.id for a in world.alerts() if a.id != first.id
    )


def test_nobody_on_call_skips_to_the_next_tier_and_is_audited_when_empty(world: World) -> None:
    pid = world.patient("P1")
    with transaction(world.sessions) as session:
        session.execute(Shift.__table__.delete().where(Shift.tier == 1))
    world.evaluate([(world.bp("P1", at(1), 190, 100), pid)], at(1))
    assert {n.nurse_id for n in world.notifications()} == {world.nurses["bo"]}
    with transaction(world.sessions) as session:
        session.execute(Shift.__table__.delete())
    world.evaluate([(world.glucose("P1", at(2), 2.5), pid)], at(2))
    with world.sessions() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "alerts.unrouted")
            )
            == 1
        )


def test_on_call_lookup_respects_shift_bounds(world: World) -> None:
    with transaction(world.sessions) as session:
        user = User(username="dee", password_hash="-", role="nurse")
        session.add(user)
        session.flush()
        dee = oncall.create_nurse(session, user_id=user.id, ward_id=world.ward_id, phone=None,
                                  mqtt_enabled=False, actor="t")  # fmt: skip
        oncall.create_shift(session, ward_id=world.ward_id, nurse_id=dee.id, tier=1,
                            starts_at=at(8), ends_at=at(20), actor="t")  # fmt: skip
        dee_id = dee.id
    with world.sessions() as session:

        def ids(when: datetime) -> list[int]:
            nurses = oncall.on_call(session, ward_id=world.ward_id, at=when, tier=1)
            return [n.id for n in nurses]

        assert ids(at(7.99)) == [world.nurses["ann"]]
        assert ids(at(8)) == [world.nurses["ann"], dee_id]
        assert ids(at(20)) == [world.nurses["ann"]]  # ends_at is exclusive


def test_device_faults_and_control_solution(world: World) -> None:
    pid = world.patient("P1")
    world.evaluate(
        [(world.bp("P1", at(1), 120, 80, status=BloodPressureStatus(cuff_too_loose=True)), pid),
         (world.glucose("P1", at(1), 1.8, sample_type="control_solution"), pid)],
        at(1),
    )  # fmt: skip
    (alert,) = world.alerts()
    assert (alert.rule_id, alert.severity, alert.category) == (
        "device.bp_cuff_loose",
        "info",
        "device",
    )
    world.evaluate([(world.bp("P1", at(1.1), 121, 80), pid)], at(1.1))
    assert world.alerts()[0].state == "resolved"
    with world.sessions() as session:  # the control solution is not the patient's last glucose
        assert session.get(PatientLastReading, (pid, "glucose")) is None


def test_glucose_rate_uses_the_previous_batch(world: World) -> None:
    pid = world.patient("P1")
    world.evaluate([(world.glucose("P1", at(1), 9.0), pid)], at(1))
    world.evaluate([(world.glucose("P1", at(2), 5.5), pid)], at(2))
    assert [a.rule_id for a in world.alerts()] == ["glucose.falling_fast"]


def test_stale_data_opens_and_a_new_reading_resolves(world: World) -> None:
    pid = world.patient("P1", kinds=("blood_pressure",))
    world.evaluate([(world.bp("P1", at(7), 130, 80), pid)], at(7))
    with transaction(world.sessions) as session:
        assert check_stale(session, now=at(7 + 26)) == []
        (change,) = check_stale(session, now=at(7 + 26.5))
        assert change.rule_id == "stale.blood_pressure"
        assert check_stale(session, now=at(7 + 27)) == []  # one alert per patient and rule
    world.evaluate([(world.bp("P1", at(6), 128, 80), pid)], at(34))  # late, older: no effect
    assert world.alerts()[0].state == "open"
    world.evaluate([(world.bp("P1", at(34), 128, 80), pid)], at(34))
    assert world.alerts()[0].state == "resolved" and world.alerts()[0].auto_resolved


def test_manually_resolved_stale_alert_waits_another_gap(world: World) -> None:
    pid = world.patient("P1", kinds=("blood_pressure",))
    world.evaluate([(world.bp("P1", at(0), 130, 80), pid)], at(0))
    with transaction(world.sessions) as session:
        (change,) = check_stale(session, now=at(27))
        alerts.resolve(
            session, alert_id=change.alert_id, actor="ann", note="meter at repair", now=at(27)
        )
    with transaction(world.sessions) as session:
        assert check_stale(session, now=at(28)) == []
        assert len(check_stale(session, now=at(27 + 26.1))) == 1


def test_queries_per_batch_are_bounded(world: World) -> None:
    patients = [world.patient(f"P{i}") for i in range(5)]
    batch = [
        (world.glucose(f"P{i}", at(1) + timedelta(minutes=m), 6.0), pid)
        for i, pid in enumerate(patients)
        for m in range(40)
    ]
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(world.engine, "before_cursor_execute", count)
    try:
        world.evaluate(batch, at(2))
    finally:
        event.remove(world.engine, "before_cursor_execute", count)
    assert len(batch) == 200
    assert len(statements) <= 3 + len(patients) * 2  # loads + one upsert per patient and kind


def test_notification_queue_contract(world: World) -> None:
    pid = world.patient("P1")
    world.evaluate([(world.bp("P1", at(1), 190, 100), pid)], at(1))
    with transaction(world.sessions) as session:
        (row,) = notifications.claim_due(session, channel=notifications.Channel.WEBHOOK, now=at(1))
        notifications.mark_failed(session, notification=row, error="HTTP 502", now=at(1))
        assert row.status == "pending" and row.attempts == 1 and row.next_attempt_at > at(1)
        assert (
            notifications.claim_due(session, channel=notifications.Channel.WEBHOOK, now=at(1)) == []
        )
        for attempt in range(2, 8):
            notifications.mark_failed(
                session, notification=row, error=f"HTTP 502 #{attempt}", now=at(1)
            )
        assert row.status == "failed" and row.last_error == "HTTP 502 #7"
        (ws,) = notifications.claim_due(session, channel=notifications.Channel.WEBSOCKET, now=at(1))
        notifications.mark_sent(session, notification=ws, now=at(1))
    with world.sessions() as session:
        failed = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "notifications.failed")
        ).one()
        assert failed.detail["channel"] == "webhook"


def test_nurse_and_ward_rules(world: World) -> None:
    with transaction(world.sessions) as session:
        with pytest.raises(oncall.OnCallError):
            oncall.create_ward(
                session, name="X", timezone="Mars/Olympus", escalation_policy_id=None, actor="t"
            )
        with pytest.raises(oncall.OnCallError):
            oncall.create_shift(
                session,
                ward_id=world.ward_id,
                nurse_id=world.nurses["ann"],
                tier=1,
                starts_at=at(2),
                ends_at=at(1),
                actor="t",
            )
        assert session.scalar(select(func.count()).select_from(Nurse)) == 3
        assert session.get(Ward, world.ward_id) is not None


def test_an_unrouted_alert_escalates_once_the_patient_has_a_ward(world: World) -> None:
    with transaction(world.sessions) as session:
        patient = Patient(mrn="NEW", name="New", birth_date=date(1950, 1, 1))
        session.add(patient)
        session.flush()
        pid = patient.id
    world.evaluate([(world.bp("NEW", at(1), 190, 100), pid)], at(1))
    assert world.notifications() == []
    with transaction(world.sessions) as session:
        oncall.assign_patient(session, patient_id=pid, ward_id=world.ward_id, actor="admin")
    with transaction(world.sessions) as session:
        (result,) = oncall.escalate_due(session, now=at(1) + timedelta(minutes=5))
    assert (result.level, result.nurse_ids) == (1, (world.nurses["ann"],))  # from level 1
