"""Current Time 0x2A2B and Date Time 0x2A08."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edge.gatt import (
    AdjustReason,
    GattFormatError,
    build_current_time,
    parse_current_time,
    parse_date_time,
)
from tests.vectors.gatt import CURRENT_TIME_BAD, CURRENT_TIME_VECTORS, BadVector, Vector


@pytest.mark.parametrize("vector", CURRENT_TIME_VECTORS, ids=lambda v: v.name)
def test_vectors(vector: Vector) -> None:
    assert parse_current_time(vector.frame) == vector.expect["value"]


@pytest.mark.parametrize("vector", CURRENT_TIME_BAD, ids=lambda v: v.name)
def test_bad_frames(vector: BadVector) -> None:
    with pytest.raises(GattFormatError) as caught:
        parse_current_time(vector.frame)
    assert vector.reason in caught.value.reason


def test_every_truncation_is_a_format_error() -> None:
    frame = CURRENT_TIME_VECTORS[0].frame
    for size in range(len(frame)):
        with pytest.raises(GattFormatError, match="truncated"):
            parse_current_time(frame[:size])


def test_build_matches_the_vector() -> None:
    # 2024-03-15 08:30:05.5, Friday, 0.5 s = 128/256, external reference update.
    moment = datetime(2024, 3, 15, 8, 30, 5, 500000)
    assert build_current_time(moment) == CURRENT_TIME_VECTORS[0].frame
    assert build_current_time(moment, adjust_reason=AdjustReason.MANUAL_TIME_UPDATE)[-1] == 0x01


def test_build_round_trips_to_the_1_256_second() -> None:
    moment = datetime(2031, 12, 31, 23, 59, 58, 999999)
    back = parse_current_time(build_current_time(moment))
    assert back is not None
    assert back.replace(microsecond=0) == moment.replace(microsecond=0)
    assert abs(back.microsecond - moment.microsecond) < 1_000_000 / 256


def test_build_writes_wall_clock_fields_of_aware_datetimes() -> None:
    frame = build_current_time(datetime(2024, 3, 15, 8, 30, 5, tzinfo=UTC))
    assert frame[:7] == bytes.fromhex("E807030F081E05")


def test_build_refuses_years_outside_date_time_range() -> None:
    with pytest.raises(ValueError):
        build_current_time(datetime(1500, 1, 1))


def test_date_time_characteristic() -> None:
    assert parse_date_time(bytes.fromhex("E807030F081E05")) == datetime(2024, 3, 15, 8, 30, 5)
    assert parse_date_time(bytes(7)) is None
    with pytest.raises(GattFormatError):
        parse_date_time(bytes.fromhex("E807030F081E0500"))
