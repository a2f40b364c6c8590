"""API shapes of kiosk devices, identification, patient sessions, kiosk views and feedback.

Views meant for kiosk screens carry masked names and numbers, never the full ones.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cloud.hospital.models import AppointmentStatus
from cloud.hospital.schemas import DepartmentRead

_INPUT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class KioskCreate(BaseModel):
    """A kiosk to register."""

    model_config = _INPUT

    name: str = Field(min_length=1, max_length=100)
    location: str = Field(default="", max_length=200)


class KioskUpdate(BaseModel):
    """Changes to a kiosk; ``active: false`` revokes its token and ends its sessions."""

    model_config = _INPUT

    name: str | None = Field(default=None, min_length=1, max_length=100)
    location: str | None = Field(default=None, max_length=200)
    active: bool | None = None


class KioskRead(BaseModel):
    """A registered kiosk (never its token)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    location: str
    active: bool
    created_at: datetime
    last_seen_at: datetime | None


class KioskWithToken(KioskRead):
    """A kiosk and its new device token: shown once, store it on the kiosk."""

    device_token: str


class KioskError(BaseModel):
    """An error a kiosk shows in the patient's language, chosen by ``code``."""

    detail: str
    code: str = Field(description="qr_invalid, qr_expired, no_match, locked, cancelled, not_today")
    retry_after_s: int | None = None


class IdentifyByQr(BaseModel):
    """The text a barcode scanner typed from the appointment message's QR code."""

    model_config = _INPUT

    code: str = Field(min_length=1, max_length=200)


class IdentifyByNumber(BaseModel):
    """Patient number and date of birth from the on-screen keypad."""

    model_config = _INPUT

    patient_number: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9 -]+$")
    birth_date: date


class SessionPatient(BaseModel):
    """Who is identified, masked for the screen."""

    name_masked: str = Field(examples=["张*三", "Wang F***"])
    patient_number_masked: str = Field(examples=["100***0001"])


class SessionRead(BaseModel):
    """The current patient session."""

    method: Literal["qr", "patient_number"]
    expires_at: datetime
    patient: SessionPatient


class IdentifyResponse(SessionRead):
    """A new patient session; send ``session_token`` as the bearer of patient endpoints."""

    session_token: str


class KioskAppointment(BaseModel):
    """An appointment on the kiosk screen."""

    id: int
    department: DepartmentRead
    clinician_name_zh: str | None
    clinician_name_en: str | None
    clinician_title_zh: str | None
    clinician_title_en: str | None
    starts_at: datetime
    ends_at: datetime
    visit_date: date
    status: AppointmentStatus
    queue_number: int | None
    ticket: str | None
    can_check_in: bool


class KioskCheckIn(BaseModel):
    """The queue ticket to print; ``repeated`` if the patient had already checked in."""

    appointment: KioskAppointment
    ticket: str
    queue_number: int
    repeated: bool


class FeedbackCreate(BaseModel):
    """A 1–5 rating and an optional comment."""

    model_config = _INPUT

    rating: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=500)
    language: Literal["zh", "en", ""] = ""


class FeedbackRead(BaseModel):
    """A stored piece of feedback."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kiosk_id: int
    rating: int
    comment: str
    language: str
    created_at: datetime


class FeedbackPage(BaseModel):
    """Newest feedback first, the count and the mean rating of all feedback."""

    items: list[FeedbackRead]
    total: int
    mean_rating: float | None
    limit: int
    offset: int
