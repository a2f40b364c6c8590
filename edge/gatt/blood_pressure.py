"""Blood Pressure Measurement (0x2A35) and Intermediate Cuff Pressure (0x2A36).

Blood Pressure Service 1.1 §3.1-3.2; the field layout is defined in the GATT Specification
Supplement (Blood Pressure Measurement, Intermediate Cuff Pressure). Little-endian::

    flags u8                      bit0 units (0 mmHg, 1 kPa)  bit1 time stamp present
                                  bit2 pulse rate present     bit3 user ID present
                                  bit4 measurement status present   bits 5-7 RFU (ignored)
    systolic SFLOAT               ┐
    diastolic SFLOAT              ├ compound value, in the unit of flags bit0
    mean arterial pressure SFLOAT ┘
    [time stamp, Date Time 7 B]   bit1 (see current_time.py; unknown date → None)
    [pulse rate SFLOAT, bpm]      bit2
    [user ID u8]                  bit3 (0xFF = unknown user → None)
    [measurement status u16]      bit4:
        bit0 body movement detected   bit1 cuff fit too loose   bit2 irregular pulse
        bits 3-4 pulse rate range: 0 within, 1 exceeds upper limit, 2 below lower limit,
                 3 reserved (kept as PulseRateRange.RESERVED, never read as "within")
        bit5 improper measurement position   bits 6-15 RFU (ignored)

0x2A36 has the same layout; its systolic field carries the current cuff pressure and the
diastolic and MAP fields are NaN, so parse it with the same function and do not make readings
of it. Values stay in the transmitted unit with ``unit``; the ``*_mmhg`` properties convert with
``protocol.units.kpa_to_mmhg`` and return None for special values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum

from edge.gatt.current_time import read_date_time
from edge.gatt.sfloat import FrameReader, SFloat
from protocol.units import kpa_to_mmhg

FLAG_UNITS_KPA = 0x01
FLAG_TIME_STAMP = 0x02
FLAG_PULSE_RATE = 0x04
FLAG_USER_ID = 0x08
FLAG_MEASUREMENT_STATUS = 0x10

USER_ID_UNKNOWN = 0xFF

STATUS_BODY_MOVEMENT = 0x0001
STATUS_CUFF_TOO_LOOSE = 0x0002
STATUS_IRREGULAR_PULSE = 0x0004
STATUS_PULSE_RATE_RANGE_MASK = 0x0018
STATUS_PULSE_RATE_RANGE_SHIFT = 3
STATUS_IMPROPER_POSITION = 0x0020


class PressureUnit(StrEnum):
    """The unit of the compound value (flags bit0)."""

    MMHG = "mmHg"
    KPA = "kPa"


class PulseRateRange(IntEnum):
    """Measurement status bits 3-4: pulse rate range detection."""

    WITHIN_RANGE = 0
    EXCEEDS_UPPER_LIMIT = 1
    BELOW_LOWER_LIMIT = 2
    RESERVED = 3


@dataclass(frozen=True, slots=True)
class BloodPressureStatus:
    """The Measurement Status field (u16) of 0x2A35, decoded; ``raw`` keeps the RFU bits."""

    raw: int
    body_movement: bool
    cuff_too_loose: bool
    irregular_pulse: bool
    pulse_rate_range: PulseRateRange
    improper_position: bool

    @classmethod
    def from_raw(cls, raw: int) -> BloodPressureStatus:
        """Decode a measurement status word."""
        return cls(
            raw=raw,
            body_movement=bool(raw & STATUS_BODY_MOVEMENT),
            cuff_too_loose=bool(raw & STATUS_CUFF_TOO_LOOSE),
            irregular_pulse=bool(raw & STATUS_IRREGULAR_PULSE),
            pulse_rate_range=PulseRateRange(
                (raw & STATUS_PULSE_RATE_RANGE_MASK) >> STATUS_PULSE_RATE_RANGE_SHIFT
            ),
            improper_position=bool(raw & STATUS_IMPROPER_POSITION),
        )


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement:
    """One Blood Pressure Measurement (or Intermediate Cuff Pressure) value."""

    flags: int
    unit: PressureUnit
    systolic: SFloat
    diastolic: SFloat
    mean_arterial_pressure: SFloat
    timestamp: datetime | None = None
    pulse_rate: SFloat | None = None
    user_id: int | None = None
    status: BloodPressureStatus | None = None

    @property
    def has_time_stamp(self) -> bool:
        """True when the frame carried a time stamp (which may still be None: date not known)."""
        return bool(self.flags & FLAG_TIME_STAMP)

    def _mmhg(self, value: SFloat) -> float | None:
        number = value.finite
        if number is None or self.unit is PressureUnit.MMHG:
            return number
        return kpa_to_mmhg(number)

    @property
    def systolic_mmhg(self) -> float | None:
        """Systolic pressure in mmHg, or None when the field is a special value."""
        return self._mmhg(self.systolic)

    @property
    def diastolic_mmhg(self) -> float | None:
        """Diastolic pressure in mmHg, or None when the field is a special value."""
        return self._mmhg(self.diastolic)

    @property
    def mean_arterial_pressure_mmhg(self) -> float | None:
        """Mean arterial pressure in mmHg, or None when the field is a special value."""
        return self._mmhg(self.mean_arterial_pressure)

    @property
    def pulse_rate_bpm(self) -> float | None:
        """Pulse rate in beats per minute, or None when absent or a special value."""
        return None if self.pulse_rate is None else self.pulse_rate.finite


def parse_bp_measurement(data: bytes | bytearray) -> BloodPressureMeasurement:
    """Parse a Blood Pressure Measurement (0x2A35) or Intermediate Cuff Pressure (0x2A36)."""
    reader = FrameReader(data, "Blood Pressure Measurement")
    flags = reader.u8("flags")
    unit = PressureUnit.KPA if flags & FLAG_UNITS_KPA else PressureUnit.MMHG
    systolic = reader.sfloat("systolic")
    diastolic = reader.sfloat("diastolic")
    mean_arterial_pressure = reader.sfloat("mean_arterial_pressure")
    timestamp = read_date_time(reader, "time_stamp") if flags & FLAG_TIME_STAMP else None
    pulse_rate = reader.sfloat("pulse_rate") if flags & FLAG_PULSE_RATE else None
    user_id: int | None = None
    if flags & FLAG_USER_ID:
        user_id = reader.u8("user_id")
        if user_id == USER_ID_UNKNOWN:
            user_id = None
    status = None
    if flags & FLAG_MEASUREMENT_STATUS:
        status = BloodPressureStatus.from_raw(reader.u16("measurement_status"))
    reader.finish()
    return BloodPressureMeasurement(
        flags=flags,
        unit=unit,
        systolic=systolic,
        diastolic=diastolic,
        mean_arterial_pressure=mean_arterial_pressure,
        timestamp=timestamp,
        pulse_rate=pulse_rate,
        user_id=user_id,
        status=status,
    )
