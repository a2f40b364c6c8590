"""API shapes of reading history: raw points and aggregated buckets."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel


class ReadingKind(StrEnum):
    """Kinds of stored readings."""

    BLOOD_PRESSURE = "blood_pressure"
    GLUCOSE = "glucose"


class ReadingRead(BaseModel):
    """One stored reading with its values in clinical units."""

    gateway_id: str
    device_id: str
    seq: int
    kind: ReadingKind
    measured_at: datetime
    values: dict[str, float]


class FieldStatsRead(BaseModel):
    """Minimum, mean and maximum of one field in a bucket."""

    min: float
    mean: float
    max: float


class BucketRead(BaseModel):
    """Readings of one kind in [start, start + every), summarised per field."""

    start: datetime
    kind: ReadingKind
    count: int
    fields: dict[str, FieldStatsRead]
