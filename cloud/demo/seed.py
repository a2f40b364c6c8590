"""What the demo database starts with: accounts, patients and their meters, wards and on-call.

Patients get a home gateway and meters bound to them (the device ids the demo gateways are
configured with), so ingest accepts their readings. Two wards share the patients; the demo
nurse is on call (tier 1) for both from an hour ago for a week, a backup nurse is tier 2, and
the default escalation policy pages the backup one minute after an unacknowledged critical
alert, so escalation shows within a demo run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from cloud.auth.models import Role
from cloud.auth.service import create_user, get_by_username
from cloud.db import transaction
from cloud.demo.scenario import PATIENTS, DemoPatient
from cloud.devices import service as devices
from cloud.devices.schemas import DeviceCreate, DeviceKind, GatewayCreate
from cloud.oncall import service as oncall
from cloud.patients import service as patients
from cloud.patients.schemas import PatientCreate

log = logging.getLogger(__name__)

ADMIN_USERNAME = "admin"
NURSE_USERNAME = "nurse"
BACKUP_NURSE_USERNAME = "nurse2"
DEMO_ACTOR = "demo-seed"
WARD_TIMEZONE = "Asia/Shanghai"
#: Ward name → the MRNs of its patients.
WARDS: dict[str, tuple[str, ...]] = {
    "Cardiology home care 心内科居家监护": ("DEMO-0001", "DEMO-0003"),
    "Diabetes home care 糖尿病居家护理": ("DEMO-0002", "DEMO-0004"),
}
DEMO_POLICY = "Demo: backup paged after 1 min (critical)"
#: Tier 1 at once; tier 2 after 5 min (critical: 1 min); then tier 2 again every 15 (2) min.
DEMO_POLICY_LEVELS = [
    {"tier": 1, "delay_minutes": 0, "critical_delay_minutes": 0},
    {"tier": 2, "delay_minutes": 5, "critical_delay_minutes": 1},
]
SHIFT_BEFORE = timedelta(hours=1)
SHIFT_AFTER = timedelta(days=7)


@dataclass(frozen=True)
class OnCall:
    """The seeded rota: ward ids by name and nurse ids by username."""

    ward_ids: dict[str, int]
    nurse_ids: dict[str, int]


def seed(
    factory: sessionmaker[Session],
    *,
    admin_password: str,
    nurse_password: str,
    bound_from: datetime,
    demo_patients: tuple[DemoPatient, ...] = PATIENTS,
) -> dict[str, int]:
    """Accounts, patients, gateways, meters and bindings of the demo; return patient ids by mrn."""
    ids: dict[str, int] = {}
    with transaction(factory) as session:
        create_user(
            session,
            username=ADMIN_USERNAME,
            password=admin_password,
            role=Role.ADMIN,
            display_name="Demo administrator",
        )
        create_user(
            session,
            username=NURSE_USERNAME,
            password=nurse_password,
            role=Role.NURSE,
            display_name="王芳 Wang Fang (on call)",
        )
        for demo_patient in demo_patients:
            patient = patients.create(
                session,
                data=PatientCreate(
                    mrn=demo_patient.mrn,
                    name=demo_patient.name,
                    birth_date=demo_patient.birth_date,
                ),
                actor=DEMO_ACTOR,
            )
            ids[demo_patient.mrn] = patient.id
            devices.register_gateway(
                session,
                data=GatewayCreate(
                    id=demo_patient.gateway_id, name=f"Home of {demo_patient.name_en}"
                ),
                actor=DEMO_ACTOR,
            )
            for meter in demo_patient.meters:
                devices.register_device(
                    session,
                    gateway_id=demo_patient.gateway_id,
                    data=DeviceCreate(
                        id=meter.device_id,
                        kind=DeviceKind(meter.kind),
                        ble_address=meter.ble_address,
                        model=meter.model,
                        serial=meter.serial,
                    ),
                    actor=DEMO_ACTOR,
                )
                devices.bind(
                    session,
                    device_id=meter.device_id,
                    patient_id=patient.id,
                    valid_from=bound_from,
                    actor=DEMO_ACTOR,
                )
    log.info("seeded %d patients, their gateways and meters, and 2 accounts", len(ids))
    return ids


def seed_on_call(
    factory: sessionmaker[Session],
    *,
    patient_ids: dict[str, int],
    backup_password: str,
    now: datetime,
) -> OnCall:
    """Wards with the demo patients, the demo nurse on call (tier 1), a backup (tier 2)."""
    with transaction(factory) as session:
        policy = oncall.save_policy(
            session,
            policy_id=None,
            name=DEMO_POLICY,
            levels=DEMO_POLICY_LEVELS,
            repeat_minutes=15,
            critical_repeat_minutes=2,
            is_default=True,
            actor=DEMO_ACTOR,
        )
        ward_ids: dict[str, int] = {}
        for name, mrns in WARDS.items():
            ward = oncall.create_ward(
                session,
                name=name,
                timezone=WARD_TIMEZONE,
                escalation_policy_id=policy.id,
                actor=DEMO_ACTOR,
            )
            ward_ids[name] = ward.id
            for mrn in mrns:
                if mrn in patient_ids:
                    oncall.assign_patient(
                        session, patient_id=patient_ids[mrn], ward_id=ward.id, actor=DEMO_ACTOR
                    )
        backup = create_user(
            session,
            username=BACKUP_NURSE_USERNAME,
            password=backup_password,
            role=Role.NURSE,
            display_name="陈静 Chen Jing (backup)",
        )
        on_call = get_by_username(session, username=NURSE_USERNAME)
        if on_call is None:
            raise LookupError(f"seed() creates {NURSE_USERNAME!r} first")
        nurse_ids: dict[str, int] = {}
        first_ward = next(iter(ward_ids.values()))
        for user, tier in ((on_call, 1), (backup, 2)):
            nurse = oncall.create_nurse(
                session,
                user_id=user.id,
                ward_id=first_ward,
                phone=None,  # no paging webhook in the demo: console (WebSocket) only
                mqtt_enabled=False,
                actor=DEMO_ACTOR,
            )
            nurse_ids[user.username] = nurse.id
            for ward_id in ward_ids.values():
                oncall.create_shift(
                    session,
                    ward_id=ward_id,
                    nurse_id=nurse.id,
                    tier=tier,
                    starts_at=now - SHIFT_BEFORE,
                    ends_at=now + SHIFT_AFTER,
                    actor=DEMO_ACTOR,
                )
    log.info("seeded %d wards and 2 nurses on call", len(ward_ids))
    return OnCall(ward_ids, nurse_ids)
