"""A bleak backend on the bumble host stack (HCI over a bumble transport, no BlueZ needed).

Select it with ``BleakScanner(..., backend=BleakScannerBumble, bumble_transport=SPEC)`` and
``BleakClient(..., backend=BleakClientBumble, bumble_transport=SPEC)``; the gateway gets these
from ``edge.ble.backend.backend_from_config`` and never imports this package itself.
"""

from __future__ import annotations

from edge.ble.bumble_backend.client import BleakClientBumble
from edge.ble.bumble_backend.host import close_hosts, register_local_controller
from edge.ble.bumble_backend.scanner import BleakScannerBumble, BumbleDeviceDetails

__all__ = [
    "BleakClientBumble",
    "BleakScannerBumble",
    "BumbleDeviceDetails",
    "close_hosts",
    "register_local_controller",
]
