"""Emulated iBeacon and Eddystone-UID advertisers for indoor wayfinding.

iBeacon payload (Apple "Proximity Beacon Specification" R1): manufacturer specific data with
company 0x004C, then type 0x02, length 0x15, 16-byte proximity UUID, major and minor as
big-endian u16 and the measured power (RSSI at 1 m) as a signed byte.

Eddystone-UID (Google Eddystone specification, eddystone-uid): the complete list of 16-bit
service UUIDs holding 0xFEAA, and service data for 0xFEAA: frame type 0x00, calibrated TX power
at 0 m (s8, = RSSI at 1 m + 41 dB), 10-byte namespace, 6-byte instance, two RFU bytes 0x00.

:func:`beacons_from_map` makes one advertiser per beacon of a wayfinding map. This module
encodes with its own code, not the gateway's decoder, so a shared mistake cannot hide.
"""

from __future__ import annotations

import logging
import struct
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass

from bumble import data_types
from bumble.core import UUID, AdvertisingData
from bumble.device import AdvertisingType, Device

from wayfinding.model import EddystoneUidId, HospitalMap, IBeaconId

logger = logging.getLogger(__name__)

APPLE_COMPANY_ID = 0x004C
IBEACON_TYPE = 0x02
IBEACON_LENGTH = 0x15
EDDYSTONE_SERVICE_UUID = 0xFEAA
EDDYSTONE_UID_FRAME = 0x00
EDDYSTONE_LOSS_0M_TO_1M_DB = 41


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


def eddystone_uid_payload(namespace: bytes, instance: bytes, tx_power_0m: int) -> bytes:
    """Service data value for 0xFEAA: 00, TX power at 0 m (s8), namespace, instance, RFU 00 00."""
    if len(namespace) != 10 or len(instance) != 6:
        raise ValueError("an Eddystone-UID namespace is 10 bytes and its instance 6 bytes")
    if not -128 <= tx_power_0m <= 127:
        raise ValueError("TX power is a signed byte")
    return struct.pack(">Bb", EDDYSTONE_UID_FRAME, tx_power_0m) + namespace + instance + b"\0\0"


class _Advertiser(ABC):
    """Shared radio plumbing: attach to a bumble device, advertise non-connectable."""

    name: str
    advertising_interval_ms: float
    device: Device | None

    @abstractmethod
    def advertising_data(self) -> bytes:
        """The advertisement payload (AD structures) of this beacon format."""

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
        logger.info("beacon %s advertising", self.name)

    async def stop(self) -> None:
        """Stop advertising."""
        if self.device is not None and self.device.is_advertising:
            await self.device.stop_advertising()


@dataclass
class IBeacon(_Advertiser):
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


@dataclass
class EddystoneUidBeacon(_Advertiser):
    """A non-connectable Eddystone-UID beacon; ``measured_power`` is its RSSI at 1 m."""

    namespace: bytes
    instance: bytes
    measured_power: int = -59
    name: str = "CE-EDDYSTONE"
    address: str | None = None
    advertising_interval_ms: float = 100.0
    device: Device | None = None

    def service_data(self) -> bytes:
        """The service data value bleak reports under the 0xFEAA UUID."""
        tx_0m = self.measured_power + EDDYSTONE_LOSS_0M_TO_1M_DB
        return eddystone_uid_payload(self.namespace, self.instance, tx_0m)

    def advertising_data(self) -> bytes:
        """Flags + 16-bit UUID list (0xFEAA) + service data: 3 + 4 + 24 = 31 bytes."""
        service = UUID.from_16_bits(EDDYSTONE_SERVICE_UUID)
        return bytes(
            AdvertisingData(
                [
                    data_types.Flags(AdvertisingData.Flags.BR_EDR_NOT_SUPPORTED),
                    data_types.CompleteListOf16BitServiceUUIDs([service]),
                    data_types.ServiceData16BitUUID(service, self.service_data()),
                ]
            )
        )


def beacons_from_map(hospital: HospitalMap) -> list[IBeacon | EddystoneUidBeacon]:
    """One advertiser per beacon of the map, named after the beacon id."""
    advertisers: list[IBeacon | EddystoneUidBeacon] = []
    for beacon in hospital.beacons:
        identity = beacon.identity
        if isinstance(identity, IBeaconId):
            advertisers.append(
                IBeacon(
                    identity.uuid,
                    identity.major,
                    identity.minor,
                    measured_power=beacon.measured_power,
                    name=beacon.id,
                )
            )
        else:
            assert isinstance(identity, EddystoneUidId)
            advertisers.append(
                EddystoneUidBeacon(
                    identity.namespace,
                    identity.instance,
                    measured_power=beacon.measured_power,
                    name=beacon.id,
                )
            )
    return advertisers
