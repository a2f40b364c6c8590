"""bleak client backend on a bumble host stack: connect, bond, GATT by handle, notifications."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, cast

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CHARACTERISTIC_PROPERTIES, CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError, BleakGATTProtocolError
from bleak.uuids import normalize_uuid_str
from bumble import att, core, hci
from bumble.device import Connection, Peer
from bumble.gatt_client import CharacteristicProxy
from bumble.pairing import PairingConfig, PairingDelegate

from edge.ble.bumble_backend.host import BumbleHost, get_host, host_kwargs
from edge.ble.bumble_backend.scanner import BumbleDeviceDetails

logger = logging.getLogger(__name__)

PREFERRED_MTU = 247
PasskeySource = int | Callable[[], Any] | None


def bleak_uuid(value: core.UUID) -> str:
    """A bumble UUID as bleak's normalised 128-bit lowercase string."""
    raw = bytes(reversed(value.to_bytes(force_128=True)))
    hex_text = raw.hex()
    return normalize_uuid_str(
        f"{hex_text[:8]}-{hex_text[8:12]}-{hex_text[12:16]}-{hex_text[16:20]}-{hex_text[20:]}"
    )


def _properties(bits: int) -> list[CharacteristicPropertyName]:
    return [name for bit, name in CHARACTERISTIC_PROPERTIES.items() if bits & bit]


def _peer_address(address_or_ble_device: BLEDevice | str) -> hci.Address:
    if isinstance(address_or_ble_device, BLEDevice) and isinstance(
        address_or_ble_device.details, BumbleDeviceDetails
    ):
        return address_or_ble_device.details.address
    text = (
        address_or_ble_device.address
        if isinstance(address_or_ble_device, BLEDevice)
        else address_or_ble_device
    )
    # Meters use static random addresses; "AA:BB:…/P" selects a public one (bumble syntax).
    return hci.Address(text, hci.Address.RANDOM_DEVICE_ADDRESS)


class _CollectorPairingDelegate(PairingDelegate):
    """The gateway's side of pairing: types the meter's passkey, or pairs Just Works."""

    def __init__(self, passkey: PasskeySource) -> None:
        super().__init__(
            io_capability=(
                PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT
                if passkey is None
                else PairingDelegate.IoCapability.KEYBOARD_INPUT_ONLY
            )
        )
        self._passkey = passkey

    async def get_number(self) -> int | None:
        if callable(self._passkey):
            result = self._passkey()
            if asyncio.iscoroutine(result):
                result = await result
            return None if result is None else int(result)
        return self._passkey


def _protocol_error(error: att.ATT_Error) -> BleakGATTProtocolError:
    return BleakGATTProtocolError(int(error.error_code))


class BleakClientBumble(BaseBleakClient):
    """bleak client on bumble; extra keyword arguments: ``bumble_transport`` or
    ``bumble_controller`` (which host), ``bumble_passkey`` (int or callable; None = Just Works),
    ``bumble_address`` / ``bumble_keystore`` (gateway identity and bond store)."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        services: set[str] | None = None,
        timeout: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device,
            disconnected_callback=disconnected_callback,
            timeout=timeout,
            **kwargs,
        )
        self._peer_address = _peer_address(address_or_ble_device)
        self._name = (
            address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice) else None
        )
        self._service_filter = services
        self._host_kwargs = host_kwargs(kwargs)
        self._passkey: PasskeySource = kwargs.get("bumble_passkey")
        self._host: BumbleHost | None = None
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._subscriptions: dict[int, Callable[[bytes], None]] = {}

    # --- properties ----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else att.ATT_DEFAULT_MTU

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    # --- connection ----------------------------------------------------------------------------

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if self._connection is not None:
            return
        timeout = float(kwargs.get("timeout", self._timeout))
        self._host = await get_host(**self._host_kwargs)
        device = self._host.device
        try:
            async with self._host.connect_lock:
                connection = await device.connect(self._peer_address, timeout=timeout)
        except (core.TimeoutError, TimeoutError) as error:
            raise TimeoutError(
                f"connecting to {self.address} timed out after {timeout}s"
            ) from error
        except core.BaseBumbleError as error:
            raise BleakError(f"connecting to {self.address} failed: {error}") from error
        self._connection = connection
        self._peer = Peer(connection)
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        try:
            try:
                await self._peer.request_mtu(PREFERRED_MTU)
            except (att.ATT_Error, core.BaseBumbleError):
                logger.debug("%s: MTU exchange refused, staying at 23", self.address)
            if pair:
                await self.pair()
            elif await self._bonded():
                # A bonded reconnection encrypts with the stored key before anything else
                # (the meters only hand stored readings to an encrypted, bonded collector).
                await self._encrypt()
            self.services = await self._discover()
        except BaseException:
            await self.disconnect()
            raise

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        try:
            await connection.disconnect()
        except core.BaseBumbleError:
            logger.debug("%s: disconnect raced with the link going down", self.address)
        # _on_disconnection runs from the HCI event; make sure state is clear either way.
        if self._connection is connection:
            self._clear()

    def _on_disconnection(self, reason: int) -> None:
        logger.info("%s: disconnected (0x%02X)", self.address, reason)
        self._clear()
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    def _clear(self) -> None:
        self._connection = None
        self._peer = None
        self._subscriptions.clear()

    # --- pairing -------------------------------------------------------------------------------

    async def _bonded(self) -> bool:
        keystore = self._host.device.keystore if self._host else None
        return keystore is not None and await keystore.get(str(self._peer_address)) is not None

    async def _encrypt(self) -> None:
        assert self._host is not None and self._connection is not None
        await self._host.device.encrypt(self._connection)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Bond with the peer (LE Secure Connections); ``passkey=`` overrides ``bumble_passkey``."""
        connection = self._require_connection()
        assert self._host is not None
        if connection.is_encrypted:
            return
        if await self._bonded():
            try:
                await self._encrypt()
                return
            except (hci.HCI_Error, core.BaseBumbleError) as error:
                logger.warning("%s: stored bond rejected (%s), pairing again", self.address, error)
        passkey = kwargs.get("passkey", self._passkey)
        config = PairingConfig(
            sc=True,
            mitm=passkey is not None,
            bonding=True,
            delegate=_CollectorPairingDelegate(passkey),
        )
        self._host.pairing_configs[connection] = config
        try:
            await self._host.device.pair(connection)
        except (hci.HCI_Error, core.BaseBumbleError) as error:
            raise BleakError(f"pairing with {self.address} failed: {error}") from error
        finally:
            self._host.pairing_configs.pop(connection, None)
        logger.info("%s: bonded, link encrypted", self.address)

    async def unpair(self) -> None:
        """Forget the bond and disconnect."""
        self._host = self._host or await get_host(**self._host_kwargs)
        keystore = self._host.device.keystore
        if keystore is not None:
            with contextlib.suppress(KeyError):
                await keystore.delete(str(self._peer_address))
        await self.disconnect()

    # --- services ------------------------------------------------------------------------------

    async def _discover(self) -> BleakGATTServiceCollection:
        assert self._peer is not None
        collection = BleakGATTServiceCollection()
        await self._peer.discover_services()
        for service_proxy in list(self._peer.services):
            service_uuid = bleak_uuid(service_proxy.uuid)
            if self._service_filter and service_uuid not in self._service_filter:
                continue
            service = BleakGATTService(service_proxy, service_proxy.handle, service_uuid)
            collection.add_service(service)
            for proxy in await self._peer.discover_characteristics(service=service_proxy):
                characteristic = BleakGATTCharacteristic(
                    proxy,
                    proxy.handle,
                    bleak_uuid(proxy.uuid),
                    _properties(int(proxy.properties)),
                    lambda: self.mtu_size - 3,
                    service,
                )
                collection.add_characteristic(characteristic)
                for descriptor_proxy in await self._peer.discover_descriptors(proxy):
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor_proxy,
                            descriptor_proxy.handle,
                            bleak_uuid(descriptor_proxy.type),
                            characteristic,
                        )
                    )
        return collection

    # --- I/O -----------------------------------------------------------------------------------

    def _require_connection(self) -> Connection:
        if self._connection is None:
            raise BleakError("Not connected")
        return self._connection

    def _require_peer(self) -> Peer:
        self._require_connection()
        assert self._peer is not None
        return self._peer

    async def _read(self, handle: int, use_cached: bool) -> bytearray:
        peer = self._require_peer()
        if use_cached and handle in peer.gatt_client.cached_values:
            return bytearray(peer.gatt_client.cached_values[handle][1])
        try:
            return bytearray(await peer.read_value(handle))
        except att.ATT_Error as error:
            raise _protocol_error(error) from error

    async def _write(self, handle: int, data: SizedBuffer, response: bool) -> None:
        peer = self._require_peer()
        try:
            await peer.gatt_client.write_value(handle, bytes(data), with_response=response)
        except att.ATT_Error as error:
            raise _protocol_error(error) from error

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return await self._read(characteristic.handle, use_cached)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return await self._read(descriptor.handle, use_cached)

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        await self._write(characteristic.handle, data, response)

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        await self._write(descriptor.handle, data, True)

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        """Write the CCCD: 01 00 (notify) when supported, else 02 00 (indicate)."""
        peer = self._require_peer()
        proxy = cast(CharacteristicProxy[bytes], characteristic.obj)

        def subscriber(value: bytes) -> None:
            callback(bytearray(value))

        client = peer.gatt_client
        try:
            await client.subscribe(proxy, subscriber, prefer_notify=True)
        except att.ATT_Error as error:
            # bumble registers the subscriber before writing the CCCD; undo that.
            for table in (client.notification_subscribers, client.indication_subscribers):
                subscribers = table.get(proxy.handle)
                if subscribers is not None:
                    subscribers.discard(subscriber)
                    if subscribers <= {proxy}:
                        del table[proxy.handle]
            raise _protocol_error(error) from error
        self._subscriptions[characteristic.handle] = subscriber

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._require_peer()
        proxy = cast(CharacteristicProxy[bytes], characteristic.obj)
        subscriber = self._subscriptions.pop(characteristic.handle, None)
        try:
            await peer.gatt_client.unsubscribe(proxy, subscriber, force=True)
        except att.ATT_Error as error:
            raise _protocol_error(error) from error
