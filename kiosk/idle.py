"""Idle timeout: after ``idle`` seconds without a touch a visible countdown of ``countdown``
seconds starts; "I'm still here" (any touch) restarts it; at zero the session is wiped."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

IdleState = Literal["active", "countdown", "expired"]


@dataclass
class IdleTimer:
    """Pure timer: the caller passes monotonic times, so tests need no clock."""

    idle: float
    countdown: float
    last_touch: float = 0.0

    def touch(self, now: float) -> None:
        """The user did something: start over."""
        self.last_touch = now

    def state(self, now: float) -> IdleState:
        """Where the timer stands at now."""
        quiet = now - self.last_touch
        if quiet < self.idle:
            return "active"
        if quiet < self.idle + self.countdown:
            return "countdown"
        return "expired"

    def seconds_left(self, now: float) -> int:
        """Whole seconds of countdown left (shown on screen), never negative."""
        left = self.idle + self.countdown - (now - self.last_touch)
        return max(0, math.ceil(left))
