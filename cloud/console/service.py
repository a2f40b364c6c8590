"""What a console user may see: their wards' alerts, a patient's summary and meters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, or_, select
from sqlalchemy.orm import Session

from cloud.alerts.models import Alert, PatientThresholds
from cloud.alerts.rules import DEFAULT_THRESHOLDS, SEVERITY_RANK, RuleId, ThresholdError
from cloud.auth.models import Role, User
from cloud.devices.models import Device, DeviceBinding, Gateway
from cloud.notify.messages import alert_views
from cloud.oncall.models import Nurse, PatientWard, Shift, Ward
from cloud.patients.service import get_or_raise as get_patient_or_raise

ACTIVE_STATES = ("open", "acknowledged")
#: Shifts this close to now count as the nurse's wards (the one before and after handover).
SHIFT_HORIZON = timedelta(hours=24)
MAX_LISTED = 500


@dataclass(frozen=True)
class Viewer:
    """A console user: admin sees every alert; a nurse the alerts of their wards."""

    username: str
    role: str
    nurse_id: int | None
    ward_ids: frozenset[int] | None


def viewer_of(session: Session, *, user: User, now: datetime) -> Viewer:
    """The viewer for user: a nurse's own ward plus the wards of their shifts around now."""
    if user.role == Role.ADMIN:
        nurse = session.scalars(select(Nurse).where(Nurse.user_id == user.id)).one_or_none()
        return Viewer(user.username, user.role, nurse.id if nurse else None, None)
    nurse = session.scalars(select(Nurse).where(Nurse.user_id == user.id)).one_or_none()
    if nurse is None:
        return Viewer(user.username, user.role, None, frozenset())
    wards = set(
        session.scalars(
            select(Shift.ward_id).where(
                Shift.nurse_id == nurse.id,
                Shift.starts_at < now + SHIFT_HORIZON,
                Shift.ends_at > now - SHIFT_HORIZON,
            )
        )
    )
    if nurse.ward_id is not None:
        wards.add(nurse.ward_id)
    return Viewer(user.username, user.role, nurse.id, frozenset(wards))


def visible_alerts(session: Session, *, viewer: Viewer) -> list[dict[str, Any]]:
    """Active alerts the viewer may see, most severe first, then the longest waiting."""
    statement = select(Alert).where(Alert.state.in_(ACTIVE_STATES))
    if viewer.ward_ids is not None:
        statement = statement.join(PatientWard, PatientWard.patient_id == Alert.patient_id).where(
            PatientWard.ward_id.in_(sorted(viewer.ward_ids))
        )
    rank = case(SEVERITY_RANK, value=Alert.severity, else_=len(SEVERITY_RANK))
    alerts = session.scalars(statement.order_by(rank, Alert.opened_at, Alert.id).limit(MAX_LISTED))
    return alert_views(session, list(alerts))


def patient_summary(session: Session, *, patient_id: int, now: datetime) -> dict[str, Any]:
    """Patient, ward, thresholds in effect and bound meters; NotFoundError if unknown."""
    patient = get_patient_or_raise(session, patient_id=patient_id)
    ward = session.execute(
        select(Ward.id, Ward.name, Ward.timezone)
        .join(PatientWard, PatientWard.ward_id == Ward.id)
        .where(PatientWard.patient_id == patient_id)
    ).first()
    row = session.get(PatientThresholds, patient_id)
    try:
        thresholds = DEFAULT_THRESHOLDS.merged(row.overrides if row else {})
    except ThresholdError:
        thresholds = DEFAULT_THRESHOLDS
    return {
        "id": patient.id,
        "mrn": patient.mrn,
        "name": patient.name,
        "birth_date": patient.birth_date.isoformat(),
        "ward": {"id": ward.id, "name": ward.name, "timezone": ward.timezone} if ward else None,
        "thresholds": thresholds.as_dict(),
        "meters": meters(session, patient_id=patient_id, now=now),
    }


def meters(session: Session, *, patient_id: int, now: datetime) -> list[dict[str, Any]]:
    """The patient's meters bound now, with last-seen times and battery state.

    ``battery_percent`` is the device's last reported Battery Level when the cloud stores
    one (None otherwise); ``battery_low`` is true while a low-battery alert of the meter's
    kind is open.
    """
    rows = session.execute(
        select(Device, Gateway.last_seen_at, DeviceBinding.valid_from)
        .join(DeviceBinding, DeviceBinding.device_id == Device.id)
        .join(Gateway, Gateway.id == Device.gateway_id)
        .where(
            DeviceBinding.patient_id == patient_id,
            DeviceBinding.valid_from <= now,
            or_(DeviceBinding.valid_until.is_(None), DeviceBinding.valid_until > now),
        )
        .order_by(Device.kind, Device.id)
    ).all()
    low_kinds = set(
        session.scalars(
            select(Alert.kind).where(
                Alert.patient_id == patient_id,
                Alert.rule_id == RuleId.BATTERY_LOW.value,
                Alert.state.in_(ACTIVE_STATES),
            )
        )
    )
    return [
        {
            "device_id": device.id,
            "kind": device.kind,
            "model": device.model,
            "serial": device.serial,
            "gateway_id": device.gateway_id,
            "bound_since": valid_from.isoformat(),
            "last_seen_at": device.last_seen_at.isoformat() if device.last_seen_at else None,
            "gateway_last_seen_at": gateway_seen.isoformat() if gateway_seen else None,
            "battery_percent": getattr(device, "battery_percent", None),
            "battery_low": device.kind in low_kinds or None in low_kinds,
        }
        for device, gateway_seen, valid_from in rows
    ]
