"""The outbox policy: drain order, the bound, PUBACK meaning, back-off and sequence numbers."""

from __future__ import annotations

import pytest

from edge.outbox_policy import (
    MAX_SEQ,
    Admission,
    admit,
    drain_order,
    initial_seq,
    next_seq,
    puback_delivered,
    retry_delay,
)


def test_below_the_bound_everything_is_accepted() -> None:
    assert admit("reading", 3, 5, 10) == Admission(accept=True)
    assert admit("telemetry", 3, 5, 10) == Admission(accept=True)
    assert admit("telemetry", 0, 9, 10) == Admission(accept=True)  # 10th row fits


def test_at_the_bound_the_oldest_telemetry_makes_room() -> None:
    assert admit("reading", 4, 6, 10) == Admission(accept=True, drop_oldest_telemetry=1)
    assert admit("telemetry", 4, 6, 10) == Admission(accept=True, drop_oldest_telemetry=1)


def test_a_lowered_bound_drops_as_much_telemetry_as_needed() -> None:
    # 20 rows on disk, bound now 10: 11 must go to fit the new one, all of them telemetry.
    assert admit("telemetry", 5, 15, 10) == Admission(accept=True, drop_oldest_telemetry=11)


def test_telemetry_finding_only_readings_is_itself_dropped() -> None:
    assert admit("telemetry", 10, 0, 10) == Admission(accept=False)
    # Not enough telemetry to cover the excess: existing telemetry is kept, the new one goes.
    assert admit("telemetry", 14, 2, 10) == Admission(accept=False)


def test_a_reading_is_never_refused_and_goes_over_the_bound() -> None:
    assert admit("reading", 10, 0, 10) == Admission(accept=True, over_bound=True)
    decision = admit("reading", 12, 3, 10)
    assert decision.accept and decision.over_bound
    assert decision.drop_oldest_telemetry == 3  # all telemetry goes before the bound is passed


@pytest.mark.parametrize("readings", [0, 1, 9, 10, 11, 1000])
@pytest.mark.parametrize("telemetry", [0, 1, 9, 10, 500])
def test_no_reading_is_ever_dropped(readings: int, telemetry: int) -> None:
    decision = admit("reading", readings, telemetry, 10)
    assert decision.accept
    assert decision.drop_oldest_telemetry <= telemetry


def test_unknown_kind_and_bad_bound_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown outbox entry kind"):
        admit("beacon", 0, 0, 10)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_rows"):
        admit("reading", 0, 0, 0)


def test_drain_order_is_readings_first_then_fifo() -> None:
    entries = [("telemetry", 1), ("reading", 4), ("telemetry", 2), ("reading", 3)]
    assert drain_order(entries) == [  # type: ignore[arg-type]
        ("reading", 3),
        ("reading", 4),
        ("telemetry", 1),
        ("telemetry", 2),
    ]


@pytest.mark.parametrize(
    ("code", "delivered"),
    [
        (0x00, True),  # Success
        (0x10, True),  # No matching subscribers: Mosquitto accepted it
        (0x80, False),  # Unspecified error
        (0x87, False),  # Not authorized (ACL)
        (0x97, False),  # Quota exceeded
        (0x99, False),  # Payload format invalid
    ],
)
def test_puback_reason_codes(code: int, delivered: bool) -> None:
    assert puback_delivered(code) is delivered


def test_retry_delay_doubles_and_is_capped() -> None:
    assert retry_delay(0) == 0.0
    assert [retry_delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 32, 60]
    assert retry_delay(10_000) == 60.0
    assert retry_delay(3, base=0.5, cap=1.5) == 1.5


def test_sequence_starts_at_the_clock_and_only_grows() -> None:
    now_us = 1_762_000_000_000_000
    assert next_seq(None, now_us) == now_us
    assert next_seq(now_us, 0) == now_us + 1
    assert next_seq(41, now_us) == 42  # an existing device continues, whatever the clock says
    assert initial_seq(0) == 1  # a gateway without a clock still starts at a valid seq
    with pytest.raises(OverflowError):
        next_seq(MAX_SEQ, now_us)
