"""The demo homes' pure parts: a demo reading as a meter stores it, a gateway's settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from cloud.demo.home import (
    DEMO_PASSKEY,
    HomeError,
    bp_measurement,
    gateway_settings,
    meter_clock,
    store_reading,
)
from cloud.demo.scenario import PATIENTS
from edge.gatt.blood_pressure import parse_bp_measurement
from firmware_sim.meters import encoding
from firmware_sim.meters.blood_pressure import BloodPressureMeter
from firmware_sim.meters.glucose import GlucoseMeter
from protocol.envelope import (
    BloodPressureReading,
    BloodPressureStatus,
    GlucoseContext,
    GlucoseReading,
    Meal,
)

AT = datetime(2026, 11, 20, 6, 30, 15, 123456, tzinfo=UTC)


def _bp(**status: bool) -> BloodPressureReading:
    return BloodPressureReading(
        gateway_id="gw-zhang-wei",
        device_id="bp-zhang-wei",
        seq=1,
        measured_at=AT,
        systolic_mmhg=185,
        diastolic_mmhg=125,
        map_mmhg=145.3,
        pulse_bpm=86,
        status=BloodPressureStatus(**status),
    )


def _glucose() -> GlucoseReading:
    return GlucoseReading(
        gateway_id="gw-maria-garcia",
        device_id="glu-maria-garcia",
        seq=1,
        measured_at=AT,
        glucose_mmol_l=2.8,
        meter_seq=1,
        context=GlucoseContext(meal=Meal.BEDTIME),
    )


def test_meter_clock_is_local_wall_time_to_the_second() -> None:
    shown = meter_clock(AT)
    assert shown.tzinfo is None and shown.microsecond == 0
    assert shown.astimezone(UTC) == AT.replace(microsecond=0)  # naive = this machine's zone
    assert meter_clock(AT.astimezone(timezone(timedelta(hours=8)))) == shown
    with pytest.raises(ValueError, match="timezone-aware"):
        meter_clock(datetime(2026, 1, 1))


def test_a_bp_reading_becomes_the_frame_the_gateway_decodes_back() -> None:
    stored = bp_measurement(_bp(cuff_too_loose=True))
    frame = encoding.bp_measurement(stored)
    parsed = parse_bp_measurement(frame)
    values = (parsed.systolic, parsed.diastolic, parsed.mean_arterial_pressure, parsed.pulse_rate)
    assert [v.value for v in values if v is not None] == [185, 125, 145.3, 86]
    assert parsed.status is not None and parsed.status.cuff_too_loose
    assert not parsed.status.body_movement
    assert parsed.timestamp == meter_clock(AT)


def test_meters_store_the_reading_of_their_kind_only() -> None:
    bp = BloodPressureMeter(name="bp", address="C4:7F:51:0A:01:01")
    glucose = GlucoseMeter(name="glu", address="C4:7F:51:0A:02:02")
    store_reading(bp, _bp())
    store_reading(glucose, _glucose())
    assert len(bp.pending) == 1
    (record,) = glucose.records
    assert record.unit_mol_per_l and record.concentration == pytest.approx(0.0028)
    assert record.context is not None and record.context.meal == encoding.Meal.BEDTIME
    with pytest.raises(HomeError, match="cannot take a glucose reading"):
        store_reading(bp, _glucose())


def test_gateway_settings_name_every_meter_of_the_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAREDGE_OUTBOX_PATH", "/elsewhere/outbox.db")  # must not leak in
    monkeypatch.setenv("CAREDGE_MQTT_CLIENT_ID", "shared")
    patient = PATIENTS[0]
    settings = gateway_settings(
        patient, mqtt_url="mqtt://gw@127.0.0.1:1883", mqtt_protocol="3.1.1", var_dir=tmp_path
    )
    assert settings.gateway_id == patient.gateway_id
    assert settings.mqtt_protocol == "3.1.1"
    assert settings.mqtt_client_id == f"caredge-gw-{patient.gateway_id}"
    assert settings.outbox_file == tmp_path / f"gateway-{patient.gateway_id}" / "outbox.db"
    assert settings.device_ids == {m.ble_address: m.device_id for m in patient.meters}
    assert settings.ble_passkey == DEMO_PASSKEY
