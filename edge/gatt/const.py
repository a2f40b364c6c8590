"""Bluetooth SIG assigned numbers used by the gateway (Assigned Numbers §3.4 services, §3.8
characteristics), and the 16-bit ↔ 128-bit UUID helpers.

A 16-bit SIG UUID ``0xXXXX`` stands for ``0000XXXX-0000-1000-8000-00805F9B34FB`` (Core
Specification Vol 3 Part B §2.5.1, Bluetooth Base UUID); bleak reports UUIDs as lower-case
128-bit strings.
"""

from __future__ import annotations

import re
from typing import Final

BASE_UUID_SUFFIX: Final = "-0000-1000-8000-00805f9b34fb"

# Services
SERVICE_GLUCOSE: Final = 0x1808
SERVICE_CURRENT_TIME: Final = 0x1805
SERVICE_DEVICE_INFORMATION: Final = 0x180A
SERVICE_BATTERY: Final = 0x180F
SERVICE_BLOOD_PRESSURE: Final = 0x1810

# Blood Pressure Service 1.1
CHAR_BLOOD_PRESSURE_MEASUREMENT: Final = 0x2A35  # indicate
CHAR_INTERMEDIATE_CUFF_PRESSURE: Final = 0x2A36  # notify, optional
CHAR_BLOOD_PRESSURE_FEATURE: Final = 0x2A49  # read

# Glucose Service 1.0
CHAR_GLUCOSE_MEASUREMENT: Final = 0x2A18  # notify
CHAR_GLUCOSE_MEASUREMENT_CONTEXT: Final = 0x2A34  # notify, optional
CHAR_GLUCOSE_FEATURE: Final = 0x2A51  # read
CHAR_RECORD_ACCESS_CONTROL_POINT: Final = 0x2A52  # write + indicate

# Current Time Service 1.1
CHAR_CURRENT_TIME: Final = 0x2A2B  # read, notify, optionally write

# Battery Service
CHAR_BATTERY_LEVEL: Final = 0x2A19

# Device Information Service
CHAR_MANUFACTURER_NAME: Final = 0x2A29
CHAR_MODEL_NUMBER: Final = 0x2A24
CHAR_SERIAL_NUMBER: Final = 0x2A25
CHAR_FIRMWARE_REVISION: Final = 0x2A26

# Client Characteristic Configuration descriptor (Core Vol 3 Part G §3.3.3.3) and its values.
DESCRIPTOR_CCCD: Final = 0x2902
CCCD_NOTIFY: Final = b"\x01\x00"
CCCD_INDICATE: Final = b"\x02\x00"

# ATT application errors a Glucose sensor returns on an RACP write (Core Specification
# Supplement Part B, common profile and service error codes; GLS 1.0 used 0x80/0x81 for these).
ATT_ERROR_CCCD_IMPROPERLY_CONFIGURED: Final = 0xFD
ATT_ERROR_PROCEDURE_ALREADY_IN_PROGRESS: Final = 0xFE

_UUID_128 = re.compile(r"^0000([0-9a-f]{4})-0000-1000-8000-00805f9b34fb$")


def uuid16_to_str(uuid16: int) -> str:
    """Expand a 16-bit SIG UUID to bleak's 128-bit form: 0x2A35 → "00002a35-0000-1000-8000-…"."""
    if not 0 <= uuid16 <= 0xFFFF:
        raise ValueError(f"a 16-bit UUID is 0..0xFFFF, got {uuid16:#x}")
    return f"0000{uuid16:04x}{BASE_UUID_SUFFIX}"


def uuid_str_to16(uuid: str) -> int | None:
    """The 16-bit SIG UUID inside a 128-bit UUID string, or None for a vendor (non-base) UUID."""
    match = _UUID_128.match(uuid.strip().lower())
    return int(match.group(1), 16) if match else None
