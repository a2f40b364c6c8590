"""The gateway's pure decisions: device ids, clock skew, natural keys, cursor, parser errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from edge.gateway import policy
from edge.gatt.blood_pressure import parse_bp_measurement
from edge.gatt.glucose import GlucoseContext, GlucoseMeasurement
from protocol.topics import check_id

# Blood Pressure Measurement, flags 0x1E (time stamp, pulse, user, status), 121/79/93 mmHg,
# 2024-05-01 08:30:00, pulse 71, user 2, status 0x0004 (irregular pulse).
BP_FRAME = bytes.fromhex("1e79004f005d00e8070501081e004700020400")
GATEWAY_NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def glucose(seq: int, *, context: bool = False, base: datetime | None = None) -> GlucoseMeasurement:
    return GlucoseMeasurement(
        flags=0x10 if context else 0x00,
        sequence_number=seq,
        base_time=base or datetime(2026, 5, 1, 8, 0),
    )


# --- device ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "serial", "expected"),
    [
        ("BP-7", "SN-BP-1", "bp-bp-7-sn-bp-1"),
        ("OMRON X7 Smart", "SN/00 42", "bp-omron-x7-smart-sn-00-42"),
        ("Accu-Chek®  Guide", "#12:34", "bp-accu-chek-guide-12-34"),
        ("m.1", "a_b", "bp-m.1-a_b"),
        ("X--1", "--7--", "bp-x-1-7"),
    ],
)
def test_device_id_from_model_and_serial(model: str, serial: str, expected: str) -> None:
    device_id = policy.device_id_for("C0:CA:ED:00:01:01", kind="bp", model=model, serial=serial)
    assert device_id == expected
    assert check_id(device_id) == device_id  # valid in topics and in the cloud


def test_device_id_kind_keeps_two_meters_of_one_vendor_apart() -> None:
    bp = policy.device_id_for("C0:00:00:00:00:01", kind="bp", model="SIM-1", serial="0001")
    glu = policy.device_id_for("C0:00:00:00:00:02", kind="glu", model="SIM-1", serial="0001")
    assert bp != glu


def test_device_id_falls_back_to_address_and_is_capped() -> None:
    assert (
        policy.device_id_for("c0:ca:ed:00:01:0a", kind="glu", model=None, serial="1")
        == "glu-ble-c0caed00010a"
    )
    assert (
        policy.device_id_for("C0:CA:ED:00:01:0A", kind="glu", model="***", serial="///")
        == "glu-ble-c0caed00010a"
    )
    long = policy.device_id_for("C0:CA:ED:00:01:0A", kind="bp", model="M" * 80, serial="S")
    assert len(long) == 64 and check_id(long) == long


def test_configured_device_id_wins_whatever_the_address_spelling() -> None:
    configured = {"c0-ca-ed-00-01-01": "bp-home-1"}
    assert (
        policy.device_id_for(
            "C0:CA:ED:00:01:01", kind="bp", model="X", serial="Y", configured=configured
        )
        == "bp-home-1"
    )


# --- clock skew ----------------------------------------------------------------------------------


def test_small_skew_is_left_alone() -> None:
    check = policy.check_clock(datetime(2026, 5, 1, 12, 4, 59), GATEWAY_NOW, zone=UTC)
    assert check.skew == timedelta(minutes=4, seconds=59)
    assert not check.correct and not check.clock_wrong
    meter_time = datetime(2026, 5, 1, 7, 0, tzinfo=UTC)
    assert check.apply(meter_time) == meter_time


def test_large_skew_corrects_meter_times_by_the_skew_measured_at_connection() -> None:
    # The meter runs 2 h 30 min fast (e.g. a clock set by hand to the wrong zone).
    check = policy.check_clock(datetime(2026, 5, 1, 14, 30), GATEWAY_NOW, zone=UTC)
    assert check.skew == timedelta(hours=2, minutes=30)
    assert check.correct and check.clock_wrong
    taken = policy.measured_at(
        datetime(2026, 5, 1, 9, 30), check, zone=UTC, received_at=GATEWAY_NOW
    )
    assert taken == datetime(2026, 5, 1, 7, 0, tzinfo=UTC)


def test_slow_meter_is_corrected_forward() -> None:
    check = policy.check_clock(datetime(2000, 1, 1, 0, 0), GATEWAY_NOW, zone=UTC)  # lost clock
    assert check.skew is not None and check.skew < timedelta(0)
    taken = policy.measured_at(datetime(2000, 1, 1, 0, 0), check, zone=UTC, received_at=GATEWAY_NOW)
    assert taken == GATEWAY_NOW


def test_threshold_is_configurable_and_exclusive() -> None:
    five = policy.check_clock(
        datetime(2026, 5, 1, 12, 5), GATEWAY_NOW, zone=UTC, threshold=timedelta(minutes=5)
    )
    assert not five.correct
    one = policy.check_clock(
        datetime(2026, 5, 1, 12, 5), GATEWAY_NOW, zone=UTC, threshold=timedelta(minutes=1)
    )
    assert one.correct


def test_unknown_meter_clock_means_no_correction_but_a_clock_to_set() -> None:
    check = policy.check_clock(None, GATEWAY_NOW)
    assert check.skew is None and not check.correct and check.clock_wrong
    meter_time = datetime(2026, 5, 1, 6, 0, tzinfo=UTC)
    assert check.apply(meter_time) == meter_time


def test_after_the_clock_is_written_later_records_are_not_shifted() -> None:
    check = policy.check_clock(datetime(2026, 5, 1, 15, 0), GATEWAY_NOW, zone=UTC)
    written = check.after_clock_written()
    assert written.skew == timedelta(0) and not written.correct and not written.clock_wrong


def test_meter_zone_is_applied_to_naive_meter_times() -> None:
    paris = ZoneInfo("Europe/Paris")
    # 14:00 in Paris (summer, UTC+2) is 12:00 UTC: no skew.
    check = policy.check_clock(datetime(2026, 5, 1, 14, 0), GATEWAY_NOW, zone=paris)
    assert check.skew == timedelta(0)
    taken = policy.measured_at(
        datetime(2026, 5, 1, 8, 0), check, zone=paris, received_at=GATEWAY_NOW
    )
    assert taken.utcoffset() == timedelta(hours=2)
    assert taken.astimezone(UTC) == datetime(2026, 5, 1, 6, 0, tzinfo=UTC)
    fixed = timezone(timedelta(hours=8))
    assert policy.local_time(datetime(2026, 1, 1), fixed).utcoffset() == timedelta(hours=8)


def test_record_without_time_gets_reception_time() -> None:
    check = policy.check_clock(datetime(2026, 5, 1, 18, 0), GATEWAY_NOW, zone=UTC)
    assert policy.measured_at(None, check, zone=UTC, received_at=GATEWAY_NOW) == GATEWAY_NOW


def test_skew_is_rounded_to_the_meter_resolution_of_a_second() -> None:
    check = policy.check_clock(datetime(2026, 5, 1, 15, 0, 0, 2_000), GATEWAY_NOW, zone=UTC)
    assert check.skew == timedelta(hours=3)
    check = policy.check_clock(datetime(2026, 5, 1, 14, 59, 59, 700_000), GATEWAY_NOW, zone=UTC)
    assert check.skew == timedelta(hours=3)


def test_gateway_time_must_be_aware() -> None:
    with pytest.raises(ValueError):
        policy.check_clock(datetime(2026, 5, 1), datetime(2026, 5, 1))


# --- natural keys ------------------------------------------------------------------------------


def test_bp_key_is_device_user_and_uncorrected_meter_time() -> None:
    measurement = parse_bp_measurement(BP_FRAME)
    key = policy.bp_natural_key("bp-x", measurement)
    assert key == ("bp", "bp-x", 2, "2024-05-01T08:30:00")
    # The same frame resent by the meter gives the same key; another user does not.
    assert policy.bp_natural_key("bp-x", parse_bp_measurement(BP_FRAME)) == key
    other_user = bytearray(BP_FRAME)
    other_user[-3] = 1
    assert policy.bp_natural_key("bp-x", parse_bp_measurement(other_user)) != key


def test_bp_without_time_stamp_has_no_key() -> None:
    frame = bytes.fromhex("0079004f005d00")
    assert policy.bp_natural_key("bp-x", parse_bp_measurement(frame)) is None


def test_bp_unknown_user_is_its_own_user() -> None:
    frame = bytes.fromhex("0a79004f005d00e8070501081e00ff")
    assert policy.bp_natural_key("bp-x", parse_bp_measurement(frame)) == (
        "bp",
        "bp-x",
        -1,
        "2024-05-01T08:30:00",
    )


def test_glucose_key_is_device_sequence_and_base_time() -> None:
    assert policy.glucose_natural_key("glu-x", glucose(7)) == (
        "glucose",
        "glu-x",
        7,
        "2026-05-01T08:00:00",
    )
    reset = glucose(7, base=datetime(2027, 1, 1, 9, 0))  # meter memory reset, seq reused
    assert policy.glucose_natural_key("glu-x", reset) != policy.glucose_natural_key(
        "glu-x", glucose(7)
    )


def test_keys_are_storable_by_the_outbox() -> None:
    from edge.outbox import encode_key

    measurement = parse_bp_measurement(BP_FRAME)
    for key in (
        policy.bp_natural_key("bp-x", measurement),
        policy.glucose_natural_key("glu-x", glucose(1)),
        policy.event_key("control_solution", "glu-x", 1, None),
    ):
        assert key is not None
        json.loads(encode_key(key))


# --- RACP cursor ---------------------------------------------------------------------------------


def test_racp_request_all_the_first_time_then_greater_or_equal_cursor_plus_one() -> None:
    assert policy.racp_request_for(None) == bytes([0x01, 0x01])
    assert policy.racp_request_for(9) == bytes([0x01, 0x03, 0x01, 0x0A, 0x00])
    assert policy.racp_request_for(0x1FF) == bytes([0x01, 0x03, 0x01, 0x00, 0x02])
    assert policy.racp_request_for(0xFFFF) == bytes([0x01, 0x01])  # would wrap


def test_cursor_only_moves_forward() -> None:
    assert policy.advance_cursor(None, []) is None
    assert policy.advance_cursor(None, [3, 1, 2]) == 3
    assert policy.advance_cursor(10, [4, 5]) == 10  # a meter resending old records
    assert policy.advance_cursor(10, [11, 12]) == 12


# --- pairing measurements with contexts ----------------------------------------------------------


def test_measurement_waits_for_its_context() -> None:
    assembler = policy.GlucoseAssembler()
    assert assembler.measurement(glucose(1, context=True)) == []
    context = GlucoseContext(flags=0x02, sequence_number=1, meal_code=1)
    assert assembler.context(context) == [(glucose(1, context=True), context)]
    assert assembler.finish() == []


def test_measurement_without_context_flag_completes_at_once() -> None:
    assembler = policy.GlucoseAssembler()
    assert assembler.measurement(glucose(1)) == [(glucose(1), None)]


def test_missing_context_is_released_by_next_record_or_end() -> None:
    assembler = policy.GlucoseAssembler()
    assembler.measurement(glucose(1, context=True))
    assert assembler.measurement(glucose(2, context=True)) == [(glucose(1, context=True), None)]
    assert assembler.finish() == [(glucose(2, context=True), None)]


def test_context_of_another_record_is_an_orphan() -> None:
    assembler = policy.GlucoseAssembler()
    assembler.measurement(glucose(1, context=True))
    assert assembler.context(GlucoseContext(flags=0, sequence_number=9)) == []
    assert assembler.orphan_contexts == 1
    assert assembler.finish() == [(glucose(1, context=True), None)]


# --- parser errors -------------------------------------------------------------------------------


def test_parser_errors_log_once_per_run_and_report_recovery() -> None:
    tracker = policy.ParseErrorTracker()
    assert tracker.recovered("bp-1", "bp-measurement") == 0  # nothing to report
    assert tracker.failed("bp-1", "bp-measurement") is True  # first: log
    assert tracker.failed("bp-1", "bp-measurement") is False  # then: count only
    assert tracker.failed("bp-1", "bp-measurement") is False
    assert tracker.failed("glu-1", "racp") is True  # other source, own run
    assert tracker.failing() == {"bp-1/bp-measurement": 3, "glu-1/racp": 1}
    assert tracker.recovered("bp-1", "bp-measurement") == 3  # log the recovery once
    assert tracker.recovered("bp-1", "bp-measurement") == 0
    assert tracker.failed("bp-1", "bp-measurement") is True  # a new run logs again
    assert tracker.total == 5


# --- session scheduling --------------------------------------------------------------------------


def test_retry_delay_backs_off_exponentially_to_a_cap() -> None:
    assert [policy.retry_delay(n) for n in range(0, 8)] == [0, 2, 4, 8, 16, 32, 60, 60]


def test_next_session_waits_the_interval_after_success_and_backs_off_after_failure() -> None:
    assert policy.next_session_at(None, failures=0, interval=10, now=5.0) == 5.0
    assert policy.next_session_at(100.0, failures=0, interval=10, now=101.0) == 110.0
    assert policy.next_session_at(100.0, failures=3, interval=10, now=101.0) == 108.0


# --- device events -------------------------------------------------------------------------------


def test_device_event_payload() -> None:
    payload = policy.device_event(
        "control_solution",
        gateway_id="gw1",
        device_id="glu-x",
        at=GATEWAY_NOW,
        meter_seq=4,
        glucose_mmol_l=5.5,
    )
    assert json.loads(payload) == {
        "v": 1,
        "type": "device_event",
        "event": "control_solution",
        "gateway_id": "gw1",
        "device_id": "glu-x",
        "at": "2026-05-01T12:00:00+00:00",
        "meter_seq": 4,
        "glucose_mmol_l": 5.5,
    }
    with pytest.raises(ValueError):
        policy.device_event("x", gateway_id="g", device_id="d", at=datetime(2026, 1, 1))
