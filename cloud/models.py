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
from cloud.billing.models import Bill, BillLine
from cloud.db import Base
from cloud.deadletters.models import DeadLetter
from cloud.devices.models import Device, DeviceBinding, Gateway
from cloud.hospital.models import Appointment, Clinician, Department, QueueCounter
from cloud.kiosk.models import Feedback, IdentifyFailure, Kiosk, PatientSession
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
from cloud.reports.models import LabItem, PrintJob, Report
from cloud.tsdb.sql_models import TsReading

__all__ = [
    "Alert",
    "AlertReading",
    "Appointment",
    "AuditEntry",
    "Base",
    "Bill",
    "BillLine",
    "Clinician",
    "DeadLetter",
    "Department",
    "Device",
    "DeviceBinding",
    "EscalationPolicy",
    "EscalationState",
    "Feedback",
    "Gateway",
    "IdentifyFailure",
    "Kiosk",
    "LabItem",
    "MonitoringSchedule",
    "Notification",
    "Nurse",
    "Patient",
    "PatientLastReading",
    "PatientSession",
    "PatientThresholds",
    "PatientWard",
    "PrintJob",
    "QueueCounter",
    "ReadingKey",
    "Report",
    "Shift",
    "TsReading",
    "User",
    "Ward",
]
