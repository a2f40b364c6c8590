"""bleak's public API against emulated meters through the bumble backend.

In-process tests put meters, beacons and a gateway controller on one bumble LocalLink; the
two-process test runs ``python -m firmware_sim.cli`` and attaches over its TCP HCI transport.
Expected frames come from the simulator's own encoders; checks on their bytes are minimal and
independent of the gateway's parsers.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakGATTProtocolError, BleakGATTProtocolErrorCode
from bleak.uuids import normalize_uuid_16

from edge.ble.backend import backend_from_config
from edge.ble.bumble_backend import (
    BleakClientBumble,
    BleakScannerBumble,
    close_hosts,
    register_local_controller,
)
from firmware_sim.beacons import IBeacon
from firmware_sim.meters import encoding
from firmware_sim.meters.blood_pressure import BloodPressureMeter
from firmware_sim.meters.glucose import GlucoseMeter
from firmware_sim.radio import VirtualRadio
from tests.fixtures.ports import free_port

REPO = Path(__file__).resolve().parents[2]
PASSKEY = 246810

BP_SERVICE = normalize_uuid_16(0x1810)
BP_MEASUREMENT = normalize_uuid_16(0x2A35)
BP_FEATURE = normalize_uuid_16(0x2A49)
GLUCOSE_SERVICE = normalize_uuid_16(0x1808)
GLUCOSE_MEASUREMENT = normalize_uuid_16(0x2A18)
GLUCOSE_CONTEXT = normalize_uuid_16(0x2A34)
GLUCOSE_FEATURE = normalize_uuid_16(0x2A51)
RACP = normalize_uuid_16(0x2A52)
BATTERY_LEVEL = normalize_uuid_16(0x2A19)
MANUFACTURER = normalize_uuid_16(0x2A29)
MODEL = normalize_uuid_16(0x2A24)
SERIAL = normalize_uuid_16(0x2A25)
FIRMWARE = normalize_uuid_16(0x2A26)
CURRENT_TIME = normalize_uuid_16(0x2A2B)
CCCD = normalize_uuid_16(0x2902)
BEACON_UUID = uuid.UUID("e2c56db5-dffb-48d2-b060-d0f5a71096e0")

T = TypeVar("T")


def run(test: Callable[[], Awaitable[T]], timeout: float = 20.0) -> T:
    """Run an async test body on a fresh loop, closing the shared bumble hosts afterwards."""

    async def body() -> T:
        try:
            return await asyncio.wait_for(test(), timeout)
        finally:
            await close_hosts()

    return asyncio.run(body())


async def home(**bp_options: Any) -> tuple[VirtualRadio, BloodPressureMeter, GlucoseMeter, IBeacon]:
    radio = VirtualRadio()
    bp = await radio.add(
        BloodPressureMeter(
            name="CE-BP-T", passkey=PASSKEY, model="BP-7", serial="SN-BP-1", **bp_options
        )
    )
    glucose = await radio.add(GlucoseMeter(name="CE-GLU-T", passkey=PASSKEY, serial="SN-GLU-1"))
    beacon = await radio.add(IBeacon(BEACON_UUID, major=3, minor=9, measured_power=-61))
    return radio, bp, glucose, beacon


def in_process_kwargs(radio: VirtualRadio) -> dict[str, Any]:
    return {"bumble_controller": radio.gateway_controller("gw-test"), "bumble_passkey": PASSKEY}


async def discover(
    kwargs: dict[str, Any], seconds: float = 0.3
) -> dict[str, tuple[BLEDevice, AdvertisementData]]:
    async with BleakScanner(backend=BleakScannerBumble, **kwargs) as scanner:
        await asyncio.sleep(seconds)
        return {
            adv.local_name or device.address: (device, adv)
            for device, adv in scanner.discovered_devices_and_advertisement_data.values()
        }


async def find(kwargs: dict[str, Any], service: str) -> BLEDevice:
    device = await BleakScanner.find_device_by_filter(
        lambda _d, adv: service in adv.service_uuids,
        timeout=5,
        backend=BleakScannerBumble,
        **kwargs,
    )
    assert device is not None, f"nothing advertises {service}"
    return device


def sample_reading(systolic: int, diastolic: int) -> encoding.BPReading:
    return encoding.BPReading(
        systolic=systolic,
        diastolic=diastolic,
        mean_arterial=round((systolic + 2 * diastolic) / 3),
        timestamp=datetime(2024, 5, 1, 8, 30, 0),
        pulse=71,
        status=encoding.BPStatus.IRREGULAR_PULSE,
    )


# --- configuration --------------------------------------------------------------------------


def test_backend_from_config() -> None:
    assert tuple(backend_from_config("bluez")) == (None, None, {})
    scanner, client, kwargs = backend_from_config("bumble:tcp-client:127.0.0.1:7001", passkey=1)
    assert scanner is BleakScannerBumble and client is BleakClientBumble
    assert kwargs == {"bumble_transport": "tcp-client:127.0.0.1:7001", "bumble_passkey": 1}
    with pytest.raises(ValueError):
        backend_from_config("winrt")


def test_rssi_model_and_local_transport_spec() -> None:
    async def body() -> None:
        radio = VirtualRadio(rssi_model=lambda gateway, address: -72 if gateway == "hall" else None)
        beacon = await radio.add(IBeacon(BEACON_UUID, major=1, minor=1))
        async with radio:
            register_local_controller("hall", radio.gateway_controller("hall"))
            _scanner, _client, kwargs = backend_from_config("bumble:local:hall")
            seen = await discover(kwargs)
        assert seen[beacon.address][1].rssi == -72

    run(body)


# --- item 1: discovery, bonding, indications, DIS / battery / CTS ----------------------------


def test_scanner_reports_meters_and_ibeacon() -> None:
    async def body() -> None:
        radio, bp, glucose, beacon = await home()
        bp.add_reading(sample_reading(121, 79))
        glucose.add_record(0.000095)
        async with radio:
            seen = await discover(in_process_kwargs(radio))
        _bp_device, bp_adv = seen["CE-BP-T"]
        assert bp_adv.service_uuids == [BP_SERVICE]
        assert _bp_device.address == bp.address
        _glu_device, glu_adv = seen["CE-GLU-T"]
        assert glu_adv.service_uuids == [GLUCOSE_SERVICE]
        beacon_device, beacon_adv = seen[beacon.address]
        assert beacon_adv.manufacturer_data == {0x004C: beacon.manufacturer_data()}
        data = beacon_adv.manufacturer_data[0x004C]
        assert data[:2] == b"\x02\x15" and data[2:18] == BEACON_UUID.bytes
        assert (int.from_bytes(data[18:20], "big"), int.from_bytes(data[20:22], "big")) == (3, 9)
        assert int.from_bytes(data[22:23], "big", signed=True) == -61
        assert isinstance(beacon_adv.rssi, int)
        assert beacon_device.address == beacon.address

    run(body)


def test_scanner_service_filter() -> None:
    async def body() -> None:
        radio, bp, glucose, _beacon = await home()
        bp.add_reading(sample_reading(121, 79))
        glucose.add_record(0.000095)
        async with (
            radio,
            BleakScanner(
                service_uuids=[GLUCOSE_SERVICE],
                backend=BleakScannerBumble,
                **in_process_kwargs(radio),
            ) as scanner,
        ):
            await asyncio.sleep(0.3)
            names = {
                adv.local_name
                for _d, adv in scanner.discovered_devices_and_advertisement_data.values()
            }
        assert names == {"CE-GLU-T"}

    run(body)


def test_bp_meter_bonds_and_indicates_stored_readings() -> None:
    async def body() -> None:
        radio, bp, _glucose, _beacon = await home()
        frames = [bp.add_reading(sample_reading(121, 79)), bp.add_reading(sample_reading(165, 101))]
        async with radio:
            kwargs = in_process_kwargs(radio)
            device = await find(kwargs, BP_SERVICE)
            started = time.monotonic()
            async with BleakClient(
                device, backend=BleakClientBumble, pair=True, **kwargs
            ) as client:
                connect_s = time.monotonic() - started
                assert client.is_connected and connect_s < 2
                assert client.services.get_service(BP_SERVICE) is not None
                measurement = client.services.get_characteristic(BP_MEASUREMENT)
                assert measurement.properties == ["indicate"]
                assert [d.uuid for d in measurement.descriptors] == [CCCD]
                assert await client.read_gatt_char(BP_FEATURE) == encoding.u16(bp.features)
                assert (await client.read_gatt_char(BATTERY_LEVEL))[0] == bp.battery_level
                assert await client.read_gatt_char(MANUFACTURER) == b"caredge-sim"
                assert await client.read_gatt_char(MODEL) == b"BP-7"
                assert await client.read_gatt_char(SERIAL) == b"SN-BP-1"
                assert await client.read_gatt_char(FIRMWARE) == b"1.0.0"
                clock = await client.read_gatt_char(CURRENT_TIME)
                assert len(clock) == 10 and int.from_bytes(clock[:2], "little") >= 2024
                target = datetime(2031, 2, 3, 4, 5, 6)
                await client.write_gatt_char(
                    CURRENT_TIME, encoding.current_time(target), response=True
                )
                clock = await client.read_gatt_char(CURRENT_TIME)
                assert clock[:7] == encoding.date_time(target)[:6] + clock[6:7]
                assert abs((bp.now() - target).total_seconds()) < 5

                received: asyncio.Queue[bytes] = asyncio.Queue()
                await client.start_notify(
                    measurement, lambda _c, data: received.put_nowait(bytes(data))
                )
                got = [await asyncio.wait_for(received.get(), 5) for _ in frames]
                assert got == frames
                assert got[0][0] == 0x16 and got[0][-2:] == b"\x04\x00"  # status is a u16
                later = bp.add_reading(sample_reading(133, 85))
                assert await asyncio.wait_for(received.get(), 5) == later
                await client.stop_notify(measurement)
            assert not bp.pending and bp.delivered == [*frames, later]
            assert client.mtu_size >= 23

    run(body)


def test_bonded_reconnect_encrypts_without_pairing_again() -> None:
    async def body() -> None:
        radio, bp, _glucose, _beacon = await home(advertise_always=True)
        async with radio:
            kwargs = in_process_kwargs(radio)
            device = await find(kwargs, BP_SERVICE)
            async with BleakClient(device, backend=BleakClientBumble, pair=True, **kwargs):
                pass
            frame = bp.add_reading(sample_reading(140, 90))
            disconnected = asyncio.Event()
            client = BleakClient(
                device,
                disconnected_callback=lambda _c: disconnected.set(),
                backend=BleakClientBumble,
                **kwargs,
            )
            async with client:
                received: asyncio.Queue[bytes] = asyncio.Queue()
                await client.start_notify(
                    BP_MEASUREMENT, lambda _c, d: received.put_nowait(bytes(d))
                )
                assert await asyncio.wait_for(received.get(), 5) == frame
            assert disconnected.is_set() and not client.is_connected

    run(body)


def test_meter_can_disconnect_after_transfer() -> None:
    async def body() -> None:
        radio, bp, _glucose, _beacon = await home(disconnect_after_transfer_s=0.05)
        frame = bp.add_reading(sample_reading(150, 95))
        async with radio:
            kwargs = in_process_kwargs(radio)
            device = await find(kwargs, BP_SERVICE)
            gone = asyncio.Event()
            client = BleakClient(
                device, lambda _c: gone.set(), backend=BleakClientBumble, pair=True, **kwargs
            )
            await client.connect()
            received: list[bytes] = []
            await client.start_notify(BP_MEASUREMENT, lambda _c, d: received.append(bytes(d)))
            await asyncio.wait_for(gone.wait(), 5)
            assert received == [frame] and not client.is_connected

    run(body)


# --- item 4: unpaired access ------------------------------------------------------------------


def test_unpaired_access_to_encrypted_characteristics_fails() -> None:
    async def body() -> None:
        radio, bp, glucose, _beacon = await home()
        bp.add_reading(sample_reading(121, 79))
        glucose.add_record(0.000095)
        async with radio:
            kwargs = in_process_kwargs(radio)
            for service, attempt in (
                (BP_SERVICE, lambda c: c.start_notify(BP_MEASUREMENT, lambda _c, _d: None)),
                (
                    BP_SERVICE,
                    lambda c: c.write_gatt_char(
                        CURRENT_TIME, encoding.current_time(datetime.now()), response=True
                    ),
                ),
                (GLUCOSE_SERVICE, lambda c: c.read_gatt_char(GLUCOSE_FEATURE)),
                (
                    GLUCOSE_SERVICE,
                    lambda c: c.write_gatt_char(RACP, encoding.racp_request(4, 1), response=True),
                ),
            ):
                device = await find(kwargs, service)
                async with BleakClient(device, backend=BleakClientBumble, **kwargs) as client:
                    assert (await client.read_gatt_char(MANUFACTURER)) == b"caredge-sim"
                    with pytest.raises(BleakGATTProtocolError) as error:
                        await attempt(client)
                    assert error.value.code == BleakGATTProtocolErrorCode.INSUFFICIENT_ENCRYPTION
            assert len(bp.pending) == 1

    run(body)


# --- item 2: glucose RACP ---------------------------------------------------------------------


class RacpSession:
    """A bonded glucose session recording notifications and RACP indications in order."""

    def __init__(self, client: BleakClient) -> None:
        self.client = client
        self.events: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

    async def subscribe(self, racp: bool = True, measurement: bool = True) -> None:
        if measurement:
            await self.client.start_notify(GLUCOSE_MEASUREMENT, self._put("measurement"))
            await self.client.start_notify(GLUCOSE_CONTEXT, self._put("context"))
        if racp:
            await self.client.start_notify(RACP, self._put("racp"))

    def _put(self, kind: str) -> Callable[[Any, bytearray], None]:
        return lambda _c, data: self.events.put_nowait((kind, bytes(data)))

    async def request(self, frame: bytes) -> list[tuple[str, bytes]]:
        await self.client.write_gatt_char(RACP, frame, response=True)
        events = []
        while True:
            kind, data = await asyncio.wait_for(self.events.get(), 5)
            events.append((kind, data))
            if kind == "racp":
                return events


def test_glucose_racp_report_records_number_and_empty() -> None:
    async def body() -> None:
        radio, _bp, glucose, _beacon = await home()
        context = encoding.GlucoseContext(meal=encoding.Meal.POSTPRANDIAL)
        records = [
            glucose.add_record(0.000095),
            glucose.add_record(0.000180, context=context),
            glucose.add_record(0.0054, unit_mol_per_l=True),
            glucose.add_record(0.000050, sensor_status=encoding.GlucoseSensorStatus.RESULT_TOO_LOW),
        ]
        async with radio:
            kwargs = in_process_kwargs(radio)
            device = await find(kwargs, GLUCOSE_SERVICE)
            async with BleakClient(
                device, backend=BleakClientBumble, pair=True, **kwargs
            ) as client:
                assert await client.read_gatt_char(GLUCOSE_FEATURE) == encoding.u16(
                    glucose.features
                )
                racp = client.services.get_characteristic(RACP)
                assert sorted(racp.properties) == ["indicate", "write"]
                session = RacpSession(client)
                await session.subscribe()

                number = await session.request(encoding.racp_request(0x04, 0x01))
                assert number == [("racp", bytes([0x05, 0x00, 0x04, 0x00]))]

                first = records[1].sequence
                report = await session.request(encoding.racp_request(0x01, 0x03, 0x01, first))
                expected = [
                    ("measurement" if uuid == 0x2A18 else "context", frame)
                    for record in records[1:]
                    for uuid, frame in glucose.frames(record)
                ]
                assert report == [*expected, ("racp", bytes([0x06, 0x00, 0x01, 0x01]))]
                assert [
                    int.from_bytes(f[1:3], "little") for k, f in report if k == "measurement"
                ] == [r.sequence for r in records[1:]]
                assert report[1] == ("context", bytes.fromhex("02") + encoding.u16(first) + b"\x02")

                everything = await session.request(encoding.racp_request(0x01, 0x01))
                assert len([k for k, _ in everything if k == "measurement"]) == len(records)

                beyond = await session.request(encoding.racp_request(0x01, 0x03, 0x01, 999))
                assert beyond == [("racp", bytes([0x06, 0x00, 0x01, 0x06]))]

                deleted = await session.request(encoding.racp_request(0x02, 0x01))
                assert deleted == [("racp", bytes([0x06, 0x00, 0x02, 0x01]))]
                empty = await session.request(encoding.racp_request(0x01, 0x01))
                assert empty == [("racp", bytes([0x06, 0x00, 0x01, 0x06]))]
                none = await session.request(encoding.racp_request(0x04, 0x01))
                assert none == [("racp", bytes([0x05, 0x00, 0x00, 0x00]))]
                bad = await session.request(bytes([0x01, 0x00]))
                assert bad == [("racp", bytes([0x06, 0x00, 0x01, 0x03]))]

    run(body)


def test_glucose_racp_att_errors() -> None:
    async def body() -> None:
        radio, _bp, glucose, _beacon = await home()
        glucose.record_interval_s = 0.05
        for _ in range(10):
            glucose.add_record(0.000100)
        async with radio:
            kwargs = in_process_kwargs(radio)
            device = await find(kwargs, GLUCOSE_SERVICE)
            async with BleakClient(
                device, backend=BleakClientBumble, pair=True, **kwargs
            ) as client:
                session = RacpSession(client)
                await session.subscribe(racp=False)
                with pytest.raises(BleakGATTProtocolError) as error:
                    await client.write_gatt_char(
                        RACP, encoding.racp_request(0x01, 0x01), response=True
                    )
                assert error.value.code == BleakGATTProtocolErrorCode.CCCD_IMPROPERLY_CONFIGURED

                await client.start_notify(RACP, session._put("racp"))
                await client.write_gatt_char(RACP, encoding.racp_request(0x01, 0x01), response=True)
                with pytest.raises(BleakGATTProtocolError) as error:
                    await client.write_gatt_char(
                        RACP, encoding.racp_request(0x04, 0x01), response=True
                    )
                assert error.value.code == BleakGATTProtocolErrorCode.PROCEDURE_ALREADY_IN_PROGRESS

                abort = await session.request(encoding.racp_request(0x03, 0x00))
                assert abort[-1] == ("racp", bytes([0x06, 0x00, 0x03, 0x01]))
                assert 0 < len(abort) - 1 < 10  # aborted mid-stream

    run(body)


# --- item 3: two processes over the TCP HCI transport ----------------------------------------


@pytest.mark.integration
def test_gateway_in_another_process_reads_bp_measurement() -> None:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    sim = subprocess.Popen(
        [sys.executable, "-m", "firmware_sim.cli", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert sim.stdout is not None
        ready = sim.stdout.readline()
        assert ready.startswith("READY"), sim.stderr.read() if sim.stderr else ready
        spec = ready.split()[-1]
        assert spec == f"bumble:tcp-client:127.0.0.1:{port}"

        async def body() -> bytes:
            scanner_cls, client_cls, kwargs = backend_from_config(spec, passkey=123456)
            device = await BleakScanner.find_device_by_filter(
                lambda _d, adv: BP_SERVICE in adv.service_uuids,
                timeout=5,
                backend=scanner_cls,
                **kwargs,
            )
            assert device is not None
            async with BleakClient(device, backend=client_cls, pair=True, **kwargs) as client:
                received: asyncio.Queue[bytes] = asyncio.Queue()
                await client.start_notify(
                    BP_MEASUREMENT, lambda _c, d: received.put_nowait(bytes(d))
                )
                return await asyncio.wait_for(received.get(), 5)

        frame = run(body)
        # The default scenario's reading: 128/82 mmHg, MAP 97, pulse 72, with a time stamp.
        assert frame[0] == 0x06
        assert frame[1:7] == bytes.fromhex("800052006100")
        assert frame[14:16] == bytes.fromhex("4800")
    finally:
        sim.terminate()
        sim.wait(timeout=10)
