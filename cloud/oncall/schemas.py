"""API shapes of wards, nurses, shifts, escalation policies and on-call lookups."""

from __future__ import annotations

from datetime import date, datetime, time

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator


class WardCreate(BaseModel):
    """A ward to create; timezone is an IANA name such as Asia/Shanghai."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    timezone: str = Field(min_length=1, max_length=64)
    escalation_policy_id: int | None = None


class WardUpdate(BaseModel):
    """Changes to a ward; escalation_policy_id null means the default policy."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, min_length=1, max_length=100)
    timezone: str | None = Field(default=None, min_length=1, max_length=64)
    escalation_policy_id: int | None = None


class WardRead(BaseModel):
    """A ward."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    timezone: str
    escalation_policy_id: int | None
    created_at: datetime


class PatientWardUpdate(BaseModel):
    """The ward responsible for a patient's alerts."""

    model_config = ConfigDict(extra="forbid")

    ward_id: int


class PatientWardRead(BaseModel):
    """A patient's ward assignment."""

    model_config = ConfigDict(from_attributes=True)

    patient_id: int
    ward_id: int
    updated_by: str
    updated_at: datetime


class NurseCreate(BaseModel):
    """Make a user (role nurse or admin) a nurse who can be on call."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: int
    ward_id: int | None = None
    phone: str | None = Field(default=None, max_length=32)
    mqtt_enabled: bool = False


class NurseUpdate(BaseModel):
    """Changes to a nurse; omitted fields stay."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    ward_id: int | None = None
    phone: str | None = Field(default=None, max_length=32)
    mqtt_enabled: bool | None = None
    active: bool | None = None

    @field_validator("mqtt_enabled", "active")
    @classmethod
    def _not_null(cls, value: bool | None) -> bool:
        """null would mean "neither": refuse it (omit the field to keep the value)."""
        if value is None:
            raise ValueError("must be true or false; omit the field to keep it")
        return value


class NurseRead(BaseModel):
    """A nurse and where to reach them."""

    id: int
    user_id: int
    username: str
    display_name: str
    ward_id: int | None
    phone: str | None
    mqtt_enabled: bool
    mqtt_topic: str
    active: bool


class ShiftCreate(BaseModel):
    """An on-call shift; times with a UTC offset, stored in UTC."""

    model_config = ConfigDict(extra="forbid")

    ward_id: int
    nurse_id: int
    tier: int = Field(default=1, ge=1, le=9)
    starts_at: AwareDatetime
    ends_at: AwareDatetime


class RotaCreate(BaseModel):
    """Daily shifts at the ward's local wall-clock times (end <= start: overnight)."""

    model_config = ConfigDict(extra="forbid")

    ward_id: int
    nurse_id: int
    tier: int = Field(default=1, ge=1, le=9)
    first_day: date
    days: int = Field(ge=1, le=366)
    start: time
    end: time


class ShiftRead(BaseModel):
    """A shift in UTC, with its start and end in the ward's local time for display."""

    id: int
    ward_id: int
    nurse_id: int
    tier: int
    starts_at: datetime
    ends_at: datetime
    timezone: str
    starts_local: str
    ends_local: str
    created_by: str


class LevelIn(BaseModel):
    """One escalation level."""

    model_config = ConfigDict(extra="forbid")

    tier: int = Field(ge=1, le=9)
    #: Fractional minutes are allowed (0.5 = 30 s); the scheduler ticks once a second.
    delay_minutes: float = Field(ge=0, le=24 * 60, allow_inf_nan=False)
    critical_delay_minutes: float = Field(ge=0, le=24 * 60, allow_inf_nan=False)


class PolicyWrite(BaseModel):
    """An escalation policy."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    levels: list[LevelIn] = Field(min_length=1, max_length=9)
    repeat_minutes: int = Field(default=15, ge=0, le=24 * 60)
    critical_repeat_minutes: int = Field(default=5, ge=0, le=24 * 60)
    is_default: bool = False


class PolicyRead(BaseModel):
    """An escalation policy."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    levels: list[LevelIn]
    repeat_minutes: int
    critical_repeat_minutes: int
    is_default: bool


class OnCallRead(BaseModel):
    """A nurse on call for a ward at an instant."""

    nurse: NurseRead
    tier: int
    shift_id: int
    ends_at: datetime
    ends_local: str
