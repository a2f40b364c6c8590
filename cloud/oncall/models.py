"""SQL models of wards, nurses, on-call shifts, escalation policies, escalation state and
the notification queue the delivery channels (WebSocket, MQTT, webhook) drain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db import Base, UtcDateTime, utcnow


class Ward(Base):
    """A ward; its IANA time zone is how its shifts are shown and handed over."""

    __tablename__ = "wards"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    escalation_policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("escalation_policies.id"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class PatientWard(Base):
    """The ward responsible for a patient's alerts (one per patient)."""

    __tablename__ = "patient_wards"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    ward_id: Mapped[int] = mapped_column(ForeignKey("wards.id"), index=True)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Nurse(Base):
    """A nurse who can be on call: a user account, a ward, and where to reach them."""

    __tablename__ = "nurses"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    ward_id: Mapped[int | None] = mapped_column(ForeignKey("wards.id"), default=None, index=True)
    #: Phone number for the hospital paging/SMS webhook; None: no webhook notifications.
    phone: Mapped[str | None] = mapped_column(String(32), default=None)
    #: The nurse has a device subscribed to caredge/v1/nurse/{id}/alerts.
    mqtt_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Shift(Base):
    """Nurse nurse_id is on call for ward_id at ``tier`` on [starts_at, ends_at) (UTC).

    ``timezone`` is the ward's IANA zone when the shift was planned, so a handover at 07:00
    local stays 07:00 local for display across daylight-saving changes.
    """

    __tablename__ = "shifts"
    __table_args__ = (Index("ix_shifts_ward_window", "ward_id", "starts_at", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ward_id: Mapped[int] = mapped_column(ForeignKey("wards.id"))
    nurse_id: Mapped[int] = mapped_column(ForeignKey("nurses.id"), index=True)
    #: 1 = primary on-call, 2 = backup, 3 = charge nurse …: escalation levels name tiers.
    tier: Mapped[int] = mapped_column(Integer, default=1)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    timezone: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class EscalationPolicy(Base):
    """Escalation levels, each ``{tier, delay_minutes, critical_delay_minutes}`` (JSON list).

    Level 1 is notified when the alert opens (its delays are normally 0); level n+1 when the
    alert is still unacknowledged ``delay_minutes`` (critical: ``critical_delay_minutes``)
    after level n was notified. After the last level the last level is notified again every
    ``repeat_minutes`` (critical: ``critical_repeat_minutes``); 0 stops.
    """

    __tablename__ = "escalation_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    levels: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    repeat_minutes: Mapped[int] = mapped_column(Integer, default=15)
    critical_repeat_minutes: Mapped[int] = mapped_column(Integer, default=5)
    #: The policy used for wards without their own.
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class EscalationState(Base):
    """Where an alert's escalation stands: a timer in SQL, so it survives restarts."""

    __tablename__ = "escalation_states"

    alert_id: Mapped[int] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )
    ward_id: Mapped[int | None] = mapped_column(ForeignKey("wards.id"), default=None)
    policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("escalation_policies.id"), default=None
    )
    #: The level notified last (1-based; 0: nobody yet).
    level: Mapped[int] = mapped_column(Integer, default=0)
    last_notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    #: When to notify the next level; None once acknowledged, resolved or exhausted.
    next_escalation_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime, default=None, index=True
    )
    stopped_reason: Mapped[str | None] = mapped_column(String(32), default=None)


class Notification(Base):
    """One message to one nurse over one channel: the queue the delivery workers drain.

    Contract (``docs/alerts.md``): a channel worker claims rows with ``status='pending'``,
    its ``channel`` and ``next_attempt_at <= now`` (PostgreSQL: ``FOR UPDATE SKIP LOCKED``),
    sends, and calls ``cloud.oncall.notifications.mark_sent`` or ``mark_failed``.
    """

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_due", "status", "channel", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    nurse_id: Mapped[int] = mapped_column(ForeignKey("nurses.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    #: Why: opened, escalated (level > 1), repeated.
    event: Mapped[str] = mapped_column(String(16))
    level: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
