"""GATT characteristic values for Blood Pressure, Glucose, RACP, Current Time and SFLOAT.

Every frame is written byte by byte with its meaning; multi-byte fields are little-endian, so a
u16 0x07E8 is sent as ``E8 07``. ``expect`` maps attribute names of the parsed object to values
(floats compared with a tolerance). Sources: IEEE 11073-20601 (SFLOAT), Blood Pressure
Service 1.1, Glucose Service 1.0, Current Time Service 1.1, and the SIG characteristic
definitions (GATT Specification Supplement).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Vector:
    """One named frame and what a correct decoder must make of it."""

    name: str
    frame: bytes
    expect: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BadVector:
    """One named frame a correct decoder must reject, with a word its reason must contain."""

    name: str
    frame: bytes
    reason: str


def h(text: str) -> bytes:
    """Bytes from spaced hex: h("78 00") == b"\\x78\\x00"."""
    return bytes.fromhex(text)


# ---------------------------------------------------------------------------------------------
# SFLOAT: (name, raw word, expected float, special name or None)
# exponent = bits 15..12 as 4-bit two's complement, mantissa = bits 11..0 as 12-bit.
# ---------------------------------------------------------------------------------------------
SFLOAT_NUMBERS: list[tuple[str, int, float]] = [
    # 0xF04B: exponent 0xF → 15-16 = -1; mantissa 0x04B = 75 → 75·10⁻¹ = 7.5
    ("negative_exponent", 0xF04B, 7.5),
    # 0x0078: exponent 0; mantissa 0x078 = 120 → 120
    ("integer_120", 0x0078, 120.0),
    # 0x0B2E: exponent 0; mantissa 0xB2E = 2862 ≥ 2048 → 2862-4096 = -1234
    ("negative_mantissa", 0x0B2E, -1234.0),
    # 0xFFFF: exponent -1; mantissa 0xFFF = 4095-4096 = -1 → -0.1
    ("negative_both", 0xFFFF, -0.1),
    # 0xE0C8: exponent 0xE → 14-16 = -2; mantissa 0x0C8 = 200 → 2.00
    ("exponent_minus_2", 0xE0C8, 2.0),
    # 0x1002: exponent 1; mantissa 2 → 20
    ("positive_exponent", 0x1002, 20.0),
    # 0x7001: exponent 7 (largest); mantissa 1 → 10⁷
    ("largest_exponent", 0x7001, 1e7),
    # 0x8001: exponent 0x8 → 8-16 = -8 (smallest); mantissa 1 → 10⁻⁸
    ("smallest_exponent", 0x8001, 1e-8),
    # 0xF800: exponent -1; mantissa 0x800 = 2048-4096 = -2048 → -204.8
    ("most_negative_mantissa", 0xF800, -204.8),
    # 0x07FD: exponent 0; mantissa 2045, the largest positive mantissa below the specials
    ("largest_ordinary_mantissa", 0x07FD, 2045.0),
    # 0x0803: exponent 0; mantissa 0x803 = 2051-4096 = -2045, the first ordinary below specials
    ("smallest_ordinary_mantissa", 0x0803, -2045.0),
    # 0x17FF: exponent 1; mantissa 2047 → 20470: NaN's mantissa, but exponent ≠ 0 → a number
    ("nan_mantissa_other_exponent", 0x17FF, 20470.0),
    # 0x0000: zero
    ("zero", 0x0000, 0.0),
    # 0xB05F: exponent 0xB → 11-16 = -5; mantissa 0x05F = 95 → 0.00095 (kg/L = 95 mg/dL)
    ("glucose_kg_per_l", 0xB05F, 0.00095),
    # 0xC037: exponent 0xC → 12-16 = -4; mantissa 0x037 = 55 → 0.0055 (mol/L = 5.5 mmol/L)
    ("glucose_mol_per_l", 0xC037, 0.0055),
]

SFLOAT_SPECIALS: list[tuple[str, int, float, str]] = [
    # exponent 0 and mantissa +2047 / -2048 / +2046 / -2046 / -2047: the five special values
    ("nan", 0x07FF, math.nan, "NAN"),
    ("nres", 0x0800, math.nan, "NRES"),
    ("positive_infinity", 0x07FE, math.inf, "POSITIVE_INFINITY"),
    ("negative_infinity", 0x0802, -math.inf, "NEGATIVE_INFINITY"),
    ("reserved", 0x0801, math.nan, "RESERVED"),
]

# ---------------------------------------------------------------------------------------------
# Blood Pressure Measurement 0x2A35
# flags: bit0 kPa, bit1 time stamp, bit2 pulse, bit3 user ID, bit4 status
# ---------------------------------------------------------------------------------------------
BP_VECTORS: list[Vector] = [
    Vector(
        "bp_minimal_mmhg",
        # 00     flags: mmHg, nothing optional
        # 78 00  systolic 0x0078 = 120
        # 50 00  diastolic 0x0050 = 80
        # 5D 00  MAP 0x005D = 93
        h("00 7800 5000 5D00"),
        {
            "unit": "mmHg",
            "systolic_mmhg": 120.0,
            "diastolic_mmhg": 80.0,
            "mean_arterial_pressure_mmhg": 93.0,
            "timestamp": None,
            "pulse_rate": None,
            "user_id": None,
            "status": None,
        },
    ),
    Vector(
        "bp_all_fields_mmhg",
        # 1E        flags 0b0001_1110: time stamp, pulse, user ID, status; unit mmHg
        # BF F4     systolic 0xF4BF: exp -1, mantissa 0x4BF = 1215 → 121.5
        # 50 00     diastolic 80
        # AA F3     MAP 0xF3AA: exp -1, mantissa 0x3AA = 938 → 93.8
        # E8 07 03 0F 08 1E 05   2024 (0x07E8)-03-15 08:30:05
        # 48 00     pulse 0x0048 = 72 bpm
        # 01        user 1
        # 00 00     status: nothing flagged
        h("1E BFF4 5000 AAF3 E807030F081E05 4800 01 0000"),
        {
            "unit": "mmHg",
            "systolic_mmhg": 121.5,
            "diastolic_mmhg": 80.0,
            "mean_arterial_pressure_mmhg": 93.8,
            "timestamp": datetime(2024, 3, 15, 8, 30, 5),
            "pulse_rate_bpm": 72.0,
            "user_id": 1,
            "status.raw": 0,
            "status.pulse_rate_range": 0,
        },
    ),
    Vector(
        "bp_kpa",
        # 01     flags: unit kPa
        # A0 F0  systolic 0xF0A0: exp -1, mantissa 0x0A0 = 160 → 16.0 kPa → ×7.50062 = 120.00992
        # 6B F0  diastolic 0xF06B: exp -1, 0x06B = 107 → 10.7 kPa → 80.256634 mmHg
        # 7D F0  MAP 0xF07D: exp -1, 0x07D = 125 → 12.5 kPa → 93.75775 mmHg
        h("01 A0F0 6BF0 7DF0"),
        {
            "unit": "kPa",
            "systolic.value": 16.0,
            "diastolic.value": 10.7,
            "mean_arterial_pressure.value": 12.5,
            "systolic_mmhg": 120.00992,
            "diastolic_mmhg": 80.256634,
            "mean_arterial_pressure_mmhg": 93.75775,
        },
    ),
    Vector(
        "bp_timestamp_unknown_all_zero",
        # 02  flags: time stamp; 120/80/93; Date Time 00 00 00 00 00 00 00 → year 0 = not known
        h("02 7800 5000 5D00 00000000000000"),
        {"timestamp": None, "has_time_stamp": True},
    ),
    Vector(
        "bp_timestamp_unknown_month_zero",
        # 02  flags: time stamp; Date Time E8 07 00 0F 08 1E 05 → 2024, month 0 = not known
        h("02 7800 5000 5D00 E807000F081E05"),
        {"timestamp": None},
    ),
    Vector(
        "bp_timestamp_leap_day",
        # 02  flags: time stamp; E8 07 02 1D 17 3B 3B → 2024-02-29 23:59:59 (2024 is leap)
        h("02 7800 5000 5D00 E807021D173B3B"),
        {"timestamp": datetime(2024, 2, 29, 23, 59, 59)},
    ),
    Vector(
        "bp_user_unknown",
        # 08  flags: user ID; user 0xFF = unknown user → None
        h("08 7800 5000 5D00 FF"),
        {"user_id": None},
    ),
    Vector(
        "bp_systolic_nan",
        # 00; systolic 0x07FF NaN, diastolic 80, MAP 0x07FF NaN
        h("00 FF07 5000 FF07"),
        {"systolic.special": "NAN", "systolic_mmhg": None, "mean_arterial_pressure_mmhg": None},
    ),
    Vector(
        "bp_diastolic_nres",
        # 00; systolic 120, diastolic 0x0800 NRes, MAP 93
        h("00 7800 0008 5D00"),
        {"diastolic.special": "NRES", "diastolic_mmhg": None},
    ),
    Vector(
        "bp_pulse_nan",
        # 04  flags: pulse; pulse 0x07FF NaN
        h("04 7800 5000 5D00 FF07"),
        {"pulse_rate.special": "NAN", "pulse_rate_bpm": None},
    ),
    Vector(
        "icp_cuff_pressure",
        # Intermediate Cuff Pressure 0x2A36: 00; cuff 0x0096 = 150 mmHg; diastolic, MAP NaN
        h("00 9600 FF07 FF07"),
        {"systolic_mmhg": 150.0, "diastolic.special": "NAN"},
    ),
    Vector(
        "bp_rfu_flag_bits_ignored",
        # E0  flags 0b1110_0000: only RFU bits 5-7 set → ignored, nothing optional follows
        h("E0 7800 5000 5D00"),
        {"systolic_mmhg": 120.0, "timestamp": None},
    ),
]

# Measurement Status (u16, flags 0x10), one bit at a time; frame = 10 7800 5000 5D00 + status.
# bits 3-4 pulse rate range = (status >> 3) & 3.
BP_STATUS_VECTORS: list[tuple[str, int, dict[str, Any]]] = [
    ("body_movement", 0x0001, {"body_movement": True}),
    ("cuff_too_loose", 0x0002, {"cuff_too_loose": True}),
    ("irregular_pulse", 0x0004, {"irregular_pulse": True}),
    # 0x0008 → (0x0008 >> 3) & 3 = 1: exceeds upper limit
    ("pulse_above_upper", 0x0008, {"pulse_rate_range": 1}),
    # 0x0010 → (0x0010 >> 3) & 3 = 2: below lower limit
    ("pulse_below_lower", 0x0010, {"pulse_rate_range": 2}),
    # 0x0018 → 3: reserved, flagged rather than read as "within range"
    ("pulse_range_reserved", 0x0018, {"pulse_rate_range": 3}),
    ("improper_position", 0x0020, {"improper_position": True}),
    # 0xFFC0: only RFU bits 6-15 → ignored, nothing flagged
    (
        "rfu_bits_only",
        0xFFC0,
        {
            "body_movement": False,
            "cuff_too_loose": False,
            "irregular_pulse": False,
            "pulse_rate_range": 0,
            "improper_position": False,
        },
    ),
    # 0x003F: every defined bit; pulse range (0x3F >> 3) & 3 = 3
    (
        "all_defined_bits",
        0x003F,
        {
            "body_movement": True,
            "cuff_too_loose": True,
            "irregular_pulse": True,
            "pulse_rate_range": 3,
            "improper_position": True,
        },
    ),
]


def bp_status_frame(status: int) -> bytes:
    """A 0x2A35 frame with only the status flag (0x10) and the given status word."""
    return h("10 7800 5000 5D00") + status.to_bytes(2, "little")


BP_BAD: list[BadVector] = [
    BadVector("empty", b"", "flags"),
    BadVector("trailing_byte", h("00 7800 5000 5D00 00"), "trailing"),
    # status flag set but only 1 of 2 status bytes: a reader taking status as u8 would pass
    BadVector("status_one_byte", h("10 7800 5000 5D00 00"), "measurement_status"),
    BadVector("month_13", h("02 7800 5000 5D00 E8070D0F081E05"), "month"),
    BadVector("day_32", h("02 7800 5000 5D00 E8070320081E05"), "day"),
    BadVector("hour_24", h("02 7800 5000 5D00 E807030F181E05"), "time"),
    BadVector("minute_60", h("02 7800 5000 5D00 E807030F083C05"), "time"),
    BadVector("second_60", h("02 7800 5000 5D00 E807030F081E3C"), "time"),
    # 2023 = 0x07E7; 02-29 does not exist in a non-leap year
    BadVector("feb_29_non_leap", h("02 7800 5000 5D00 E707021D081E05"), "does not exist"),
    # 1581 = 0x062D, below the Date Time range 1582..9999
    BadVector("year_1581", h("02 7800 5000 5D00 2D06030F081E05"), "year"),
]

# ---------------------------------------------------------------------------------------------
# Glucose Measurement 0x2A18
# flags: bit0 time offset, bit1 concentration+type/location, bit2 mol/L, bit3 status, bit4 ctx
# ---------------------------------------------------------------------------------------------
GLUCOSE_VECTORS: list[Vector] = [
    Vector(
        "glucose_kg_per_l_all_fields",
        # 1B     flags 0b0001_1011: offset, concentration (kg/L), status, context follows
        # 05 00  sequence 5
        # E8 07 03 0F 07 2D 00   base time 2024-03-15 07:45:00
        # F1 FF  time offset 0xFFF1 = -15 min → user-facing 07:30:00
        # 5F B0  concentration 0xB05F = 95·10⁻⁵ = 0.00095 kg/L = 95 mg/dL → 95/18.016 mmol/L
        # 11     type 1 capillary whole blood (low nibble), location 1 finger (high nibble)
        # 00 00  sensor status: nothing
        h("1B 0500 E807030F072D00 F1FF 5FB0 11 0000"),
        {
            "sequence_number": 5,
            "base_time": datetime(2024, 3, 15, 7, 45),
            "time_offset_minutes": -15,
            "time": datetime(2024, 3, 15, 7, 30),
            "unit": "kg/L",
            "concentration.value": 0.00095,
            "glucose_mmol_l": 95 / 18.016,
            "sample_type": "capillary_whole_blood",
            "sample_location": "finger",
            "sensor_status": 0,
            "context_follows": True,
            "is_control_solution": False,
        },
    ),
    Vector(
        "glucose_mol_per_l",
        # 06     flags: concentration, unit mol/L
        # 02 01  sequence 0x0102 = 258
        # E8 07 01 01 00 05 00   2024-01-01 00:05:00
        # 37 C0  0xC037 = 55·10⁻⁴ = 0.0055 mol/L → 5.5 mmol/L
        # 22     type 2 capillary plasma, location 2 alternate site test
        h("06 0201 E8070101000500 37C0 22"),
        {
            "sequence_number": 258,
            "unit": "mol/L",
            "glucose_mmol_l": 5.5,
            "sample_type": "capillary_plasma",
            "sample_location": "alternate_site_test",
            "time": datetime(2024, 1, 1, 0, 5),
            "context_follows": False,
        },
    ),
    Vector(
        "glucose_negative_offset_across_midnight",
        # 01     flags: time offset only (no concentration)
        # 2A 00  sequence 42
        # E8 07 01 01 00 05 00   2024-01-01 00:05:00
        # F6 FF  offset 0xFFF6 = -10 min → 2023-12-31 23:55:00
        h("01 2A00 E8070101000500 F6FF"),
        {
            "sequence_number": 42,
            "time_offset_minutes": -10,
            "time": datetime(2023, 12, 31, 23, 55),
            "concentration": None,
            "glucose_mmol_l": None,
            "sample_type": None,
        },
    ),
    Vector(
        "glucose_positive_offset",
        # 01; sequence 0xFFFF = 65535; 2024-03-15 07:45:00; offset 0x0078 = +120 min → 09:45
        h("01 FFFF E807030F072D00 7800"),
        {"sequence_number": 65535, "time": datetime(2024, 3, 15, 9, 45)},
    ),
    Vector(
        "glucose_minimal_unknown_base_time",
        # 00; sequence 7; base time all zero = not known → base_time and time None
        h("00 0700 00000000000000"),
        {"sequence_number": 7, "base_time": None, "time": None, "time_offset_minutes": None},
    ),
    Vector(
        "glucose_control_solution_type",
        # 02; seq 8; 2024-03-15 07:45; 0xB05F; 0xFA = location 15 n/a, type 10 control solution
        h("02 0800 E807030F072D00 5FB0 FA"),
        {"type_code": 10, "location_code": 15, "is_control_solution": True},
    ),
    Vector(
        "glucose_control_solution_location",
        # 02; seq 9; ...; 0x41 = location 4 control solution, type 1
        h("02 0900 E807030F072D00 5FB0 41"),
        {"type_code": 1, "location_code": 4, "is_control_solution": True},
    ),
    Vector(
        "glucose_interstitial_earlobe",
        # 02; seq 10; ...; 0x39 = location 3 earlobe, type 9 interstitial fluid
        h("02 0A00 E807030F072D00 5FB0 39"),
        {"sample_type": "interstitial_fluid", "sample_location": "earlobe"},
    ),
    Vector(
        "glucose_reserved_type_and_location",
        # 02; seq 11; ...; 0x50 = location 5 (reserved), type 0 (reserved) → kept raw, enums None
        h("02 0B00 E807030F072D00 5FB0 50"),
        {"type_code": 0, "location_code": 5, "sample_type": None, "sample_location": None},
    ),
    Vector(
        "glucose_concentration_nan",
        # 02; seq 12; ...; concentration 0x07FF NaN; 0x11
        h("02 0C00 E807030F072D00 FF07 11"),
        {"concentration.special": "NAN", "glucose_mmol_l": None},
    ),
    Vector(
        "glucose_concentration_nres",
        # 02; seq 13; ...; concentration 0x0800 NRes; 0x11
        h("02 0D00 E807030F072D00 0008 11"),
        {"concentration.special": "NRES", "glucose_mmol_l": None},
    ),
]

# Sensor Status Annunciation bit n (flags 0x0A: concentration + status), n = 0..11.
GLUCOSE_ANNUNCIATION_BITS: list[tuple[int, str]] = [
    (0, "battery_low"),
    (1, "sensor_malfunction"),
    (2, "sample_size_insufficient"),
    (3, "strip_insertion_error"),
    (4, "strip_type_incorrect"),
    (5, "result_too_high"),
    (6, "result_too_low"),
    (7, "temperature_too_high"),
    (8, "temperature_too_low"),
    (9, "read_interrupted"),
    (10, "general_device_fault"),
    (11, "time_fault"),
]


def glucose_status_frame(status: int) -> bytes:
    """A 0x2A18 frame (flags 0x0A, seq 1, 2024-03-15 07:45, 0.00095 kg/L, 0x11) with ``status``."""
    return h("0A 0100 E807030F072D00 5FB0 11") + status.to_bytes(2, "little")


GLUCOSE_BAD: list[BadVector] = [
    BadVector("empty", b"", "flags"),
    BadVector("no_base_time", h("00 0100"), "base_time"),
    BadVector("trailing_byte", h("00 0700 00000000000000 00"), "trailing"),
    BadVector("base_time_month_13", h("00 0700 E8070D0F072D00"), "month"),
    BadVector("status_one_byte", h("08 0700 E807030F072D00 00"), "sensor_status"),
]

# ---------------------------------------------------------------------------------------------
# Glucose Measurement Context 0x2A34
# flags: bit0 carbohydrate, bit1 meal, bit2 tester-health, bit3 exercise, bit4 medication,
#        bit5 medication in litres, bit6 HbA1c, bit7 extended flags
# order: flags, sequence, [extended flags], [carb id, carb], [meal], [tester-health],
#        [exercise duration, intensity], [medication id, medication], [HbA1c]
# ---------------------------------------------------------------------------------------------
GLUCOSE_CONTEXT_VECTORS: list[Vector] = [
    Vector(
        "context_every_flag_litres",
        # FF     flags: all eight bits (medication in litres)
        # 05 00  sequence 5
        # 00     extended flags (all RFU)
        # 01     carbohydrate ID 1 breakfast
        # 32 D0  carbohydrate 0xD032: exp 0xD → -3, mantissa 0x032 = 50 → 0.050 kg = 50 g
        # 01     meal 1 preprandial
        # 51     tester = low nibble 1 (self), health = high nibble 5 (no health issues)
        # 08 07  exercise duration 0x0708 = 1800 s = 30 min
        # 32     exercise intensity 0x32 = 50 %
        # 01     medication ID 1 rapid-acting insulin
        # 04 D0  medication 0xD004: exp -3, mantissa 4 → 0.004 L
        # 41 F0  HbA1c 0xF041: exp -1, mantissa 0x041 = 65 → 6.5 %
        h("FF 0500 00 01 32D0 01 51 0807 32 01 04D0 41F0"),
        {
            "sequence_number": 5,
            "extended_flags": 0,
            "carbohydrate_id": 1,
            "carbohydrate_kg.value": 0.05,
            "carbohydrate_grams": 50.0,
            "meal": "preprandial",
            "tester": 1,
            "health": 5,
            "exercise_duration_s": 1800,
            "exercise_intensity_percent": 50,
            "medication_id": 1,
            "medication.value": 0.004,
            "medication_unit": "L",
            "hba1c_percent.value": 6.5,
        },
    ),
    Vector(
        "context_medication_kg",
        # DF     flags 0b1101_1111: everything but bit5 → medication in kilograms
        # 06 00  sequence 6; 00 extended; 03 dinner, 0xD032 = 0.050 kg; 05 meal bedtime
        # 2F     tester = low nibble 15 (not available), health = high nibble 2 (major issues)
        # 2C 01  exercise 0x012C = 300 s; 0x64 = 100 %
        # 04     medication 4 long-acting insulin
        # 02 A0  0xA002: exp 0xA → 10-16 = -6, mantissa 2 → 2·10⁻⁶ kg = 2 mg
        # 48 F0  HbA1c 0xF048: exp -1, mantissa 72 → 7.2 %
        h("DF 0600 00 03 32D0 05 2F 2C01 64 04 02A0 48F0"),
        {
            "carbohydrate_id": 3,
            "meal": "bedtime",
            "tester": 15,
            "health": 2,
            "exercise_duration_s": 300,
            "exercise_intensity_percent": 100,
            "medication_id": 4,
            "medication.value": 2e-6,
            "medication_unit": "kg",
            "hba1c_percent.value": 7.2,
        },
    ),
    Vector(
        "context_minimal",
        # 00; sequence 0x0102 = 258; nothing else
        h("00 0201"),
        {"sequence_number": 258, "meal": None, "carbohydrate_grams": None, "extended_flags": None},
    ),
    Vector(
        "context_extended_flags_only",
        # 80; sequence 5; extended flags 0x00 right after the sequence number
        h("80 0500 00"),
        {"extended_flags": 0, "meal": None},
    ),
    Vector(
        "context_meal_fasting",
        # 02; sequence 5; meal 3 fasting
        h("02 0500 03"),
        {"meal": "fasting"},
    ),
    Vector(
        "context_meal_reserved",
        # 02; sequence 5; meal 6 reserved → code kept, meal None
        h("02 0500 06"),
        {"meal_code": 6, "meal": None},
    ),
    Vector(
        "context_exercise_overrun",
        # 08; sequence 5; duration 0xFFFF = overrun; intensity 0x50 = 80 %
        h("08 0500 FFFF 50"),
        {"exercise_duration_s": 65535, "exercise_overrun": True},
    ),
    Vector(
        "context_hba1c_nres",
        # 40; sequence 5; HbA1c 0x0800 NRes
        h("40 0500 0008"),
        {"hba1c_percent.special": "NRES"},
    ),
]

GLUCOSE_CONTEXT_BAD: list[BadVector] = [
    BadVector("empty", b"", "flags"),
    BadVector("sequence_one_byte", h("00 05"), "sequence_number"),
    BadVector("trailing_byte", h("00 0500 00"), "trailing"),
    # bit7 says an extended-flags byte follows the sequence number, and none does
    BadVector("extended_missing", h("80 0500"), "extended_flags"),
    # meal flag but missing; bit1
    BadVector("meal_missing", h("02 0500"), "meal"),
]

# ---------------------------------------------------------------------------------------------
# Record Access Control Point 0x2A52
# ---------------------------------------------------------------------------------------------
RACP_REQUESTS: list[tuple[str, str, tuple[int, ...], bytes]] = [
    # (name, builder, args, frame)
    # 01 report stored records, 01 operator all
    ("report_all", "racp_report_all", (), h("01 01")),
    # 01 report, 03 operator ≥, 01 filter sequence number, 0x0123 → 23 01
    ("report_ge_291", "racp_report_greater_or_equal", (0x0123,), h("01 03 01 2301")),
    ("report_ge_0", "racp_report_greater_or_equal", (0,), h("01 03 01 0000")),
    ("report_ge_65535", "racp_report_greater_or_equal", (65535,), h("01 03 01 FFFF")),
    # 04 report number, 01 all
    ("number_all", "racp_report_number_all", (), h("04 01")),
    # 04 report number, 03 ≥, 01 sequence, 10 → 0A 00
    ("number_ge_10", "racp_report_number_greater_or_equal", (10,), h("04 03 01 0A00")),
    # 03 abort, 00 null operator
    ("abort", "racp_abort", (), h("03 00")),
    # 02 delete, 01 all
    ("delete_all", "racp_delete_all", (), h("02 01")),
]

RACP_RESPONSES: list[Vector] = [
    # 05 number of stored records response, 00 null, 0x000A = 10
    Vector("number_10", h("05 00 0A00"), {"opcode": 5, "number_of_records": 10}),
    Vector("number_0", h("05 00 0000"), {"number_of_records": 0}),
    # 0xFFFF = 65535 records
    Vector("number_max", h("05 00 FFFF"), {"number_of_records": 65535}),
    # 06 response code, 00 null, request 01 (report), 01 success
    Vector(
        "report_success",
        h("06 00 01 01"),
        {"opcode": 6, "request_opcode": 1, "response_code": 1, "is_success": True},
    ),
    # request 01, 06 no records found
    Vector(
        "report_no_records",
        h("06 00 01 06"),
        {"response_code": 6, "is_no_records_found": True, "is_success": False},
    ),
    # request 03 (abort), 07 abort unsuccessful
    Vector("abort_unsuccessful", h("06 00 03 07"), {"request_opcode": 3, "response_code": 7}),
    # request 02 (delete), 01 success
    Vector("delete_success", h("06 00 02 01"), {"request_opcode": 2, "is_success": True}),
    # request 04 (report number), 04 operator not supported
    Vector("number_operator_unsupported", h("06 00 04 04"), {"response_code": 4}),
] + [
    # every response code value 01..09 to a report request
    Vector(f"response_code_{code:02x}", bytes([0x06, 0x00, 0x01, code]), {"response_code": code})
    for code in range(1, 10)
]

RACP_BAD: list[BadVector] = [
    BadVector("empty", b"", "opcode"),
    BadVector("unknown_opcode_07", h("07 00 0000"), "op code"),
    BadVector("opcode_00", h("00 00"), "op code"),
    # 01 is a request op code, not something a server indicates
    BadVector("request_opcode_as_response", h("01 01"), "op code"),
    BadVector("number_truncated", h("05 00 0A"), "number_of_records"),
    BadVector("number_trailing", h("05 00 0A00 00"), "trailing"),
    BadVector("response_truncated", h("06 00 01"), "response_code_value"),
    BadVector("response_trailing", h("06 00 01 01 00"), "trailing"),
    BadVector("operator_not_null", h("05 01 0A00"), "operator"),
    BadVector("response_code_0a", h("06 00 01 0A"), "response code"),
    BadVector("response_code_00", h("06 00 01 00"), "response code"),
    BadVector("request_opcode_05", h("06 00 05 01"), "request"),
]

# ---------------------------------------------------------------------------------------------
# Current Time 0x2A2B: Date Time 7, day of week, fractions256, adjust reason
# ---------------------------------------------------------------------------------------------
CURRENT_TIME_VECTORS: list[Vector] = [
    Vector(
        "friday_half_second",
        # E8 07 03 0F 08 1E 05  2024-03-15 08:30:05
        # 05  day of week 5 = Friday (2024-03-15 is a Friday)
        # 80  fractions256 0x80 = 128/256 s = 0.5 s → 500000 µs
        # 02  adjust reason: external reference time update
        h("E807030F081E05 05 80 02"),
        {"value": datetime(2024, 3, 15, 8, 30, 5, 500000)},
    ),
    Vector(
        "fraction_one",
        # 2024-01-01 00:00:00, Monday (1); fractions 0x01 = 1/256 s = 3906.25 µs → 3906 µs
        h("E8070101000000 01 01 00"),
        {"value": datetime(2024, 1, 1, 0, 0, 0, 3906)},
    ),
    Vector(
        "unknown",
        # all-zero Date Time, day of week 0 = not known → None
        h("00000000000000 00 00 00"),
        {"value": None},
    ),
]

CURRENT_TIME_BAD: list[BadVector] = [
    BadVector("nine_bytes", h("E807030F081E05 05 80"), "adjust_reason"),
    BadVector("eleven_bytes", h("E807030F081E05 05 80 02 00"), "trailing"),
    BadVector("day_of_week_8", h("E807030F081E05 08 80 02"), "day_of_week"),
    BadVector("hour_25", h("E807030F191E05 05 80 02"), "time"),
]


def resolve(obj: object, dotted: str) -> Any:
    """``resolve(m, "status.raw")`` is ``m.status.raw``."""
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def mismatches(obj: object, expect: dict[str, Any]) -> list[str]:
    """The expectations ``obj`` does not meet; floats compared to 1e-9 relative.

    An enum matches its value, and an IntEnum also matches its member name (``"NAN"``).
    """
    problems = []
    for dotted, wanted in expect.items():
        got = resolve(obj, dotted)
        if isinstance(wanted, float) and isinstance(got, float):
            ok = math.isclose(got, wanted, rel_tol=1e-9, abs_tol=1e-15)
        elif isinstance(wanted, str) and hasattr(got, "name") and not isinstance(got, str):
            ok = got.name == wanted
        else:
            ok = got == wanted
        if not ok:
            problems.append(f"{dotted}: got {got!r}, want {wanted!r}")
    return problems
