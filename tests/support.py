"""Helpers shared by integration tests: seeding a home, publishing readings, waiting."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy.orm import Session, sessionmaker

from cloud.db import transaction
from cloud.devices.models import Device, DeviceBinding, Gateway
from cloud.patients.models import Patient
from protocol.envelope import BloodPressureReading, GlucoseReading, encode_reading
from protocol.topics import GatewayTopic

T0 = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)


def seed_home(
    factory: sessionmaker[Session], gateway_id: str = "gw1", patient_mrn: str = "P0001"
) -> int:
    """A patient with a BP meter bp-<gw> and a glucose meter glu-<gw> on gateway_id."""
    with transaction(factory) as session:
        patient = Patient(mrn=patient_mrn, name="Test Patient", birth_date=date(1950, 1, 2))
        session.add(patient)
        session.add(Gateway(id=gateway_id, name=gateway_id, mqtt_password_hash="-"))
        session.flush()
        for kind, prefix, address in (
            ("blood_pressure", "bp", "AA:BB:CC:00:00:01"),
            ("glucose", "glu", "AA:BB:CC:00:00:02"),
        ):
            device_id = f"{prefix}-{gateway_id}"
            session.add(Device(id=device_id, gateway_id=gateway_id, kind=kind, ble_address=address))
            session.flush()
            session.add(
                DeviceBinding(
                    device_id=device_id,
                    patient_id=patient.id,
                    valid_from=T0 - timedelta(days=365),
                )
            )
        return patient.id


def readings(
    gateway_id: str, count: int, *, start_seq: int = 1
) -> list[BloodPressureReading | GlucoseReading]:
    """count readings alternating BP and glucose, one minute apart, with varied values."""
    made: list[BloodPressureReading | GlucoseReading] = []
    for seq in range(start_seq, start_seq + count):
        at = T0 + timedelta(minutes=seq)
        if seq % 2:
            made.append(
                BloodPressureReading(
                    gateway_id=gateway_id,
                    device_id=f"bp-{gateway_id}",
                    seq=seq,
                    measured_at=at,
                    systolic_mmhg=100 + seq % 90,
                    diastolic_mmhg=60 + seq % 50 + 0.5,
                    map_mmhg=80 + (seq % 7) / 10,
                    pulse_bpm=55 + seq % 40,
                )
            )
        else:
            made.append(
                GlucoseReading(
                    gateway_id=gateway_id,
                    device_id=f"glu-{gateway_id}",
                    seq=seq,
                    measured_at=at,
                    glucose_mmol_l=round(3 + (seq % 120) / 10, 1),
                )
            )
    return made


def reading_messages(
    items: Iterable[BloodPressureReading | GlucoseReading],
) -> list[tuple[str, bytes]]:
    """(topic, payload) pairs as a gateway would publish them."""
    return [(str(GatewayTopic(r.gateway_id, "reading")), encode_reading(r)) for r in items]


def publish(port: int, messages: Iterable[tuple[str, bytes]], client_id: str = "test-pub") -> int:
    """Publish at QoS 1 and wait for every PUBACK; return the number acknowledged."""
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id)
    client.max_inflight_messages_set(100)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=30)
        return sum(1 for info in infos if info.is_published())
    finally:
        client.disconnect()
        client.loop_stop()


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, every: float = 0.1) -> None:
    """Poll predicate until true; raise AssertionError with the timeout otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")
