"""One session with one meter: connect, secure, identify, read the clock, collect, enqueue.

The session layer between the pure parsers/policy and the daemon (STYLE.md: parsing ←
session/coordinator ← publishing). Only bleak's public API is used, so the same code runs on
BlueZ and on the bumble backend.

A session, in order (BLE-NOTES "collector flow"):

1. connect to the advertising meter (the daemon calls this from the advertisement callback:
   meters advertise only briefly after a measurement);
2. bond: ``client.pair()`` with the configured passkey when ``pair_unbonded`` is set (a no-op
   on a bonded, encrypted link); otherwise only meters bonded by ``caredge gateway pair`` work;
3. read Device Information (→ device_id) and the battery level;
4. read the meter's Current Time and compare it with the gateway clock (policy.check_clock);
5. subscribe, **waiting for encryption**: "connected" comes before bonding ends, and a CCCD
   write on a link that is not encrypted yet fails with Insufficient Encryption/Authentication;
   such a failure is retried until ``encryption_wait_s``;
6. blood pressure: every 0x2A35 indication becomes a reading, enqueued at once; glucose:
   notifications on 0x2A18/0x2A34, indications on RACP, "report records ≥ cursor + 1",
   measurements paired with their contexts, records and cursor committed together in batches,
   until the RACP response (``racp_timeout_s`` without traffic aborts the procedure);
7. set the meter's clock when it is off and the meter allows writes, then disconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError, BleakGATTProtocolError

from edge.ble.backend import BleBackend
from edge.errors import ControlSolutionSample, EdgeError, GattFormatError, MeasurementUnusable
from edge.gateway import policy
from edge.gatt.blood_pressure import parse_bp_measurement
from edge.gatt.const import (
    CHAR_BATTERY_LEVEL,
    CHAR_BLOOD_PRESSURE_MEASUREMENT,
    CHAR_CURRENT_TIME,
    CHAR_FIRMWARE_REVISION,
    CHAR_GLUCOSE_MEASUREMENT,
    CHAR_GLUCOSE_MEASUREMENT_CONTEXT,
    CHAR_MANUFACTURER_NAME,
    CHAR_MODEL_NUMBER,
    CHAR_RECORD_ACCESS_CONTROL_POINT,
    CHAR_SERIAL_NUMBER,
    SERVICE_BATTERY,
    SERVICE_BLOOD_PRESSURE,
    SERVICE_CURRENT_TIME,
    SERVICE_DEVICE_INFORMATION,
    SERVICE_GLUCOSE,
    uuid16_to_str,
)
from edge.gatt.current_time import build_current_time, parse_current_time
from edge.gatt.device_info import parse_battery_level, parse_device_info_string
from edge.gatt.glucose import (
    GlucoseContext,
    GlucoseMeasurement,
    parse_glucose_context,
    parse_glucose_measurement,
)
from edge.gatt.racp import RacpOpcode, parse_racp_response, racp_abort
from edge.gatt.to_reading import bp_to_reading, glucose_to_reading
from edge.outbox import Outbox, RecordBuilder
from protocol.envelope import encode_reading
from protocol.topics import GatewayTopic

log = logging.getLogger(__name__)

#: ATT errors meaning "not encrypted (yet)": Insufficient Authentication, Insufficient
#: Encryption, Insufficient Encryption Key Size (Core Vol 3 Part F 3.4.1.1).
SECURITY_ATT_ERRORS = frozenset({0x05, 0x0F, 0x0C})
#: BlueZ reports them as D-Bus errors with these words.
SECURITY_ERROR_WORDS = ("NotAuthorized", "NotPermitted", "Insufficient", "Authentication")
ATT_PROCEDURE_ALREADY_IN_PROGRESS = 0xFE


class MeterKind(StrEnum):
    """The profile a meter advertises."""

    BLOOD_PRESSURE = "blood_pressure"
    GLUCOSE = "glucose"


#: The device-id prefix of each kind (policy.device_id_for).
ID_PREFIX = {MeterKind.BLOOD_PRESSURE: "bp", MeterKind.GLUCOSE: "glu"}

SERVICE_OF_KIND = {
    MeterKind.BLOOD_PRESSURE: uuid16_to_str(SERVICE_BLOOD_PRESSURE),
    MeterKind.GLUCOSE: uuid16_to_str(SERVICE_GLUCOSE),
}


def kind_from_services(service_uuids: list[str]) -> MeterKind | None:
    """Which meter profile an advertisement's service UUIDs announce, if any."""
    for kind, uuid in SERVICE_OF_KIND.items():
        if uuid in service_uuids:
            return kind
    return None


class SessionError(EdgeError):
    """A meter session that could not finish (``reason`` says why); the daemon retries later."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)

    def __reduce__(self) -> tuple[type[SessionError], tuple[str]]:
        return (type(self), (self.reason,))


class NotBondedError(SessionError):
    """The meter refuses an unencrypted link and pairing is not allowed by configuration."""


@dataclass(frozen=True)
class SessionConfig:
    """What a session needs from the gateway's configuration."""

    gateway_id: str
    passkey: int | None = None
    pair_unbonded: bool = True
    zone: tzinfo | None = None
    skew_threshold: timedelta = policy.DEFAULT_SKEW_THRESHOLD
    set_meter_clock: bool = True
    device_ids: dict[str, str] = field(default_factory=dict)
    connect_timeout_s: float = 20.0
    encryption_wait_s: float = 10.0
    bp_idle_s: float = 2.0
    racp_timeout_s: float = 30.0
    glucose_batch: int = 10


@dataclass
class MeterStatus:
    """What the gateway knows about one meter (reported in the gateway status)."""

    address: str
    kind: MeterKind
    name: str | None = None
    device_id: str | None = None
    rssi: int | None = None
    last_seen: float | None = None  # epoch seconds of the last advertisement
    battery: int | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    connected: bool = False
    sessions: int = 0
    failures: int = 0  # failed sessions in a row
    last_session_end: float | None = None  # monotonic
    last_session_at: float | None = None  # epoch
    last_error: str | None = None
    clock_skew_s: float | None = None
    readings_enqueued: int = 0

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy for the status message."""
        return {
            "address": self.address,
            "kind": self.kind.value,
            "name": self.name,
            "device_id": self.device_id,
            "rssi": self.rssi,
            "last_seen": _iso(self.last_seen),
            "battery": self.battery,
            "connected": self.connected,
            "sessions": self.sessions,
            "failures": self.failures,
            "last_session_at": _iso(self.last_session_at),
            "last_error": self.last_error,
            "clock_skew_s": self.clock_skew_s,
            "readings_enqueued": self.readings_enqueued,
        }


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


@dataclass
class SessionResult:
    """What one session did."""

    device_id: str | None = None
    enqueued: int = 0
    skipped_known: int = 0
    unusable: int = 0
    control_solution: int = 0
    clock_written: bool = False


Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def is_security_error(error: BaseException) -> bool:
    """True when a GATT failure means the link is not encrypted or authenticated (yet)."""
    if isinstance(error, BleakGATTProtocolError):
        return int(error.code) in SECURITY_ATT_ERRORS
    text = str(error)
    return isinstance(error, BleakError) and any(word in text for word in SECURITY_ERROR_WORDS)


class MeterSession:
    """One connection to one meter; :meth:`run` does the whole session and disconnects."""

    def __init__(
        self,
        device: BLEDevice,
        kind: MeterKind,
        *,
        config: SessionConfig,
        outbox: Outbox,
        backend: BleBackend,
        status: MeterStatus,
        parse_errors: policy.ParseErrorTracker,
        clock: Clock = _utc_now,
    ) -> None:
        self.device = device
        self.kind = kind
        self.config = config
        self.outbox = outbox
        self.backend = backend
        self.status = status
        self.parse_errors = parse_errors
        self.clock = clock
        self.result = SessionResult()
        self._reading_topic = str(GatewayTopic(config.gateway_id, "reading"))
        self._event_topic = str(GatewayTopic(config.gateway_id, "status"))
        self._disconnected = asyncio.Event()
        self._client: BleakClient | None = None
        self._clock_check = policy.ClockCheck(None, config.skew_threshold)
        self._clock_writable = False
        self._device_id = ""

    @property
    def label(self) -> str:
        """How logs name this meter."""
        return self._device_id or self.status.name or self.device.address

    # -- the session ------------------------------------------------------------------------------

    async def run(self) -> SessionResult:
        """Connect, collect everything the meter has, enqueue it, disconnect."""
        client = BleakClient(
            self.device,
            disconnected_callback=lambda _client: self._disconnected.set(),
            timeout=self.config.connect_timeout_s,
            backend=self.backend.client,
            **self.backend.kwargs,
        )
        self._client = client
        try:
            await client.connect()
        except (BleakError, TimeoutError, OSError) as error:
            raise SessionError(f"connect failed: {error or type(error).__name__}") from error
        self.status.connected = True
        log.info("%s (%s): connected", self.status.name or "meter", self.device.address)
        try:
            await self._bond(client)
            await self._identify(client)
            await self._check_clock(client)
            if self.kind is MeterKind.BLOOD_PRESSURE:
                await self._collect_blood_pressure(client)
            else:
                await self._collect_glucose(client)
            await self._set_clock(client)
        except (BleakError, TimeoutError, OSError) as error:
            if self._disconnected.is_set():
                raise SessionError(f"link lost: {error or type(error).__name__}") from error
            raise SessionError(f"GATT failure: {error or type(error).__name__}") from error
        finally:
            self.status.connected = False
            with contextlib.suppress(BleakError, TimeoutError, OSError):
                await client.disconnect()
        return self.result

    async def _bond(self, client: BleakClient) -> None:
        if not self.config.pair_unbonded:
            return
        try:
            await client.pair()
        except BleakError as error:
            raise SessionError(f"bonding failed: {error}") from error

    async def _identify(self, client: BleakClient) -> None:
        battery = self._char(client, SERVICE_BATTERY, CHAR_BATTERY_LEVEL)
        if battery is not None:
            value = await self._read_parsed(client, battery, "battery", parse_battery_level)
            if value is not _UNREADABLE:
                self.status.battery = value
        info: dict[int, str | None] = {}
        for uuid in (
            CHAR_MANUFACTURER_NAME,
            CHAR_MODEL_NUMBER,
            CHAR_SERIAL_NUMBER,
            CHAR_FIRMWARE_REVISION,
        ):
            characteristic = self._char(client, SERVICE_DEVICE_INFORMATION, uuid)
            text = (
                _UNREADABLE
                if characteristic is None
                else await self._read_parsed(
                    client, characteristic, f"dis-{uuid:04x}", parse_device_info_string
                )
            )
            info[uuid] = text if isinstance(text, str) else None
        self.status.model = info[CHAR_MODEL_NUMBER]
        self.status.serial = info[CHAR_SERIAL_NUMBER]
        self.status.firmware = info[CHAR_FIRMWARE_REVISION]
        self._device_id = policy.device_id_for(
            self.device.address,
            kind=ID_PREFIX[self.kind],
            model=self.status.model,
            serial=self.status.serial,
            configured=self.config.device_ids,
        )
        self.status.device_id = self.result.device_id = self._device_id
        log.info(
            "%s: %s %s serial %s firmware %s, battery %s%%",
            self._device_id,
            info[CHAR_MANUFACTURER_NAME],
            self.status.model,
            self.status.serial,
            self.status.firmware,
            self.status.battery,
        )

    async def _check_clock(self, client: BleakClient) -> None:
        characteristic = self._char(client, SERVICE_CURRENT_TIME, CHAR_CURRENT_TIME)
        if characteristic is None:
            log.info("%s: no Current Time Service, meter times taken as they are", self.label)
            self._clock_check = policy.ClockCheck(timedelta(0), self.config.skew_threshold)
            return
        self._clock_writable = "write" in characteristic.properties
        before = self.clock()
        meter_now = await self._read_parsed(
            client, characteristic, "current-time", parse_current_time
        )
        after = self.clock()
        if meter_now is _UNREADABLE:
            self._clock_check = policy.ClockCheck(timedelta(0), self.config.skew_threshold)
            return
        gateway_now = before + (after - before) / 2
        self._clock_check = policy.check_clock(
            meter_now,
            gateway_now,
            zone=self.config.zone,
            threshold=self.config.skew_threshold,
        )
        skew = self._clock_check.skew
        self.status.clock_skew_s = None if skew is None else round(skew.total_seconds(), 3)
        if self._clock_check.correct:
            log.warning(
                "%s: meter clock is off by %s: correcting this session's times by that",
                self.label,
                skew,
            )
            await self._put_event(
                "clock_skew",
                policy.event_key("clock_skew", self._device_id, gateway_now.isoformat()),
                skew_s=self.status.clock_skew_s,
                corrected=True,
            )
        elif skew is None:
            log.warning("%s: meter clock is not set", self.label)

    async def _set_clock(self, client: BleakClient) -> None:
        if not (self.config.set_meter_clock and self._clock_writable):
            return
        if not self._clock_check.clock_wrong or self._disconnected.is_set():
            return
        characteristic = self._char(client, SERVICE_CURRENT_TIME, CHAR_CURRENT_TIME)
        assert characteristic is not None
        now = self.clock().astimezone(self.config.zone)  # None: this machine's zone
        await client.write_gatt_char(
            characteristic, build_current_time(now.replace(tzinfo=None)), response=True
        )
        self._clock_check = self._clock_check.after_clock_written()
        self.result.clock_written = True
        log.info("%s: meter clock set to %s", self.label, now.isoformat())

    # -- blood pressure ---------------------------------------------------------------------------

    async def _collect_blood_pressure(self, client: BleakClient) -> None:
        measurement = self._require(client, SERVICE_BLOOD_PRESSURE, CHAR_BLOOD_PRESSURE_MEASUREMENT)
        frames: asyncio.Queue[bytes] = asyncio.Queue()
        await self._subscribe(client, measurement, lambda _c, data: frames.put_nowait(bytes(data)))
        while True:
            frame = await self._next(frames, self.config.bp_idle_s)
            if frame is None:
                break
            await self._handle_bp_frame(frame)
        if not self._disconnected.is_set():
            with contextlib.suppress(BleakError, TimeoutError):
                await client.stop_notify(measurement)

    async def _handle_bp_frame(self, frame: bytes) -> None:
        log.debug("%s: 0x2A35 %s", self.label, frame.hex())
        received = self.clock()
        try:
            parsed = parse_bp_measurement(frame)
        except GattFormatError as error:
            self._parse_failed("bp-measurement", error)
            return
        self._parse_ok("bp-measurement")
        at = policy.measured_at(
            parsed.timestamp, self._clock_check, zone=self.config.zone, received_at=received
        )
        try:
            reading = bp_to_reading(
                parsed,
                gateway_id=self.config.gateway_id,
                device_id=self._device_id,
                seq=0,
                measured_at=at,
            )
        except MeasurementUnusable as error:
            self.result.unusable += 1
            log.warning("%s: blood pressure dropped: %s", self.label, error.reason)
            return
        key = policy.bp_natural_key(self._device_id, parsed)

        def build(seq: int) -> bytes:
            return encode_reading(reading.model_copy(update={"seq": seq}))

        new = await asyncio.to_thread(
            self.outbox.put_readings, self._device_id, self._reading_topic, [(key, build)]
        )
        self._count(len(new), 1)
        if new:
            log.info(
                "%s: blood pressure %s/%s mmHg at %s enqueued",
                self.label,
                reading.systolic_mmhg,
                reading.diastolic_mmhg,
                at.isoformat(),
            )

    # -- glucose ----------------------------------------------------------------------------------

    async def _collect_glucose(self, client: BleakClient) -> None:
        measurement = self._require(client, SERVICE_GLUCOSE, CHAR_GLUCOSE_MEASUREMENT)
        context = self._char(client, SERVICE_GLUCOSE, CHAR_GLUCOSE_MEASUREMENT_CONTEXT)
        racp = self._require(client, SERVICE_GLUCOSE, CHAR_RECORD_ACCESS_CONTROL_POINT)
        events: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

        def sink(kind: str) -> Callable[[BleakGATTCharacteristic, bytearray], None]:
            return lambda _c, data: events.put_nowait((kind, bytes(data)))

        await self._subscribe(client, measurement, sink("measurement"))
        if context is not None:
            await self._subscribe(client, context, sink("context"))
        await self._subscribe(client, racp, sink("racp"))

        cursor = await asyncio.to_thread(self.outbox.get_cursor, self._device_id)
        request = policy.racp_request_for(cursor)
        log.info("%s: RACP %s (cursor %s)", self.label, request.hex(), cursor)
        await self._write_racp(client, racp, request)

        assembler = policy.GlucoseAssembler()
        batch: list[tuple[GlucoseMeasurement, GlucoseContext | None]] = []
        streamed = 0
        while True:
            event = await self._next(events, self.config.racp_timeout_s)
            if event is None:
                await self._flush(batch + assembler.finish(), cursor)
                if self._disconnected.is_set():
                    raise SessionError(f"link lost after {streamed} glucose record(s)")
                with contextlib.suppress(BleakError, TimeoutError):
                    await client.write_gatt_char(racp, racp_abort(), response=True)
                raise SessionError(
                    f"no RACP response within {self.config.racp_timeout_s}s "
                    f"({streamed} record(s) received)"
                )
            kind, frame = event
            log.debug("%s: %s %s", self.label, kind, frame.hex())
            if kind == "measurement":
                record = self._parse(frame, "glucose-measurement", parse_glucose_measurement)
                if record is not _UNREADABLE:
                    streamed += 1
                    batch += assembler.measurement(record)
            elif kind == "context":
                extra = self._parse(frame, "glucose-context", parse_glucose_context)
                if extra is not _UNREADABLE:
                    before = assembler.orphan_contexts
                    batch += assembler.context(extra)
                    if assembler.orphan_contexts > before:
                        log.warning(
                            "%s: context %d matches no measurement, dropped",
                            self.label,
                            extra.sequence_number,
                        )
            else:
                response = self._parse(frame, "racp", parse_racp_response)
                if response is _UNREADABLE:
                    continue
                if response.request_opcode not in (None, RacpOpcode.REPORT_STORED_RECORDS):
                    continue
                batch += assembler.finish()
                cursor = await self._flush(batch, cursor)
                batch = []
                if response.is_success or response.is_no_records_found:
                    log.info(
                        "%s: RACP done (%s), %d record(s) streamed, cursor %s",
                        self.label,
                        response.response_code.name if response.response_code else "?",
                        streamed,
                        cursor,
                    )
                else:
                    log.warning(
                        "%s: RACP answered %s after %d record(s)",
                        self.label,
                        response.response_code,
                        streamed,
                    )
                return
            if len(batch) >= self.config.glucose_batch:
                cursor = await self._flush(batch, cursor)
                batch = []

    async def _write_racp(
        self, client: BleakClient, racp: BleakGATTCharacteristic, request: bytes
    ) -> None:
        """Write an RACP request; a procedure still running (ATT 0xFE) is aborted first."""
        for attempt in range(2):
            try:
                await client.write_gatt_char(racp, request, response=True)
                return
            except BleakGATTProtocolError as error:
                if int(error.code) != ATT_PROCEDURE_ALREADY_IN_PROGRESS or attempt:
                    raise SessionError(f"RACP request refused: {error}") from error
                log.info("%s: a RACP procedure is still running, aborting it", self.label)
                await client.write_gatt_char(racp, racp_abort(), response=True)
                await asyncio.sleep(0.5)

    async def _flush(
        self,
        records: list[tuple[GlucoseMeasurement, GlucoseContext | None]],
        cursor: int | None,
    ) -> int | None:
        """Enqueue completed records and move the cursor in one transaction; return the cursor."""
        if not records:
            return cursor
        builders: list[RecordBuilder] = []
        received = self.clock()
        for record, context in records:
            builder = await self._glucose_builder(record, context, received)
            if builder is not None:
                builders.append(builder)
        new_cursor = policy.advance_cursor(cursor, [r.sequence_number for r, _ in records])
        new = await asyncio.to_thread(
            self.outbox.put_readings,
            self._device_id,
            self._reading_topic,
            builders,
            cursor=new_cursor,
        )
        self._count(len(new), len(builders))
        log.info(
            "%s: %d glucose record(s) enqueued, %d already known, cursor %s",
            self.label,
            len(new),
            len(builders) - len(new),
            new_cursor,
        )
        return new_cursor

    async def _glucose_builder(
        self, record: GlucoseMeasurement, context: GlucoseContext | None, received: datetime
    ) -> RecordBuilder | None:
        at = policy.measured_at(
            record.time, self._clock_check, zone=self.config.zone, received_at=received
        )
        try:
            reading = glucose_to_reading(
                record,
                gateway_id=self.config.gateway_id,
                device_id=self._device_id,
                seq=0,
                measured_at=at,
                context=context,
            )
        except ControlSolutionSample:
            self.result.control_solution += 1
            log.info(
                "%s: record %d is a control-solution check: device event, not a reading",
                self.label,
                record.sequence_number,
            )
            base = None if record.base_time is None else record.base_time.isoformat()
            await self._put_event(
                "control_solution",
                policy.event_key("control_solution", self._device_id, record.sequence_number, base),
                meter_seq=record.sequence_number,
                measured_at=at.isoformat(),
                glucose_mmol_l=record.glucose_mmol_l,
            )
            return None
        except MeasurementUnusable as error:
            self.result.unusable += 1
            log.warning(
                "%s: glucose record %d dropped: %s",
                self.label,
                record.sequence_number,
                error.reason,
            )
            return None
        key = policy.glucose_natural_key(self._device_id, record)

        def build(seq: int) -> bytes:
            return encode_reading(reading.model_copy(update={"seq": seq}))

        return (key, build)

    # -- helpers ----------------------------------------------------------------------------------

    async def _subscribe(
        self,
        client: BleakClient,
        characteristic: BleakGATTCharacteristic,
        callback: Callable[[BleakGATTCharacteristic, bytearray], None],
    ) -> None:
        """start_notify, retried while the link is not encrypted yet (bonding still running)."""
        deadline = time.monotonic() + self.config.encryption_wait_s
        while True:
            try:
                await client.start_notify(characteristic, callback)
                return
            except (BleakGATTProtocolError, BleakError) as error:
                if not is_security_error(error):
                    raise
                if time.monotonic() >= deadline or self._disconnected.is_set():
                    if not self.config.pair_unbonded:
                        raise NotBondedError(
                            f"{characteristic.uuid} needs an encrypted link and the meter is "
                            "not bonded: run 'caredge gateway pair'"
                        ) from error
                    raise SessionError(f"link never became encrypted: {error}") from error
                log.debug("%s: waiting for encryption (%s)", self.label, error)
                await asyncio.sleep(0.2)

    async def _next(self, queue: asyncio.Queue[Any], timeout: float) -> Any | None:
        """The next queued item, or None after ``timeout`` s of silence or on disconnection."""
        if not queue.empty():
            return queue.get_nowait()
        if self._disconnected.is_set():
            return None
        getter = asyncio.ensure_future(queue.get())
        gone = asyncio.ensure_future(self._disconnected.wait())
        try:
            done, _pending = await asyncio.wait(
                {getter, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            gone.cancel()
            if not getter.done():
                getter.cancel()
        if getter in done:
            return getter.result()
        if not queue.empty():
            return queue.get_nowait()
        return None

    def _char(
        self, client: BleakClient, service_uuid: int, char_uuid: int
    ) -> BleakGATTCharacteristic | None:
        # By service, then characteristic: the same UUID can appear in several services.
        service = client.services.get_service(uuid16_to_str(service_uuid))
        if service is None:
            return None
        return service.get_characteristic(uuid16_to_str(char_uuid))

    def _require(
        self, client: BleakClient, service_uuid: int, char_uuid: int
    ) -> BleakGATTCharacteristic:
        characteristic = self._char(client, service_uuid, char_uuid)
        if characteristic is None:
            raise SessionError(f"meter has no characteristic 0x{char_uuid:04X}")
        return characteristic

    async def _read_parsed(
        self,
        client: BleakClient,
        characteristic: BleakGATTCharacteristic,
        name: str,
        parse: Callable[[bytes], Any],
    ) -> Any:
        """Read and parse one value; a parser or ATT error is counted and gives _UNREADABLE."""
        try:
            data = bytes(await client.read_gatt_char(characteristic))
        except BleakGATTProtocolError as error:
            log.info("%s: reading %s refused: %s", self.label, name, error)
            return _UNREADABLE
        return self._parse(data, name, parse)

    def _parse(self, frame: bytes, name: str, parse: Callable[[bytes], Any]) -> Any:
        """``parse(frame)``, or _UNREADABLE after counting (and maybe logging) a parser error."""
        try:
            value = parse(frame)
        except GattFormatError as error:
            self._parse_failed(name, error)
            return _UNREADABLE
        self._parse_ok(name)
        return value

    def _parse_failed(self, name: str, error: GattFormatError) -> None:
        meter = self._device_id or self.device.address
        if self.parse_errors.failed(meter, name):
            log.warning("%s: bad %s value, ignored (logged once): %s", meter, name, error)
        else:
            log.debug("%s: bad %s value again: %s", meter, name, error)

    def _parse_ok(self, name: str) -> None:
        meter = self._device_id or self.device.address
        errors = self.parse_errors.recovered(meter, name)
        if errors:
            log.info("%s: %s values parse again after %d bad one(s)", meter, name, errors)

    def _count(self, new: int, offered: int) -> None:
        self.result.enqueued += new
        self.result.skipped_known += offered - new
        self.status.readings_enqueued += new

    async def _put_event(self, event: str, key: policy.NaturalKey, **details: Any) -> None:
        payload = policy.device_event(
            event,
            gateway_id=self.config.gateway_id,
            device_id=self._device_id,
            at=self.clock(),
            **details,
        )
        await asyncio.to_thread(self.outbox.put, "telemetry", self._event_topic, payload, key)


class _Unreadable:
    """Marker: the value could not be read or parsed (distinct from a parsed None)."""


_UNREADABLE = _Unreadable()
