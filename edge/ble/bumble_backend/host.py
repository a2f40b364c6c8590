"""One shared bumble ``Device`` per HCI transport (or in-process controller) and event loop.

bleak creates a backend object per ``BleakScanner``/``BleakClient``; a radio, however, has one
host stack. Every backend object asks ``get_host`` for the stack behind its transport; the first
caller opens the transport and powers the device on (lazily), later callers share it. Scanning is
reference-counted across scanners, and LE connection set-up is serialised (a controller creates
one connection at a time).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bumble import hci
from bumble.controller import Controller
from bumble.device import Advertisement, Connection, Device
from bumble.host import Host
from bumble.keys import JsonKeyStore, KeyStore, MemoryKeyStore
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink, Transport

logger = logging.getLogger(__name__)

LOCAL_PREFIX = "local:"

_local_controllers: dict[str, Controller] = {}
_hosts: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, BumbleHost]] = (
    weakref.WeakKeyDictionary()
)
_creation_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)

AdvertisementListener = Callable[[Advertisement], None]


def register_local_controller(name: str, controller: Controller) -> None:
    """Make an in-process controller reachable as transport spec ``local:<name>``."""
    _local_controllers[name] = controller


def unregister_local_controller(name: str) -> None:
    """Forget a controller registered with ``register_local_controller``."""
    _local_controllers.pop(name, None)


def stable_static_address(seed: str) -> hci.Address:
    """A static random address derived from ``seed``, so a gateway keeps its identity (bonds)."""
    raw = bytearray(hashlib.sha256(seed.encode("utf-8")).digest()[:6])
    raw[0] |= 0xC0  # static random: two most significant bits set (Core Vol 6 Part B 1.3.2.1)
    text = ":".join(f"{octet:02X}" for octet in raw)
    return hci.Address(text, hci.Address.RANDOM_DEVICE_ADDRESS)


@dataclass
class BumbleHost:
    """A powered-on bumble device plus the bookkeeping bleak backends share."""

    key: str
    device: Device
    transport: Transport | None
    connect_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    listeners: set[AdvertisementListener] = field(default_factory=set)
    pairing_configs: dict[Connection, PairingConfig] = field(default_factory=dict)
    _scan_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self.device.on(self.device.EVENT_ADVERTISEMENT, self._on_advertisement)
        self.device.pairing_config_factory = self._pairing_config

    def _pairing_config(self, connection: Connection) -> PairingConfig:
        # The client that calls pair() leaves its config here; a peer-initiated pairing
        # (security request) gets Just Works with bonding.
        return self.pairing_configs.get(connection) or PairingConfig(
            sc=True, mitm=False, bonding=True, delegate=PairingDelegate()
        )

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        for listener in list(self.listeners):
            listener(advertisement)

    async def add_scanner(self, listener: AdvertisementListener, *, active: bool) -> None:
        """Deliver advertisements to ``listener``; the first scanner starts the controller scan."""
        async with self._scan_lock:
            self.listeners.add(listener)
            if not self.device.is_scanning:
                await self.device.start_scanning(active=active, filter_duplicates=False)

    async def remove_scanner(self, listener: AdvertisementListener) -> None:
        """Stop delivering to ``listener``; the last scanner stops the controller scan."""
        async with self._scan_lock:
            self.listeners.discard(listener)
            if not self.listeners and self.device.is_scanning:
                await self.device.stop_scanning()

    async def close(self) -> None:
        """Power the device off and close its transport."""
        try:
            await asyncio.wait_for(self.device.power_off(), timeout=2)
        except Exception:  # closing must go on even when the controller is gone
            logger.debug("bumble host %s: power off failed", self.key, exc_info=True)
        if self.transport is not None:
            await self.transport.close()


def _host_key(transport: str | None, controller: Controller | None) -> str:
    if controller is not None:
        return f"controller:{id(controller)}"
    if not transport:
        raise ValueError("the bumble backend needs bumble_transport=... or bumble_controller=...")
    return transport


async def get_host(
    *,
    transport: str | None = None,
    controller: Controller | None = None,
    address: str | None = None,
    keystore: str | KeyStore | None = None,
    name: str = "caredge-gateway",
) -> BumbleHost:
    """The shared host for ``transport`` (a bumble spec, or ``local:<name>``) or ``controller``."""
    loop = asyncio.get_running_loop()
    if transport and transport.startswith(LOCAL_PREFIX):
        local_name = transport[len(LOCAL_PREFIX) :]
        try:
            controller = _local_controllers[local_name]
        except KeyError:
            raise ValueError(f"no in-process controller registered as {local_name!r}") from None
    key = _host_key(transport, controller)
    hosts = _hosts.setdefault(loop, {})
    if key in hosts:
        return hosts[key]
    lock = _creation_locks.setdefault(loop, asyncio.Lock())
    async with lock:
        if key in hosts:
            return hosts[key]
        own_address = (
            hci.Address(address, hci.Address.RANDOM_DEVICE_ADDRESS)
            if address
            else stable_static_address(key if controller is None else f"{name}:{key}")
        )
        opened: Transport | None = None
        if controller is not None:
            device = Device(
                name=name,
                address=own_address,
                host=Host(controller, AsyncPipeSink(controller)),
            )
        else:
            assert transport is not None
            opened = await open_transport(transport)
            device = Device.with_hci(name, own_address, opened.source, opened.sink)
        # bumble's default IRK is all zeros; derive one from the identity instead.
        device.irk = hashlib.sha256(f"irk:{own_address}".encode()).digest()[:16]
        if isinstance(keystore, KeyStore):
            device.keystore = keystore
        elif isinstance(keystore, str):
            device.keystore = JsonKeyStore(namespace=str(own_address), filename=keystore)
        else:
            device.keystore = MemoryKeyStore()
        await device.power_on()
        host = BumbleHost(key=key, device=device, transport=opened)
        hosts[key] = host
        logger.info("bumble host %s up as %s", key, own_address)
        return host


async def close_hosts() -> None:
    """Close every host of the running loop (tests and clean shutdown)."""
    hosts = _hosts.pop(asyncio.get_running_loop(), {})
    for host in hosts.values():
        await host.close()


def host_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Pick the ``bumble_*`` keyword arguments bleak passed through to a backend."""
    return {
        "transport": kwargs.get("bumble_transport"),
        "controller": kwargs.get("bumble_controller"),
        "address": kwargs.get("bumble_address"),
        "keystore": kwargs.get("bumble_keystore"),
    }
