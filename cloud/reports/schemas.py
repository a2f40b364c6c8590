"""API shapes of reports, lab items and print jobs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from cloud.reports.flags import FLAGS, reference_text
from cloud.reports.models import LabItem, PrintStatus, ReportKind

_INPUT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LabItemCreate(BaseModel):
    """One analyte: a number (flagged against the range) or a qualitative text with its flag."""

    model_config = _INPUT

    code: str = Field(min_length=1, max_length=32)
    name_zh: str = Field(min_length=1, max_length=100)
    name_en: str = Field(min_length=1, max_length=100)
    value: float | None = Field(default=None, allow_inf_nan=False)
    value_text: str | None = Field(default=None, max_length=64)
    unit: str = Field(default="", max_length=32)
    ref_low: float | None = Field(default=None, allow_inf_nan=False)
    ref_high: float | None = Field(default=None, allow_inf_nan=False)
    ref_text: str = Field(default="", max_length=64)
    flag: str | None = Field(
        default=None, description="only for qualitative results: 'A' abnormal or ''"
    )

    @model_validator(mode="after")
    def _consistent(self) -> LabItemCreate:
        if (self.value is None) == (self.value_text is None):
            raise ValueError("give exactly one of value (numeric) and value_text (qualitative)")
        if self.ref_low is not None and self.ref_high is not None and self.ref_low > self.ref_high:
            raise ValueError("ref_low must not exceed ref_high")
        if self.flag is not None:
            if self.value is not None:
                raise ValueError("numeric results are flagged from their reference range")
            if self.flag not in FLAGS:
                raise ValueError(f"flag must be one of {list(FLAGS)}")
        return self


class ReportCreate(BaseModel):
    """A finished report: a lab panel with items, or an imaging report with text."""

    model_config = _INPUT

    patient_id: int
    appointment_id: int | None = None
    department_id: int | None = None
    clinician_id: int | None = None
    kind: ReportKind
    title_zh: str = Field(min_length=1, max_length=200)
    title_en: str = Field(min_length=1, max_length=200)
    reported_at: AwareDatetime
    modality: str | None = Field(default=None, max_length=16, examples=["DR", "CT", "US"])
    findings: str | None = Field(default=None, max_length=10_000)
    impression: str | None = Field(default=None, max_length=10_000)
    items: list[LabItemCreate] = Field(default_factory=list, max_length=200)

    @field_validator("reported_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    @model_validator(mode="after")
    def _shape_matches_kind(self) -> ReportCreate:
        if self.kind == ReportKind.LAB:
            if not self.items:
                raise ValueError("a lab report needs at least one item")
            if self.findings or self.impression or self.modality:
                raise ValueError("a lab report has items, not findings, impression or modality")
        else:
            if self.items:
                raise ValueError("an imaging report has findings and impression, not items")
            if not (self.findings or self.impression):
                raise ValueError("an imaging report needs findings or an impression")
        return self


class LabItemRead(BaseModel):
    """An analyte as printed: value, unit, range and flag."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    name_zh: str
    name_en: str
    value: float | None
    value_text: str | None
    unit: str
    ref_low: float | None
    ref_high: float | None
    ref_text: str
    flag: str

    @classmethod
    def of(cls, item: LabItem) -> LabItemRead:
        """The view of a stored item; ref_text defaults to the numeric range."""
        view = cls.model_validate(item)
        if not view.ref_text:
            view.ref_text = reference_text(item.ref_low, item.ref_high)
        return view


class ReportContent(BaseModel):
    """What a report says, and how often it was printed (only confirmed prints count)."""

    id: int
    kind: ReportKind
    title_zh: str
    title_en: str
    reported_at: datetime
    department_name_zh: str | None
    department_name_en: str | None
    modality: str | None
    findings: str | None
    impression: str | None
    items: list[LabItemRead]
    abnormal_count: int
    printed_count: int
    last_printed_at: datetime | None


class ReportRead(ReportContent):
    """A report as staff see it."""

    patient_id: int
    appointment_id: int | None
    department_id: int | None
    clinician_id: int | None


class PrintJobRead(BaseModel):
    """One print attempt."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    report_id: int
    kiosk_id: int | None
    status: PrintStatus
    requested_by: str
    requested_at: datetime
    finished_at: datetime | None
    error: str | None


class PrintResult(BaseModel):
    """What the printer said: the job printed, or failed with a reason."""

    model_config = _INPUT

    outcome: Literal["printed", "failed"]
    error: str | None = Field(default=None, max_length=500)
