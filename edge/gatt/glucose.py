"""Glucose Measurement (0x2A18) and Glucose Measurement Context (0x2A34).

Glucose Service 1.0 §3.1-3.2, field layouts as in the SIG characteristic definitions (now the
GATT Specification Supplement). Multi-byte fields are little-endian.

Glucose Measurement::

    flags u8          bit0 time offset present   bit1 concentration + type-sample location present
                      bit2 concentration unit (0 kg/L, 1 mol/L)   bit3 sensor status present
                      bit4 context information follows (0x2A34)   bits 5-7 RFU (ignored)
    sequence number u16
    base time         Date Time, 7 B (unknown date → None)
    [time offset s16] bit0, minutes; user-facing time = base time + offset
    [concentration SFLOAT] bit1, unit per bit2
    [type-sample location u8] bit1: type = low nibble, sample location = high nibble
    [sensor status annunciation u16] bit3, bits 0-11 (see SensorAnnunciation), 12-15 RFU

Type (low nibble): 1 capillary whole blood, 2 capillary plasma, 3 venous whole blood, 4 venous
plasma, 5 arterial whole blood, 6 arterial plasma, 7 undetermined whole blood, 8 undetermined
plasma, 9 interstitial fluid, 10 control solution; 0 and 11-15 reserved. Sample location (high
nibble): 1 finger, 2 alternate site test, 3 earlobe, 4 control solution, 15 not available;
0 and 5-14 reserved. The characteristic definition orders nibbles least significant first.

Glucose Measurement Context::

    flags u8          bit0 carbohydrate ID + carbohydrate   bit1 meal   bit2 tester-health
                      bit3 exercise duration + intensity    bit4 medication ID + medication
                      bit5 medication unit (0 kg, 1 litres) bit6 HbA1c  bit7 extended flags
    sequence number u16   (the sequence number of the measurement it belongs to)
    [extended flags u8]                      bit7, all bits RFU
    [carbohydrate ID u8, carbohydrate SFLOAT kg]   bit0
    [meal u8]                                bit1
    [tester-health u8]                       bit2: tester = low nibble, health = high nibble
    [exercise duration u16 s (65535 overrun), exercise intensity u8 %]   bit3
    [medication ID u8, medication SFLOAT kg or litres]   bit4, unit per bit5
    [HbA1c SFLOAT %]                         bit6

Note: the SIG definition puts Tester in the least significant nibble; several public readers
(Nordic's Android parser, Wireshark) read it from the high nibble. We follow the specification.

Enumerated codes are kept raw (``*_code`` fields) so a reserved value is never misread; the
properties map them to enums and return None for reserved codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from typing import TypeVar

from edge.gatt.current_time import read_date_time
from edge.gatt.sfloat import FrameReader, SFloat
from protocol.envelope import Meal, SampleLocation, SampleType, SensorAnnunciation
from protocol.units import kgl_to_mmoll, moll_to_mmoll

FLAG_TIME_OFFSET = 0x01
FLAG_CONCENTRATION = 0x02
FLAG_UNIT_MOL_PER_L = 0x04
FLAG_SENSOR_STATUS = 0x08
FLAG_CONTEXT_FOLLOWS = 0x10

CONTEXT_FLAG_CARBOHYDRATE = 0x01
CONTEXT_FLAG_MEAL = 0x02
CONTEXT_FLAG_TESTER_HEALTH = 0x04
CONTEXT_FLAG_EXERCISE = 0x08
CONTEXT_FLAG_MEDICATION = 0x10
CONTEXT_FLAG_MEDICATION_LITRES = 0x20
CONTEXT_FLAG_HBA1C = 0x40
CONTEXT_FLAG_EXTENDED = 0x80

TYPE_CONTROL_SOLUTION = 10
LOCATION_CONTROL_SOLUTION = 4
EXERCISE_DURATION_OVERRUN = 0xFFFF

SAMPLE_TYPES: dict[int, SampleType] = {
    1: SampleType.CAPILLARY_WHOLE_BLOOD,
    2: SampleType.CAPILLARY_PLASMA,
    3: SampleType.VENOUS_WHOLE_BLOOD,
    4: SampleType.VENOUS_PLASMA,
    5: SampleType.ARTERIAL_WHOLE_BLOOD,
    6: SampleType.ARTERIAL_PLASMA,
    7: SampleType.UNDETERMINED_WHOLE_BLOOD,
    8: SampleType.UNDETERMINED_PLASMA,
    9: SampleType.INTERSTITIAL_FLUID,
    10: SampleType.CONTROL_SOLUTION,
}
SAMPLE_LOCATIONS: dict[int, SampleLocation] = {
    1: SampleLocation.FINGER,
    2: SampleLocation.ALTERNATE_SITE_TEST,
    3: SampleLocation.EARLOBE,
    4: SampleLocation.CONTROL_SOLUTION,
    15: SampleLocation.NOT_AVAILABLE,
}
# Sensor Status Annunciation bit n ↔ ANNUNCIATION_BITS[n].
ANNUNCIATION_BITS: tuple[SensorAnnunciation, ...] = (
    SensorAnnunciation.BATTERY_LOW,
    SensorAnnunciation.SENSOR_MALFUNCTION,
    SensorAnnunciation.SAMPLE_SIZE_INSUFFICIENT,
    SensorAnnunciation.STRIP_INSERTION_ERROR,
    SensorAnnunciation.STRIP_TYPE_INCORRECT,
    SensorAnnunciation.RESULT_TOO_HIGH,
    SensorAnnunciation.RESULT_TOO_LOW,
    SensorAnnunciation.TEMPERATURE_TOO_HIGH,
    SensorAnnunciation.TEMPERATURE_TOO_LOW,
    SensorAnnunciation.READ_INTERRUPTED,
    SensorAnnunciation.GENERAL_DEVICE_FAULT,
    SensorAnnunciation.TIME_FAULT,
)
MEALS: dict[int, Meal] = {
    1: Meal.PREPRANDIAL,
    2: Meal.POSTPRANDIAL,
    3: Meal.FASTING,
    4: Meal.CASUAL,
    5: Meal.BEDTIME,
}


class ConcentrationUnit(StrEnum):
    """The unit of the glucose concentration (flags bit2)."""

    KG_PER_L = "kg/L"
    MOL_PER_L = "mol/L"


class MedicationUnit(StrEnum):
    """The unit of the context's medication value (context flags bit5)."""

    KILOGRAMS = "kg"
    LITRES = "L"


class CarbohydrateId(IntEnum):
    """Context Carbohydrate ID."""

    BREAKFAST = 1
    LUNCH = 2
    DINNER = 3
    SNACK = 4
    DRINK = 5
    SUPPER = 6
    BRUNCH = 7


class Tester(IntEnum):
    """Context Tester (least significant nibble of Tester-Health)."""

    SELF = 1
    HEALTH_CARE_PROFESSIONAL = 2
    LAB_TEST = 3
    NOT_AVAILABLE = 15


class Health(IntEnum):
    """Context Health (most significant nibble of Tester-Health)."""

    MINOR_HEALTH_ISSUES = 1
    MAJOR_HEALTH_ISSUES = 2
    DURING_MENSES = 3
    UNDER_STRESS = 4
    NO_HEALTH_ISSUES = 5
    NOT_AVAILABLE = 15


class MedicationId(IntEnum):
    """Context Medication ID."""

    RAPID_ACTING_INSULIN = 1
    SHORT_ACTING_INSULIN = 2
    INTERMEDIATE_ACTING_INSULIN = 3
    LONG_ACTING_INSULIN = 4
    PRE_MIXED_INSULIN = 5


_E = TypeVar("_E", bound=IntEnum)


def _enum_or_none(enum: type[_E], code: int | None) -> _E | None:
    if code is None:
        return None
    try:
        return enum(code)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class GlucoseMeasurement:
    """One Glucose Measurement record (0x2A18)."""

    flags: int
    sequence_number: int
    base_time: datetime | None
    time_offset_minutes: int | None = None
    concentration: SFloat | None = None
    unit: ConcentrationUnit | None = None
    type_code: int | None = None
    location_code: int | None = None
    sensor_status: int | None = None

    @property
    def context_follows(self) -> bool:
        """True when a Glucose Measurement Context with the same sequence number follows."""
        return bool(self.flags & FLAG_CONTEXT_FOLLOWS)

    @property
    def time(self) -> datetime | None:
        """User-facing time: base time plus time offset (None when the base date is unknown)."""
        if self.base_time is None:
            return None
        return self.base_time + timedelta(minutes=self.time_offset_minutes or 0)

    @property
    def glucose_mmol_l(self) -> float | None:
        """The concentration in mmol/L, or None when absent or a special value."""
        if self.concentration is None:
            return None
        number = self.concentration.finite
        if number is None:
            return None
        if self.unit is ConcentrationUnit.MOL_PER_L:
            return moll_to_mmoll(number)
        return kgl_to_mmoll(number)

    @property
    def sample_type(self) -> SampleType | None:
        """The sample type, or None when absent or a reserved code."""
        return None if self.type_code is None else SAMPLE_TYPES.get(self.type_code)

    @property
    def sample_location(self) -> SampleLocation | None:
        """The sample location, or None when absent or a reserved code."""
        return None if self.location_code is None else SAMPLE_LOCATIONS.get(self.location_code)

    @property
    def is_control_solution(self) -> bool:
        """True for a control-solution sample (type 10 or location 4)."""
        return (
            self.type_code == TYPE_CONTROL_SOLUTION
            or self.location_code == LOCATION_CONTROL_SOLUTION
        )

    @property
    def annunciations(self) -> frozenset[SensorAnnunciation]:
        """The sensor status bits that are set (RFU bits 12-15 ignored)."""
        if self.sensor_status is None:
            return frozenset()
        return frozenset(
            flag for bit, flag in enumerate(ANNUNCIATION_BITS) if self.sensor_status >> bit & 1
        )


def parse_glucose_measurement(data: bytes | bytearray) -> GlucoseMeasurement:
    """Parse a Glucose Measurement value (0x2A18)."""
    reader = FrameReader(data, "Glucose Measurement")
    flags = reader.u8("flags")
    sequence_number = reader.u16("sequence_number")
    base_time = read_date_time(reader, "base_time")
    time_offset = reader.s16("time_offset") if flags & FLAG_TIME_OFFSET else None
    concentration = unit = type_code = location_code = None
    if flags & FLAG_CONCENTRATION:
        concentration = reader.sfloat("glucose_concentration")
        unit = (
            ConcentrationUnit.MOL_PER_L
            if flags & FLAG_UNIT_MOL_PER_L
            else ConcentrationUnit.KG_PER_L
        )
        type_location = reader.u8("type_sample_location")
        type_code, location_code = type_location & 0x0F, type_location >> 4
    sensor_status = reader.u16("sensor_status") if flags & FLAG_SENSOR_STATUS else None
    reader.finish()
    return GlucoseMeasurement(
        flags=flags,
        sequence_number=sequence_number,
        base_time=base_time,
        time_offset_minutes=time_offset,
        concentration=concentration,
        unit=unit,
        type_code=type_code,
        location_code=location_code,
        sensor_status=sensor_status,
    )


@dataclass(frozen=True, slots=True)
class GlucoseContext:
    """One Glucose Measurement Context value (0x2A34)."""

    flags: int
    sequence_number: int
    extended_flags: int | None = None
    carbohydrate_id_code: int | None = None
    carbohydrate_kg: SFloat | None = None
    meal_code: int | None = None
    tester_code: int | None = None
    health_code: int | None = None
    exercise_duration_s: int | None = None
    exercise_intensity_percent: int | None = None
    medication_id_code: int | None = None
    medication: SFloat | None = None
    medication_unit: MedicationUnit | None = None
    hba1c_percent: SFloat | None = None

    @property
    def carbohydrate_id(self) -> CarbohydrateId | None:
        """The meal the carbohydrate belongs to, or None when absent or reserved."""
        return _enum_or_none(CarbohydrateId, self.carbohydrate_id_code)

    @property
    def carbohydrate_grams(self) -> float | None:
        """Carbohydrate in grams, or None when absent or a special value."""
        number = None if self.carbohydrate_kg is None else self.carbohydrate_kg.finite
        return None if number is None else number * 1000

    @property
    def meal(self) -> Meal | None:
        """The meal context, or None when absent or reserved."""
        return None if self.meal_code is None else MEALS.get(self.meal_code)

    @property
    def tester(self) -> Tester | None:
        """Who tested, or None when absent or reserved."""
        return _enum_or_none(Tester, self.tester_code)

    @property
    def health(self) -> Health | None:
        """The patient's health state, or None when absent or reserved."""
        return _enum_or_none(Health, self.health_code)

    @property
    def exercise_overrun(self) -> bool:
        """True when the exercise duration is the overrun value 65535."""
        return self.exercise_duration_s == EXERCISE_DURATION_OVERRUN

    @property
    def medication_id(self) -> MedicationId | None:
        """The medication, or None when absent or reserved."""
        return _enum_or_none(MedicationId, self.medication_id_code)


def parse_glucose_context(data: bytes | bytearray) -> GlucoseContext:
    """Parse a Glucose Measurement Context value (0x2A34)."""
    reader = FrameReader(data, "Glucose Measurement Context")
    flags = reader.u8("flags")
    sequence_number = reader.u16("sequence_number")
    extended_flags = reader.u8("extended_flags") if flags & CONTEXT_FLAG_EXTENDED else None
    carbohydrate_id = carbohydrate = None
    if flags & CONTEXT_FLAG_CARBOHYDRATE:
        carbohydrate_id = reader.u8("carbohydrate_id")
        carbohydrate = reader.sfloat("carbohydrate")
    meal = reader.u8("meal") if flags & CONTEXT_FLAG_MEAL else None
    tester = health = None
    if flags & CONTEXT_FLAG_TESTER_HEALTH:
        tester_health = reader.u8("tester_health")
        tester, health = tester_health & 0x0F, tester_health >> 4
    exercise_duration = exercise_intensity = None
    if flags & CONTEXT_FLAG_EXERCISE:
        exercise_duration = reader.u16("exercise_duration")
        exercise_intensity = reader.u8("exercise_intensity")
    medication_id = medication = medication_unit = None
    if flags & CONTEXT_FLAG_MEDICATION:
        medication_id = reader.u8("medication_id")
        medication = reader.sfloat("medication")
        medication_unit = (
            MedicationUnit.LITRES
            if flags & CONTEXT_FLAG_MEDICATION_LITRES
            else MedicationUnit.KILOGRAMS
        )
    hba1c = reader.sfloat("hba1c") if flags & CONTEXT_FLAG_HBA1C else None
    reader.finish()
    return GlucoseContext(
        flags=flags,
        sequence_number=sequence_number,
        extended_flags=extended_flags,
        carbohydrate_id_code=carbohydrate_id,
        carbohydrate_kg=carbohydrate,
        meal_code=meal,
        tester_code=tester,
        health_code=health,
        exercise_duration_s=exercise_duration,
        exercise_intensity_percent=exercise_intensity,
        medication_id_code=medication_id,
        medication=medication,
        medication_unit=medication_unit,
        hba1c_percent=hba1c,
    )
