"""Imports every SQL model so ``Base.metadata`` is complete (Alembic, tests)."""

from __future__ import annotations

from cloud.audit.models import AuditEntry
from cloud.auth.models import User
from cloud.db import Base
from cloud.deadletters.models import DeadLetter
from cloud.devices.models import Device, DeviceBinding, Gateway
from cloud.patients.models import Patient
from cloud.readings.models import ReadingKey
from cloud.tsdb.sql_models import TsReading

__all__ = [
    "AuditEntry",
    "Base",
    "DeadLetter",
    "Device",
    "DeviceBinding",
    "Gateway",
    "Patient",
    "ReadingKey",
    "TsReading",
    "User",
]
