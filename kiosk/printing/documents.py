"""What the kiosk prints, as plain data: lab and imaging reports and queue tickets (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")


@dataclass(frozen=True)
class Bilingual:
    """A text in Chinese and English, as the API returns names and titles."""

    zh: str
    en: str

    def in_(self, language: Language) -> str:
        """The text in language, or the other one when that is empty."""
        text = self.zh if language == "zh" else self.en
        return text or self.en or self.zh


class Flag(StrEnum):
    """Abnormal flag of a lab result, as laboratories print it."""

    HIGH = "H"
    LOW = "L"
    ABNORMAL = "A"
    NORMAL = ""


@dataclass(frozen=True)
class Patient:
    """The patient as the report prints them: full name (the printout is their own)."""

    name: str
    number: str
    sex: str = ""
    age: str = ""


@dataclass(frozen=True)
class LabItem:
    """One analyte: the result as printed ("5.6", "阴性"), unit, reference range and flag."""

    code: str
    name: Bilingual
    result: str
    unit: str = ""
    reference_range: str = ""
    flag: Flag = Flag.NORMAL


@dataclass(frozen=True)
class LabPanel:
    """A group of analytes measured together (blood count, liver function …)."""

    title: Bilingual
    items: tuple[LabItem, ...]


@dataclass(frozen=True)
class LabReport:
    """A finished lab report of one patient."""

    hospital: Bilingual
    report_number: str
    patient: Patient
    reported_at: datetime
    panels: tuple[LabPanel, ...]
    department: Bilingual | None = None

    def __post_init__(self) -> None:
        if not self.panels or not all(panel.items for panel in self.panels):
            raise ValueError("a lab report needs at least one panel, each with items")


@dataclass(frozen=True)
class ImagingReport:
    """A finished imaging text report (findings and impression) of one patient."""

    hospital: Bilingual
    report_number: str
    patient: Patient
    reported_at: datetime
    title: Bilingual
    findings: str
    impression: str
    modality: str = ""
    department: Bilingual | None = None
    radiologist: str = ""

    def __post_init__(self) -> None:
        if not (self.findings.strip() or self.impression.strip()):
            raise ValueError("an imaging report needs findings or an impression")


@dataclass(frozen=True)
class QueueTicket:
    """A queue ticket: it lies around in the lobby, so it carries a masked name only."""

    hospital: Bilingual
    department: Bilingual
    number: str
    patient_masked_name: str
    issued_at: datetime
    waiting_ahead: int | None = None

    def __post_init__(self) -> None:
        if not self.number.strip():
            raise ValueError("a queue ticket needs a number")
        if "*" not in self.patient_masked_name:
            raise ValueError("a queue ticket prints a masked name (张*三), never the full name")
