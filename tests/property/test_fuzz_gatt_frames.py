"""GATT characteristic values from a hostile or broken meter: every parser returns a value or
raises GattFormatError with a reason, nothing else (complements tests/unit/edge/test_gatt_fuzz.py
with mutations of the named test vectors)."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, seed
from hypothesis import strategies as st

from edge.gatt import (
    GattFormatError,
    parse_battery_level,
    parse_bp_feature,
    parse_bp_measurement,
    parse_current_time,
    parse_date_time,
    parse_device_info_string,
    parse_glucose_context,
    parse_glucose_feature,
    parse_glucose_measurement,
    parse_racp_response,
)
from tests.property.conftest import FUZZ, FUZZ_SEED
from tests.property.strategies import mutated_bytes
from tests.vectors import gatt as vectors

PARSERS: list[Callable[[bytes], object]] = [
    parse_battery_level, parse_bp_feature, parse_bp_measurement, parse_current_time,
    parse_date_time, parse_device_info_string, parse_glucose_context, parse_glucose_feature,
    parse_glucose_measurement, parse_racp_response,
]  # fmt: skip


def _frames(value: object) -> set[bytes]:
    """Every bytes value in a vector module attribute (bytes, lists of bytes or of vectors)."""
    if isinstance(value, bytes):
        return {value}
    if isinstance(value, list | tuple):
        found: set[bytes] = set()
        for item in value:
            frame = item if isinstance(item, bytes) else getattr(item, "frame", None)
            if isinstance(frame, bytes):
                found.add(frame)
        return found
    return set()


VECTORS = sorted(set().union(*(_frames(v) for v in vars(vectors).values())))
FRAMES = st.one_of(
    st.binary(max_size=40),
    st.sampled_from(VECTORS or [b"\x00"]).flatmap(mutated_bytes),
)


def test_vectors_found() -> None:
    assert len(VECTORS) >= 10, "the vector module changed shape: mutations need valid frames"


@seed(FUZZ_SEED)
@FUZZ
@given(parser=st.sampled_from(PARSERS), frame=FRAMES)
def test_parsers_raise_only_gatt_format_error(
    parser: Callable[[bytes], object], frame: bytes
) -> None:
    try:
        parser(frame)
    except GattFormatError as exc:
        assert exc.reason.strip() and exc.frame == frame
