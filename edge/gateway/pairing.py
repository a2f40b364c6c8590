"""``caredge gateway pair``: bond with a meter deliberately, with the passkey it displays.

Many meters bond with one host only, so pairing is a step a person takes (BLE-NOTES): list the
meters in range, bond the chosen one with its passkey, keep the bond (bumble backend: the JSON
key store ``CAREDGE_BLE_KEYSTORE``; BlueZ: BlueZ's own bond database) and print the device id
under which the cloud must register it. Stop the gateway daemon while pairing: both would
use the same radio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from edge.gateway import policy
from edge.gateway.coordinator import (
    ID_PREFIX,
    SERVICE_OF_KIND,
    MeterKind,
    SessionError,
    kind_from_services,
)
from edge.gateway.daemon import GatewayDaemonSettings
from edge.gatt.const import (
    CHAR_MODEL_NUMBER,
    CHAR_SERIAL_NUMBER,
    SERVICE_DEVICE_INFORMATION,
    uuid16_to_str,
)
from edge.gatt.device_info import parse_device_info_string

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoundMeter:
    """A meter seen while scanning."""

    device: BLEDevice
    kind: MeterKind
    name: str | None
    rssi: int | None

    @property
    def address(self) -> str:
        """Its BLE address."""
        return self.device.address


@dataclass(frozen=True)
class PairedMeter:
    """A bonded meter and the id to register it under in the cloud."""

    address: str
    kind: MeterKind
    device_id: str
    model: str | None
    serial: str | None


async def scan_meters(settings: GatewayDaemonSettings, seconds: float) -> list[FoundMeter]:
    """Blood-pressure and glucose meters advertising within ``seconds``, strongest first."""
    backend = settings.backend()
    async with BleakScanner(
        service_uuids=list(SERVICE_OF_KIND.values()), backend=backend.scanner, **backend.kwargs
    ) as scanner:
        await asyncio.sleep(seconds)
        found = [
            FoundMeter(device, kind, advertisement.local_name, advertisement.rssi)
            for device, advertisement in scanner.discovered_devices_and_advertisement_data.values()
            if (kind := kind_from_services(advertisement.service_uuids)) is not None
        ]
    return sorted(found, key=lambda meter: -(meter.rssi if meter.rssi is not None else -999))


async def pair_meter(
    settings: GatewayDaemonSettings, meter: FoundMeter, passkey: int | None
) -> PairedMeter:
    """Connect, bond with ``passkey`` (None: the configured one), read model and serial."""
    backend = settings.backend()
    kwargs = dict(backend.kwargs)
    if passkey is not None and "bumble_transport" in kwargs:
        kwargs["bumble_passkey"] = passkey
    client = BleakClient(
        meter.device, timeout=settings.connect_timeout_s, backend=backend.client, **kwargs
    )
    try:
        await client.connect()
    except (BleakError, TimeoutError) as error:
        raise SessionError(f"cannot connect to {meter.address}: {error}") from error
    try:
        try:
            await client.pair()
        except BleakError as error:
            raise SessionError(f"bonding with {meter.address} failed: {error}") from error
        values: dict[int, str | None] = {}
        service = client.services.get_service(uuid16_to_str(SERVICE_DEVICE_INFORMATION))
        for uuid in (CHAR_MODEL_NUMBER, CHAR_SERIAL_NUMBER):
            characteristic = (
                None if service is None else service.get_characteristic(uuid16_to_str(uuid))
            )
            values[uuid] = (
                None
                if characteristic is None
                else parse_device_info_string(await client.read_gatt_char(characteristic))
            )
    finally:
        with contextlib.suppress(BleakError, TimeoutError):
            await client.disconnect()
    model, serial = values[CHAR_MODEL_NUMBER], values[CHAR_SERIAL_NUMBER]
    device_id = policy.device_id_for(
        meter.address,
        kind=ID_PREFIX[meter.kind],
        model=model,
        serial=serial,
        configured=settings.device_ids,
    )
    log.info("bonded with %s (%s): device id %s", meter.name, meter.address, device_id)
    return PairedMeter(meter.address, meter.kind, device_id, model, serial)
