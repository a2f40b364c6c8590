"""Reports and tickets as the kiosk gets them from the API, shared by the printing tests."""

from __future__ import annotations

from datetime import UTC, datetime

from kiosk.printing.documents import (
    Bilingual,
    Flag,
    ImagingReport,
    LabItem,
    LabPanel,
    LabReport,
    Patient,
    QueueTicket,
)

HOSPITAL = Bilingual("示范医院", "Demo Hospital")
PATIENT = Patient(name="张三丰", number="P000123", sex="男", age="67")
REPORTED_AT = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
CREATED_AT = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def lab_report(*, flagged: bool = True) -> LabReport:
    """A blood count with a high and a low value, and a urinalysis with an abnormal result."""
    high, low, abnormal = (Flag.HIGH, Flag.LOW, Flag.ABNORMAL) if flagged else (Flag.NORMAL,) * 3
    blood = LabPanel(
        Bilingual("血常规", "Complete blood count"),
        (
            LabItem("WBC", Bilingual("白细胞计数", "White blood cells"), "11.2", "10^9/L",
                    "3.5–9.5", high),
            LabItem("HGB", Bilingual("血红蛋白", "Haemoglobin"), "102", "g/L", "130–175", low),
            LabItem("PLT", Bilingual("血小板计数", "Platelets"), "210", "10^9/L", "125–350"),
        ),
    )  # fmt: skip
    urine = LabPanel(
        Bilingual("尿常规", "Urinalysis"),
        (LabItem("PRO", Bilingual("尿蛋白", "Urine protein"), "阳性(+)", "", "阴性", abnormal),),
    )
    return LabReport(
        hospital=HOSPITAL,
        report_number="L20261127-0001",
        patient=PATIENT,
        reported_at=REPORTED_AT,
        department=Bilingual("内分泌科", "Endocrinology"),
        panels=(blood, urine),
    )


def imaging_report(
    findings: str = "双肺纹理清晰，未见明显实变影。心影大小形态正常。",
) -> ImagingReport:
    """A chest X-ray text report."""
    return ImagingReport(
        hospital=HOSPITAL,
        report_number="I20261127-0007",
        patient=PATIENT,
        reported_at=REPORTED_AT,
        title=Bilingual("胸部正位片", "Chest X-ray PA"),
        findings=findings,
        impression="胸部未见明显异常。",
        modality="DR",
        radiologist="李医生",
    )


def queue_ticket() -> QueueTicket:
    """Ticket A012 at endocrinology for 张*丰."""
    return QueueTicket(
        hospital=HOSPITAL,
        department=Bilingual("内分泌科", "Endocrinology"),
        number="A012",
        patient_masked_name="张*丰",
        issued_at=datetime(2026, 11, 27, 9, 5),
        waiting_ahead=3,
    )
