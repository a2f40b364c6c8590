"""Pure escalation decisions: levels, critical delays, repeats, info alerts, retries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.oncall.escalation import (
    DEFAULT_POLICY,
    RETRY_DELAYS,
    EscalationEvent,
    Level,
    Policy,
    PolicyError,
    first_step,
    next_step,
    retry_at,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
POLICY = Policy(
    levels=(Level(1, 0, 0), Level(2, 10, 3)), repeat_minutes=20, critical_repeat_minutes=4
)


def test_first_step_notifies_level_one_and_times_level_two() -> None:
    step = first_step(POLICY, "warning", T0)
    assert (step.level, step.tier, step.event) == (1, 1, EscalationEvent.OPENED)
    assert step.next_at == T0 + timedelta(minutes=10)


def test_critical_alerts_escalate_faster() -> None:
    assert first_step(POLICY, "critical", T0).next_at == T0 + timedelta(minutes=3)


def test_after_the_last_level_it_repeats() -> None:
    step = next_step(POLICY, "warning", 1, T0)
    assert (step.level, step.tier, step.event) == (2, 2, EscalationEvent.ESCALATED)
    assert step.next_at == T0 + timedelta(minutes=20)
    again = next_step(POLICY, "critical", 2, T0)
    assert (again.level, again.event) == (2, EscalationEvent.REPEATED)
    assert again.next_at == T0 + timedelta(minutes=4)


def test_no_repeat_when_disabled() -> None:
    quiet = Policy(levels=(Level(1, 0, 0),), repeat_minutes=0, critical_repeat_minutes=0)
    assert first_step(quiet, "critical", T0).next_at is None


def test_info_alerts_notify_once() -> None:
    assert first_step(DEFAULT_POLICY, "info", T0).next_at is None


def test_policy_from_json_and_validation() -> None:
    policy = Policy.from_json(
        [{"tier": 1, "delay_minutes": 0}, {"tier": 2, "delay_minutes": 7}], 5, 2
    )
    assert policy.levels[1] == Level(2, 7, 7)
    with pytest.raises(PolicyError):
        Policy(levels=())
    with pytest.raises(PolicyError):
        Policy(levels=(Level(0, 0, 0),))


def test_retries_back_off_then_give_up() -> None:
    assert retry_at(1, T0) == T0 + RETRY_DELAYS[0]
    assert retry_at(len(RETRY_DELAYS), T0) == T0 + RETRY_DELAYS[-1]
    assert retry_at(len(RETRY_DELAYS) + 1, T0) is None


def test_fractional_minutes_give_second_delays() -> None:
    policy = Policy.from_json(
        [{"tier": 1, "delay_minutes": 0}, {"tier": 2, "delay_minutes": 2.5,
                                           "critical_delay_minutes": 0.05}],
        0.5,
        0.25,
    )  # fmt: skip
    assert first_step(policy, "critical", T0).next_at == T0 + timedelta(seconds=3)
    assert first_step(policy, "warning", T0).next_at == T0 + timedelta(seconds=150)
    assert next_step(policy, "critical", 2, T0).next_at == T0 + timedelta(seconds=15)
    for bad in (float("nan"), float("inf"), -0.01):
        with pytest.raises(PolicyError):
            Policy(levels=(Level(1, 0, bad),))
        with pytest.raises(PolicyError):
            Policy(levels=(Level(1, 0, 0),), repeat_minutes=bad)
