"""Battery Level, Device Information strings, BP Feature and Glucose Feature."""

from __future__ import annotations

import pytest

from edge.gatt import (
    BloodPressureFeature,
    GattFormatError,
    GlucoseFeature,
    parse_battery_level,
    parse_bp_feature,
    parse_device_info_string,
    parse_glucose_feature,
)


@pytest.mark.parametrize(("frame", "level"), [(b"\x00", 0), (b"\x55", 85), (b"\x64", 100)])
def test_battery_level(frame: bytes, level: int) -> None:
    assert parse_battery_level(frame) == level


@pytest.mark.parametrize("frame", [b"", b"\x65", b"\xff", b"\x50\x00"])
def test_battery_level_rejects(frame: bytes) -> None:
    with pytest.raises(GattFormatError):
        parse_battery_level(frame)


def test_device_info_strings() -> None:
    assert parse_device_info_string(b"caredge-sim") == "caredge-sim"
    # NUL padding, as some meters send, is stripped.
    assert parse_device_info_string(b"BP-100\x00\x00") == "BP-100"
    assert parse_device_info_string("血压计".encode()) == "血压计"
    assert parse_device_info_string(b"") == ""
    with pytest.raises(GattFormatError, match="UTF-8"):
        parse_device_info_string(b"\xff\xfe")


def test_bp_feature() -> None:
    # 0x0025 = bit0 body movement | bit2 irregular pulse | bit5 multiple bonds
    features = parse_bp_feature(bytes.fromhex("2500"))
    assert features == (
        BloodPressureFeature.BODY_MOVEMENT_DETECTION
        | BloodPressureFeature.IRREGULAR_PULSE_DETECTION
        | BloodPressureFeature.MULTIPLE_BONDS
    )
    # RFU bits 6-15 are dropped: 0xFFC0 → nothing.
    assert parse_bp_feature(bytes.fromhex("C0FF")) == BloodPressureFeature(0)


def test_glucose_feature() -> None:
    # 0x0401 = bit0 low battery | bit10 multiple bonds (second byte carries bits 8-15)
    features = parse_glucose_feature(bytes.fromhex("0104"))
    assert features == GlucoseFeature.LOW_BATTERY_DETECTION | GlucoseFeature.MULTIPLE_BONDS
    assert parse_glucose_feature(bytes.fromhex("FF07")) == GlucoseFeature(0x07FF)
    assert parse_glucose_feature(bytes.fromhex("00F8")) == GlucoseFeature(0)


@pytest.mark.parametrize("frame", [b"", b"\x01", b"\x01\x00\x00"])
def test_features_are_exactly_two_bytes(frame: bytes) -> None:
    with pytest.raises(GattFormatError):
        parse_bp_feature(frame)
    with pytest.raises(GattFormatError):
        parse_glucose_feature(frame)
