"""Hostile-input property tests: how many cases each property runs.

``CAREDGE_FUZZ_EXAMPLES`` (default 1,000, what CI runs; ``make test-faults`` sets 10,000) and
``CAREDGE_FUZZ_SEED`` (default fixed, so a CI failure replays; the seed is in every failure).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

FUZZ_EXAMPLES = int(os.environ.get("CAREDGE_FUZZ_EXAMPLES", "1000"))
FUZZ_SEED = int(os.environ.get("CAREDGE_FUZZ_SEED", "8008"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)
