"""Escalation decisions, pure: who is notified next and when, for one alert.

A policy is a list of levels; each level names an on-call *tier* (1 primary, 2 backup,
3 charge nurse …) and how long after the previous level it is notified if the alert is
still unacknowledged. Critical alerts use their own, shorter delays. After the last level
the last level is notified again every ``repeat`` minutes until someone acknowledges (a
page nobody answers must not go quiet). Info alerts (device faults) notify level 1 once.

Delays are minutes and may be fractional (``0.05`` is 3 s): the scheduler ticks every
second, so sub-minute delays work for drills and for the browser tests' short timers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from cloud.alerts.rules import Severity


class EscalationEvent(StrEnum):
    """Why a notification is sent."""

    OPENED = "opened"
    ESCALATED = "escalated"
    REPEATED = "repeated"


class PolicyError(ValueError):
    """An escalation policy that cannot work (no levels, negative or non-finite delays)."""


def _valid_minutes(*values: float) -> bool:
    return all(math.isfinite(value) and value >= 0 for value in values)


@dataclass(frozen=True)
class Level:
    """Notify tier ``tier`` delay (critical: critical_delay) minutes after the previous level."""

    tier: int
    delay_minutes: float
    critical_delay_minutes: float

    def delay(self, severity: str) -> timedelta:
        """The wait before this level for an alert of severity."""
        minutes = (
            self.critical_delay_minutes if severity == Severity.CRITICAL else self.delay_minutes
        )
        return timedelta(minutes=minutes)


@dataclass(frozen=True)
class Policy:
    """Escalation levels and the repeat interval after the last one (0: no repeats)."""

    levels: tuple[Level, ...]
    repeat_minutes: float = 15
    critical_repeat_minutes: float = 5

    def __post_init__(self) -> None:
        if not self.levels:
            raise PolicyError("an escalation policy needs at least one level")
        for level in self.levels:
            if level.tier < 1 or not _valid_minutes(
                level.delay_minutes, level.critical_delay_minutes
            ):
                raise PolicyError("tiers start at 1 and delays are finite and never negative")
        if not _valid_minutes(self.repeat_minutes, self.critical_repeat_minutes):
            raise PolicyError("repeat intervals are finite and never negative")

    @classmethod
    def from_json(
        cls,
        levels: Sequence[Mapping[str, Any]],
        repeat_minutes: float,
        critical_repeat_minutes: float,
    ) -> Policy:
        """A policy from its SQL form (levels as a JSON list; delays int or float minutes)."""
        return cls(
            tuple(
                Level(
                    int(level["tier"]),
                    float(level["delay_minutes"]),
                    float(level.get("critical_delay_minutes", level["delay_minutes"])),
                )
                for level in levels
            ),
            repeat_minutes,
            critical_repeat_minutes,
        )

    def repeat(self, severity: str) -> timedelta | None:
        """The repeat interval after the last level for severity, None when it does not repeat."""
        minutes = (
            self.critical_repeat_minutes if severity == Severity.CRITICAL else self.repeat_minutes
        )
        return timedelta(minutes=minutes) if minutes > 0 else None


#: Used when neither the ward nor the database names a policy: primary on-call at once,
#: backup after 15 min (critical 5), charge nurse after 15 more (critical 5), then every
#: 15 min (critical 5) again.
DEFAULT_POLICY = Policy(
    levels=(Level(1, 0, 0), Level(2, 15, 5), Level(3, 15, 5)),
    repeat_minutes=15,
    critical_repeat_minutes=5,
)


@dataclass(frozen=True)
class Step:
    """Notify level ``level`` (tier ``tier``) now; escalate again at next_at (None: never)."""

    level: int
    tier: int
    event: EscalationEvent
    next_at: datetime | None


def _next_at(policy: Policy, severity: str, level: int, now: datetime) -> datetime | None:
    if severity == Severity.INFO:
        return None  # device faults reach the on-call nurse once; they do not page upwards
    if level < len(policy.levels):
        return now + policy.levels[level].delay(severity)  # levels[level] is level + 1
    interval = policy.repeat(severity)
    return now + interval if interval is not None else None


def first_step(policy: Policy, severity: str, now: datetime) -> Step:
    """The step when an alert opens: level 1 (its own delay is ignored: it is the start)."""
    return Step(
        1, policy.levels[0].tier, EscalationEvent.OPENED, _next_at(policy, severity, 1, now)
    )


def next_step(policy: Policy, severity: str, notified_level: int, now: datetime) -> Step:
    """The step due after notified_level went unacknowledged: the next level, or a repeat."""
    if notified_level < len(policy.levels):
        level = notified_level + 1
        event = EscalationEvent.ESCALATED
    else:
        level = len(policy.levels)
        event = EscalationEvent.REPEATED
    return Step(level, policy.levels[level - 1].tier, event, _next_at(policy, severity, level, now))


#: Delivery retries: wait this long after attempt n fails; then the row is ``failed``.
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(seconds=15),
    timedelta(seconds=30),
    timedelta(minutes=1),
    timedelta(minutes=2),
    timedelta(minutes=5),
)


def retry_at(attempts: int, now: datetime) -> datetime | None:
    """When to try a notification again after attempts failures; None: give up (failed)."""
    if attempts > len(RETRY_DELAYS):
        return None
    return now + RETRY_DELAYS[attempts - 1]
