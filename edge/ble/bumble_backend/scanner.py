"""bleak scanner backend on a bumble host stack."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.uuids import normalize_uuid_16, normalize_uuid_32
from bumble import hci
from bumble.device import Advertisement

from edge.ble.bumble_backend.host import BumbleHost, get_host, host_kwargs

logger = logging.getLogger(__name__)

# AD types (Bluetooth Assigned Numbers 2.3, Core Supplement Part A).
_AD_UUID16 = (0x02, 0x03)
_AD_UUID32 = (0x04, 0x05)
_AD_UUID128 = (0x06, 0x07)
_AD_SHORT_NAME = 0x08
_AD_COMPLETE_NAME = 0x09
_AD_TX_POWER = 0x0A
_AD_SERVICE_DATA16 = 0x16
_AD_SERVICE_DATA32 = 0x20
_AD_SERVICE_DATA128 = 0x21
_AD_MANUFACTURER = 0xFF


@dataclass(frozen=True)
class BumbleDeviceDetails:
    """``BLEDevice.details`` for this backend: the typed bumble address to connect to."""

    address: hci.Address


def _uuid128(raw: bytes) -> str:
    return str(uuid.UUID(bytes=bytes(reversed(raw))))


def parse_advertisement(
    structures: list[tuple[int, bytes]], rssi: int, platform_data: tuple[Any, ...] = ()
) -> AdvertisementData:
    """Turn AD structures into bleak's ``AdvertisementData`` (UUIDs normalised to 128-bit)."""
    local_name: str | None = None
    manufacturer_data: dict[int, bytes] = {}
    service_data: dict[str, bytes] = {}
    service_uuids: list[str] = []
    tx_power: int | None = None
    for ad_type, value in structures:
        ad_type = int(ad_type)
        if ad_type in _AD_UUID16:
            service_uuids += [
                normalize_uuid_16(int.from_bytes(value[i : i + 2], "little"))
                for i in range(0, len(value) - 1, 2)
            ]
        elif ad_type in _AD_UUID32:
            service_uuids += [
                normalize_uuid_32(int.from_bytes(value[i : i + 4], "little"))
                for i in range(0, len(value) - 3, 4)
            ]
        elif ad_type in _AD_UUID128:
            service_uuids += [_uuid128(value[i : i + 16]) for i in range(0, len(value) - 15, 16)]
        elif ad_type == _AD_COMPLETE_NAME or (ad_type == _AD_SHORT_NAME and local_name is None):
            local_name = value.decode("utf-8", errors="replace")
        elif ad_type == _AD_TX_POWER and value:
            tx_power = int.from_bytes(value[:1], "little", signed=True)
        elif ad_type == _AD_SERVICE_DATA16 and len(value) >= 2:
            service_data[normalize_uuid_16(int.from_bytes(value[:2], "little"))] = value[2:]
        elif ad_type == _AD_SERVICE_DATA32 and len(value) >= 4:
            service_data[normalize_uuid_32(int.from_bytes(value[:4], "little"))] = value[4:]
        elif ad_type == _AD_SERVICE_DATA128 and len(value) >= 16:
            service_data[_uuid128(value[:16])] = value[16:]
        elif ad_type == _AD_MANUFACTURER and len(value) >= 2:
            manufacturer_data[int.from_bytes(value[:2], "little")] = value[2:]
    return AdvertisementData(
        local_name=local_name,
        manufacturer_data=manufacturer_data,
        service_data=service_data,
        service_uuids=list(dict.fromkeys(service_uuids)),
        tx_power=tx_power,
        rssi=rssi,
        platform_data=platform_data,
    )


class BleakScannerBumble(BaseBleakScanner):
    """Scans through the shared bumble host named by ``bumble_transport``/``bumble_controller``."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._active = scanning_mode != "passive"
        self._host_kwargs = host_kwargs(kwargs)
        self._host: BumbleHost | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._host = await get_host(**self._host_kwargs)
        await self._host.add_scanner(self._on_advertisement, active=self._active)

    async def stop(self) -> None:
        if self._host is not None:
            await self._host.remove_scanner(self._on_advertisement)

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        # bumble's virtual controller reports each advertisement twice, the second time as a
        # "scan response" carrying the same data; the first report already has everything.
        if advertisement.is_scan_response:
            return
        data = parse_advertisement(
            list(advertisement.data.ad_structures), advertisement.rssi, (advertisement,)
        )
        if not self.is_allowed_uuid(data.service_uuids):
            return
        address = advertisement.address.to_string(False)
        device = self.create_or_update_device(
            address,
            address,
            data.local_name,
            BumbleDeviceDetails(address=advertisement.address),
            data,
        )
        self.call_detection_callbacks(device, data)
