"""Pick the bleak backend from configuration: ``bluez`` (bleak's default) or ``bumble:<spec>``."""

from __future__ import annotations

from typing import Any, NamedTuple

from bleak.backends.client import BaseBleakClient
from bleak.backends.scanner import BaseBleakScanner

BUMBLE_PREFIX = "bumble:"


class BleBackend(NamedTuple):
    """Backend classes and extra kwargs for ``BleakScanner``/``BleakClient(backend=..., **kwargs)``.

    ``scanner`` and ``client`` are None for bleak's platform default (BlueZ on Linux).
    """

    scanner: type[BaseBleakScanner] | None
    client: type[BaseBleakClient] | None
    kwargs: dict[str, Any]


def backend_from_config(spec: str, **options: Any) -> BleBackend:
    """``bluez`` → (None, None, {}); ``bumble:<transport>`` → the bumble backend classes + kwargs.

    ``<transport>`` is any bumble transport spec (``tcp-client:127.0.0.1:7001``, ``usb:0``, or
    ``local:<name>`` for a controller registered in this process). ``options`` become extra
    keyword arguments with a ``bumble_`` prefix: ``passkey=123456`` → ``bumble_passkey``,
    ``keystore=path`` → ``bumble_keystore``, ``address=...`` → ``bumble_address``.
    """
    spec = spec.strip()
    if spec.lower() in ("", "bluez", "default"):
        return BleBackend(None, None, {})
    if not spec.startswith(BUMBLE_PREFIX) or len(spec) == len(BUMBLE_PREFIX):
        raise ValueError(f"unknown BLE backend {spec!r}: use 'bluez' or 'bumble:<transport spec>'")
    from edge.ble.bumble_backend import BleakClientBumble, BleakScannerBumble

    kwargs: dict[str, Any] = {"bumble_transport": spec[len(BUMBLE_PREFIX) :]}
    kwargs.update({f"bumble_{key}": value for key, value in options.items() if value is not None})
    return BleBackend(BleakScannerBumble, BleakClientBumble, kwargs)
