"""``caredge seed --demo``: a realistic demo hospital with zh and en names.

Departments, clinicians, patients, today's appointments (plus one yesterday and one
tomorrow), bills, lab and imaging reports, and one kiosk whose device token is returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.billing import service as billing_service
from cloud.billing.schemas import BillCreate, BillLineCreate
from cloud.errors import ConflictError
from cloud.hospital import service
from cloud.hospital.days import day_end, local_day
from cloud.hospital.models import Appointment, Department
from cloud.hospital.schemas import AppointmentCreate, ClinicianCreate, DepartmentCreate
from cloud.kiosk import service as kiosk_service
from cloud.kiosk.qr_tokens import derive_key, make_qr_token
from cloud.patients.models import Patient
from cloud.reports import service as reports_service
from cloud.reports.models import ReportKind
from cloud.reports.schemas import LabItemCreate, ReportCreate

ACTOR = "seed"

DEPARTMENTS = [
    (
        "CARD",
        "心血管内科",
        "Cardiology",
        "门诊楼 3 层 A 区",
        "Outpatient Building, 3F, Zone A",
        "C",
    ),
    (
        "ENDO",
        "内分泌科",
        "Endocrinology",
        "门诊楼 3 层 B 区",
        "Outpatient Building, 3F, Zone B",
        "E",
    ),
    (
        "GIM",
        "全科医学科",
        "General Internal Medicine",
        "门诊楼 2 层",
        "Outpatient Building, 2F",
        "G",
    ),
    ("LAB", "检验科", "Laboratory", "门诊楼 1 层 东侧", "Outpatient Building, 1F, East", "L"),
    ("RAD", "放射科", "Radiology", "医技楼 1 层", "Medical Technology Building, 1F", "R"),
]
CLINICIANS = [
    ("CARD", "李建国", "Li Jianguo", "主任医师", "Chief Physician"),
    ("CARD", "Sarah Miller", "Sarah Miller", "副主任医师", "Associate Chief Physician"),
    ("ENDO", "王丽华", "Wang Lihua", "主任医师", "Chief Physician"),
    ("GIM", "陈志明", "Chen Zhiming", "主治医师", "Attending Physician"),
    ("RAD", "赵敏", "Zhao Min", "副主任医师", "Associate Chief Physician"),
]
#: (patient number, name, date of birth); numbers are digits for the kiosk keypad.
PATIENTS = [
    ("1000000001", "张小三", date(1948, 3, 2)),
    ("1000000002", "王芳", date(1956, 11, 20)),
    ("1000000003", "欧阳明华", date(1962, 7, 15)),
    ("1000000004", "Wang Fang", date(1971, 1, 9)),
    ("1000000005", "Mary Smith", date(1950, 5, 30)),
]


@dataclass
class DemoHospital:
    """What the seed made that a person needs to try the kiosk."""

    kiosk_name: str
    kiosk_token: str
    patients: list[tuple[str, str, date]]
    #: (appointment id, patient number, local start, department, QR code text)
    appointments: list[tuple[int, str, str, str, str]] = field(default_factory=list)


def _local(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=zone)


def _lab_items(glucose: float, hba1c: float, ldl: float) -> list[LabItemCreate]:
    return [
        LabItemCreate(
            code="GLU",
            name_zh="空腹血糖",
            name_en="Fasting glucose",
            value=glucose,
            unit="mmol/L",
            ref_low=3.9,
            ref_high=6.1,
        ),
        LabItemCreate(
            code="HBA1C",
            name_zh="糖化血红蛋白",
            name_en="HbA1c",
            value=hba1c,
            unit="%",
            ref_low=4.0,
            ref_high=6.0,
        ),
        LabItemCreate(
            code="TC",
            name_zh="总胆固醇",
            name_en="Total cholesterol",
            value=4.6,
            unit="mmol/L",
            ref_high=5.2,
        ),
        LabItemCreate(
            code="LDL-C",
            name_zh="低密度脂蛋白胆固醇",
            name_en="LDL cholesterol",
            value=ldl,
            unit="mmol/L",
            ref_high=3.4,
        ),
        LabItemCreate(
            code="CREA",
            name_zh="肌酐",
            name_en="Creatinine",
            value=68,
            unit="µmol/L",
            ref_low=45,
            ref_high=84,
        ),
        LabItemCreate(
            code="UPRO",
            name_zh="尿蛋白",
            name_en="Urine protein",
            value_text="阴性 (−)",
            ref_text="阴性",
            flag="",
        ),
    ]


def seed_demo(session: Session, *, now: datetime, zone: ZoneInfo, secret: str) -> DemoHospital:
    """Fill an empty hospital; ConflictError if the demo departments already exist."""
    if session.scalar(select(Department.id).where(Department.code == DEPARTMENTS[0][0])):
        raise ConflictError("the demo hospital is already seeded (department CARD exists)")
    departments = {}
    for code, name_zh, name_en, location_zh, location_en, prefix in DEPARTMENTS:
        departments[code] = service.create_department(
            session,
            data=DepartmentCreate(
                code=code,
                name_zh=name_zh,
                name_en=name_en,
                location_zh=location_zh,
                location_en=location_en,
                queue_prefix=prefix,
            ),
            actor=ACTOR,
        )
    clinicians = {}
    for code, name_zh, name_en, title_zh, title_en in CLINICIANS:
        clinicians[name_en] = service.create_clinician(
            session,
            data=ClinicianCreate(
                department_id=departments[code].id,
                name_zh=name_zh,
                name_en=name_en,
                title_zh=title_zh,
                title_en=title_en,
            ),
            actor=ACTOR,
        )
    patients = {}
    for mrn, name, birth in PATIENTS:
        existing = session.scalars(select(Patient).where(Patient.mrn == mrn)).one_or_none()
        patients[mrn] = existing or Patient(mrn=mrn, name=name, birth_date=birth)
        session.add(patients[mrn])
    session.flush()

    kiosk, token = kiosk_service.create_kiosk(
        session, name="lobby-1", location="门诊大厅 Outpatient Hall", actor=ACTOR
    )
    result = DemoHospital(kiosk_name=kiosk.name, kiosk_token=token, patients=PATIENTS)
    today = local_day(now, zone)
    key = derive_key(secret)
    slots = [
        ("1000000001", "CARD", "Li Jianguo", today, 9, 0),
        ("1000000001", "LAB", None, today, 8, 0),
        ("1000000002", "ENDO", "Wang Lihua", today, 9, 30),
        ("1000000003", "GIM", "Chen Zhiming", today, 10, 0),
        ("1000000004", "CARD", "Sarah Miller", today, 14, 0),
        ("1000000005", "RAD", "Zhao Min", today, 15, 30),
        ("1000000002", "ENDO", "Wang Lihua", today - timedelta(days=1), 10, 0),
        ("1000000005", "CARD", "Sarah Miller", today + timedelta(days=1), 9, 0),
    ]
    appointments: dict[str, Appointment] = {}
    for mrn, code, clinician, day, hour, minute in slots:
        starts = _local(day, hour, minute, zone)
        appointment = service.create_appointment(
            session,
            data=AppointmentCreate(
                patient_id=patients[mrn].id,
                department_id=departments[code].id,
                clinician_id=clinicians[clinician].id if clinician else None,
                starts_at=starts,
                ends_at=starts + timedelta(minutes=30),
            ),
            zone=zone,
            actor=ACTOR,
        )
        appointments.setdefault(mrn, appointment)
        qr = make_qr_token(appointment_id=appointment.id, expires_at=day_end(day, zone), key=key)
        result.appointments.append(
            (appointment.id, mrn, starts.strftime("%Y-%m-%d %H:%M"), code, qr)
        )

    for number, (mrn, lines) in enumerate(
        [
            (
                "1000000001",
                [
                    (
                        "consultation",
                        "心血管内科主任医师诊查费",
                        "Cardiology consultation (chief)",
                        1,
                        5000,
                        3000,
                    ),
                    ("lab", "血脂四项", "Lipid panel", 1, 8800, 6160),
                    ("lab", "糖化血红蛋白测定", "HbA1c test", 1, 6000, 4200),
                    ("drug", "苯磺酸氨氯地平片 5mg×28", "Amlodipine 5 mg ×28", 2, 2350, 1880),
                ],
            ),
            (
                "1000000002",
                [
                    ("consultation", "内分泌科诊查费", "Endocrinology consultation", 1, 3000, 1800),
                    ("drug", "二甲双胍缓释片 0.5g×30", "Metformin XR 0.5 g ×30", 1, 2680, 2144),
                ],
            ),
            (
                "1000000005",
                [("imaging", "胸部 DR 正位片", "Chest X-ray (DR, PA view)", 1, 12000, 8400)],
            ),
        ],
        start=1,
    ):
        billing_service.create_bill(
            session,
            data=BillCreate(
                number=f"B{today:%Y%m%d}-{number:04d}",
                patient_id=patients[mrn].id,
                appointment_id=appointments[mrn].id,
                lines=[
                    BillLineCreate(
                        category=c,
                        description_zh=zh,
                        description_en=en,
                        quantity=q,
                        unit_price_cents=p,
                        insurance_cents=i,
                    )
                    for c, zh, en, q, p, i in lines
                ],
            ),
            now=now,
            actor=ACTOR,
        )
    billing_service.mark_paid(
        session,
        bill_id=billing_service.list_bills(session, patient_id=patients["1000000002"].id)[0].id,
        now=now,
        actor=ACTOR,
    )

    reported = now - timedelta(hours=2)
    for mrn, glucose, hba1c, ldl in (
        ("1000000001", 7.8, 7.2, 3.9),
        ("1000000002", 5.4, 5.8, 2.6),
        ("1000000004", 3.5, 5.1, 2.1),
    ):
        reports_service.create_report(
            session,
            data=ReportCreate(
                patient_id=patients[mrn].id,
                department_id=departments["LAB"].id,
                kind=ReportKind.LAB,
                title_zh="生化检验报告",
                title_en="Clinical chemistry",
                reported_at=reported,
                items=_lab_items(glucose, hba1c, ldl),
            ),
            actor=ACTOR,
        )
    for mrn in ("1000000001", "1000000005"):
        reports_service.create_report(
            session,
            data=ReportCreate(
                patient_id=patients[mrn].id,
                department_id=departments["RAD"].id,
                clinician_id=clinicians["Zhao Min"].id,
                kind=ReportKind.IMAGING,
                title_zh="胸部 X 线检查报告",
                title_en="Chest X-ray report",
                reported_at=reported - timedelta(days=1),
                modality="DR",
                findings="双肺纹理清晰，未见明显实质性病变。心影大小形态正常。双侧膈面光整，肋膈角锐利。",
                impression="胸部正位片未见明显异常。",
            ),
            actor=ACTOR,
        )
    return result
