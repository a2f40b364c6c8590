"""Emulated blood-pressure meter: Blood Pressure Service 0x1810 (BLS 1.1).

Measurement 0x2A35 is indicate-only and its CCCD refuses writes on an unencrypted link, so only
a bonded (encrypted) collector can subscribe. The meter keeps every reading it has not yet
handed over; when a collector subscribes on an encrypted link it indicates them oldest first
(each removed once the collector confirms it), and indicates new readings while the collector
stays subscribed. It advertises 0x1810 while it holds untransferred readings and, like real
meters, can disconnect a while after the transfer (``disconnect_after_transfer_s``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from bumble import gatt
from bumble.device import Connection

from firmware_sim.meters import MeterPeripheral, Permissions, Properties, encoding, uuid16

logger = logging.getLogger(__name__)

SERVICE_BLOOD_PRESSURE = 0x1810
CHAR_BP_MEASUREMENT = 0x2A35
CHAR_BP_FEATURE = 0x2A49

DEFAULT_FEATURES = (
    encoding.BPFeature.BODY_MOVEMENT_DETECTION
    | encoding.BPFeature.CUFF_FIT_DETECTION
    | encoding.BPFeature.IRREGULAR_PULSE_DETECTION
    | encoding.BPFeature.PULSE_RATE_RANGE_DETECTION
    | encoding.BPFeature.MEASUREMENT_POSITION_DETECTION
)


class BloodPressureMeter(MeterPeripheral):
    """A BP meter peripheral; ``add_reading`` stores a reading and returns its encoded frame."""

    service_uuid = SERVICE_BLOOD_PRESSURE

    def __init__(
        self,
        *,
        name: str = "CE-BP",
        features: int = int(DEFAULT_FEATURES),
        disconnect_after_transfer_s: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.features = features
        self.disconnect_after_transfer_s = disconnect_after_transfer_s
        self.pending: deque[bytes] = deque()
        self.delivered: list[bytes] = []
        self._measurement: gatt.Characteristic[bytes] | None = None
        self._transfer_lock = asyncio.Lock()

    def add_reading(self, reading: encoding.BPReading) -> bytes:
        """Store a reading (as the meter would after a measurement) and return its frame."""
        frame = encoding.bp_measurement(reading)
        self.pending.append(frame)
        logger.info("%s: new reading %s", self.name, frame.hex())
        if self.device is not None and self._started:
            self._spawn(self._after_new_reading())
        return frame

    def has_data(self) -> bool:
        return bool(self.pending)

    def profile_services(self) -> list[gatt.Service]:
        self._measurement = gatt.Characteristic(
            uuid16(CHAR_BP_MEASUREMENT),
            Properties.INDICATE,
            Permissions(0),
            b"",
        )
        feature = gatt.Characteristic(
            uuid16(CHAR_BP_FEATURE),
            Properties.READ,
            Permissions.READABLE,
            encoding.u16(self.features),
        )
        self._measurement.on(
            self._measurement.EVENT_SUBSCRIPTION, self._on_measurement_subscription
        )
        return [gatt.Service(uuid16(SERVICE_BLOOD_PRESSURE), [self._measurement, feature])]

    def _after_services_added(self) -> None:
        assert self._measurement is not None
        self.require_encrypted_cccd(self._measurement)

    # --- transfer ------------------------------------------------------------------------------

    def _on_measurement_subscription(
        self, connection: Connection, notify_enabled: bool, indicate_enabled: bool
    ) -> None:
        logger.info(
            "%s: collector %s measurement CCCD notify=%s indicate=%s",
            self.name,
            connection.peer_address,
            notify_enabled,
            indicate_enabled,
        )
        if indicate_enabled:
            self._spawn(self._transfer(connection))

    async def _after_new_reading(self) -> None:
        await self.refresh_advertising()
        for connection in list(self.connections):
            if self._can_deliver(connection):
                await self._transfer(connection)

    def _can_deliver(self, connection: Connection) -> bool:
        assert self._measurement is not None
        return connection.is_encrypted and bool(
            self.subscribed(connection, self._measurement) & 0x0002
        )

    async def _transfer(self, connection: Connection) -> None:
        """Indicate pending readings to ``connection``, oldest first, each one confirmed."""
        assert self.device is not None and self._measurement is not None
        # Let the collector's CCCD write response go out before the first indication.
        await asyncio.sleep(0.01)
        async with self._transfer_lock:
            sent = 0
            while self.pending and self._can_deliver(connection):
                frame = self.pending[0]
                await self.device.indicate_subscriber(connection, self._measurement, frame)
                if self.pending and self.pending[0] is frame:
                    self.pending.popleft()
                    self.delivered.append(frame)
                    sent += 1
            if sent:
                logger.info("%s: indicated %d reading(s)", self.name, sent)
                await self.refresh_advertising()
                if self.disconnect_after_transfer_s is not None and not self.pending:
                    await asyncio.sleep(self.disconnect_after_transfer_s)
                    if connection in self.connections:
                        await connection.disconnect()
