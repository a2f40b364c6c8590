"""Abnormal flags of lab results against their reference ranges (pure)."""

from __future__ import annotations

HIGH = "H"
LOW = "L"
ABNORMAL = "A"
NORMAL = ""
FLAGS = (HIGH, LOW, ABNORMAL, NORMAL)


def flag_for(value: float | None, low: float | None, high: float | None) -> str:
    """H above the high limit, L below the low limit, "" inside or when nothing compares.

    Limits are inclusive, as laboratories print them ("3.9–6.1" accepts 6.1).
    """
    if value is None:
        return NORMAL
    if high is not None and value > high:
        return HIGH
    if low is not None and value < low:
        return LOW
    return NORMAL


def reference_text(low: float | None, high: float | None) -> str:
    """The range as printed: '3.9–6.1', '<5.2', '>1.0' or ''."""
    if low is not None and high is not None:
        return f"{low:g}–{high:g}"
    if high is not None:
        return f"<{high:g}"
    if low is not None:
        return f">{low:g}"
    return ""
