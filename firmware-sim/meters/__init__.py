"""Emulated Bluetooth SIG meters on bumble: the common peripheral (DIS, Battery, CTS, bonding).

A meter owns one bumble ``Device`` on a virtual controller (see ``firmware_sim.radio``). This
base class adds what every caredge meter exposes besides its own profile: Device Information
0x180A, Battery 0x180F (level read + notify), Current Time 0x1805 (0x2A2B read/write/notify),
LE Secure Connections bonding with a displayed passkey (or Just Works when ``passkey`` is None),
and advertising of its primary service UUID while it has data for a collector.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from bumble import att, data_types, gatt
from bumble.core import AdvertisingData
from bumble.device import Connection, Device
from bumble.keys import MemoryKeyStore
from bumble.pairing import PairingConfig, PairingDelegate

from firmware_sim.meters import encoding

logger = logging.getLogger(__name__)

SERVICE_DEVICE_INFORMATION = 0x180A
SERVICE_BATTERY = 0x180F
SERVICE_CURRENT_TIME = 0x1805
CHAR_MANUFACTURER_NAME = 0x2A29
CHAR_MODEL_NUMBER = 0x2A24
CHAR_SERIAL_NUMBER = 0x2A25
CHAR_FIRMWARE_REVISION = 0x2A26
CHAR_BATTERY_LEVEL = 0x2A19
CHAR_CURRENT_TIME = 0x2A2B
CCCD_UUID = gatt.GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR

Properties = gatt.Characteristic.Properties
Permissions = att.Attribute.Permissions

__all__ = [
    "MeterPeripheral",
    "encoding",
    "uuid16",
]


def uuid16(value: int) -> gatt.UUID:
    """A bumble UUID from a 16-bit SIG number."""
    return gatt.UUID.from_16_bits(value)


class _MeterPairingDelegate(PairingDelegate):
    """Shows a fixed passkey (a real meter prints it on its display) or pairs Just Works."""

    def __init__(self, passkey: int | None) -> None:
        super().__init__(
            io_capability=(
                PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT
                if passkey is None
                else PairingDelegate.IoCapability.DISPLAY_OUTPUT_ONLY
            )
        )
        self._passkey = passkey

    async def generate_passkey(self) -> int:
        return 0 if self._passkey is None else self._passkey

    async def display_number(self, number: int, digits: int) -> None:
        logger.info("meter displays passkey %0*d", digits, number)


class MeterPeripheral:
    """Common part of an emulated meter; subclasses add their profile in ``profile_services``."""

    service_uuid: int = 0
    appearance: int | None = None

    def __init__(
        self,
        *,
        name: str,
        address: str | None = None,
        passkey: int | None = 123456,
        manufacturer: str = "caredge-sim",
        model: str = "SIM-1",
        serial: str = "0001",
        firmware: str = "1.0.0",
        battery_level: int = 95,
        clock: datetime | None = None,
        advertise_always: bool = False,
        advertising_interval_ms: float = 20.0,
    ) -> None:
        self.name = name
        self.address = address
        self.passkey = passkey
        self.manufacturer = manufacturer
        self.model = model
        self.serial = serial
        self.firmware = firmware
        self.advertise_always = advertise_always
        self.advertising_interval_ms = advertising_interval_ms
        self._battery_level = battery_level
        self._clock_offset = (clock - datetime.now()) if clock is not None else timedelta(0)
        self.device: Device | None = None
        self.connections: list[Connection] = []
        self._started = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._advertising_lock = asyncio.Lock()
        self._battery_char: gatt.Characteristic[bytes] | None = None
        self._current_time_char: gatt.Characteristic[bytes] | None = None

    # --- wiring --------------------------------------------------------------------------------

    def attach(self, device: Device) -> None:
        """Install services, pairing and key store on the bumble device the radio made for us."""
        self.device = device
        device.keystore = MemoryKeyStore()
        device.pairing_config_factory = lambda _connection: PairingConfig(
            sc=True,
            mitm=self.passkey is not None,
            bonding=True,
            delegate=_MeterPairingDelegate(self.passkey),
        )
        services = [*self.profile_services(), *self._common_services()]
        device.add_services(services)
        self._after_services_added()
        device.on(device.EVENT_CONNECTION, self._on_connection)

    async def start(self) -> None:
        """Start advertising if there is something to collect (called once powered on)."""
        self._started = True
        await self.refresh_advertising()

    async def stop(self) -> None:
        """Cancel background work (the radio powers the device off)."""
        self._started = False
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()

    def profile_services(self) -> list[gatt.Service]:
        """The meter's own profile services (override)."""
        return []

    def _after_services_added(self) -> None:
        """Hook run once handles are assigned (override to tighten CCCD permissions)."""

    def has_data(self) -> bool:
        """Whether the meter holds data a collector has not taken yet (override)."""
        return False

    # --- advertising ---------------------------------------------------------------------------

    def advertising_data(self) -> bytes:
        """Flags, the primary service UUID and the complete local name (fits 31 bytes)."""
        structures: list[Any] = [
            data_types.Flags(
                AdvertisingData.Flags.LE_GENERAL_DISCOVERABLE_MODE
                | AdvertisingData.Flags.BR_EDR_NOT_SUPPORTED
            ),
            data_types.IncompleteListOf16BitServiceUUIDs([uuid16(self.service_uuid)]),
            data_types.CompleteLocalName(self.name),
        ]
        return bytes(AdvertisingData(structures))

    async def refresh_advertising(self) -> None:
        """Advertise while there is new data (or always), never while connected."""
        device = self.device
        if device is None or not self._started:
            return
        # Serialised: bumble's start/stop_advertising are not safe to interleave.
        async with self._advertising_lock:
            want = (self.advertise_always or self.has_data()) and not self.connections
            if want and not device.is_advertising:
                await device.start_advertising(
                    advertising_data=self.advertising_data(),
                    advertising_interval_min=self.advertising_interval_ms,
                    advertising_interval_max=self.advertising_interval_ms,
                )
            elif not want and device.is_advertising:
                await device.stop_advertising()

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("%s: background task failed", self.name, exc_info=task.exception())

    # --- connections ---------------------------------------------------------------------------

    def _on_connection(self, connection: Connection) -> None:
        logger.info("%s: connected to %s", self.name, connection.peer_address)
        self.connections.append(connection)
        connection.on(
            connection.EVENT_DISCONNECTION,
            lambda reason: self._on_disconnection(connection, reason),
        )
        connection.on(
            connection.EVENT_CONNECTION_ENCRYPTION_CHANGE,
            lambda: self.on_encrypted(connection) if connection.is_encrypted else None,
        )

    def _on_disconnection(self, connection: Connection, reason: int) -> None:
        logger.info("%s: disconnected from %s (0x%02X)", self.name, connection.peer_address, reason)
        if connection in self.connections:
            self.connections.remove(connection)
        self.on_disconnected(connection)
        self._spawn(self.refresh_advertising())

    def on_encrypted(self, connection: Connection) -> None:
        """Hook: the link was encrypted (after pairing or with a stored bond)."""

    def on_disconnected(self, connection: Connection) -> None:
        """Hook: a collector went away."""

    def subscribed(self, connection: Connection, characteristic: gatt.Characteristic[Any]) -> int:
        """The CCCD value this connection wrote for ``characteristic`` (0 if none)."""
        assert self.device is not None
        cccd = self.device.gatt_server.subscribers.get(connection, {}).get(characteristic.handle)
        if not cccd or len(cccd) != 2:
            return 0
        return int.from_bytes(cccd, "little")

    def require_encrypted_cccd(self, characteristic: gatt.Characteristic[Any]) -> None:
        """Make the auto-added CCCD of ``characteristic`` refuse writes on an unencrypted link."""
        assert self.device is not None
        server = self.device.gatt_server
        for handle in range(characteristic.handle + 1, characteristic.end_group_handle + 1):
            attribute = server.get_attribute(handle)
            if attribute is not None and attribute.type == CCCD_UUID:
                attribute.permissions |= Permissions.WRITE_REQUIRES_ENCRYPTION
                return
        raise LookupError(f"no CCCD for characteristic 0x{characteristic.handle:04X}")

    # --- battery, clock, device information -----------------------------------------------------

    @property
    def battery_level(self) -> int:
        """Battery level in percent."""
        return self._battery_level

    async def set_battery_level(self, level: int) -> None:
        """Change the battery level and notify subscribed collectors."""
        self._battery_level = max(0, min(100, level))
        if self.device is not None and self._battery_char is not None:
            await self.device.notify_subscribers(self._battery_char, bytes([self._battery_level]))

    def now(self) -> datetime:
        """The meter's own clock (it drifts from the host clock by what a collector wrote)."""
        return datetime.now() + self._clock_offset

    def set_clock(self, moment: datetime) -> None:
        """Set the meter's clock (as a user or a collector would)."""
        self._clock_offset = moment - datetime.now()

    def _read_current_time(self, _connection: Connection | None) -> bytes:
        return encoding.current_time(self.now())

    def _write_current_time(self, _connection: Connection | None, value: bytes) -> None:
        try:
            moment = encoding.parse_current_time(value)
        except ValueError as error:
            raise att.ATT_Error(att.ErrorCode.INVALID_ATTRIBUTE_LENGTH) from error
        self.set_clock(moment)
        logger.info("%s: clock set to %s", self.name, moment.isoformat())

    def _common_services(self) -> list[gatt.Service]:
        readable = Permissions.READABLE
        device_information = gatt.Service(
            uuid16(SERVICE_DEVICE_INFORMATION),
            [
                gatt.Characteristic(uuid16(uuid), Properties.READ, readable, text.encode("utf-8"))
                for uuid, text in (
                    (CHAR_MANUFACTURER_NAME, self.manufacturer),
                    (CHAR_MODEL_NUMBER, self.model),
                    (CHAR_SERIAL_NUMBER, self.serial),
                    (CHAR_FIRMWARE_REVISION, self.firmware),
                )
            ],
        )
        self._battery_char = gatt.Characteristic(
            uuid16(CHAR_BATTERY_LEVEL),
            Properties.READ | Properties.NOTIFY,
            readable,
            gatt.CharacteristicValue(read=lambda _connection: bytes([self._battery_level])),
        )
        battery = gatt.Service(uuid16(SERVICE_BATTERY), [self._battery_char])
        self._current_time_char = gatt.Characteristic(
            uuid16(CHAR_CURRENT_TIME),
            Properties.READ | Properties.WRITE | Properties.NOTIFY,
            Permissions.READABLE | Permissions.WRITEABLE | Permissions.WRITE_REQUIRES_ENCRYPTION,
            gatt.CharacteristicValue(read=self._read_current_time, write=self._write_current_time),
        )
        current_time = gatt.Service(uuid16(SERVICE_CURRENT_TIME), [self._current_time_char])
        return [device_information, battery, current_time]
