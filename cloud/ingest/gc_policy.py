"""Garbage-collector settings for a long-running ingest process.

Each batch's objects (payloads, readings, points, rows) live for the few milliseconds the batch
takes, long enough to survive the default first-generation threshold of 700 allocations and
reach the oldest generation, whose full collections then walk the whole heap (about 170,000
objects after start-up). Measured with ``bench/ingest_stages.py``: 8–9 µs per reading, the
largest single cost outside SQL, pydantic and the alert statements. Freezing the start-up heap
takes it out of every collection, and a first threshold sized to a few batches lets a batch's
objects die young, freed by reference counting before a collection ever sees them.
"""

from __future__ import annotations

import gc

FIRST_GENERATION_THRESHOLD = 50_000
OLDER_GENERATION_THRESHOLDS = (20, 100)


def tune_for_streaming() -> None:
    """Freeze what start-up allocated and collect less often (call once, before consuming).

    Reference cycles are still collected; only the rhythm changes.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(FIRST_GENERATION_THRESHOLD, *OLDER_GENERATION_THRESHOLDS)
