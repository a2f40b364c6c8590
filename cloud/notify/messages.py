"""What a notification says: one JSON document per (notification, alert), for every channel."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alerts.models import Alert
from cloud.alerts.schemas import AlertRead
from cloud.oncall.models import Notification, Nurse, PatientWard
from cloud.patients.models import Patient

SCHEMA_VERSION = 1


def alert_views(session: Session, alerts: list[Alert]) -> list[dict[str, Any]]:
    """Alerts as JSON-ready dicts with patient name, MRN and ward, in two extra queries."""
    if not alerts:
        return []
    patient_ids = sorted({alert.patient_id for alert in alerts})
    patients = {
        row.id: row for row in session.scalars(select(Patient).where(Patient.id.in_(patient_ids)))
    }
    wards = dict(
        session.execute(
            select(PatientWard.patient_id, PatientWard.ward_id).where(
                PatientWard.patient_id.in_(patient_ids)
            )
        ).all()
    )
    views = []
    for alert in alerts:
        patient = patients.get(alert.patient_id)
        view = AlertRead.model_validate(alert).model_dump(mode="json")
        view["patient_name"] = patient.name if patient else None
        view["patient_mrn"] = patient.mrn if patient else None
        view["ward_id"] = wards.get(alert.patient_id)
        views.append(view)
    return views


def notification_message(
    notification: Notification, alert: dict[str, Any], nurse: Nurse | None
) -> dict[str, Any]:
    """The message of one notification; receivers de-duplicate by ``notification_id``."""
    return {
        "v": SCHEMA_VERSION,
        "type": "notification",
        "notification_id": notification.id,
        "event": notification.event,
        "level": notification.level,
        "nurse_id": notification.nurse_id,
        "phone": nurse.phone if nurse is not None else None,
        "alert": alert,
    }


def encode(message: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON (Chinese text kept readable)."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
