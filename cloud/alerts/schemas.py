"""API shapes of alerts, their readings, patient thresholds and monitoring schedules."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class AlertStateParam(StrEnum):
    """Alert states as query values."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class SeverityParam(StrEnum):
    """Severities as query values."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class AlertRead(BaseModel):
    """An alert with its lifecycle: who acknowledged or resolved it, when, and why."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    patient_id: int
    rule_id: str
    severity: str
    category: str
    kind: str | None
    state: str
    message_en: str
    message_zh: str
    first_value: float | None
    last_value: float | None
    opened_at: datetime
    updated_at: datetime
    first_reading_at: datetime | None
    last_reading_at: datetime | None
    readings_count: int
    clear_since: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    acknowledge_note: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolve_note: str | None
    auto_resolved: bool


class AlertNote(BaseModel):
    """The responder's note with an acknowledgement or resolution."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: str | None = Field(default=None, max_length=2000)


class AlertReadingRead(BaseModel):
    """A breaching reading attached to an alert, with its values in clinical units."""

    gateway_id: str
    device_id: str
    seq: int
    measured_at: datetime
    value: float | None
    values: dict[str, float | str | list[str] | None]


class ThresholdsRead(BaseModel):
    """A patient's overrides and the thresholds in effect (defaults merged with overrides)."""

    patient_id: int
    overrides: dict[str, float]
    effective: dict[str, float]
    updated_by: str | None
    updated_at: datetime | None


class ThresholdsUpdate(BaseModel):
    """The complete set of overrides (an empty object restores the defaults)."""

    model_config = ConfigDict(extra="forbid")

    overrides: dict[str, float]


class ScheduleRead(BaseModel):
    """How often the patient should measure one kind; stale after max_gap_minutes."""

    model_config = ConfigDict(from_attributes=True)

    kind: str
    readings_per_day: int
    grace_minutes: int
    enabled: bool
    is_default: bool
    max_gap_minutes: int
    updated_by: str | None
    updated_at: datetime | None


class ScheduleUpdate(BaseModel):
    """A patient's schedule of one kind."""

    model_config = ConfigDict(extra="forbid")

    readings_per_day: int = Field(ge=1, le=48)
    grace_minutes: int = Field(ge=0, le=7 * 24 * 60)
    enabled: bool = True
