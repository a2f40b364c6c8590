"""API shapes of gateways, devices and device-to-patient bindings."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from protocol.topics import TopicError, check_id

_BLE_ADDRESS_RE = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")


class DeviceKind(StrEnum):
    """What a registered BLE device is."""

    BLOOD_PRESSURE = "blood_pressure"
    GLUCOSE = "glucose"
    BEACON = "beacon"


def _identifier(value: str, what: str) -> str:
    try:
        return check_id(value, what)
    except TopicError as exc:
        raise ValueError(str(exc)) from exc


class GatewayCreate(BaseModel):
    """A gateway to register; ``id`` becomes its MQTT username and topic level."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="1-64 of A-Z a-z 0-9 . _ -")
    name: str = Field(default="", max_length=200)

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return _identifier(value, "gateway id")


class GatewayRead(BaseModel):
    """A registered gateway (never its password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    created_at: datetime
    last_seen_at: datetime | None


class GatewayCredentials(GatewayRead):
    """A newly registered gateway and its MQTT credentials, shown this one time only."""

    mqtt_username: str
    mqtt_password: str


class DeviceCreate(BaseModel):
    """A BLE device to register under a gateway."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="1-64 of A-Z a-z 0-9 . _ -")
    kind: DeviceKind
    ble_address: str = Field(description="AA:BB:CC:DD:EE:FF")
    model: str = Field(default="", max_length=100)
    serial: str = Field(default="", max_length=100)

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return _identifier(value, "device id")

    @field_validator("ble_address")
    @classmethod
    def _valid_address(cls, value: str) -> str:
        address = value.strip().upper()
        if not _BLE_ADDRESS_RE.match(address):
            raise ValueError(f"BLE address must look like AA:BB:CC:DD:EE:FF, got {value!r}")
        return address


class DeviceRead(BaseModel):
    """A registered device."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    gateway_id: str
    kind: DeviceKind
    ble_address: str
    model: str
    serial: str
    created_at: datetime
    last_seen_at: datetime | None


class BindingCreate(BaseModel):
    """Give a device to a patient from ``valid_from`` (default: now) on."""

    model_config = ConfigDict(extra="forbid")

    patient_id: int
    valid_from: AwareDatetime | None = Field(
        default=None, description="ISO 8601 with offset; default now"
    )


class BindingRead(BaseModel):
    """A device belonged to a patient from valid_from until valid_until (None: still)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    device_id: str
    patient_id: int
    valid_from: datetime
    valid_until: datetime | None
