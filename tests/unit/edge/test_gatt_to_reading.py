"""Conversion of parsed measurements into wire-contract readings (edge.gatt.to_reading)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TypedDict

import pytest

from edge.gatt import (
    ControlSolutionSample,
    MeasurementUnusable,
    bp_to_reading,
    glucose_to_reading,
    parse_bp_measurement,
    parse_glucose_context,
    parse_glucose_measurement,
)
from protocol import decode_reading, encode_reading
from protocol.envelope import (
    Meal,
    PulseRange,
    SampleLocation,
    SampleType,
    SensorAnnunciation,
)
from tests.vectors.gatt import bp_status_frame, glucose_status_frame, h


class Ids(TypedDict):
    gateway_id: str
    device_id: str
    seq: int
    measured_at: datetime


AT = datetime(2024, 3, 15, 7, 30, tzinfo=UTC)
IDS: Ids = {"gateway_id": "gw-1", "device_id": "bp-1", "seq": 7, "measured_at": AT}


def test_bp_all_fields() -> None:
    m = parse_bp_measurement(h("1E BFF4 5000 AAF3 E807030F081E05 4800 01 0000"))
    reading = bp_to_reading(m, **IDS)
    assert reading.systolic_mmhg == 121.5
    assert reading.diastolic_mmhg == 80.0
    assert reading.map_mmhg == pytest.approx(93.8)
    assert reading.pulse_bpm == 72.0
    assert reading.user_id == 1
    assert reading.key == ("gw-1", "bp-1", 7)
    assert decode_reading(encode_reading(reading)) == reading


def test_bp_kpa_is_converted_to_mmhg() -> None:
    reading = bp_to_reading(parse_bp_measurement(h("01 A0F0 6BF0 7DF0")), **IDS)
    assert reading.systolic_mmhg == pytest.approx(120.00992)
    assert reading.diastolic_mmhg == pytest.approx(80.256634)
    assert reading.map_mmhg == pytest.approx(93.75775)


@pytest.mark.parametrize(
    "frame",
    [
        h("00 FF07 5000 5D00"),  # systolic NaN
        h("00 0008 5000 5D00"),  # systolic NRes
        h("00 FE07 5000 5D00"),  # systolic +INF
        h("00 7800 0208 5D00"),  # diastolic -INF
        h("00 7800 0108 5D00"),  # diastolic reserved
    ],
)
def test_bp_special_primary_values_are_unusable(frame: bytes) -> None:
    with pytest.raises(MeasurementUnusable, match="special value"):
        bp_to_reading(parse_bp_measurement(frame), **IDS)


def test_bp_special_map_and_pulse_are_omitted() -> None:
    # MAP NaN; pulse NRes
    reading = bp_to_reading(parse_bp_measurement(h("04 7800 5000 FF07 0008")), **IDS)
    assert reading.map_mmhg is None and reading.pulse_bpm is None
    assert reading.systolic_mmhg == 120.0


def test_bp_status_is_carried() -> None:
    reading = bp_to_reading(parse_bp_measurement(bp_status_frame(0x002F)), **IDS)
    assert reading.status.body_movement and reading.status.cuff_too_loose
    assert reading.status.irregular_pulse and reading.status.improper_position
    assert reading.status.pulse_range is PulseRange.ABOVE
    below = bp_to_reading(parse_bp_measurement(bp_status_frame(0x0010)), **IDS)
    assert below.status.pulse_range is PulseRange.BELOW


def test_bp_reserved_pulse_range_is_unusable() -> None:
    with pytest.raises(MeasurementUnusable, match="reserved"):
        bp_to_reading(parse_bp_measurement(bp_status_frame(0x0018)), **IDS)


def test_bp_out_of_range_primary_is_unusable() -> None:
    # systolic 0x01F4 = 500 mmHg, above the contract's 400
    with pytest.raises(MeasurementUnusable, match="systolic_mmhg"):
        bp_to_reading(parse_bp_measurement(h("00 F401 5000 5D00")), **IDS)


def test_bp_out_of_range_pulse_is_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    # pulse 0x0000 = 0 bpm: not a plausible pulse, the pressures are still good
    with caplog.at_level(logging.WARNING):
        reading = bp_to_reading(parse_bp_measurement(h("04 7800 5000 5D00 0000")), **IDS)
    assert reading.pulse_bpm is None and reading.systolic_mmhg == 120.0
    assert "pulse_bpm" in caplog.text


def test_naive_measured_at_is_a_programming_error() -> None:
    m = parse_bp_measurement(h("00 7800 5000 5D00"))
    with pytest.raises(ValueError, match="timezone"):
        bp_to_reading(
            m, gateway_id="gw-1", device_id="bp-1", seq=7, measured_at=datetime(2024, 3, 15)
        )


GLUCOSE_FULL = h("1B 0500 E807030F072D00 F1FF 5FB0 11 0000")
CONTEXT_FULL = h("FF 0500 00 01 32D0 01 51 0807 32 01 04D0 41F0")


def test_glucose_with_context() -> None:
    m = parse_glucose_measurement(GLUCOSE_FULL)
    reading = glucose_to_reading(m, context=parse_glucose_context(CONTEXT_FULL), **IDS)
    assert reading.glucose_mmol_l == pytest.approx(95 / 18.016)
    assert reading.sample_type is SampleType.CAPILLARY_WHOLE_BLOOD
    assert reading.sample_location is SampleLocation.FINGER
    assert reading.meter_seq == 5
    assert reading.context is not None
    assert reading.context.meal is Meal.PREPRANDIAL
    assert reading.context.carbohydrate_g == pytest.approx(50.0)
    assert reading.context.exercise_minutes == 30
    assert reading.context.hba1c_percent == pytest.approx(6.5)
    assert decode_reading(encode_reading(reading)) == reading


def test_glucose_mol_per_l() -> None:
    m = parse_glucose_measurement(h("06 0201 E8070101000500 37C0 22"))
    reading = glucose_to_reading(m, **IDS)
    assert reading.glucose_mmol_l == pytest.approx(5.5)
    assert reading.sample_location is SampleLocation.ALTERNATE_SITE_TEST
    assert reading.context is None


def test_glucose_annunciations_are_carried() -> None:
    reading = glucose_to_reading(parse_glucose_measurement(glucose_status_frame(0x0801)), **IDS)
    assert reading.annunciations == {
        SensorAnnunciation.BATTERY_LOW,
        SensorAnnunciation.TIME_FAULT,
    }


@pytest.mark.parametrize("type_location", [0xFA, 0x41, 0x4A])
def test_control_solution_is_kept_out(type_location: int) -> None:
    frame = h("02 0800 E807030F072D00 5FB0") + bytes([type_location])
    m = parse_glucose_measurement(frame)
    with pytest.raises(ControlSolutionSample) as caught:
        glucose_to_reading(m, **IDS)
    assert caught.value.measurement is m
    assert not isinstance(caught.value, MeasurementUnusable)


def test_control_solution_wins_over_special_values() -> None:
    # NaN concentration on a control-solution record is still a meter check, not a bad reading.
    m = parse_glucose_measurement(h("02 0800 E807030F072D00 FF07 4A"))
    with pytest.raises(ControlSolutionSample):
        glucose_to_reading(m, **IDS)


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (h("02 0C00 E807030F072D00 FF07 11"), "NAN"),
        (h("02 0D00 E807030F072D00 0008 11"), "NRES"),
        (h("02 0D00 E807030F072D00 FE07 11"), "POSITIVE_INFINITY"),
        (h("00 0700 E807030F072D00"), "absent"),
        (h("02 0B00 E807030F072D00 5FB0 10"), "sample type 0"),
        (h("02 0B00 E807030F072D00 5FB0 1B"), "sample type 11"),
        (h("02 0B00 E807030F072D00 5FB0 B1"), "sample location 11"),
        (h("02 0B00 E807030F072D00 5FB0 51"), "sample location 5"),
        # 0x0000 = 0 kg/L: not a plausible glucose
        (h("02 0B00 E807030F072D00 0000 11"), "glucose_mmol_l"),
    ],
)
def test_glucose_unusable(frame: bytes, reason: str) -> None:
    with pytest.raises(MeasurementUnusable, match=reason):
        glucose_to_reading(parse_glucose_measurement(frame), **IDS)


def test_context_special_and_out_of_range_fields_are_omitted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    m = parse_glucose_measurement(GLUCOSE_FULL)
    # C3: carbohydrate (bit0) + meal (bit1) + HbA1c (bit6); sequence 5
    # carbohydrate id 1, 0x07FF NaN; meal 2 postprandial; HbA1c 0x0063 = 99 % (> 25, dropped)
    context = parse_glucose_context(h("43 0500 01 FF07 02 6300"))
    with caplog.at_level(logging.WARNING):
        reading = glucose_to_reading(m, context=context, **IDS)
    assert reading.context is not None
    assert reading.context.meal is Meal.POSTPRANDIAL
    assert reading.context.carbohydrate_g is None
    assert reading.context.hba1c_percent is None
    assert "hba1c_percent" in caplog.text


def test_context_with_nothing_usable_is_omitted() -> None:
    m = parse_glucose_measurement(GLUCOSE_FULL)
    # 08: exercise overrun 0xFFFF → omitted; nothing else
    reading = glucose_to_reading(m, context=parse_glucose_context(h("08 0500 FFFF 50")), **IDS)
    assert reading.context is None


def test_context_of_another_record_is_refused() -> None:
    m = parse_glucose_measurement(GLUCOSE_FULL)
    with pytest.raises(ValueError, match="does not belong"):
        glucose_to_reading(m, context=parse_glucose_context(h("00 0600")), **IDS)
