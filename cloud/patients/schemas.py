"""API shapes of patients."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class PatientCreate(BaseModel):
    """A patient to register."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    mrn: str = Field(min_length=1, max_length=32, description="hospital patient number")
    name: str = Field(min_length=1, max_length=200)
    birth_date: date


class PatientRead(BaseModel):
    """A registered patient."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    mrn: str
    name: str
    birth_date: date
    created_at: datetime
