"""UUID constants and helpers."""

from __future__ import annotations

import pytest

from edge.gatt import const, uuid16_to_str, uuid_str_to16


def test_uuid16_to_str() -> None:
    assert uuid16_to_str(0x2A35) == "00002a35-0000-1000-8000-00805f9b34fb"
    assert uuid16_to_str(const.SERVICE_GLUCOSE) == "00001808-0000-1000-8000-00805f9b34fb"


def test_uuid_str_to16() -> None:
    assert uuid_str_to16("00002A35-0000-1000-8000-00805F9B34FB") == 0x2A35
    assert uuid_str_to16("6e400001-b5a3-f393-e0a9-e50e24dcca9e") is None


@pytest.mark.parametrize("bad", [-1, 0x10000])
def test_uuid16_range(bad: int) -> None:
    with pytest.raises(ValueError):
        uuid16_to_str(bad)


def test_assigned_numbers() -> None:
    expected = {
        "SERVICE_BLOOD_PRESSURE": 0x1810,
        "SERVICE_GLUCOSE": 0x1808,
        "SERVICE_CURRENT_TIME": 0x1805,
        "SERVICE_BATTERY": 0x180F,
        "SERVICE_DEVICE_INFORMATION": 0x180A,
        "CHAR_BLOOD_PRESSURE_MEASUREMENT": 0x2A35,
        "CHAR_INTERMEDIATE_CUFF_PRESSURE": 0x2A36,
        "CHAR_BLOOD_PRESSURE_FEATURE": 0x2A49,
        "CHAR_GLUCOSE_MEASUREMENT": 0x2A18,
        "CHAR_GLUCOSE_MEASUREMENT_CONTEXT": 0x2A34,
        "CHAR_GLUCOSE_FEATURE": 0x2A51,
        "CHAR_RECORD_ACCESS_CONTROL_POINT": 0x2A52,
        "CHAR_CURRENT_TIME": 0x2A2B,
        "CHAR_BATTERY_LEVEL": 0x2A19,
        "CHAR_MANUFACTURER_NAME": 0x2A29,
        "CHAR_MODEL_NUMBER": 0x2A24,
        "CHAR_SERIAL_NUMBER": 0x2A25,
        "CHAR_FIRMWARE_REVISION": 0x2A26,
    }
    assert {name: getattr(const, name) for name in expected} == expected
