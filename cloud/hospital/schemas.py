"""API shapes of departments, clinicians, appointments and check-ins (staff views)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from cloud.hospital.models import AppointmentStatus

_INPUT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DepartmentCreate(BaseModel):
    """A department to add."""

    model_config = _INPUT

    code: str = Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")
    name_zh: str = Field(min_length=1, max_length=100)
    name_en: str = Field(min_length=1, max_length=100)
    location_zh: str = Field(default="", max_length=200)
    location_en: str = Field(default="", max_length=200)
    queue_prefix: str = Field(min_length=1, max_length=4, pattern=r"^[A-Z]+$")


class DepartmentRead(BaseModel):
    """A department and where to find it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name_zh: str
    name_en: str
    location_zh: str
    location_en: str
    queue_prefix: str
    active: bool


class ClinicianCreate(BaseModel):
    """A clinician to add to a department."""

    model_config = _INPUT

    department_id: int
    name_zh: str = Field(min_length=1, max_length=100)
    name_en: str = Field(min_length=1, max_length=100)
    title_zh: str = Field(default="", max_length=50)
    title_en: str = Field(default="", max_length=50)


class ClinicianRead(BaseModel):
    """A clinician."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    department_id: int
    name_zh: str
    name_en: str
    title_zh: str
    title_en: str
    active: bool


class AppointmentCreate(BaseModel):
    """A time slot to book; times carry a UTC offset."""

    model_config = _INPUT

    patient_id: int
    department_id: int
    clinician_id: int | None = None
    starts_at: AwareDatetime
    ends_at: AwareDatetime

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    @model_validator(mode="after")
    def _ends_after_start(self) -> AppointmentCreate:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class AppointmentRead(BaseModel):
    """An appointment as staff see it; ``ticket`` is set once checked in."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    patient_id: int
    department_id: int
    clinician_id: int | None
    starts_at: datetime
    ends_at: datetime
    visit_date: date
    status: AppointmentStatus
    queue_number: int | None
    ticket: str | None = None
    checked_in_at: datetime | None
    checked_in_by: str | None


class CheckInRead(BaseModel):
    """The outcome of a check-in; ``repeated`` when the appointment was already checked in."""

    appointment: AppointmentRead
    ticket: str
    queue_number: int
    repeated: bool


class QrTokenRead(BaseModel):
    """The token to put in the appointment message's QR code."""

    token: str
    expires_at: datetime
