"""The ingest batch window: base while the worker keeps up, growing while it is saturated."""

from __future__ import annotations

import pytest

from cloud.ingest.batch_window import BatchWindow


def test_starts_at_base_and_stays_there_while_batches_close_on_time() -> None:
    window = BatchWindow(0.02, 0.25)
    assert window.current_s == 0.02
    for _ in range(5):
        assert window.closed(late=False, idle_s=1.0) == 0.02


def test_doubles_while_late_up_to_the_maximum() -> None:
    window = BatchWindow(0.02, 0.25)
    grown = [window.closed(late=True) for _ in range(6)]
    assert grown == pytest.approx([0.04, 0.08, 0.16, 0.25, 0.25, 0.25])


def test_halves_back_to_base_once_the_store_thread_waits_again() -> None:
    window = BatchWindow(0.02, 0.25)
    for _ in range(4):
        window.closed(late=True)
    shrunk = [window.closed(late=False, idle_s=0.2) for _ in range(5)]
    assert shrunk == pytest.approx([0.125, 0.0625, 0.03125, 0.02, 0.02])


def test_stays_when_the_store_thread_finished_just_in_time() -> None:
    window = BatchWindow(0.02, 0.25)
    for _ in range(4):
        window.closed(late=True)
    assert window.closed(late=False, idle_s=0.1) == pytest.approx(0.25)
    assert window.closed(late=False, idle_s=0.13) == pytest.approx(0.125)


def test_zero_base_can_still_grow() -> None:
    window = BatchWindow(0.0, 0.1)
    assert window.closed(late=True) > 0
    assert window.closed(late=False, idle_s=1.0) < 0.1


def test_maximum_below_base_pins_the_window_at_base() -> None:
    window = BatchWindow(0.5, 0.25)
    assert window.closed(late=True) == 0.5


def test_negative_base_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        BatchWindow(-0.1, 0.25)
