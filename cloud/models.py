"""Imports every SQL model so ``Base.metadata`` is complete (Alembic, tests)."""

from __future__ import annotations

from cloud.alerts.models import (
    Alert,
    AlertReading,
    MonitoringSchedule,
    PatientLastReading,
    PatientThresholds,
)
from cloud.audit.models import AuditEntry
from cloud.auth.models import User
from cloud.db import Base
from cloud.deadletters.models import DeadLetter
from cloud.devices.models import Device, DeviceBinding, Gateway
from cloud.oncall.models import (
    EscalationPolicy,
    EscalationState,
    Notification,
    Nurse,
    PatientWard,
    Shift,
    Ward,
)
from cloud.patients.models import Patient
from cloud.readings.models import ReadingKey
from cloud.tsdb.sql_models import TsReading

__all__ = [
    "Alert",
    "AlertReading",
    "AuditEntry",
    "Base",
    "DeadLetter",
    "Device",
    "DeviceBinding",
    "EscalationPolicy",
    "EscalationState",
    "Gateway",
    "MonitoringSchedule",
    "Notification",
    "Nurse",
    "Patient",
    "PatientLastReading",
    "PatientThresholds",
    "PatientWard",
    "ReadingKey",
    "Shift",
    "TsReading",
    "User",
    "Ward",
]
