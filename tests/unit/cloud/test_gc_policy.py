"""The ingest process's collector settings: fewer collections, cycles still freed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from cloud.ingest.gc_policy import FIRST_GENERATION_THRESHOLD


def run_isolated(code: str) -> str:
    """Run in a fresh interpreter: the settings are process-wide and would leak into pytest."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_startup_heap_is_frozen_and_threshold_raised() -> None:
    out = run_isolated(
        """
        import gc
        from cloud.ingest.gc_policy import tune_for_streaming
        tune_for_streaming()
        print(gc.get_freeze_count() > 1000, gc.get_threshold()[0])
        """
    )
    assert out == f"True {FIRST_GENERATION_THRESHOLD}"


def test_reference_cycles_made_after_tuning_are_still_collected() -> None:
    out = run_isolated(
        """
        import weakref
        from cloud.ingest.gc_policy import tune_for_streaming
        tune_for_streaming()

        class Node:
            pass

        cycle = Node()
        cycle.me = cycle
        alive = weakref.ref(cycle)
        del cycle
        garbage = [[] for _ in range(200_000)]  # allocations past the raised threshold
        del garbage
        print(alive() is None)
        """
    )
    assert out == "True"
