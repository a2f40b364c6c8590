"""How long the ingest worker keeps a batch open for more messages.

Each batch has a cost that does not depend on its size: a dozen ledger and alert statements
and one time-series write. Measured with ``bench/ingest_stages.py`` it is about as much as
200 readings' own work, so a worker that stays at small batches under a backlog spends most
of its time on it. The window starts at ``base_s`` (a reading waits at most that long before
its alert rules run, while the worker keeps up) and doubles, up to ``max_s``, each time a batch
had to stay open past it because the store thread was still busy with the previous one: the
worker is saturated, its readings queue anyway, and larger batches drain the queue faster. It
halves again, back to ``base_s``, once a batch closes with the store thread idle for more than
half the window: the worker keeps up with room to spare. In between it stays, so that a
saturated worker whose store thread happens to finish just in time keeps its large batches.
"""

from __future__ import annotations


class BatchWindow:
    """The current window, adapted after each batch (pure: the caller reads the clock)."""

    def __init__(self, base_s: float, max_s: float) -> None:
        """A max_s below base_s keeps the window at base_s."""
        if base_s < 0:
            raise ValueError(f"a batch window cannot be negative ({base_s} s)")
        self.base_s = base_s
        self.max_s = max(base_s, max_s)
        self.current_s = base_s

    def closed(self, *, late: bool, idle_s: float = 0.0) -> float:
        """Record how the last batch closed (late: the store thread kept it open past the
        window; idle_s: how long the store thread had been waiting for it; a full batch is
        not recorded); return the next window."""
        if late:
            self.current_s = min(self.max_s, max(2 * self.current_s, self.base_s, 0.001))
        elif idle_s > self.current_s / 2:
            self.current_s = max(self.base_s, self.current_s / 2)
        return self.current_s
