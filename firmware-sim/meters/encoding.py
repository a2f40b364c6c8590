"""The simulator's own GATT encoders, written from the Bluetooth SIG specifications.

Deliberately independent of the gateway's decoders (``edge.gatt``): the simulator encodes, the
gateway decodes, and a bug copied into both could not be seen by a round trip. All multi-byte
fields are little-endian (Core Spec Vol 3 Part G 3.3.3.5 / GSS 2.2).
"""

from __future__ import annotations

import enum
import math
import struct
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

# --- IEEE 11073-20601 SFLOAT (GSS "medfloat16") ------------------------------------------------


class SFloatSpecial(enum.IntEnum):
    """Reserved SFLOAT codes (exponent 0, mantissa in the reserved range)."""

    NAN = 0x07FF
    NRES = 0x0800
    POSITIVE_INFINITY = 0x07FE
    NEGATIVE_INFINITY = 0x0802
    RESERVED = 0x0801


SFloatValue = float | int | SFloatSpecial

_MANTISSA_LIMIT = 2045  # ±2046..±2048 are the special codes; keep clear of them.


def sfloat(value: SFloatValue, exponent: int | None = None) -> int:
    """Encode a number as a 16-bit SFLOAT: 4-bit signed exponent, 12-bit signed mantissa.

    With ``exponent`` None the exponent is the largest power of ten (closest to 0 first, then
    smaller) that represents ``value`` exactly; otherwise the finest one whose mantissa fits.
    """
    if isinstance(value, SFloatSpecial):
        return int(value)
    if isinstance(value, float):
        if math.isnan(value):
            return int(SFloatSpecial.NAN)
        if math.isinf(value):
            return int(
                SFloatSpecial.POSITIVE_INFINITY if value > 0 else SFloatSpecial.NEGATIVE_INFINITY
            )
    exact = Decimal(str(value))
    if exponent is not None:
        if not -8 <= exponent <= 7:
            raise ValueError(f"SFLOAT exponent {exponent} out of range -8..7")
        mantissa = _mantissa(exact, exponent)
        if abs(mantissa) > _MANTISSA_LIMIT:
            raise ValueError(f"{value} does not fit an SFLOAT with exponent {exponent}")
        return _pack_sfloat(mantissa, exponent)
    for exp in (0, -1, -2, -3, -4, -5, -6, -7, -8, 1, 2, 3, 4, 5, 6, 7):
        mantissa = _mantissa(exact, exp)
        if abs(mantissa) <= _MANTISSA_LIMIT and Decimal(mantissa) * Decimal(10) ** exp == exact:
            return _pack_sfloat(mantissa, exp)
    for exp in range(-8, 8):  # not exact: the finest exponent whose rounded mantissa fits
        mantissa = _mantissa(exact, exp)
        if abs(mantissa) <= _MANTISSA_LIMIT:
            return _pack_sfloat(mantissa, exp)
    raise ValueError(f"{value} is out of the SFLOAT range")


def _mantissa(exact: Decimal, exponent: int) -> int:
    return int((exact / Decimal(10) ** exponent).to_integral_value())


def _pack_sfloat(mantissa: int, exponent: int) -> int:
    return ((exponent & 0x0F) << 12) | (mantissa & 0x0FFF)


def sfloat_bytes(value: SFloatValue, exponent: int | None = None) -> bytes:
    """SFLOAT as its two little-endian bytes."""
    return struct.pack("<H", sfloat(value, exponent))


# --- Date Time 0x2A08 and Current Time 0x2A2B ---------------------------------------------------


def date_time(moment: datetime | None) -> bytes:
    """Date Time (GSS 3.70): year u16, month, day, hours, minutes, seconds; None → unknown (0)."""
    if moment is None:
        return bytes(7)
    return struct.pack(
        "<HBBBBB",
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
    )


class AdjustReason(enum.IntFlag):
    """Current Time adjust reason bits (CTS 1.1 3.1.2.3)."""

    MANUAL = 0x01
    EXTERNAL_REFERENCE = 0x02
    TIME_ZONE_CHANGE = 0x04
    DST_CHANGE = 0x08


def current_time(moment: datetime, adjust_reason: int = 0) -> bytes:
    """Current Time 0x2A2B (10 B): Date Time, weekday (1 Mon … 7 Sun), Fractions256, reason."""
    fractions256 = moment.microsecond * 256 // 1_000_000
    return date_time(moment) + bytes([moment.isoweekday(), fractions256, adjust_reason & 0xFF])


def parse_current_time(frame: bytes) -> datetime:
    """Decode a Current Time written by a collector (the meter sets its clock from it)."""
    if len(frame) < 10:
        raise ValueError(f"Current Time needs 10 bytes, got {len(frame)}")
    year, month, day, hour, minute, second = struct.unpack_from("<HBBBBB", frame, 0)
    fractions256 = frame[8]
    return datetime(year, month, day, hour, minute, second, fractions256 * 1_000_000 // 256)


# --- Blood Pressure Measurement 0x2A35 (BLS 1.1 3.1, GSS 3.31) ---------------------------------


class BPFlag(enum.IntFlag):
    """Flags octet of the Blood Pressure Measurement."""

    UNIT_KPA = 0x01
    TIME_STAMP = 0x02
    PULSE_RATE = 0x04
    USER_ID = 0x08
    MEASUREMENT_STATUS = 0x10


class BPStatus(enum.IntFlag):
    """Measurement Status (u16) bits; pulse rate range is a 2-bit field at bits 3-4."""

    BODY_MOVEMENT = 0x0001
    CUFF_TOO_LOOSE = 0x0002
    IRREGULAR_PULSE = 0x0004
    PULSE_ABOVE_RANGE = 0x0008  # pulse rate range = 1
    PULSE_BELOW_RANGE = 0x0010  # pulse rate range = 2
    IMPROPER_POSITION = 0x0020


class BPFeature(enum.IntFlag):
    """Blood Pressure Feature 0x2A49 (u16)."""

    BODY_MOVEMENT_DETECTION = 0x0001
    CUFF_FIT_DETECTION = 0x0002
    IRREGULAR_PULSE_DETECTION = 0x0004
    PULSE_RATE_RANGE_DETECTION = 0x0008
    MEASUREMENT_POSITION_DETECTION = 0x0010
    MULTIPLE_BOND = 0x0020


@dataclass(frozen=True)
class BPReading:
    """One blood-pressure reading as the meter stores it."""

    systolic: SFloatValue
    diastolic: SFloatValue
    mean_arterial: SFloatValue
    unit_kpa: bool = False
    timestamp: datetime | None = None
    pulse: SFloatValue | None = None
    user_id: int | None = None
    status: int | None = None


def bp_measurement(reading: BPReading) -> bytes:
    """Encode a Blood Pressure Measurement frame (flags u8, 3 SFLOAT, optional fields in order)."""
    flags = BPFlag(0)
    body = sfloat_bytes(reading.systolic) + sfloat_bytes(reading.diastolic)
    body += sfloat_bytes(reading.mean_arterial)
    if reading.unit_kpa:
        flags |= BPFlag.UNIT_KPA
    if reading.timestamp is not None:
        flags |= BPFlag.TIME_STAMP
        body += date_time(reading.timestamp)
    if reading.pulse is not None:
        flags |= BPFlag.PULSE_RATE
        body += sfloat_bytes(reading.pulse)
    if reading.user_id is not None:
        flags |= BPFlag.USER_ID
        body += bytes([reading.user_id & 0xFF])
    if reading.status is not None:
        flags |= BPFlag.MEASUREMENT_STATUS
        body += struct.pack("<H", reading.status & 0xFFFF)
    return bytes([int(flags)]) + body


# --- Glucose Measurement 0x2A18 and Context 0x2A34 (GLS 1.0 3.106/3.107, GSS 3.103/3.104) -------


class GlucoseFlag(enum.IntFlag):
    """Flags octet of the Glucose Measurement."""

    TIME_OFFSET = 0x01
    CONCENTRATION = 0x02  # concentration, type and sample location present
    UNIT_MOL_PER_L = 0x04  # 0 = kg/L, 1 = mol/L
    SENSOR_STATUS = 0x08
    CONTEXT_FOLLOWS = 0x10


class GlucoseSensorStatus(enum.IntFlag):
    """Sensor Status Annunciation (u16)."""

    BATTERY_LOW = 0x0001
    SENSOR_MALFUNCTION = 0x0002
    SAMPLE_TOO_SMALL = 0x0004
    STRIP_INSERTION_ERROR = 0x0008
    STRIP_TYPE_INCORRECT = 0x0010
    RESULT_TOO_HIGH = 0x0020
    RESULT_TOO_LOW = 0x0040
    TEMPERATURE_TOO_HIGH = 0x0080
    TEMPERATURE_TOO_LOW = 0x0100
    READ_INTERRUPTED = 0x0200
    GENERAL_DEVICE_FAULT = 0x0400
    TIME_FAULT = 0x0800


class GlucoseFeature(enum.IntFlag):
    """Glucose Feature 0x2A51 (u16)."""

    LOW_BATTERY_DETECTION = 0x0001
    SENSOR_MALFUNCTION_DETECTION = 0x0002
    SAMPLE_SIZE = 0x0004
    STRIP_INSERTION_ERROR_DETECTION = 0x0008
    STRIP_TYPE_ERROR_DETECTION = 0x0010
    RESULT_HIGH_LOW_DETECTION = 0x0020
    TEMPERATURE_HIGH_LOW_DETECTION = 0x0040
    READ_INTERRUPT_DETECTION = 0x0080
    GENERAL_DEVICE_FAULT = 0x0100
    TIME_FAULT = 0x0200
    MULTIPLE_BOND = 0x0400


class SampleType(enum.IntEnum):
    """Glucose sample type (low nibble of the type/location octet)."""

    CAPILLARY_WHOLE_BLOOD = 1
    CAPILLARY_PLASMA = 2
    VENOUS_WHOLE_BLOOD = 3
    VENOUS_PLASMA = 4
    ARTERIAL_WHOLE_BLOOD = 5
    ARTERIAL_PLASMA = 6
    UNDETERMINED_WHOLE_BLOOD = 7
    UNDETERMINED_PLASMA = 8
    INTERSTITIAL_FLUID = 9
    CONTROL_SOLUTION = 10


class SampleLocation(enum.IntEnum):
    """Glucose sample location (high nibble of the type/location octet)."""

    FINGER = 1
    ALTERNATE_SITE = 2
    EARLOBE = 3
    CONTROL_SOLUTION = 4
    NOT_AVAILABLE = 15


class Meal(enum.IntEnum):
    """Glucose context meal field."""

    PREPRANDIAL = 1
    POSTPRANDIAL = 2
    FASTING = 3
    CASUAL = 4
    BEDTIME = 5


@dataclass(frozen=True)
class GlucoseContext:
    """Optional context of a glucose record (all fields optional)."""

    carbohydrate_id: int | None = None
    carbohydrate_kg: SFloatValue | None = None
    meal: int | None = None
    tester: int | None = None
    health: int | None = None
    exercise_duration_s: int | None = None
    exercise_intensity_pct: int | None = None
    medication_id: int | None = None
    medication: SFloatValue | None = None
    medication_in_liters: bool = False
    hba1c_pct: SFloatValue | None = None


@dataclass(frozen=True)
class GlucoseRecord:
    """One glucose record as the meter stores it; ``sequence`` is the u16 record number."""

    sequence: int
    base_time: datetime
    concentration: SFloatValue | None = None
    unit_mol_per_l: bool = False
    sample_type: int = SampleType.CAPILLARY_PLASMA
    sample_location: int = SampleLocation.FINGER
    time_offset_min: int | None = None
    sensor_status: int | None = None
    context: GlucoseContext | None = None


def glucose_measurement(record: GlucoseRecord) -> bytes:
    """Encode a Glucose Measurement frame."""
    flags = GlucoseFlag(0)
    body = struct.pack("<H", record.sequence & 0xFFFF) + date_time(record.base_time)
    if record.time_offset_min is not None:
        flags |= GlucoseFlag.TIME_OFFSET
        body += struct.pack("<h", record.time_offset_min)
    if record.concentration is not None:
        flags |= GlucoseFlag.CONCENTRATION
        if record.unit_mol_per_l:
            flags |= GlucoseFlag.UNIT_MOL_PER_L
        body += sfloat_bytes(record.concentration)
        body += bytes([(record.sample_location & 0x0F) << 4 | (record.sample_type & 0x0F)])
    if record.sensor_status is not None:
        flags |= GlucoseFlag.SENSOR_STATUS
        body += struct.pack("<H", record.sensor_status & 0xFFFF)
    if record.context is not None:
        flags |= GlucoseFlag.CONTEXT_FOLLOWS
    return bytes([int(flags)]) + body


def glucose_context(sequence: int, context: GlucoseContext) -> bytes:
    """Encode a Glucose Measurement Context frame (same sequence number as its measurement).

    Flags: bit0 carbohydrate, bit1 meal, bit2 tester-health, bit3 exercise, bit4 medication,
    bit5 medication in liters, bit6 HbA1c, bit7 extended flags (never set here).
    """
    flags = 0
    body = b""
    if context.carbohydrate_id is not None and context.carbohydrate_kg is not None:
        flags |= 0x01
        body += bytes([context.carbohydrate_id]) + sfloat_bytes(context.carbohydrate_kg)
    if context.meal is not None:
        flags |= 0x02
        body += bytes([context.meal])
    if context.tester is not None or context.health is not None:
        flags |= 0x04
        tester = 0x0F if context.tester is None else context.tester
        health = 0x0F if context.health is None else context.health
        body += bytes([(health & 0x0F) << 4 | (tester & 0x0F)])
    if context.exercise_duration_s is not None and context.exercise_intensity_pct is not None:
        flags |= 0x08
        body += struct.pack("<HB", context.exercise_duration_s, context.exercise_intensity_pct)
    if context.medication_id is not None and context.medication is not None:
        flags |= 0x10
        if context.medication_in_liters:
            flags |= 0x20
        body += bytes([context.medication_id]) + sfloat_bytes(context.medication)
    if context.hba1c_pct is not None:
        flags |= 0x40
        body += sfloat_bytes(context.hba1c_pct)
    return bytes([flags]) + struct.pack("<H", sequence & 0xFFFF) + body


# --- Record Access Control Point 0x2A52 (GLS 1.0 3.9, GSS 3.180) -------------------------------


class RacpOpcode(enum.IntEnum):
    """RACP op codes."""

    REPORT_STORED_RECORDS = 0x01
    DELETE_STORED_RECORDS = 0x02
    ABORT_OPERATION = 0x03
    REPORT_NUMBER_OF_RECORDS = 0x04
    NUMBER_OF_RECORDS_RESPONSE = 0x05
    RESPONSE_CODE = 0x06


class RacpOperator(enum.IntEnum):
    """RACP operators."""

    NULL = 0x00
    ALL = 0x01
    LESS_OR_EQUAL = 0x02
    GREATER_OR_EQUAL = 0x03
    WITHIN_RANGE = 0x04
    FIRST = 0x05
    LAST = 0x06


class RacpFilter(enum.IntEnum):
    """RACP filter types (first operand octet)."""

    SEQUENCE_NUMBER = 0x01
    USER_FACING_TIME = 0x02


class RacpResponse(enum.IntEnum):
    """RACP response code values."""

    SUCCESS = 0x01
    OPCODE_NOT_SUPPORTED = 0x02
    INVALID_OPERATOR = 0x03
    OPERATOR_NOT_SUPPORTED = 0x04
    INVALID_OPERAND = 0x05
    NO_RECORDS_FOUND = 0x06
    ABORT_UNSUCCESSFUL = 0x07
    PROCEDURE_NOT_COMPLETED = 0x08
    OPERAND_NOT_SUPPORTED = 0x09


ATT_ERROR_CCCD_IMPROPERLY_CONFIGURED = 0xFD
ATT_ERROR_PROCEDURE_ALREADY_IN_PROGRESS = 0xFE


@dataclass(frozen=True)
class RacpRequest:
    """A decoded RACP request: opcode, operator and raw operand (filter type first)."""

    opcode: int
    operator: int
    operand: bytes = b""


def racp_request(opcode: int, operator: int, filter_type: int | None = None, *values: int) -> bytes:
    """Encode a RACP request; sequence-number operands are u16 each (used by tests and tools)."""
    frame = bytes([opcode, operator])
    if filter_type is not None:
        frame += bytes([filter_type]) + b"".join(struct.pack("<H", v) for v in values)
    return frame


def parse_racp_request(frame: bytes) -> RacpRequest:
    """Split a RACP write into opcode, operator and operand; raise ValueError if too short."""
    if len(frame) < 2:
        raise ValueError("RACP request needs at least opcode and operator")
    return RacpRequest(opcode=frame[0], operator=frame[1], operand=bytes(frame[2:]))


def racp_response_code(request_opcode: int, response: int) -> bytes:
    """RACP Response Code: 06, operator 00, request op code, response code value."""
    return bytes([RacpOpcode.RESPONSE_CODE, RacpOperator.NULL, request_opcode, response])


def racp_number_of_records(count: int) -> bytes:
    """RACP Number of Stored Records Response: 05, operator 00, u16 count."""
    return bytes([RacpOpcode.NUMBER_OF_RECORDS_RESPONSE, RacpOperator.NULL]) + struct.pack(
        "<H", count & 0xFFFF
    )


# --- small u16 characteristics ------------------------------------------------------------------


def u16(value: int) -> bytes:
    """A little-endian u16 (feature characteristics)."""
    return struct.pack("<H", value & 0xFFFF)
