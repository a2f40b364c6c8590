"""SQL models of gateways, devices (meters, beacons) and device-to-patient bindings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db import Base, UtcDateTime, utcnow


class Gateway(Base):
    """A home gateway; ``id`` is its MQTT identity (topic level and username)."""

    __tablename__ = "gateways"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    mqtt_password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class Device(Base):
    """A BLE meter or beacon registered to one gateway."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    gateway_id: Mapped[str] = mapped_column(ForeignKey("gateways.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    ble_address: Mapped[str] = mapped_column(String(17))
    model: Mapped[str] = mapped_column(String(100), default="")
    serial: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class DeviceBinding(Base):
    """Device ``device_id`` belongs to ``patient_id`` from ``valid_from`` until ``valid_until``."""

    __tablename__ = "device_bindings"
    __table_args__ = (Index("ix_device_bindings_device_from", "device_id", "valid_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
