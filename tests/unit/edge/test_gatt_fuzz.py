"""Seeded property tests: no input makes a parser raise anything but GattFormatError, and no
parsed value makes the reading conversion raise anything but its two documented outcomes.

The seed is printed (pytest shows it with a failure); rerun a failure with
``CAREDGE_FUZZ_SEED=<seed> pytest tests/unit/edge/test_gatt_fuzz.py``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypedDict

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from edge.gatt import (
    ControlSolutionSample,
    GattFormatError,
    MeasurementUnusable,
    bp_to_reading,
    glucose_to_reading,
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

FUZZ_SEED = int(os.environ.get("CAREDGE_FUZZ_SEED", "20240315"))
FUZZ = settings(
    max_examples=2000,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class Ids(TypedDict):
    gateway_id: str
    device_id: str
    seq: int
    measured_at: datetime


IDS: Ids = {
    "gateway_id": "gw-1",
    "device_id": "dev-1",
    "seq": 1,
    "measured_at": datetime(2024, 1, 1, tzinfo=UTC),
}

PARSERS: list[Callable[[bytes], object]] = [
    parse_bp_measurement,
    parse_glucose_measurement,
    parse_glucose_context,
    parse_racp_response,
    parse_current_time,
    parse_date_time,
    parse_battery_level,
    parse_device_info_string,
    parse_bp_feature,
    parse_glucose_feature,
]


@pytest.fixture(autouse=True)
def _print_seed() -> None:
    print(f"hypothesis seed {FUZZ_SEED} (CAREDGE_FUZZ_SEED)")


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.__name__)
def test_random_bytes_only_raise_format_errors(parser: Callable[[bytes], object]) -> None:
    @seed(FUZZ_SEED)
    @FUZZ
    @given(st.binary(max_size=64))
    def check(data: bytes) -> None:
        try:
            parser(data)
        except GattFormatError as exc:
            assert exc.frame == data

    check()


# Well-sized frames reach the deep paths that random bytes rarely get past the flags to.
sfloats = st.one_of(
    st.sampled_from([0x07FF, 0x0800, 0x07FE, 0x0802, 0x0801]),
    st.integers(0, 0xFFFF),
    st.integers(40, 250),  # plausible mmHg and bpm, exponent 0
    st.integers(20, 600).map(lambda m: 0xB000 | m),  # plausible kg/L: m·10⁻⁵ = m mg/dL
    st.integers(10, 300).map(lambda m: 0xC000 | m),  # plausible mol/L: m·10⁻⁴ = m/10 mmol/L
).map(lambda raw: struct.pack("<H", raw))
type_locations = st.one_of(
    st.sampled_from([0x11, 0x12, 0x21, 0x32, 0xF9, 0x4A]), st.integers(0, 0xFF)
).map(lambda octet: bytes([octet]))
date_times = st.one_of(
    st.datetimes(min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31)).map(
        lambda d: struct.pack("<HBBBBB", d.year, d.month, d.day, d.hour, d.minute, d.second)
    ),
    st.just(bytes(7)),
    st.binary(min_size=7, max_size=7),
)


@st.composite
def bp_frames(draw: st.DrawFn) -> bytes:
    flags = draw(st.integers(0, 0xFF))
    frame = bytes([flags]) + draw(sfloats) + draw(sfloats) + draw(sfloats)
    if flags & 0x02:
        frame += draw(date_times)
    if flags & 0x04:
        frame += draw(sfloats)
    if flags & 0x08:
        frame += draw(st.binary(min_size=1, max_size=1))
    if flags & 0x10:
        frame += draw(st.binary(min_size=2, max_size=2))
    return frame


@st.composite
def glucose_frames(draw: st.DrawFn) -> bytes:
    flags = draw(st.integers(0, 0xFF))
    frame = bytes([flags]) + draw(st.binary(min_size=2, max_size=2)) + draw(date_times)
    if flags & 0x01:
        frame += draw(st.binary(min_size=2, max_size=2))
    if flags & 0x02:
        frame += draw(sfloats) + draw(type_locations)
    if flags & 0x08:
        frame += draw(st.binary(min_size=2, max_size=2))
    return frame


@st.composite
def context_frames(draw: st.DrawFn, sequence: bytes = b"") -> bytes:
    flags = draw(st.integers(0, 0xFF))
    seq = sequence or draw(st.binary(min_size=2, max_size=2))
    frame = bytes([flags]) + seq
    sizes = [(0x80, 1, False), (0x01, 1, True), (0x02, 1, False), (0x04, 1, False)]
    sizes += [(0x08, 3, False), (0x10, 1, True), (0x40, 0, True)]
    for bit, size, then_sfloat in sizes:
        if flags & bit:
            frame += draw(st.binary(min_size=size, max_size=size))
            if then_sfloat:
                frame += draw(sfloats)
    return frame


@seed(FUZZ_SEED)
@FUZZ
@given(bp_frames())
def test_bp_frames_parse_and_convert_cleanly(frame: bytes) -> None:
    try:
        measurement = parse_bp_measurement(frame)
    except GattFormatError:
        return
    try:
        reading = bp_to_reading(measurement, **IDS)
    except MeasurementUnusable:
        return
    assert reading.systolic_mmhg == measurement.systolic_mmhg


@seed(FUZZ_SEED)
@FUZZ
@given(glucose_frames(), st.data())
def test_glucose_frames_parse_and_convert_cleanly(frame: bytes, data: st.DataObject) -> None:
    try:
        measurement = parse_glucose_measurement(frame)
    except GattFormatError:
        return
    context = parse_glucose_context(data.draw(context_frames(sequence=frame[1:3])))
    try:
        reading = glucose_to_reading(measurement, context=context, **IDS)
    except (MeasurementUnusable, ControlSolutionSample):
        return
    assert reading.meter_seq == measurement.sequence_number
    assert not measurement.is_control_solution


@seed(FUZZ_SEED)
@FUZZ
@given(context_frames())
def test_context_frames_always_parse(frame: bytes) -> None:
    # Context has no dates and no value checks: a well-sized frame always parses.
    assert parse_glucose_context(frame).flags == frame[0]
