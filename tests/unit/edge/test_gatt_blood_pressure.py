"""Blood Pressure Measurement 0x2A35 / Intermediate Cuff Pressure 0x2A36 parsing."""

from __future__ import annotations

import pytest

from edge.gatt import GattFormatError, PressureUnit, PulseRateRange, parse_bp_measurement
from tests.vectors.gatt import (
    BP_BAD,
    BP_STATUS_VECTORS,
    BP_VECTORS,
    BadVector,
    Vector,
    bp_status_frame,
    mismatches,
)


@pytest.mark.parametrize("vector", BP_VECTORS, ids=lambda v: v.name)
def test_vectors(vector: Vector) -> None:
    assert mismatches(parse_bp_measurement(vector.frame), vector.expect) == []


@pytest.mark.parametrize(
    ("name", "status", "expect"), BP_STATUS_VECTORS, ids=[v[0] for v in BP_STATUS_VECTORS]
)
def test_status_bits(name: str, status: int, expect: dict[str, object]) -> None:
    parsed = parse_bp_measurement(bp_status_frame(status))
    assert parsed.status is not None
    assert parsed.status.raw == status
    defaults = {
        "body_movement": False,
        "cuff_too_loose": False,
        "irregular_pulse": False,
        "pulse_rate_range": 0,
        "improper_position": False,
    }
    assert mismatches(parsed.status, defaults | expect) == []


def test_status_is_sixteen_bits() -> None:
    # A bit in the high status byte must come from the second byte, not be dropped.
    parsed = parse_bp_measurement(bp_status_frame(0x0100))
    assert parsed.status is not None and parsed.status.raw == 0x0100


def test_reserved_pulse_range_is_flagged_not_read_as_within() -> None:
    parsed = parse_bp_measurement(bp_status_frame(0x0018))
    assert parsed.status is not None
    assert parsed.status.pulse_rate_range is PulseRateRange.RESERVED


def test_values_stay_in_the_transmitted_unit() -> None:
    parsed = parse_bp_measurement(bytes.fromhex("01A0F06BF07DF0"))
    assert parsed.unit is PressureUnit.KPA
    assert parsed.systolic.value == 16.0


@pytest.mark.parametrize("vector", BP_BAD, ids=lambda v: v.name)
def test_bad_frames(vector: BadVector) -> None:
    with pytest.raises(GattFormatError) as caught:
        parse_bp_measurement(vector.frame)
    assert vector.reason in caught.value.reason
    assert caught.value.frame == vector.frame


@pytest.mark.parametrize("vector", BP_VECTORS, ids=lambda v: v.name)
def test_every_truncation_is_a_format_error(vector: Vector) -> None:
    for size in range(len(vector.frame)):
        with pytest.raises(GattFormatError, match="truncated"):
            parse_bp_measurement(vector.frame[:size])


def test_error_message_carries_reason_and_hex_frame() -> None:
    with pytest.raises(GattFormatError) as caught:
        parse_bp_measurement(bytes.fromhex("1e7800"))
    message = str(caught.value)
    assert "1e7800" in message
    assert "diastolic" in message


def test_accepts_bytearray() -> None:
    parsed = parse_bp_measurement(bytearray.fromhex("00780050005D00"))
    assert parsed.systolic_mmhg == 120.0
