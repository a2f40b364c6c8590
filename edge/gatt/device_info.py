"""Battery Level (0x2A19), Device Information strings (0x2A24-0x2A29), Blood Pressure Feature
(0x2A49) and Glucose Feature (0x2A51).

- Battery Level: u8 percent, 0..100 (Battery Service 1.0 §3.1); 101..255 are reserved.
- Device Information strings (Device Information Service 1.1 §3): UTF-8 without terminator.
  Meters often pad with NULs, so trailing NULs are stripped; invalid UTF-8 is an error.
- Blood Pressure Feature: u16 (Blood Pressure Service 1.1 §3.3). bit0 body movement detection,
  bit1 cuff fit detection, bit2 irregular pulse detection, bit3 pulse rate range detection,
  bit4 measurement position detection, bit5 multiple bonds; higher bits RFU (ignored).
- Glucose Feature: u16 (Glucose Service 1.0 §3.3). bit0 low battery detection, bit1 sensor
  malfunction detection, bit2 sample size, bit3 strip insertion error detection, bit4 strip
  type error detection, bit5 result high-low detection, bit6 temperature high-low detection,
  bit7 read interrupt detection, bit8 general device fault, bit9 time fault, bit10 multiple
  bonds; bits 11-15 RFU (ignored).

All four are fixed-size reads: a value of another length raises GattFormatError.
"""

from __future__ import annotations

from enum import IntFlag

from edge.gatt.sfloat import FrameReader

BATTERY_LEVEL_MAX = 100


class BloodPressureFeature(IntFlag):
    """Blood Pressure Feature (0x2A49) bits: which status bits the meter can report."""

    BODY_MOVEMENT_DETECTION = 0x0001
    CUFF_FIT_DETECTION = 0x0002
    IRREGULAR_PULSE_DETECTION = 0x0004
    PULSE_RATE_RANGE_DETECTION = 0x0008
    MEASUREMENT_POSITION_DETECTION = 0x0010
    MULTIPLE_BONDS = 0x0020


class GlucoseFeature(IntFlag):
    """Glucose Feature (0x2A51) bits: which sensor annunciations the meter can report."""

    LOW_BATTERY_DETECTION = 0x0001
    SENSOR_MALFUNCTION_DETECTION = 0x0002
    SENSOR_SAMPLE_SIZE = 0x0004
    STRIP_INSERTION_ERROR_DETECTION = 0x0008
    STRIP_TYPE_ERROR_DETECTION = 0x0010
    RESULT_HIGH_LOW_DETECTION = 0x0020
    TEMPERATURE_HIGH_LOW_DETECTION = 0x0040
    READ_INTERRUPT_DETECTION = 0x0080
    GENERAL_DEVICE_FAULT = 0x0100
    TIME_FAULT = 0x0200
    MULTIPLE_BONDS = 0x0400


_BP_FEATURE_MASK = sum(BloodPressureFeature)
_GLUCOSE_FEATURE_MASK = sum(GlucoseFeature)


def parse_battery_level(data: bytes | bytearray) -> int:
    """Parse Battery Level (0x2A19): percent 0..100."""
    reader = FrameReader(data, "Battery Level")
    level = reader.u8("level")
    reader.finish()
    if level > BATTERY_LEVEL_MAX:
        raise reader.error(f"level {level} outside 0..{BATTERY_LEVEL_MAX}")
    return level


def parse_device_info_string(data: bytes | bytearray) -> str:
    """Parse a Device Information string (manufacturer, model, serial, firmware revision)."""
    raw = bytes(data)
    try:
        return raw.rstrip(b"\x00").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FrameReader(raw, "Device Information").error(f"not UTF-8: {exc.reason}") from exc


def parse_bp_feature(data: bytes | bytearray) -> BloodPressureFeature:
    """Parse Blood Pressure Feature (0x2A49); RFU bits are dropped."""
    reader = FrameReader(data, "Blood Pressure Feature")
    bits = reader.u16("features")
    reader.finish()
    return BloodPressureFeature(bits & _BP_FEATURE_MASK)


def parse_glucose_feature(data: bytes | bytearray) -> GlucoseFeature:
    """Parse Glucose Feature (0x2A51); RFU bits are dropped."""
    reader = FrameReader(data, "Glucose Feature")
    bits = reader.u16("features")
    reader.finish()
    return GlucoseFeature(bits & _GLUCOSE_FEATURE_MASK)
