"""Glucose Measurement 0x2A18 and Glucose Measurement Context 0x2A34 parsing."""

from __future__ import annotations

import pytest

from edge.gatt import GattFormatError, parse_glucose_context, parse_glucose_measurement
from protocol.envelope import SensorAnnunciation
from tests.vectors.gatt import (
    GLUCOSE_ANNUNCIATION_BITS,
    GLUCOSE_BAD,
    GLUCOSE_CONTEXT_BAD,
    GLUCOSE_CONTEXT_VECTORS,
    GLUCOSE_VECTORS,
    BadVector,
    Vector,
    glucose_status_frame,
    mismatches,
)


@pytest.mark.parametrize("vector", GLUCOSE_VECTORS, ids=lambda v: v.name)
def test_measurement_vectors(vector: Vector) -> None:
    assert mismatches(parse_glucose_measurement(vector.frame), vector.expect) == []


@pytest.mark.parametrize(("bit", "name"), GLUCOSE_ANNUNCIATION_BITS)
def test_each_sensor_status_bit(bit: int, name: str) -> None:
    parsed = parse_glucose_measurement(glucose_status_frame(1 << bit))
    assert parsed.sensor_status == 1 << bit
    assert parsed.annunciations == {SensorAnnunciation(name)}


def test_sensor_status_rfu_bits_are_ignored() -> None:
    parsed = parse_glucose_measurement(glucose_status_frame(0xF000))
    assert parsed.sensor_status == 0xF000
    assert parsed.annunciations == frozenset()


def test_all_twelve_sensor_status_bits() -> None:
    parsed = parse_glucose_measurement(glucose_status_frame(0x0FFF))
    assert parsed.annunciations == frozenset(SensorAnnunciation)


@pytest.mark.parametrize("vector", GLUCOSE_BAD, ids=lambda v: v.name)
def test_measurement_bad_frames(vector: BadVector) -> None:
    with pytest.raises(GattFormatError) as caught:
        parse_glucose_measurement(vector.frame)
    assert vector.reason in caught.value.reason


@pytest.mark.parametrize("vector", GLUCOSE_VECTORS, ids=lambda v: v.name)
def test_measurement_every_truncation_is_a_format_error(vector: Vector) -> None:
    for size in range(len(vector.frame)):
        with pytest.raises(GattFormatError, match="truncated"):
            parse_glucose_measurement(vector.frame[:size])


@pytest.mark.parametrize("vector", GLUCOSE_CONTEXT_VECTORS, ids=lambda v: v.name)
def test_context_vectors(vector: Vector) -> None:
    assert mismatches(parse_glucose_context(vector.frame), vector.expect) == []


def test_context_tester_is_the_low_nibble() -> None:
    # The SIG definition lists Tester first and orders nibbles least significant first.
    parsed = parse_glucose_context(bytes.fromhex("04050031"))
    assert parsed.tester_code == 1 and parsed.health_code == 3


@pytest.mark.parametrize("vector", GLUCOSE_CONTEXT_BAD, ids=lambda v: v.name)
def test_context_bad_frames(vector: BadVector) -> None:
    with pytest.raises(GattFormatError) as caught:
        parse_glucose_context(vector.frame)
    assert vector.reason in caught.value.reason


@pytest.mark.parametrize("vector", GLUCOSE_CONTEXT_VECTORS, ids=lambda v: v.name)
def test_context_every_truncation_is_a_format_error(vector: Vector) -> None:
    for size in range(len(vector.frame)):
        with pytest.raises(GattFormatError, match="truncated"):
            parse_glucose_context(vector.frame[:size])
