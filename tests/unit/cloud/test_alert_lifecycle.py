"""The pure alert state machine: hysteresis, late readings, acknowledgement and resolution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.alerts.lifecycle import (
    AlertState,
    AlertStatus,
    ClearPolicy,
    LifecycleError,
    Transition,
    acknowledge,
    on_breach,
    on_clear,
    open_alert,
    resolve,
)
from cloud.alerts.rules import Breach, Category, RuleId, Severity

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
POLICY = ClearPolicy(clinical=timedelta(minutes=30))


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def breach(rule: RuleId = RuleId.BP_HIGH) -> Breach:
    return Breach(rule, Severity.WARNING, Category.CLINICAL, "en", "zh", 170.0)


def opened(rule: RuleId = RuleId.BP_HIGH) -> AlertStatus:
    status, transition = open_alert(1, breach(rule), measured_at=T0, now=T0)
    assert transition is Transition.OPENED
    return status


def test_open_alert_counts_its_first_reading() -> None:
    status = opened()
    assert (status.state, status.readings_count, status.last_breach_at) == (
        AlertState.OPEN,
        1,
        T0,
    )


def test_breaching_readings_attach() -> None:
    status, transition = on_breach(opened(), measured_at=minutes(5))
    assert transition is Transition.ATTACHED
    assert status.readings_count == 2
    assert status.last_breach_at == minutes(5)


def test_auto_resolves_only_after_clear_after_of_in_range_readings() -> None:
    status = opened()
    status, transition = on_clear(status, measured_at=minutes(10), policy=POLICY)
    assert transition is None and status.clear_since == minutes(10)
    status, transition = on_clear(status, measured_at=minutes(39), policy=POLICY)
    assert transition is None and status.state is AlertState.OPEN  # 29 min in range
    status, transition = on_clear(status, measured_at=minutes(40), policy=POLICY)
    assert transition is Transition.AUTO_RESOLVED
    assert status.state is AlertState.RESOLVED
    assert status.auto_resolved and status.resolved_by == "system"
    assert status.resolved_at == minutes(40)


def test_a_breach_restarts_the_clear_streak() -> None:
    status = opened()
    status, _ = on_clear(status, measured_at=minutes(10), policy=POLICY)
    status, _ = on_breach(status, measured_at=minutes(20))
    assert status.clear_since is None
    status, transition = on_clear(status, measured_at=minutes(45), policy=POLICY)
    assert transition is None and status.clear_since == minutes(45)
    status, transition = on_clear(status, measured_at=minutes(75), policy=POLICY)
    assert transition is Transition.AUTO_RESOLVED


def test_a_continuing_clear_streak_returns_the_same_status() -> None:
    started, _ = on_clear(opened(), measured_at=minutes(10), policy=POLICY)
    same, transition = on_clear(started, measured_at=minutes(20), policy=POLICY)
    assert transition is None and same is started  # the engine writes the row only on change
    earlier, _ = on_clear(started, measured_at=minutes(5), policy=POLICY)
    assert earlier is not started and earlier.clear_since == minutes(5)


def test_a_single_in_range_reading_does_not_clear_a_clinical_alert() -> None:
    status, transition = on_clear(opened(), measured_at=minutes(600), policy=POLICY)
    assert transition is None and status.state is AlertState.OPEN


def test_late_older_readings_never_clear() -> None:
    status, _ = on_breach(opened(), measured_at=minutes(60))
    status, transition = on_clear(status, measured_at=minutes(30), policy=POLICY)
    assert transition is None and status.clear_since is None


def test_a_reading_measured_before_a_stale_alert_opened_resolves_it_no_earlier() -> None:
    stale = Breach(RuleId.STALE_GLUCOSE, Severity.WARNING, Category.DATA, "en", "zh", None)
    status, _ = open_alert(1, stale, measured_at=None, now=minutes(30))
    status, transition = on_clear(status, measured_at=minutes(20), policy=POLICY)
    assert transition is Transition.AUTO_RESOLVED
    assert status.resolved_at == minutes(30)


def test_device_alerts_resolve_on_the_first_good_reading() -> None:
    status = opened(RuleId.BP_CUFF_LOOSE)
    status, transition = on_clear(status, measured_at=minutes(1), policy=POLICY)
    assert transition is Transition.AUTO_RESOLVED


def test_acknowledged_alerts_still_attach_and_auto_resolve() -> None:
    status = acknowledge(opened(), by="ann", at=minutes(2))
    status, _ = on_breach(status, measured_at=minutes(3))
    assert status.state is AlertState.ACKNOWLEDGED and status.readings_count == 2
    status, _ = on_clear(status, measured_at=minutes(10), policy=POLICY)
    status, transition = on_clear(status, measured_at=minutes(40), policy=POLICY)
    assert transition is Transition.AUTO_RESOLVED


class TestAcknowledge:
    def test_records_who_and_when(self) -> None:
        status = acknowledge(opened(), by="ann", at=minutes(2))
        assert (status.state, status.acknowledged_by, status.acknowledged_at) == (
            AlertState.ACKNOWLEDGED,
            "ann",
            minutes(2),
        )

    def test_same_responder_twice_is_a_no_op(self) -> None:
        status = acknowledge(opened(), by="ann", at=minutes(2))
        assert acknowledge(status, by="ann", at=minutes(3)) == status

    def test_another_responder_is_told_who_acknowledged(self) -> None:
        status = acknowledge(opened(), by="ann", at=minutes(2))
        with pytest.raises(LifecycleError, match="ann"):
            acknowledge(status, by="bo", at=minutes(3))

    def test_resolved_alerts_cannot_be_acknowledged(self) -> None:
        status = resolve(opened(), by="ann", at=minutes(2))
        with pytest.raises(LifecycleError):
            acknowledge(status, by="ann", at=minutes(3))


class TestResolve:
    def test_from_open_or_acknowledged(self) -> None:
        for status in (opened(), acknowledge(opened(), by="ann", at=minutes(1))):
            done = resolve(status, by="bo", at=minutes(5))
            assert (done.state, done.resolved_by, done.auto_resolved) == (
                AlertState.RESOLVED,
                "bo",
                False,
            )

    def test_twice_is_an_error_and_breaches_need_a_new_alert(self) -> None:
        done = resolve(opened(), by="bo", at=minutes(5))
        with pytest.raises(LifecycleError):
            resolve(done, by="bo", at=minutes(6))
        with pytest.raises(LifecycleError):
            on_breach(done, measured_at=minutes(7))
