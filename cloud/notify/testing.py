"""A seeded ward for tests and screenshots: two nurses on call, patients with two meters each."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from cloud.auth.models import Role
from cloud.auth.service import create_user
from cloud.db import transaction
from cloud.devices.models import Device, DeviceBinding, Gateway
from cloud.oncall.models import EscalationPolicy, Nurse, PatientWard, Shift, Ward
from cloud.patients.models import Patient
from cloud.tsdb.base import ReadingPoint, ReadingStore

PASSWORD = "console-test-pw"


@dataclass(frozen=True)
class SeededWard:
    """Ids and logins of a seeded ward (every user's password is ``PASSWORD``)."""

    ward_id: int
    primary_nurse_id: int
    backup_nurse_id: int
    patient_id: int
    gateway_id: str
    bp_device_id: str
    glucose_device_id: str
    primary_username: str = "ann"
    backup_username: str = "bob"


def seed_ward(
    sessions: sessionmaker[Session],
    *,
    now: datetime,
    name: str = "Cardiology",
    prefix: str = "",
    gateway_id: str = "gw1",
    mqtt_enabled: bool = False,
    phone: str | None = None,
    critical_delay_minutes: float | None = None,
) -> SeededWard:
    """A ward (Asia/Shanghai) with nurse ann (tier 1) and bob (tier 2) on call around now and
    patient Wang Fang with a BP and a glucose meter on gateway_id. With critical_delay_minutes
    the ward gets its own policy: tier 2 after that many minutes (fractions allowed: 0.05 is
    3 s) for critical alerts."""
    with transaction(sessions) as session:
        policy_id = None
        if critical_delay_minutes is not None:
            policy = EscalationPolicy(
                name=f"{name} policy",
                levels=[
                    {"tier": 1, "delay_minutes": 0, "critical_delay_minutes": 0},
                    {
                        "tier": 2,
                        "delay_minutes": 15,
                        "critical_delay_minutes": critical_delay_minutes,
                    },
                ],  # fmt: skip
                repeat_minutes=15,
                critical_repeat_minutes=5,
            )
            session.add(policy)
            session.flush()
            policy_id = policy.id
        ward = Ward(name=name, timezone="Asia/Shanghai", escalation_policy_id=policy_id)
        session.add(ward)
        session.flush()
        nurse_ids = []
        for username, display, tier in ((f"{prefix}ann", "Ann Li 李安", 1),
                                        (f"{prefix}bob", "Bob Chen 陈波", 2)):  # fmt: skip
            user = create_user(session, username=username, password=PASSWORD, role=Role.NURSE,
                               display_name=display)  # fmt: skip
            nurse = Nurse(user_id=user.id, ward_id=ward.id, phone=phone, mqtt_enabled=mqtt_enabled)
            session.add(nurse)
            session.flush()
            session.add(
                Shift(ward_id=ward.id, nurse_id=nurse.id, tier=tier,
                      starts_at=now - timedelta(hours=2), ends_at=now + timedelta(hours=10),
                      timezone=ward.timezone, created_by="test")
            )  # fmt: skip
            nurse_ids.append(nurse.id)
        patient_id, devices = _add_patient(
            session, ward_id=ward.id, now=now, mrn=f"{prefix}MRN-0001", name="王芳 Wang Fang",
            birth_date=date(1948, 5, 17), gateway_id=gateway_id,
        )  # fmt: skip
        return SeededWard(
            ward_id=ward.id,
            primary_nurse_id=nurse_ids[0],
            backup_nurse_id=nurse_ids[1],
            patient_id=patient_id,
            gateway_id=gateway_id,
            bp_device_id=devices[0],
            glucose_device_id=devices[1],
            primary_username=f"{prefix}ann",
            backup_username=f"{prefix}bob",
        )


def seed_patient(
    sessions: sessionmaker[Session],
    ward: SeededWard,
    *,
    now: datetime,
    mrn: str,
    name: str,
    birth_date: date,
    gateway_id: str,
) -> SeededWard:
    """Another patient of ward with a BP and a glucose meter on a new gateway_id; the result is
    ward with this patient's ids (for seed_history and publishing)."""
    with transaction(sessions) as session:
        patient_id, devices = _add_patient(
            session, ward_id=ward.ward_id, now=now, mrn=mrn, name=name, birth_date=birth_date,
            gateway_id=gateway_id,
        )  # fmt: skip
    return replace(ward, patient_id=patient_id, gateway_id=gateway_id,
                   bp_device_id=devices[0], glucose_device_id=devices[1])  # fmt: skip


def _add_patient(
    session: Session,
    *,
    ward_id: int,
    now: datetime,
    mrn: str,
    name: str,
    birth_date: date,
    gateway_id: str,
) -> tuple[int, tuple[str, str]]:
    """A patient in ward_id with a gateway and two meters bound; (patient id, meter ids)."""
    patient = Patient(mrn=mrn, name=name, birth_date=birth_date)
    session.add(patient)
    session.add(Gateway(id=gateway_id, name=gateway_id, mqtt_password_hash="-",
                        last_seen_at=now - timedelta(minutes=3)))  # fmt: skip
    session.flush()
    session.add(PatientWard(patient_id=patient.id, ward_id=ward_id, updated_by="test"))
    devices = (
        ("blood_pressure", f"bp-{gateway_id}", "AA:BB:CC:00:00:01", "Omron HEM-7600T"),
        ("glucose", f"glu-{gateway_id}", "AA:BB:CC:00:00:02", "Accu-Chek Guide"),
    )
    for kind, device_id, address, model in devices:
        session.add(Device(id=device_id, gateway_id=gateway_id, kind=kind, ble_address=address,
                           model=model, last_seen_at=now - timedelta(minutes=42)))  # fmt: skip
        session.flush()
        session.add(
            DeviceBinding(
                device_id=device_id, patient_id=patient.id, valid_from=now - timedelta(days=120)
            )
        )
    return patient.id, (devices[0][1], devices[1][1])


def seed_history(store: ReadingStore, ward: SeededWard, *, now: datetime, days: int = 90) -> int:
    """A plausible 90 days of readings (BP each morning, glucose 4x/day) with seqs < 100000."""
    points = []
    for day in range(days, 0, -1):
        morning = (now - timedelta(days=day)).replace(hour=0, minute=30, second=0, microsecond=0)
        wave = math.sin(day / 6)
        points.append(
            ReadingPoint(ward.gateway_id, ward.bp_device_id, 10_000 + day, "blood_pressure",
                         morning, ward.patient_id,
                         {"systolic_mmhg": round(148 + 14 * wave + (day % 5), 1),
                          "diastolic_mmhg": round(88 + 8 * wave + (day % 3), 1),
                          "pulse_bpm": 70.0 + day % 9})
        )  # fmt: skip
        for slot in range(4):
            points.append(
                ReadingPoint(ward.gateway_id, ward.glucose_device_id, 20_000 + day * 4 + slot,
                             "glucose", morning + timedelta(hours=slot * 4), ward.patient_id,
                             {"glucose_mmol_l": round(7.5 + 2.5 * math.sin(day / 4 + slot), 1)})
            )  # fmt: skip
    store.write(points)
    return len(points)
