"""The pure GATT layer: characteristic values in, frozen dataclasses out; no I/O, no bleak.

Decisions that hold for every parser here:

- **Special values.** IEEE 11073 SFLOAT fields are kept as :class:`SFloat` (raw word plus
  meaning), never as bare floats: ``.special`` names NaN / NRes / ±INFINITY / reserved,
  ``.finite`` is the number or None, ``.value`` is the float with NaN/±inf. For a raw int,
  :func:`decode_sfloat` gives the float and :func:`sfloat_special` the :class:`SFloatSpecial`.
- **Strict framing.** A value shorter than its flags announce, or longer (trailing bytes no
  flagged field accounts for), raises :class:`GattFormatError` naming the field and the frame.
  Newer service versions signal new fields with flag bits, and vendors sometimes ship
  proprietary payloads under standard UUIDs (BLE-NOTES), so unexplained bytes are refused rather
  than guessed at; a per-model quirk table belongs in the session layer.
- **Reserved bits are ignored, reserved values are kept.** RFU flag and status bits are ignored
  as the SIG's reserved-for-future-use convention asks of a receiver. Enumerated fields keep their
  raw code, so a reserved value is never misread as a defined one; the conversion to readings
  (:mod:`edge.gatt.to_reading`) refuses codes the wire contract cannot express.
- **Dates.** Date Time fields decode to naive local datetimes; a date with year, month or day 0
  is "not known" and becomes None; impossible dates raise GattFormatError.
"""

from __future__ import annotations

from edge.errors import ControlSolutionSample, EdgeError, GattFormatError, MeasurementUnusable
from edge.gatt.blood_pressure import (
    BloodPressureMeasurement,
    BloodPressureStatus,
    PressureUnit,
    PulseRateRange,
    parse_bp_measurement,
)
from edge.gatt.const import uuid16_to_str, uuid_str_to16
from edge.gatt.current_time import (
    AdjustReason,
    build_current_time,
    parse_current_time,
    parse_date_time,
)
from edge.gatt.device_info import (
    BloodPressureFeature,
    GlucoseFeature,
    parse_battery_level,
    parse_bp_feature,
    parse_device_info_string,
    parse_glucose_feature,
)
from edge.gatt.glucose import (
    CarbohydrateId,
    ConcentrationUnit,
    GlucoseContext,
    GlucoseMeasurement,
    Health,
    MedicationId,
    MedicationUnit,
    Tester,
    parse_glucose_context,
    parse_glucose_measurement,
)
from edge.gatt.racp import (
    RacpFilterType,
    RacpOpcode,
    RacpOperator,
    RacpResponse,
    RacpResponseCode,
    parse_racp_response,
    racp_abort,
    racp_delete_all,
    racp_report_all,
    racp_report_greater_or_equal,
    racp_report_number_all,
    racp_report_number_greater_or_equal,
)
from edge.gatt.sfloat import SFloat, SFloatSpecial, decode_sfloat, sfloat_special
from edge.gatt.to_reading import bp_to_reading, glucose_to_reading

__all__ = [
    "AdjustReason",
    "BloodPressureFeature",
    "BloodPressureMeasurement",
    "BloodPressureStatus",
    "CarbohydrateId",
    "ConcentrationUnit",
    "ControlSolutionSample",
    "EdgeError",
    "GattFormatError",
    "GlucoseContext",
    "GlucoseFeature",
    "GlucoseMeasurement",
    "Health",
    "MeasurementUnusable",
    "MedicationId",
    "MedicationUnit",
    "PressureUnit",
    "PulseRateRange",
    "RacpFilterType",
    "RacpOpcode",
    "RacpOperator",
    "RacpResponse",
    "RacpResponseCode",
    "SFloat",
    "SFloatSpecial",
    "Tester",
    "bp_to_reading",
    "build_current_time",
    "decode_sfloat",
    "glucose_to_reading",
    "parse_battery_level",
    "parse_bp_feature",
    "parse_bp_measurement",
    "parse_current_time",
    "parse_date_time",
    "parse_device_info_string",
    "parse_glucose_context",
    "parse_glucose_feature",
    "parse_glucose_measurement",
    "parse_racp_response",
    "racp_abort",
    "racp_delete_all",
    "racp_report_all",
    "racp_report_greater_or_equal",
    "racp_report_number_all",
    "racp_report_number_greater_or_equal",
    "sfloat_special",
    "uuid16_to_str",
    "uuid_str_to16",
]
