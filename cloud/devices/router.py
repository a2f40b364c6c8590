"""HTTP endpoints of gateways, devices and bindings (admin writes, admin/nurse reads)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from cloud.api.deps import AdminUser, ClinicalUser, SessionDep
from cloud.api.pagination import Page, PageDep
from cloud.devices import service
from cloud.devices.schemas import (
    BindingCreate,
    BindingRead,
    DeviceCreate,
    DeviceRead,
    GatewayCreate,
    GatewayCredentials,
    GatewayRead,
)

router = APIRouter(prefix="/api/v1", tags=["gateways and devices"])


@router.post("/gateways", response_model=GatewayCredentials, status_code=status.HTTP_201_CREATED)
def register_gateway(
    data: GatewayCreate, session: SessionDep, user: AdminUser
) -> GatewayCredentials:
    """Register a gateway (admin); its MQTT password is in this response and nowhere else."""
    gateway, password = service.register_gateway(session, data=data, actor=user.username)
    return GatewayCredentials(
        **GatewayRead.model_validate(gateway).model_dump(),
        mqtt_username=gateway.id,
        mqtt_password=password,
    )


@router.get("/gateways", response_model=Page[GatewayRead])
def list_gateways(session: SessionDep, user: ClinicalUser, page: PageDep) -> Page[GatewayRead]:
    """Gateways ordered by id (admin, nurse)."""
    items, total = service.list_gateways(session, limit=page.limit, offset=page.offset)
    return Page(
        items=[GatewayRead.model_validate(g) for g in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/gateways/{gateway_id}/devices",
    response_model=DeviceRead,
    status_code=status.HTTP_201_CREATED,
)
def register_device(
    gateway_id: str, data: DeviceCreate, session: SessionDep, user: AdminUser
) -> DeviceRead:
    """Register a BLE device behind a gateway (admin)."""
    device = service.register_device(session, gateway_id=gateway_id, data=data, actor=user.username)
    return DeviceRead.model_validate(device)


@router.get("/devices", response_model=Page[DeviceRead])
def list_devices(
    session: SessionDep,
    user: ClinicalUser,
    page: PageDep,
    gateway_id: Annotated[str | None, Query(description="only this gateway's devices")] = None,
) -> Page[DeviceRead]:
    """Devices ordered by id, optionally of one gateway (admin, nurse)."""
    items, total = service.list_devices(
        session, gateway_id=gateway_id, limit=page.limit, offset=page.offset
    )
    return Page(
        items=[DeviceRead.model_validate(d) for d in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/devices/{device_id}/bindings",
    response_model=BindingRead,
    status_code=status.HTTP_201_CREATED,
)
def bind_device(
    device_id: str, data: BindingCreate, session: SessionDep, user: AdminUser
) -> BindingRead:
    """Give a device to a patient from valid_from (admin); 409 on overlap or backdating."""
    binding = service.bind(
        session,
        device_id=device_id,
        patient_id=data.patient_id,
        valid_from=data.valid_from,
        actor=user.username,
    )
    return BindingRead.model_validate(binding)


@router.get("/devices/{device_id}/bindings", response_model=list[BindingRead])
def list_bindings(device_id: str, session: SessionDep, user: ClinicalUser) -> list[BindingRead]:
    """A device's bindings, oldest first (admin, nurse)."""
    return [
        BindingRead.model_validate(b) for b in service.list_bindings(session, device_id=device_id)
    ]
