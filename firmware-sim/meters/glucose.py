"""Emulated glucose meter: Glucose Service 0x1808 (GLS 1.0) with its Record Access Control Point.

Records carry u16 sequence numbers. The collector enables notifications on Measurement 0x2A18
and Context 0x2A34 and indications on RACP 0x2A52, then writes a RACP request. The write handler
validates and answers first (ATT 0xFE while a procedure runs, 0xFD when the CCCDs are not
configured), then a task streams one measurement notification per record (its context right
after when flagged) and ends with the RACP indication. All glucose characteristics need an
encrypted link (GLS 1.0 section 2.5: the service requires bonding).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from datetime import datetime
from typing import Any

from bumble import att, gatt
from bumble.device import Connection

from firmware_sim.meters import MeterPeripheral, Permissions, Properties, encoding, uuid16
from firmware_sim.meters.encoding import RacpOpcode, RacpOperator, RacpResponse

logger = logging.getLogger(__name__)

SERVICE_GLUCOSE = 0x1808
CHAR_GLUCOSE_MEASUREMENT = 0x2A18
CHAR_GLUCOSE_CONTEXT = 0x2A34
CHAR_GLUCOSE_FEATURE = 0x2A51
CHAR_RACP = 0x2A52

DEFAULT_FEATURES = (
    encoding.GlucoseFeature.LOW_BATTERY_DETECTION
    | encoding.GlucoseFeature.SENSOR_MALFUNCTION_DETECTION
    | encoding.GlucoseFeature.SAMPLE_SIZE
    | encoding.GlucoseFeature.STRIP_INSERTION_ERROR_DETECTION
    | encoding.GlucoseFeature.RESULT_HIGH_LOW_DETECTION
    | encoding.GlucoseFeature.TIME_FAULT
)

_ENCRYPTED_READ = Permissions.READABLE | Permissions.READ_REQUIRES_ENCRYPTION
_ENCRYPTED_WRITE = Permissions.WRITEABLE | Permissions.WRITE_REQUIRES_ENCRYPTION


class GlucoseMeter(MeterPeripheral):
    """A glucose meter; ``add_record`` stores a record with the next sequence number."""

    service_uuid = SERVICE_GLUCOSE

    def __init__(
        self,
        *,
        name: str = "CE-GLU",
        features: int = int(DEFAULT_FEATURES),
        first_sequence: int = 0,
        record_interval_s: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.features = features
        self.records: list[encoding.GlucoseRecord] = []
        self.next_sequence = first_sequence & 0xFFFF
        self.record_interval_s = record_interval_s
        self.new_records = 0
        self._procedure: asyncio.Task[None] | None = None
        self._measurement: gatt.Characteristic[bytes] | None = None
        self._context: gatt.Characteristic[bytes] | None = None
        self._racp: gatt.Characteristic[bytes] | None = None

    # --- records -------------------------------------------------------------------------------

    def add_record(
        self,
        concentration: encoding.SFloatValue | None,
        *,
        unit_mol_per_l: bool = False,
        base_time: datetime | None = None,
        sample_type: int = encoding.SampleType.CAPILLARY_PLASMA,
        sample_location: int = encoding.SampleLocation.FINGER,
        time_offset_min: int | None = None,
        sensor_status: int | None = None,
        context: encoding.GlucoseContext | None = None,
    ) -> encoding.GlucoseRecord:
        """Store a record (concentration in kg/L, or mol/L when ``unit_mol_per_l``)."""
        record = encoding.GlucoseRecord(
            sequence=self.next_sequence,
            base_time=(base_time or self.now()).replace(microsecond=0),
            concentration=concentration,
            unit_mol_per_l=unit_mol_per_l,
            sample_type=sample_type,
            sample_location=sample_location,
            time_offset_min=time_offset_min,
            sensor_status=sensor_status,
            context=context,
        )
        self.next_sequence = (self.next_sequence + 1) & 0xFFFF
        self.records.append(record)
        self.new_records += 1
        if self.device is not None and self._started:
            self._spawn(self.refresh_advertising())
        return record

    def frames(self, record: encoding.GlucoseRecord) -> list[tuple[int, bytes]]:
        """The (characteristic UUID, frame) notifications this record produces, in order."""
        frames = [(CHAR_GLUCOSE_MEASUREMENT, encoding.glucose_measurement(record))]
        if record.context is not None:
            frames.append(
                (CHAR_GLUCOSE_CONTEXT, encoding.glucose_context(record.sequence, record.context))
            )
        return frames

    def has_data(self) -> bool:
        return self.new_records > 0

    # --- GATT ----------------------------------------------------------------------------------

    def profile_services(self) -> list[gatt.Service]:
        self._measurement = gatt.Characteristic(
            uuid16(CHAR_GLUCOSE_MEASUREMENT), Properties.NOTIFY, Permissions(0), b""
        )
        self._context = gatt.Characteristic(
            uuid16(CHAR_GLUCOSE_CONTEXT), Properties.NOTIFY, Permissions(0), b""
        )
        feature = gatt.Characteristic(
            uuid16(CHAR_GLUCOSE_FEATURE),
            Properties.READ,
            _ENCRYPTED_READ,
            encoding.u16(self.features),
        )
        self._racp = gatt.Characteristic(
            uuid16(CHAR_RACP),
            Properties.WRITE | Properties.INDICATE,
            _ENCRYPTED_WRITE,
            gatt.CharacteristicValue(write=self._on_racp_write),
        )
        return [
            gatt.Service(
                uuid16(SERVICE_GLUCOSE), [self._measurement, self._context, feature, self._racp]
            )
        ]

    def _after_services_added(self) -> None:
        for characteristic in (self._measurement, self._context, self._racp):
            assert characteristic is not None
            self.require_encrypted_cccd(characteristic)

    def on_disconnected(self, connection: Connection) -> None:
        if self._procedure is not None and not self._procedure.done():
            self._procedure.cancel()

    # --- RACP ----------------------------------------------------------------------------------

    def _on_racp_write(self, connection: Connection, value: bytes) -> None:
        """Validate a RACP request, answer the write, and run the procedure in a task."""
        assert self._racp is not None and self._measurement is not None
        try:
            request = encoding.parse_racp_request(value)
        except ValueError as error:
            raise att.ATT_Error(att.ErrorCode.INVALID_ATTRIBUTE_LENGTH) from error
        busy = self._procedure is not None and not self._procedure.done()
        if request.opcode == RacpOpcode.ABORT_OPERATION:
            if busy:
                assert self._procedure is not None
                self._procedure.cancel()
            self._procedure = self._spawn(self._finish_abort(connection))
            return
        if busy:
            raise att.ATT_Error(encoding.ATT_ERROR_PROCEDURE_ALREADY_IN_PROGRESS)
        if not self.subscribed(connection, self._racp) & 0x0002:
            raise att.ATT_Error(encoding.ATT_ERROR_CCCD_IMPROPERLY_CONFIGURED)
        if request.opcode == RacpOpcode.REPORT_STORED_RECORDS and not (
            self.subscribed(connection, self._measurement) & 0x0001
        ):
            raise att.ATT_Error(encoding.ATT_ERROR_CCCD_IMPROPERLY_CONFIGURED)
        logger.info("%s: RACP %s", self.name, value.hex())
        self._procedure = self._spawn(self._run_procedure(connection, request))

    async def _finish_abort(self, connection: Connection) -> None:
        await self._indicate_racp(
            connection,
            encoding.racp_response_code(RacpOpcode.ABORT_OPERATION, RacpResponse.SUCCESS),
        )

    async def _indicate_racp(self, connection: Connection, frame: bytes) -> None:
        assert self.device is not None and self._racp is not None
        await self.device.indicate_subscriber(connection, self._racp, frame)

    def _select(self, request: encoding.RacpRequest) -> list[encoding.GlucoseRecord] | RacpResponse:
        """Records the request's operator and filter select, or the response code for an error."""
        operator = request.operator
        records = sorted(self.records, key=lambda record: record.sequence)
        if operator == RacpOperator.NULL or operator > RacpOperator.LAST:
            return RacpResponse.INVALID_OPERATOR
        if operator == RacpOperator.ALL:
            return records if not request.operand else RacpResponse.INVALID_OPERAND
        if operator == RacpOperator.FIRST:
            return records[:1]
        if operator == RacpOperator.LAST:
            return records[-1:]
        if not request.operand:
            return RacpResponse.INVALID_OPERAND
        if request.operand[0] != encoding.RacpFilter.SEQUENCE_NUMBER:
            return RacpResponse.OPERAND_NOT_SUPPORTED
        values = request.operand[1:]
        needed = 4 if operator == RacpOperator.WITHIN_RANGE else 2
        if len(values) != needed:
            return RacpResponse.INVALID_OPERAND
        if operator == RacpOperator.WITHIN_RANGE:
            low, high = struct.unpack("<HH", values)
            if low > high:
                return RacpResponse.INVALID_OPERAND
            return [r for r in records if low <= r.sequence <= high]
        (bound,) = struct.unpack("<H", values)
        if operator == RacpOperator.LESS_OR_EQUAL:
            return [r for r in records if r.sequence <= bound]
        return [r for r in records if r.sequence >= bound]

    async def _run_procedure(self, connection: Connection, request: encoding.RacpRequest) -> None:
        opcode = request.opcode
        await asyncio.sleep(0)  # the write response leaves first
        if opcode not in (
            RacpOpcode.REPORT_STORED_RECORDS,
            RacpOpcode.DELETE_STORED_RECORDS,
            RacpOpcode.REPORT_NUMBER_OF_RECORDS,
        ):
            await self._indicate_racp(
                connection, encoding.racp_response_code(opcode, RacpResponse.OPCODE_NOT_SUPPORTED)
            )
            return
        selected = self._select(request)
        if isinstance(selected, RacpResponse):
            await self._indicate_racp(connection, encoding.racp_response_code(opcode, selected))
            return
        if opcode == RacpOpcode.REPORT_NUMBER_OF_RECORDS:
            await self._indicate_racp(connection, encoding.racp_number_of_records(len(selected)))
            return
        if not selected:
            await self._indicate_racp(
                connection, encoding.racp_response_code(opcode, RacpResponse.NO_RECORDS_FOUND)
            )
            return
        if opcode == RacpOpcode.DELETE_STORED_RECORDS:
            doomed = {record.sequence for record in selected}
            self.records = [r for r in self.records if r.sequence not in doomed]
        else:
            await self._stream(connection, selected)
            self.new_records = 0
            await self.refresh_advertising()
        await self._indicate_racp(
            connection, encoding.racp_response_code(opcode, RacpResponse.SUCCESS)
        )

    async def _stream(self, connection: Connection, records: list[encoding.GlucoseRecord]) -> None:
        assert self.device is not None
        characteristics = {
            CHAR_GLUCOSE_MEASUREMENT: self._measurement,
            CHAR_GLUCOSE_CONTEXT: self._context,
        }
        for record in records:
            for uuid, frame in self.frames(record):
                characteristic = characteristics[uuid]
                assert characteristic is not None
                await self.device.notify_subscriber(connection, characteristic, frame)
            if self.record_interval_s:
                await asyncio.sleep(self.record_interval_s)
        logger.info("%s: streamed %d record(s)", self.name, len(records))
