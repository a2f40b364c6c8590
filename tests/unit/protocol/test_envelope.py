"""Payload envelope v1: valid readings round-trip, everything else is refused with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from protocol.envelope import (
    BloodPressureReading,
    GlucoseReading,
    PayloadError,
    decode_reading,
    encode_reading,
    reading_json_schema,
)

REPO = Path(__file__).resolve().parents[3]
BP = {
    "v": 1,
    "gateway_id": "gw-1",
    "device_id": "bp-1",
    "seq": 42,
    "kind": "blood_pressure",
    "measured_at": "2026-11-26T07:30:00+08:00",
    "systolic_mmhg": 128.5,
    "diastolic_mmhg": 82,
    "map_mmhg": 97.5,
    "pulse_bpm": 71,
    "status": {"cuff_too_loose": True, "pulse_range": "above"},
}
GLUCOSE = {
    "v": 1,
    "gateway_id": "gw-1",
    "device_id": "glu-1",
    "seq": 7,
    "kind": "glucose",
    "measured_at": "2026-11-26T06:00:00Z",
    "glucose_mmol_l": 2.8,
    "sample_type": "capillary_plasma",
    "annunciations": ["battery_low"],
    "context": {"meal": "fasting"},
}


def test_blood_pressure_round_trip() -> None:
    reading = decode_reading(json.dumps(BP).encode())
    assert isinstance(reading, BloodPressureReading)
    assert reading.key == ("gw-1", "bp-1", 42)
    assert reading.measured_at == datetime(2026, 11, 25, 23, 30, tzinfo=UTC)
    assert reading.status.cuff_too_loose and reading.status.pulse_range == "above"
    assert decode_reading(encode_reading(reading)) == reading


def test_glucose_round_trip() -> None:
    reading = decode_reading(json.dumps(GLUCOSE))
    assert isinstance(reading, GlucoseReading)
    assert reading.glucose_mmol_l == 2.8
    assert "battery_low" in reading.annunciations
    assert decode_reading(encode_reading(reading)) == reading


@pytest.mark.parametrize(
    ("change", "reason_part"),
    [
        ({"v": 2}, "unsupported payload version 2"),
        ({"v": "1"}, "unsupported payload version"),
        ({"v": True}, "unsupported payload version"),
        ({"kind": "weight"}, "unknown reading kind"),
        ({"measured_at": "2026-11-26T07:30:00"}, "timezone"),
        ({"systolic_mmhg": "NaN"}, "finite"),
        ({"systolic_mmhg": -5}, "systolic_mmhg"),
        ({"seq": -1}, "seq"),
        ({"seq": 2**63}, "seq"),
        ({"gateway_id": "gw/1"}, "gateway_id"),
        ({"extra": 1}, "extra"),
        ({"status": {"pulse_range": "sideways"}}, "pulse_range"),
    ],
)
def test_invalid_readings_have_reasons(change: dict[str, object], reason_part: str) -> None:
    with pytest.raises(PayloadError) as error:
        decode_reading(json.dumps({**BP, **change}))
    assert reason_part in error.value.reason


@pytest.mark.parametrize(
    "payload",
    [b"", b"\xff\xfe", b"not json", b"[1,2]", b"null", b"{", b"1e999", b"x" * 20000],
)
def test_garbage_is_refused(payload: bytes) -> None:
    with pytest.raises(PayloadError):
        decode_reading(payload)


def test_exported_schema_is_current() -> None:
    exported = json.loads((REPO / "protocol/schema/reading-v1.schema.json").read_text())
    assert exported == reading_json_schema(), "run: caredge schema export"
