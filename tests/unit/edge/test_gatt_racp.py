"""Record Access Control Point 0x2A52: request frames and response parsing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import edge.gatt
from edge.gatt import GattFormatError, parse_racp_response
from tests.vectors.gatt import (
    RACP_BAD,
    RACP_REQUESTS,
    RACP_RESPONSES,
    BadVector,
    Vector,
    mismatches,
)


@pytest.mark.parametrize(
    ("name", "builder", "args", "frame"), RACP_REQUESTS, ids=[r[0] for r in RACP_REQUESTS]
)
def test_request_frames(name: str, builder: str, args: tuple[int, ...], frame: bytes) -> None:
    build: Callable[..., bytes] = getattr(edge.gatt, builder)
    assert build(*args) == frame


@pytest.mark.parametrize("seq", [-1, 65536])
@pytest.mark.parametrize(
    "builder",
    [edge.gatt.racp_report_greater_or_equal, edge.gatt.racp_report_number_greater_or_equal],
)
def test_sequence_out_of_range_is_refused(builder: Callable[[int], bytes], seq: int) -> None:
    with pytest.raises(ValueError):
        builder(seq)


@pytest.mark.parametrize("vector", RACP_RESPONSES, ids=lambda v: v.name)
def test_responses(vector: Vector) -> None:
    assert mismatches(parse_racp_response(vector.frame), vector.expect) == []


@pytest.mark.parametrize("vector", RACP_BAD, ids=lambda v: v.name)
def test_bad_responses(vector: BadVector) -> None:
    with pytest.raises(GattFormatError) as caught:
        parse_racp_response(vector.frame)
    assert vector.reason in caught.value.reason


@pytest.mark.parametrize("vector", RACP_RESPONSES, ids=lambda v: v.name)
def test_every_truncation_is_a_format_error(vector: Vector) -> None:
    for size in range(len(vector.frame)):
        with pytest.raises(GattFormatError):
            parse_racp_response(vector.frame[:size])
