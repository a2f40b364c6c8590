"""API answers to what the printers print: reports and queue tickets (no I/O)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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

Json = dict[str, Any]


def parse_time(text: str) -> datetime:
    """An API timestamp ("…Z" or with an offset) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def result_text(item: Json) -> str:
    """A lab result as printed: the qualitative text, or the number without trailing zeros."""
    if item.get("value_text"):
        return str(item["value_text"])
    value = item.get("value")
    return "" if value is None else f"{float(value):g}"


def _department(report: Json) -> Bilingual | None:
    zh, en = report.get("department_name_zh") or "", report.get("department_name_en") or ""
    return Bilingual(zh, en) if zh or en else None


def report_document(
    report: Json, *, hospital: Bilingual, patient: Patient
) -> LabReport | ImagingReport:
    """The printable report from ``GET /api/v1/kiosk/reports`` (ValueError if it is empty)."""
    title = Bilingual(report["title_zh"], report["title_en"])
    number = f"R{int(report['id']):08d}"
    reported_at = parse_time(report["reported_at"])
    if report["kind"] == "lab":
        items = tuple(
            LabItem(
                code=item["code"],
                name=Bilingual(item["name_zh"], item["name_en"]),
                result=result_text(item),
                unit=item.get("unit") or "",
                reference_range=item.get("ref_text") or "",
                flag=Flag(item.get("flag") or ""),
            )
            for item in report["items"]
        )
        return LabReport(
            hospital=hospital,
            report_number=number,
            patient=patient,
            reported_at=reported_at,
            panels=(LabPanel(title=title, items=items),),
            department=_department(report),
        )
    return ImagingReport(
        hospital=hospital,
        report_number=number,
        patient=patient,
        reported_at=reported_at,
        title=title,
        findings=report.get("findings") or "",
        impression=report.get("impression") or "",
        modality=report.get("modality") or "",
        department=_department(report),
    )


def queue_ticket(
    check_in: Json, *, hospital: Bilingual, masked_name: str, issued_at: datetime
) -> QueueTicket:
    """The queue ticket of a ``POST …/check-in`` answer."""
    department = check_in["appointment"]["department"]
    return QueueTicket(
        hospital=hospital,
        department=Bilingual(department["name_zh"], department["name_en"]),
        number=check_in["ticket"],
        patient_masked_name=masked_name,
        issued_at=issued_at,
    )
