"""Emulated iBeacon advertisers for indoor wayfinding.

iBeacon payload (Apple "Proximity Beacon Specification" R1): manufacturer specific data with
company 0x004C, then type 0x02, length 0x15, 16-byte proximity UUID, major and minor as
big-endian u16 and the measured power (RSSI at 1 m) as a signed byte.
"""

from __future__ import annotations

import logging
import struct
import uuid
from dataclasses import dataclass

from bumble import data_types
from bumble.core import AdvertisingData
from bumble.device import AdvertisingType, Device

logger = logging.getLogger(__name__)

APPLE_COMPANY_ID = 0x004C
IBEACON_TYPE = 0x02
IBEACON_LENGTH = 0x15


def ibeacon_payload(
    proximity_uuid: uuid.UUID, major: int, minor: int, measured_power: int
) -> bytes:
    """Manufacturer data after the company id: 02 15, UUID, major, minor (BE), power (s8)."""
    if not -128 <= measured_power <= 127:
        raise ValueError("measured power is a signed byte")
    return (
        bytes([IBEACON_TYPE, IBEACON_LENGTH])
        + proximity_uuid.bytes
        + struct.pack(">HHb", major, minor, measured_power)
    )


@dataclass
class IBeacon:
    """A non-connectable beacon; the radio powers its device and ``start`` begins advertising."""

    proximity_uuid: uuid.UUID
    major: int
    minor: int
    measured_power: int = -59
    name: str = "CE-BEACON"
    address: str | None = None
    advertising_interval_ms: float = 100.0
    device: Device | None = None

    def manufacturer_data(self) -> bytes:
        """The manufacturer data value bleak reports under key 0x004C."""
        return ibeacon_payload(self.proximity_uuid, self.major, self.minor, self.measured_power)

    def advertising_data(self) -> bytes:
        """Flags + manufacturer data: 3 + 27 = 30 bytes, inside a legacy advertisement."""
        return bytes(
            AdvertisingData(
                [
                    data_types.Flags(AdvertisingData.Flags.BR_EDR_NOT_SUPPORTED),
                    data_types.ManufacturerSpecificData(APPLE_COMPANY_ID, self.manufacturer_data()),
                ]
            )
        )

    def attach(self, device: Device) -> None:
        """Take the bumble device the radio made for this beacon."""
        self.device = device

    async def start(self) -> None:
        """Start non-connectable undirected advertising."""
        assert self.device is not None
        await self.device.start_advertising(
            advertising_type=AdvertisingType.UNDIRECTED,
            advertising_data=self.advertising_data(),
            advertising_interval_min=self.advertising_interval_ms,
            advertising_interval_max=self.advertising_interval_ms,
        )
        logger.info("beacon %s/%d/%d advertising", self.proximity_uuid, self.major, self.minor)

    async def stop(self) -> None:
        """Stop advertising."""
        if self.device is not None and self.device.is_advertising:
            await self.device.stop_advertising()
