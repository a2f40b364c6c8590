"""Gateways, devices and bindings: registration, ownership lookups for ingest, last-seen.

Bindings say which patient a device belonged to when: ``valid_from <= t < valid_until``
(``valid_until`` None: still). A device has at most one open binding and its bindings
never overlap, so every reading has at most one owner. The caller's transaction commits.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.audit.service import record
from cloud.db import one_of, utcnow
from cloud.devices.bindings import Binding, owner_at
from cloud.devices.models import Device, DeviceBinding, Gateway
from cloud.devices.mqtt_credentials import mosquitto_hash, new_password
from cloud.devices.schemas import DeviceCreate, GatewayCreate
from cloud.errors import ConflictError, NotFoundError
from cloud.patients.models import Patient

log = logging.getLogger(__name__)


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware")
    return value.astimezone(UTC)


# --- gateways -------------------------------------------------------------------------


def get_gateway(session: Session, *, gateway_id: str) -> Gateway | None:
    """The gateway gateway_id, or None."""
    return session.get(Gateway, gateway_id)


def get_gateway_or_raise(session: Session, *, gateway_id: str) -> Gateway:
    """The gateway gateway_id; NotFoundError if unknown."""
    gateway = get_gateway(session, gateway_id=gateway_id)
    if gateway is None:
        raise NotFoundError("gateway", gateway_id)
    return gateway


def register_gateway(session: Session, *, data: GatewayCreate, actor: str) -> tuple[Gateway, str]:
    """Register a gateway; return it and its new MQTT password (only its hash is stored)."""
    if get_gateway(session, gateway_id=data.id) is not None:
        raise ConflictError(f"gateway {data.id!r} already exists")
    password = new_password()
    gateway = Gateway(id=data.id, name=data.name, mqtt_password_hash=mosquitto_hash(password))
    session.add(gateway)
    try:
        session.flush()
    except IntegrityError as exc:
        raise ConflictError(f"gateway {data.id!r} already exists") from exc
    record(session, actor=actor, action="gateways.create", target=f"gateway:{gateway.id}")
    log.info("gateway %s registered by %s", gateway.id, actor)
    return gateway, password


def list_gateways(session: Session, *, limit: int, offset: int) -> tuple[list[Gateway], int]:
    """One page of gateways ordered by id, and how many there are in all."""
    total = session.scalar(select(func.count()).select_from(Gateway)) or 0
    items = session.scalars(select(Gateway).order_by(Gateway.id).limit(limit).offset(offset))
    return list(items), total


# --- devices --------------------------------------------------------------------------


def get_device_or_raise(session: Session, *, device_id: str) -> Device:
    """The device device_id; NotFoundError if unknown."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFoundError("device", device_id)
    return device


def register_device(session: Session, *, gateway_id: str, data: DeviceCreate, actor: str) -> Device:
    """Register a device behind gateway_id; 409 on a taken id or a BLE address already there."""
    get_gateway_or_raise(session, gateway_id=gateway_id)
    if session.get(Device, data.id) is not None:
        raise ConflictError(f"device {data.id!r} already exists")
    same_address = session.scalars(
        select(Device.id).where(
            Device.gateway_id == gateway_id, Device.ble_address == data.ble_address
        )
    ).first()
    if same_address is not None:
        raise ConflictError(
            f"gateway {gateway_id!r} already has device {same_address!r} at {data.ble_address}"
        )
    device = Device(
        id=data.id,
        gateway_id=gateway_id,
        kind=data.kind.value,
        ble_address=data.ble_address,
        model=data.model,
        serial=data.serial,
    )
    session.add(device)
    try:
        session.flush()
    except IntegrityError as exc:
        raise ConflictError(f"device {data.id!r} already exists") from exc
    record(
        session,
        actor=actor,
        action="devices.create",
        target=f"device:{device.id}",
        gateway_id=gateway_id,
        kind=device.kind,
    )
    log.info("device %s registered on gateway %s by %s", device.id, gateway_id, actor)
    return device


def list_devices(
    session: Session, *, gateway_id: str | None, limit: int, offset: int
) -> tuple[list[Device], int]:
    """One page of devices (of one gateway if given) ordered by id, and the total."""
    statement = select(Device)
    if gateway_id is not None:
        get_gateway_or_raise(session, gateway_id=gateway_id)
        statement = statement.where(Device.gateway_id == gateway_id)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    items = session.scalars(statement.order_by(Device.id).limit(limit).offset(offset))
    return list(items), total


def gateway_devices(session: Session, *, gateway_id: str) -> set[str]:
    """Ids of the devices registered to gateway_id (empty if none or unknown)."""
    return devices_by_gateway(session, gateway_ids=[gateway_id])[gateway_id]


def devices_by_gateway(session: Session, *, gateway_ids: Iterable[str]) -> dict[str, set[str]]:
    """Registered device ids of each gateway (empty set if none or unknown)."""
    found: dict[str, set[str]] = {gateway_id: set() for gateway_id in gateway_ids}
    if found:
        dialect_name = session.get_bind().dialect.name
        rows = session.execute(
            select(Device.gateway_id, Device.id).where(
                one_of(Device.gateway_id, sorted(found), dialect_name)
            )
        )
        for gateway_id, device_id in rows:
            found[gateway_id].add(device_id)
    return found


def touch_last_seen(session: Session, *, gateway_id: str, device_seen: dict[str, datetime]) -> None:
    """Move last_seen_at of the gateway and of its listed devices forward (never back)."""
    touch_last_seen_many(session, {gateway_id: device_seen})


_DEVICES = cast(Table, Device.__table__)
_GATEWAYS = cast(Table, Gateway.__table__)
#: Built once and run as executemany: the ingest worker touches thousands of gateways a minute.
_TOUCH_DEVICE = (
    update(_DEVICES)
    .where(_DEVICES.c.id == bindparam("d_id"), _DEVICES.c.gateway_id == bindparam("g_id"))
    .where(or_(_DEVICES.c.last_seen_at.is_(None), _DEVICES.c.last_seen_at < bindparam("seen")))
    .values(last_seen_at=bindparam("seen"))
)
_TOUCH_GATEWAY = (
    update(_GATEWAYS)
    .where(_GATEWAYS.c.id == bindparam("g_id"))
    .where(or_(_GATEWAYS.c.last_seen_at.is_(None), _GATEWAYS.c.last_seen_at < bindparam("seen")))
    .values(last_seen_at=bindparam("seen"))
)


def touch_last_seen_many(session: Session, seen: Mapping[str, Mapping[str, datetime]]) -> None:
    """:func:`touch_last_seen` for many gateways (gateway id → device id → time) in two
    statements, each executed for all rows at once."""
    devices: list[dict[str, Any]] = []
    latest: dict[str, datetime] = {}
    for gateway_id, device_seen in seen.items():
        for device_id, when in device_seen.items():
            when = _aware(when, "device_seen time")
            devices.append({"g_id": gateway_id, "d_id": device_id, "seen": when})
            if gateway_id not in latest or latest[gateway_id] < when:
                latest[gateway_id] = when
    if not devices:
        return
    session.execute(_TOUCH_DEVICE, devices)
    session.execute(
        _TOUCH_GATEWAY, [{"g_id": gateway_id, "seen": when} for gateway_id, when in latest.items()]
    )


# --- bindings -------------------------------------------------------------------------


def list_bindings(session: Session, *, device_id: str) -> list[DeviceBinding]:
    """The bindings of device_id, oldest first; NotFoundError if the device is unknown."""
    get_device_or_raise(session, device_id=device_id)
    return list(
        session.scalars(
            select(DeviceBinding)
            .where(DeviceBinding.device_id == device_id)
            .order_by(DeviceBinding.valid_from)
        )
    )


def bind(
    session: Session,
    *,
    device_id: str,
    patient_id: int,
    valid_from: datetime | None = None,
    actor: str,
) -> DeviceBinding:
    """Give device_id to patient_id from valid_from (default now), closing the open binding.

    ConflictError if the new binding would start at or before the open binding's start,
    overlap a closed binding (backdating), or repeat the open binding's patient.
    """
    # Lock the device row (PostgreSQL) so two concurrent binds cannot both close one binding.
    device = session.get(Device, device_id, with_for_update=True)
    if device is None:
        raise NotFoundError("device", device_id)
    if session.get(Patient, patient_id) is None:
        raise NotFoundError("patient", patient_id)
    start = _aware(valid_from, "valid_from") if valid_from is not None else utcnow()
    existing = session.scalars(
        select(DeviceBinding)
        .where(DeviceBinding.device_id == device_id)
        .order_by(DeviceBinding.valid_from)
    ).all()
    to_close: DeviceBinding | None = None
    for binding in existing:
        if binding.valid_until is None:
            if start <= binding.valid_from:
                raise ConflictError(
                    f"device {device_id!r} is bound to patient {binding.patient_id} since "
                    f"{binding.valid_from.isoformat()}; a new binding must start after that"
                )
            if binding.patient_id == patient_id:
                raise ConflictError(
                    f"device {device_id!r} is already bound to patient {patient_id} since "
                    f"{binding.valid_from.isoformat()}"
                )
            to_close = binding
        elif binding.valid_until > start:
            raise ConflictError(
                f"binding from {start.isoformat()} would overlap binding {binding.id} of "
                f"device {device_id!r} (patient {binding.patient_id}, "
                f"{binding.valid_from.isoformat()} to {binding.valid_until.isoformat()})"
            )
    if to_close is not None:
        to_close.valid_until = start
    binding = DeviceBinding(
        device_id=device_id, patient_id=patient_id, valid_from=start, valid_until=None
    )
    session.add(binding)
    session.flush()
    record(
        session,
        actor=actor,
        action="devices.bind",
        target=f"device:{device_id}",
        patient_id=patient_id,
        valid_from=start.isoformat(),
        closed_binding=to_close.id if to_close is not None else None,
    )
    log.info("device %s bound to patient %s from %s by %s", device_id, patient_id, start, actor)
    return binding


def bindings_of(session: Session, *, device_ids: Iterable[str]) -> dict[str, list[Binding]]:
    """Every binding of the given devices, by device id (one query for a whole batch, of
    columns, not ORM objects: the ingest worker asks it for a thousand devices at a time)."""
    found: dict[str, list[Binding]] = defaultdict(list)
    ids = sorted(set(device_ids))
    if ids:
        columns = (
            DeviceBinding.device_id,
            DeviceBinding.patient_id,
            DeviceBinding.valid_from,
            DeviceBinding.valid_until,
        )
        dialect_name = session.get_bind().dialect.name
        rows = session.execute(
            select(*columns).where(one_of(DeviceBinding.device_id, ids, dialect_name))
        )
        for device_id, patient_id, valid_from, valid_until in rows:
            found[device_id].append(Binding(device_id, patient_id, valid_from, valid_until))
    return found


def patient_at(session: Session, *, device_id: str, at: datetime) -> int | None:
    """The patient device_id belonged to at instant at (valid_from <= at < valid_until)."""
    at = _aware(at, "at")
    return owner_at(bindings_of(session, device_ids=[device_id]).get(device_id, ()), at)
