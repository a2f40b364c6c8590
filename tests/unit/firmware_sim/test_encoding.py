"""The simulator's encoders against hand-computed frames (spec layouts, little-endian)."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from firmware_sim.beacons import ibeacon_payload
from firmware_sim.meters import encoding
from firmware_sim.meters.encoding import SFloatSpecial


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (120, 0x0078),  # m=120, e=0
        (36.5, 0xF16D),  # m=365, e=-1 (exponent nibble 0xF)
        (-1.5, 0xFFF1),  # m=-15 (0xFF1), e=-1
        (0.00104, 0xB068),  # 104 mg/dL as kg/L: m=104, e=-5 (0xB)
        (0.000095, 0xA05F),  # 95 mg/dL as kg/L: m=95, e=-6 (0xA)
        (100000, 0x23E8),  # m=1000, e=2
        (1 / 3, 0xD14D),  # not exact: finest fitting exponent, m=333, e=-3
        (0, 0x0000),
        (float("nan"), 0x07FF),
        (float("inf"), 0x07FE),
        (float("-inf"), 0x0802),
        (SFloatSpecial.NRES, 0x0800),
    ],
)
def test_sfloat_known_codes(value: float, expected: int) -> None:
    assert encoding.sfloat(value) == expected


def test_sfloat_explicit_exponent_and_range() -> None:
    assert encoding.sfloat(120, exponent=-1) == 0xF4B0  # m=1200, e=-1
    assert encoding.sfloat_bytes(120) == bytes([0x78, 0x00])
    with pytest.raises(ValueError):
        encoding.sfloat(1e12)
    with pytest.raises(ValueError):
        encoding.sfloat(5000, exponent=0)


def test_bp_measurement_all_fields() -> None:
    reading = encoding.BPReading(
        systolic=120,
        diastolic=80,
        mean_arterial=93,
        timestamp=datetime(2024, 5, 1, 8, 30, 0),
        pulse=70,
        status=encoding.BPStatus.IRREGULAR_PULSE,
    )
    # flags 0x16 = time stamp | pulse | status; status is a u16 (04 00), not one byte.
    expected = bytes.fromhex("16780050005d00e8070501081e0046000400")
    assert encoding.bp_measurement(reading) == expected


def test_bp_measurement_kpa_user_and_high_status_bit() -> None:
    reading = encoding.BPReading(
        systolic=16.0,
        diastolic=10.7,
        mean_arterial=12.5,
        unit_kpa=True,
        user_id=3,
        status=encoding.BPStatus.IMPROPER_POSITION | encoding.BPStatus.PULSE_BELOW_RANGE,
    )
    frame = encoding.bp_measurement(reading)
    assert frame[0] == 0x01 | 0x08 | 0x10
    assert frame[1:3] == bytes([0x10, 0x00])  # 16 = m 16, e 0
    assert frame[3:5] == bytes([0x6B, 0xF0])  # 10.7 = m 107, e -1
    assert frame[7] == 3
    assert frame[8:10] == bytes([0x30, 0x00])  # bits 4 and 5 of the u16 status


def test_bp_minimal_frame_is_seven_bytes() -> None:
    frame = encoding.bp_measurement(encoding.BPReading(float("nan"), float("nan"), float("nan")))
    assert frame == bytes.fromhex("00ff07ff07ff07")


def test_glucose_measurement_all_fields() -> None:
    record = encoding.GlucoseRecord(
        sequence=1,
        base_time=datetime(2024, 5, 1, 7, 0, 0),
        concentration=0.000095,
        sample_type=encoding.SampleType.CAPILLARY_WHOLE_BLOOD,
        sample_location=encoding.SampleLocation.FINGER,
        time_offset_min=-60,
        sensor_status=encoding.GlucoseSensorStatus.BATTERY_LOW,
        context=encoding.GlucoseContext(meal=encoding.Meal.PREPRANDIAL),
    )
    expected = bytes.fromhex("1b0100e8070501070000c4ff5fa0110100")
    assert encoding.glucose_measurement(record) == expected


def test_glucose_measurement_mol_per_litre_without_optionals() -> None:
    record = encoding.GlucoseRecord(
        sequence=0x1234,
        base_time=datetime(2024, 1, 2, 3, 4, 5),
        concentration=0.0054,  # 5.4 mmol/L in mol/L: m=54, e=-4
        unit_mol_per_l=True,
        sample_type=encoding.SampleType.CONTROL_SOLUTION,
        sample_location=encoding.SampleLocation.CONTROL_SOLUTION,
    )
    frame = encoding.glucose_measurement(record)
    assert frame == bytes.fromhex("063412e807010203040536c04a")


def test_glucose_context_meal_and_tester_health() -> None:
    context = encoding.GlucoseContext(meal=encoding.Meal.FASTING, tester=1, health=5, hba1c_pct=6.5)
    # flags 0x46: meal, tester-health (tester low nibble, health high nibble), HbA1c
    assert encoding.glucose_context(7, context) == bytes.fromhex("460700035141f0")


def test_glucose_context_carbohydrate_exercise_medication() -> None:
    context = encoding.GlucoseContext(
        carbohydrate_id=1,
        carbohydrate_kg=0.05,
        exercise_duration_s=1800,
        exercise_intensity_pct=40,
        medication_id=1,
        medication=0.2,
        medication_in_liters=True,
    )
    expected = bytes.fromhex("3902000105e00807280102f0")
    assert encoding.glucose_context(2, context) == expected


def test_racp_frames() -> None:
    assert encoding.racp_response_code(0x01, encoding.RacpResponse.SUCCESS) == bytes(
        [0x06, 0x00, 0x01, 0x01]
    )
    assert encoding.racp_response_code(0x01, encoding.RacpResponse.NO_RECORDS_FOUND) == bytes(
        [0x06, 0x00, 0x01, 0x06]
    )
    assert encoding.racp_number_of_records(3) == bytes([0x05, 0x00, 0x03, 0x00])
    request = encoding.racp_request(0x01, 0x03, 0x01, 5)
    assert request == bytes([0x01, 0x03, 0x01, 0x05, 0x00])
    parsed = encoding.parse_racp_request(request)
    assert (parsed.opcode, parsed.operator, parsed.operand) == (1, 3, bytes([1, 5, 0]))
    with pytest.raises(ValueError):
        encoding.parse_racp_request(b"\x01")


def test_current_time_round_trip() -> None:
    moment = datetime(2024, 5, 1, 12, 30, 15, 500000)  # a Wednesday
    frame = encoding.current_time(moment, adjust_reason=encoding.AdjustReason.MANUAL)
    assert frame == bytes.fromhex("e80705010c1e0f038001")
    assert encoding.parse_current_time(frame) == moment
    assert encoding.date_time(None) == bytes(7)


def test_ibeacon_payload() -> None:
    proximity = uuid.UUID("e2c56db5-dffb-48d2-b060-d0f5a71096e0")
    payload = ibeacon_payload(proximity, major=1, minor=0x0102, measured_power=-59)
    assert payload == bytes.fromhex("0215e2c56db5dffb48d2b060d0f5a71096e000010102c5")
    with pytest.raises(ValueError):
        ibeacon_payload(proximity, 1, 1, measured_power=-200)
