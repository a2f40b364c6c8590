"""Hypothesis strategies for hostile input: JSON-like values and mutations of valid bytes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

NASTY_NUMBERS = st.sampled_from(
    [0, -1, 2**31, 2**63, -(2**63) - 1, 10**400, 1e308, -1e308, float("nan"), float("inf"),
     -0.0, 1e-320, 3.9, 180.0001]
)  # fmt: skip
NASTY_TEXT = st.sampled_from(
    ["", " ", "\x00", "\ud800", "é", "😀" * 50, "a" * 70_000, "1", "true", "null", "{}",
     "2026-11-01T06:00:00", "2026-11-01T06:00:00+00:00", "9999-12-31T23:59:59Z", "../../etc"]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), NASTY_NUMBERS, st.text(), NASTY_TEXT
)
JSON_LIKE = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(st.text(max_size=12), NASTY_TEXT), children, max_size=6),
    ),
    max_leaves=20,
)


@st.composite
def mutated_object(draw: st.DrawFn, valid: dict[str, Any]) -> dict[str, Any]:
    """valid with some fields dropped, replaced by hostile values, or extra fields added."""
    result = dict(valid)
    for key in draw(st.lists(st.sampled_from(sorted(valid)), max_size=3, unique=True)):
        if draw(st.booleans()):
            del result[key]
        else:
            result[key] = draw(JSON_LIKE)
    if draw(st.booleans()):
        result.update(draw(st.dictionaries(st.text(max_size=10), JSON_LIKE, max_size=2)))
    return result


@st.composite
def mutated_bytes(draw: st.DrawFn, valid: bytes) -> bytes:
    """valid truncated, extended, or with bytes flipped."""
    data = bytearray(valid)
    choice = draw(st.integers(0, 3))
    if choice == 0 and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif choice == 1:
        data += draw(st.binary(min_size=1, max_size=32))
    elif data:
        for _ in range(draw(st.integers(1, 4))):
            index = draw(st.integers(0, len(data) - 1))
            data[index] = draw(st.integers(0, 255))
    return bytes(data)


def dumps(value: Any) -> bytes:
    """JSON bytes of value; NaN/Infinity and lone surrogates kept (a hostile sender's JSON)."""
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")
