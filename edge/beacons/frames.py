"""iBeacon and Eddystone-UID advertisement frames: bytes in, frozen dataclasses out.

- **iBeacon** (Apple, "Proximity Beacon Specification" R1, §"Beacon Advertising Packet"):
  manufacturer specific data (AD type 0xFF) of company 0x004C whose value, after the company id,
  is ``02 15`` (type, remaining length 21), the 16-byte proximity UUID, major and minor as
  big-endian u16, and the measured power (RSSI at 1 m) as a signed byte: 23 bytes.
- **Eddystone-UID** (Google Eddystone protocol specification, eddystone-uid/README.md): service
  data (AD type 0x16) of UUID 0xFEAA; the frame type is the high nibble of octet 0 (0x0 UID,
  0x1 URL, 0x2 TLM, 0x3 EID), then the calibrated TX power at 0 m (s8), the 10-byte namespace and
  the 6-byte instance, then 2 RFU bytes (18 or 20 bytes; senders that omit the RFU are common).
  RSSI at 1 m = power at 0 m − 41 dB (free-space loss at 1 m on 2.4 GHz, as the spec advises).

Frames of another kind under the same keys (Apple's other 0x004C payloads, Eddystone URL/TLM)
are :class:`NotABeaconFrame`; frames that claim to be one of ours but are cut or padded raise
:class:`BeaconFormatError`.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from typing import Final

from edge.errors import EdgeError
from wayfinding.model import EddystoneUidId, IBeaconId

APPLE_COMPANY_ID: Final = 0x004C
IBEACON_PREFIX: Final = b"\x02\x15"
IBEACON_LENGTH: Final = 23
EDDYSTONE_SERVICE: Final = 0xFEAA
EDDYSTONE_UID_TYPE: Final = 0x0
EDDYSTONE_UID_LENGTHS: Final = (18, 20)
EDDYSTONE_0M_TO_1M_DB: Final = 41


class BeaconFormatError(EdgeError):
    """A frame that announces an iBeacon or Eddystone-UID but does not follow the layout."""

    def __init__(self, frame: bytes, reason: str) -> None:
        self.frame = bytes(frame)
        self.reason = reason
        super().__init__(f"{reason} (frame: {self.frame.hex() or '<empty>'})")

    def __reduce__(self) -> tuple[type[BeaconFormatError], tuple[bytes, str]]:
        return (type(self), (self.frame, self.reason))


class NotABeaconFrame(EdgeError):
    """A well-formed frame of another kind (not iBeacon, not Eddystone-UID); skip it quietly."""


@dataclass(frozen=True)
class IBeaconFrame:
    """A decoded iBeacon advertisement."""

    identity: IBeaconId
    measured_power: int


@dataclass(frozen=True)
class EddystoneUidFrame:
    """A decoded Eddystone-UID advertisement; ``measured_power`` is the derived RSSI at 1 m."""

    identity: EddystoneUidId
    tx_power_0m: int

    @property
    def measured_power(self) -> int:
        return self.tx_power_0m - EDDYSTONE_0M_TO_1M_DB


BeaconFrame = IBeaconFrame | EddystoneUidFrame


def parse_ibeacon(value: bytes) -> IBeaconFrame:
    """Decode the manufacturer data value (after company id 0x004C) of an iBeacon."""
    value = bytes(value)
    if value[:1] != IBEACON_PREFIX[:1]:
        raise NotABeaconFrame(f"Apple payload type 0x{value[:1].hex() or '--'} is not an iBeacon")
    if value[:2] != IBEACON_PREFIX:
        raise BeaconFormatError(value, "iBeacon length byte is not 0x15")
    if len(value) != IBEACON_LENGTH:
        raise BeaconFormatError(value, f"iBeacon frame is {len(value)} bytes, expected 23")
    major, minor, power = struct.unpack(">HHb", value[18:23])
    return IBeaconFrame(IBeaconId(uuid.UUID(bytes=value[2:18]), major, minor), power)


def parse_eddystone(value: bytes) -> EddystoneUidFrame:
    """Decode the service data value of UUID 0xFEAA as an Eddystone-UID frame."""
    value = bytes(value)
    if not value:
        raise BeaconFormatError(value, "empty Eddystone frame")
    if value[0] >> 4 != EDDYSTONE_UID_TYPE:
        raise NotABeaconFrame(f"Eddystone frame type 0x{value[0] >> 4:x}0 is not UID")
    if len(value) not in EDDYSTONE_UID_LENGTHS:
        raise BeaconFormatError(value, f"Eddystone-UID frame is {len(value)} bytes, expected 18/20")
    (tx_power,) = struct.unpack("b", value[1:2])
    return EddystoneUidFrame(EddystoneUidId(value[2:12], value[12:18]), tx_power)
