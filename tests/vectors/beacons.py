"""Beacon advertisement frames (the value after the AD type / company id / service UUID).

Sources: Apple "Proximity Beacon Specification" R1 (iBeacon: 02 15, UUID, major and minor
big-endian, measured power s8) and the Eddystone protocol specification, eddystone-uid/README.md
(frame type 0x00, TX power at 0 m s8, namespace 10 B, instance 6 B, RFU 2 B; all big-endian).
Each frame is spelled out field by field with the arithmetic of what it must decode to.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tests.vectors.gatt import h

AIRLOCATE_UUID = uuid.UUID("e2c56db5-dffb-48d2-b060-d0f5a71096e0")  # Apple's AirLocate sample


@dataclass(frozen=True)
class IBeaconVector:
    name: str
    frame: bytes
    uuid: uuid.UUID
    major: int
    minor: int
    measured_power: int


@dataclass(frozen=True)
class EddystoneVector:
    name: str
    frame: bytes
    namespace: bytes
    instance: bytes
    tx_power_0m: int
    measured_power: int


@dataclass(frozen=True)
class BadFrame:
    """A frame a strict decoder must refuse (malformed) or skip (other kind)."""

    name: str
    frame: bytes
    reason: str


IBEACONS = [
    IBeaconVector(
        "airlocate_1_2",
        # 02 15 | UUID e2c56db5… | major 00 01 = 1 | minor 00 02 = 2 | C5 = 197-256 = -59 dBm
        h("02 15 e2c56db5dffb48d2b060d0f5a71096e0 0001 0002 c5"),
        AIRLOCATE_UUID,
        1,
        2,
        -59,
    ),
    IBeaconVector(
        "big_endian_ids",
        # major 12 34 = 0x1234 = 4660 (big-endian, unlike GATT) | minor AB CD = 43981 | BF = -65
        h("02 15 e2c56db5dffb48d2b060d0f5a71096e0 1234 abcd bf"),
        AIRLOCATE_UUID,
        0x1234,
        0xABCD,
        -65,
    ),
    IBeaconVector(
        "extremes",
        # major FF FF = 65535 | minor 00 00 = 0 | 80 = -128 (most negative s8)
        h("02 15 00000000000000000000000000000001 ffff 0000 80"),
        uuid.UUID(int=1),
        0xFFFF,
        0,
        -128,
    ),
]

IBEACON_MALFORMED = [
    BadFrame("wrong_length_byte", h("02 14 e2c56db5dffb48d2b060d0f5a71096e0 0001 0002 c5"), "0x15"),
    BadFrame("truncated", h("02 15 e2c56db5dffb48d2b060d0f5a71096e0 0001 0002"), "22 bytes"),
    BadFrame("padded", h("02 15 e2c56db5dffb48d2b060d0f5a71096e0 0001 0002 c5 00"), "24 bytes"),
    BadFrame("prefix_only", h("02"), "0x15"),
]

# Apple payloads that are not iBeacons: skipped, not counted as malformed.
IBEACON_OTHER = [
    BadFrame("apple_nearby_info", h("10 05 01 18 1a 2b 3c"), "not an iBeacon"),
    BadFrame("empty", b"", "not an iBeacon"),
]

EDDYSTONES = [
    EddystoneVector(
        "uid_with_rfu",
        # 00 UID | F8 = -8 dBm at 0 m → -8 - 41 = -49 dBm at 1 m | namespace e157bd5df90aad1dc2fb
        # (first 10 bytes of SHA-1 of a domain, as the spec suggests) | instance 000000000001 | 0000
        h("00 f8 e157bd5df90aad1dc2fb 000000000001 0000"),
        h("e157bd5df90aad1dc2fb"),
        h("000000000001"),
        -8,
        -49,
    ),
    EddystoneVector(
        "uid_without_rfu",
        # 18 bytes: many beacons leave out the two RFU bytes | EE = -18 → -59 at 1 m
        h("00 ee ca7ed9e0000000000001 000000000006"),
        h("ca7ed9e0000000000001"),
        h("000000000006"),
        -18,
        -59,
    ),
    EddystoneVector(
        "positive_power",
        # 14 = +20 dBm at 0 m → -21 at 1 m; RFU bytes non-zero are ignored (reserved)
        h("00 14 00112233445566778899 aabbccddeeff 0102"),
        h("00112233445566778899"),
        h("aabbccddeeff"),
        20,
        -21,
    ),
]

EDDYSTONE_MALFORMED = [
    BadFrame("empty", b"", "empty"),
    BadFrame("truncated", h("00 ee ca7ed9e0000000000001 0000000000"), "17 bytes"),
    BadFrame("odd_rfu", h("00 ee ca7ed9e0000000000001 000000000006 00"), "19 bytes"),
    BadFrame("padded", h("00 ee ca7ed9e0000000000001 000000000006 0000 00"), "21 bytes"),
]

# Other Eddystone frames (type in the high nibble): URL 0x10, TLM 0x20, EID 0x30.
EDDYSTONE_OTHER = [
    # URL: 10 | TX EB | scheme 03 = "https://" | "google" | 07 = ".com"
    BadFrame("url", h("10 eb 03 676f6f676c65 07"), "not UID"),
    # TLM v0: 20 00 | battery 0BB8 = 3000 mV | temp 1400 = 20.0 °C | counts…
    BadFrame("tlm", h("20 00 0bb8 1400 00000010 00000100"), "not UID"),
    BadFrame("eid", h("30 ee 0102030405060708"), "not UID"),
]
